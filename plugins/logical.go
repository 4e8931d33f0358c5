package plugins

import (
	"fmt"
	"math/big"
	"time"
)

const msPerDay = 24 * 60 * 60 * 1000

// DecimalToBytes encodes r, which must have at most scale fractional
// digits, as Kafka's Decimal.fromLogical does: the unscaled value in
// big-endian two's complement, minimal length.
func DecimalToBytes(r *big.Rat, scale int) ([]byte, error) {
	u, err := unscaled(r, scale)
	if err != nil {
		return nil, err
	}
	return twosComplement(u), nil
}

// DecimalFromBytes decodes Kafka's Decimal representation.
func DecimalFromBytes(b []byte, scale int) *big.Rat {
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)))
	}
	return scaleDown(u, scale)
}

// DecimalString renders r with exactly scale fractional digits ("12.30").
func DecimalString(r *big.Rat, scale int) (string, error) {
	if _, err := unscaled(r, scale); err != nil {
		return "", err
	}
	if scale < 0 {
		return r.FloatString(0), nil
	}
	return r.FloatString(scale), nil
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

func unscaled(r *big.Rat, scale int) (*big.Int, error) {
	x := new(big.Rat).Set(r)
	if scale >= 0 {
		x.Mul(x, new(big.Rat).SetInt(pow10(scale)))
	} else {
		x.Quo(x, new(big.Rat).SetInt(pow10(-scale)))
	}
	if !x.IsInt() {
		return nil, fmt.Errorf("decimal %s does not fit scale %d", r.RatString(), scale)
	}
	return new(big.Int).Set(x.Num()), nil
}

func scaleDown(u *big.Int, scale int) *big.Rat {
	r := new(big.Rat).SetInt(u)
	if scale >= 0 {
		return r.Quo(r, new(big.Rat).SetInt(pow10(scale)))
	}
	return r.Mul(r, new(big.Rat).SetInt(pow10(-scale)))
}

// roundRat truncates r to scale digits (used when a NUMERIC decimal has
// more digits than its schema allows; Kafka's BigDecimal keeps them and
// fails later, we keep the data usable).
func roundRat(r *big.Rat, scale int) *big.Rat {
	if _, err := unscaled(r, scale); err == nil {
		return r
	}
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt(pow10(max(scale, 0))))
	q := new(big.Int).Quo(x.Num(), x.Denom())
	return scaleDown(q, max(scale, 0))
}

func twosComplement(u *big.Int) []byte {
	if u.Sign() >= 0 {
		b := u.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// smallest n with -2^(8n-1) <= u
	n := 1
	for {
		lim := new(big.Int).Lsh(big.NewInt(1), uint(8*n-1))
		lim.Neg(lim)
		if u.Cmp(lim) >= 0 {
			break
		}
		n++
	}
	x := new(big.Int).Add(u, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	b := x.Bytes()
	for len(b) < n {
		b = append([]byte{0xff}, b...)
	}
	return b
}

func logicalTimeToInt(name string, t time.Time) (int64, error) {
	ms := t.UnixMilli()
	switch name {
	case DateName:
		if ms%msPerDay != 0 {
			return 0, fmt.Errorf("kafka Connect Date type should not have any time fields set to non-zero values")
		}
		return ms / msPerDay, nil
	case TimeName:
		if ms < 0 || ms >= msPerDay {
			return 0, fmt.Errorf("kafka Connect Time type should not have any date fields set to non-zero values")
		}
		return ms, nil
	}
	return ms, nil
}

func intToLogicalTime(name string, v any) (time.Time, error) {
	switch name {
	case DateName:
		d, ok := v.(int32)
		if !ok {
			return time.Time{}, fmt.Errorf("invalid type for Date, underlying representation should be int32 but was %T", v)
		}
		return time.UnixMilli(int64(d) * msPerDay).UTC(), nil
	case TimeName:
		d, ok := v.(int32)
		if !ok {
			return time.Time{}, fmt.Errorf("invalid type for Time, underlying representation should be int32 but was %T", v)
		}
		if d < 0 || d >= msPerDay {
			return time.Time{}, fmt.Errorf("time values must use number of milliseconds greater than 0 and less than 86400000")
		}
		return time.UnixMilli(int64(d)).UTC(), nil
	}
	d, ok := v.(int64)
	if !ok {
		return time.Time{}, fmt.Errorf("invalid type for Timestamp, underlying representation should be int64 but was %T", v)
	}
	return time.UnixMilli(d).UTC(), nil
}

// LogicalToRaw converts a logical value to its underlying Connect value
// (Decimal→[]byte, Date/Time→int32, Timestamp→int64); other values pass.
func LogicalToRaw(s *Schema, v any) (any, error) {
	if s == nil || v == nil {
		return v, nil
	}
	switch s.Name {
	case DecimalName:
		r, ok := v.(*big.Rat)
		if !ok {
			return nil, fmt.Errorf("decimal value %T is not *big.Rat", v)
		}
		scale, err := s.DecimalScale()
		if err != nil {
			return nil, err
		}
		return DecimalToBytes(r, scale)
	case DateName, TimeName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("%s value %T is not time.Time", s.Name, v)
		}
		n, err := logicalTimeToInt(s.Name, t)
		return int32(n), err
	case TimestampName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, fmt.Errorf("%s value %T is not time.Time", s.Name, v)
		}
		return t.UnixMilli(), nil
	}
	return v, nil
}

// RawToLogical converts an underlying Connect value to the logical value
// its schema names (bytes→Decimal *big.Rat, int32→Date/Time, int64→
// Timestamp as time.Time in UTC), the inverse of LogicalToRaw; other
// values pass.
func RawToLogical(s *Schema, v any) (any, error) {
	if s == nil || v == nil {
		return v, nil
	}
	switch s.Name {
	case DecimalName:
		b, ok := v.([]byte)
		if !ok {
			return nil, fmt.Errorf("invalid type for Decimal, underlying representation should be bytes but was %T", v)
		}
		scale, err := s.DecimalScale()
		if err != nil {
			return nil, err
		}
		return DecimalFromBytes(b, scale), nil
	case DateName, TimeName, TimestampName:
		return intToLogicalTime(s.Name, v)
	}
	return v, nil
}
