package jsonconv

import (
	"encoding/base64"
	"math"
	"unicode/utf8"

	"github.com/weirlog/weir/plugins/internal/javafmt"
)

// JSON writing that matches Jackson's output as Kafka's JsonConverter
// configures it, so weir and Kafka Connect produce the same bytes for the
// same data: no whitespace, object keys in insertion order, non-ASCII
// written raw, control characters as \b \t \n \f \r or \u00XX (upper-case
// hex), floating point numbers as Java's Double.toString/Float.toString
// (1.0, 1.0E7, 1.0E-4), NaN and infinities as strings.

// plainASCII marks the bytes a JSON string holds as they are.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Runs of ASCII that need no escape (nearly every byte of most
		// values) are found eight bytes at a time and copied at once:
		// byte-at-a-time appends were the largest cost of the
		// Elasticsearch sink's conversion.
		if j := i + plainLen(s[i:]); j > i {
			b = append(b, s[i:j]...)
			if i = j; i == len(s) {
				break
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				b = append(b, '\\', '"')
			case c == '\\':
				b = append(b, '\\', '\\')
			case c >= 0x20:
				b = append(b, c)
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func appendJSONFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		b = append(b, '"')
		return append(javafmt.AppendFloat(b, f, bits), '"')
	}
	return javafmt.AppendFloat(b, f, bits)
}

// appendBase64 writes bytes as Kafka does, a base64 string (its alphabet
// needs no escapes).
func appendBase64(b, raw []byte) []byte {
	b = append(b, '"')
	return append(base64.StdEncoding.AppendEncode(b, raw), '"')
}
