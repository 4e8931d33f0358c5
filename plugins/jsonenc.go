package plugins

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON writing that matches Jackson's output as Kafka's JsonConverter
// configures it, so weir and Kafka Connect produce the same bytes for the
// same data: no whitespace, object keys in insertion order, non-ASCII
// written raw, control characters as \b \t \n \f \r or \u00XX (upper-case
// hex), floating point numbers as Java's Double.toString/Float.toString
// (1.0, 1.0E7, 1.0E-4), NaN and infinities as strings.

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	for i := 0; i < len(s); {
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

// javaFloat formats f like Java's Double.toString (bits 64) or
// Float.toString (bits 32), using the shortest digits that round-trip.
func javaFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	neg := f < 0
	a := math.Abs(f)
	e := strconv.FormatFloat(a, 'e', -1, bits) // d.ddde±XX
	mant, expS, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	if len(digits) == 1 {
		// Java never prints a lone digit: when the shortest decimal has
		// one digit it picks the closest two-digit one (4.9E-324, not
		// 5.0E-324, for the smallest subnormal).
		e2 := strconv.FormatFloat(a, 'e', 1, bits)
		m2, x2, _ := strings.Cut(e2, "e")
		digits = strings.Replace(m2, ".", "", 1)
		exp, _ = strconv.Atoi(x2)
		digits = strings.TrimSuffix(digits, "0")
	}
	var sb strings.Builder
	if neg {
		sb.WriteByte('-')
	}
	if a >= 1e-3 && a < 1e7 {
		if exp >= 0 {
			if len(digits) <= exp+1 {
				sb.WriteString(digits)
				sb.WriteString(strings.Repeat("0", exp+1-len(digits)))
				sb.WriteString(".0")
			} else {
				sb.WriteString(digits[:exp+1])
				sb.WriteByte('.')
				sb.WriteString(digits[exp+1:])
			}
		} else {
			sb.WriteString("0.")
			sb.WriteString(strings.Repeat("0", -exp-1))
			sb.WriteString(digits)
		}
		return sb.String()
	}
	sb.WriteByte(digits[0])
	sb.WriteByte('.')
	if len(digits) > 1 {
		sb.WriteString(digits[1:])
	} else {
		sb.WriteByte('0')
	}
	sb.WriteByte('E')
	sb.WriteString(strconv.Itoa(exp))
	return sb.String()
}

func appendJSONFloat(b []byte, f float64, bits int) []byte {
	s := javaFloat(f, bits)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendJSONString(b, s)
	}
	return append(b, s...)
}
