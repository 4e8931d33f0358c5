package javafmt

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

// floatRef is Float as it was written before AppendFloat (strings, not
// appends): the oracle FuzzAppendFloat compares against.
func floatRef(f float64, bits int) string {
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

func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{0, math.Copysign(0, -1), 1, 100, 12.34, -1.5, 0.001, 0.0001, 1234567, 9999999, 1e7, 1.2345678e7, 1e21,
		math.MaxFloat64, 4.9e-324, 0.1, 3.4028235e38, math.NaN(), math.Inf(1), math.Inf(-1), 1e-3, 9.999999e6, 123e-7} {
		f.Add(math.Float64bits(x))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		x := math.Float64frombits(bits)
		if got, want := string(AppendFloat([]byte("x"), x, 64)), "x"+floatRef(x, 64); got != want {
			t.Fatalf("AppendFloat(%v, 64) = %q, want %q", x, got, want)
		}
		y := float64(float32(x))
		if got, want := Float(y, 32), floatRef(y, 32); got != want {
			t.Fatalf("Float(%v, 32) = %q, want %q", y, got, want)
		}
	})
}

func BenchmarkAppendFloat(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFloat(buf[:0], 1493819497.25, 64)
	}
}
