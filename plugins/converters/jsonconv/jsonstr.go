package jsonconv

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Strings are most of the bytes of most records (a 1 KiB value is one
// string), and the loops over them went a byte at a time: a fifth of a
// storage sink's CPU unquoted strings in ToConnect and a tenth escaped
// them in FromConnect. plainLen skips eight bytes at a time.

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialMask flags (high bit) the bytes of the little-endian word x that
// a JSON string does not hold as they are: controls (< 0x20), '"', '\\'
// and non-ASCII (>= 0x80). The lowest flagged byte is exact; bytes above
// it may be flagged by a borrow from it.
func specialMask(x uint64) uint64 {
	q := x ^ (lsb * '"')
	b := x ^ (lsb * '\\')
	return ((x - lsb*0x20) | (q - lsb) | (b - lsb) | x) & msb
}

// plainLen is the length of s's prefix of plainASCII bytes.
func plainLen[T string | []byte](s T) int {
	// A string is read in place (never written): the words are loaded
	// by encoding/binary, which compiles to one load each.
	b := []byte(nil)
	switch v := any(s).(type) {
	case string:
		b = unsafe.Slice(unsafe.StringData(v), len(v))
	case []byte:
		b = v
	}
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := specialMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(b) && plainASCII[b[i]] {
		i++
	}
	return i
}

// appendUnescaped appends the text of s, the inside of a JSON string the
// decoder validated, as jsontext.AppendUnquote does: escapes resolved,
// invalid UTF-8 and lone surrogates as U+FFFD. ok false: s holds what a
// validated string cannot (the caller then uses AppendUnquote).
func appendUnescaped(dst, s []byte) ([]byte, bool) {
	for len(s) > 0 {
		n := plainLen(s)
		dst = append(dst, s[:n]...)
		if s = s[n:]; len(s) == 0 {
			break
		}
		c := s[0]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s)
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[:size]...)
			}
			s = s[size:]
			continue
		}
		if c != '\\' || len(s) < 2 {
			return dst, false
		}
		switch e := s[1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			v1, ok := hex16(s[2:])
			if !ok {
				return dst, false
			}
			s = s[6:]
			r := rune(v1)
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
				if len(s) >= 6 && s[0] == '\\' && s[1] == 'u' {
					if v2, ok := hex16(s[2:]); ok {
						if d := utf16.DecodeRune(rune(v1), rune(v2)); d != utf8.RuneError {
							r, s = d, s[6:]
						}
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, false
		}
		s = s[2:]
	}
	return dst, true
}

// hex16 parses the four hex digits at the start of s.
func hex16(s []byte) (uint16, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var v uint16
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}
