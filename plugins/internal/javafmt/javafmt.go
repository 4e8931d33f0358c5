// Package javafmt formats numbers the way Java does, for the built-in
// converters and the data model that must print what Kafka Connect prints.
package javafmt

import (
	"math"
	"strconv"
)

// Float formats f like Java's Double.toString (bits 64) or
// Float.toString (bits 32), using the shortest digits that round-trip.
func Float(f float64, bits int) string {
	var buf [32]byte
	return string(AppendFloat(buf[:0], f, bits))
}

// AppendFloat appends Float(f, bits) to dst.
func AppendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	if f < 0 {
		dst = append(dst, '-')
	}
	a := math.Abs(f)
	var ebuf, dbuf [32]byte
	digits, exp := decimal(dbuf[:0], strconv.AppendFloat(ebuf[:0], a, 'e', -1, bits))
	if len(digits) == 1 {
		// Java never prints a lone digit: when the shortest decimal has
		// one digit it picks the closest two-digit one (4.9E-324, not
		// 5.0E-324, for the smallest subnormal).
		digits, exp = decimal(dbuf[:0], strconv.AppendFloat(ebuf[:0], a, 'e', 1, bits))
		if digits[len(digits)-1] == '0' {
			digits = digits[:len(digits)-1]
		}
	}
	if a >= 1e-3 && a < 1e7 {
		switch {
		case exp >= 0 && len(digits) <= exp+1:
			dst = append(dst, digits...)
			for range exp + 1 - len(digits) {
				dst = append(dst, '0')
			}
			return append(dst, ".0"...)
		case exp >= 0:
			dst = append(dst, digits[:exp+1]...)
			dst = append(dst, '.')
			return append(dst, digits[exp+1:]...)
		}
		dst = append(dst, "0."...)
		for range -exp - 1 {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	}
	dst = append(dst, digits[0], '.')
	if len(digits) > 1 {
		dst = append(dst, digits[1:]...)
	} else {
		dst = append(dst, '0')
	}
	dst = append(dst, 'E')
	return strconv.AppendInt(dst, int64(exp), 10)
}

// decimal splits strconv's 'e' format (d.ddde±XX) into its digits,
// appended to dst, and the exponent.
func decimal(dst, e []byte) ([]byte, int) {
	i := len(e) - 1
	for e[i] != 'e' {
		i--
	}
	dst = append(dst, e[0])
	if i > 2 {
		dst = append(dst, e[2:i]...) // after the point
	}
	exp := 0
	for _, c := range e[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if e[i+1] == '-' {
		exp = -exp
	}
	return dst, exp
}
