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
	// Four words a turn while none is special: one branch per 32 bytes,
	// and the four masks computed side by side (a 1 KiB string: 5.6 to
	// 9.6 GB/s); the word loop then finds the byte.
	for ; i+32 <= len(b); i += 32 {
		w := b[i : i+32]
		m := specialMask(binary.LittleEndian.Uint64(w)) | specialMask(binary.LittleEndian.Uint64(w[8:])) |
			specialMask(binary.LittleEndian.Uint64(w[16:])) | specialMask(binary.LittleEndian.Uint64(w[24:]))
		if m != 0 {
			break
		}
	}
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
	dst, n, ok := unescapeTo(dst, s)
	return dst, ok && n == len(s)
}

// unescapeTo appends the text of s up to its first unescaped '"' (or its
// end), as appendUnescaped does. It returns how many bytes of s it read:
// the index of that quote, or len(s). ok false: s holds there what a JSON
// string cannot (a control character, a bad or cut escape).
func unescapeTo(dst, s []byte) (_ []byte, n int, ok bool) {
	i := 0
	for i < len(s) {
		k := plainLen(s[i:])
		dst = append(dst, s[i:i+k]...)
		if i += k; i == len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		if c == '"' {
			return dst, i, true
		}
		if c != '\\' || i+1 >= len(s) {
			return dst, i, false
		}
		switch e := s[i+1]; e {
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
			v1, ok := hex16(s[i+2:])
			if !ok {
				return dst, i, false
			}
			i += 6
			r := rune(v1)
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if v2, ok := hex16(s[i+2:]); ok {
						if d := utf16.DecodeRune(rune(v1), rune(v2)); d != utf8.RuneError {
							r, i = d, i+6
						}
					}
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, i, false
		}
		i += 2
	}
	return dst, i, true
}

// readString reads the JSON string at the start of b in one pass, where
// the decoder would scan it twice (jsontext validates it, then unquote
// resolves it): its text, as unquote gives it (in b when it has no escape
// and is valid UTF-8, else in p.scratch, valid until the next unquote),
// and the length of the string with its quotes. ok false: b does not
// start with a whole string this pass takes (not a string, cut short, or
// invalid); the decoder then reads it and reports any error. It accepts
// exactly the strings the decoder does (docOpts: invalid UTF-8 and lone
// surrogate escapes allowed), which FuzzReadString checks.
func (p *jsonParser) readString(b []byte) (text []byte, n int, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, 0, false
	}
	s := b[1:]
	i := 0
	for { // in place while nothing needs rewriting
		if i += plainLen(s[i:]); i == len(s) {
			return nil, 0, false
		}
		c := s[i]
		if c == '"' {
			return s[:i], i + 2, true
		}
		if c < utf8.RuneSelf { // an escape or a control character
			break
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	var end int
	if p.scratch, end, ok = unescapeTo(append(p.scratch[:0], s[:i]...), s[i:]); !ok || i+end == len(s) {
		return nil, 0, false
	}
	return p.scratch, i + end + 2, true
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
