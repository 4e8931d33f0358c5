// Package javafmt formats numbers the way Java does, for the built-in
// converters and the data model that must print what Kafka Connect prints.
package javafmt

import (
	"math"
	"strconv"
	"strings"
)

// Float formats f like Java's Double.toString (bits 64) or
// Float.toString (bits 32), using the shortest digits that round-trip.
func Float(f float64, bits int) string {
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
