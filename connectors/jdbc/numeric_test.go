package jdbc

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// numericViaPgx is what pgx's codec makes of a binary numeric as a
// Decimal: the value, or an error (malformed, NaN, ±Infinity).
func numericViaPgx(m *pgtype.Map, raw []byte) (*big.Rat, error) {
	var n pgtype.Numeric
	if err := m.PlanScan(pgtype.NumericOID, pgtype.BinaryFormatCode, &n).Scan(raw, &n); err != nil {
		return nil, err
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		return nil, fmt.Errorf("not finite")
	}
	return decimalRat(new(big.Rat), n), nil
}

// checkDecimalDecoder decodes raw with a Decimal column's decoder and
// wants exactly pgx's result: the same normalized Rat, or an error where
// pgx fails.
func checkDecimalDecoder(t *testing.T, m *pgtype.Map, dec decoder, raw []byte) {
	t.Helper()
	want, werr := numericViaPgx(m, raw)
	got, err := dec(raw)
	if werr != nil || err != nil {
		if (werr == nil) != (err == nil) {
			t.Fatalf("% x: decoder %v (err %v), pgx %v (err %v)", raw, got, err, want, werr)
		}
		return
	}
	r, ok := got.(*big.Rat)
	if !ok || r.Num().Cmp(want.Num()) != 0 || r.Denom().Cmp(want.Denom()) != 0 {
		t.Fatalf("% x: decoder %v, pgx %s", raw, got, want.RatString())
	}
}

func decimalDecoder(m *pgtype.Map) decoder {
	c := planColumn(pgColumn{name: "d", oid: pgtype.NumericOID, typmod: int32(18<<16|4) + 4, typtype: "b"}, typeSettings{numeric: "none"})
	return c.decoder(m, pgtype.BinaryFormatCode)
}

// TestDecimalFastPathMatchesPgx: numerics read straight from the wire form
// (smallNumeric) decode to what pgx's codec gives, over values PostgreSQL
// sends (encoded by pgx, as the server's numeric_send lays them out) of
// every size around the fast path's limits, and the values it leaves to pgx.
func TestDecimalFastPathMatchesPgx(t *testing.T) {
	m := pgtype.NewMap()
	dec := decimalDecoder(m)
	var nums []pgtype.Numeric
	for _, s := range []string{"0", "0.00", "-0.5", "1", "-1", "47.11", "12.34", "0.0001", "0.00001", "99999999.99", "-99999999.99",
		"9999999999999999", "10000000000000000", "123456789012345678", "1000000000000000000", "9223372036854775807", "9223372036854775808",
		"10000000000000000000", "0.000000000000000001", "0.0000000000000000001", "12345678901234567890.12345",
		"100000000000000000000000000000000000000", "NaN", "Infinity", "-Infinity"} {
		nums = append(nums, mustNumeric(t, s))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		v := rng.Int64N(pow10[rng.IntN(18)+1])
		if rng.IntN(2) == 0 {
			v = -v
		}
		nums = append(nums, pgtype.Numeric{Int: big.NewInt(v), Exp: int32(rng.IntN(44) - 24), Valid: true})
	}
	fast := 0
	for _, n := range nums {
		raw, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, n, nil)
		if err != nil {
			t.Fatalf("%v: %v", n, err)
		}
		if _, _, ok := smallNumeric(raw); ok {
			fast++
		}
		checkDecimalDecoder(t, m, dec, raw)
	}
	// What doc.go promises takes the fast path: every value of
	// numeric(10,2), numeric(12,4) and numeric(16,0).
	for _, s := range []string{"99999999.99", "-99999999.99", "0.01", "12345678.9012", "-0.0001", "9999999999999999", "-1000000000000000"} {
		raw, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, mustNumeric(t, s), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := smallNumeric(raw); !ok {
			t.Errorf("%s does not take the fast path", s)
		}
	}
	if fast < len(nums)/2 {
		t.Errorf("only %d of %d values took the fast path", fast, len(nums))
	}
	// Forms PostgreSQL does not send, which pgx reads its own way.
	for _, raw := range [][]byte{
		{0, 2, 0, 0, 0, 0, 0, 1, 0, 47, 4, 76},                                   // 47.1100 with display scale 1: pgx truncates to 47.1
		{0, 2, 0, 0, 0, 0, 0, 2, 0, 47, 4, 76},                                   // display scale 2: 47.11
		{0, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 5},                                     // an unknown sign: pgx reads it as negative
		{0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff},                                     // a digit past 9999
		{0, 2, 0, 0, 0, 0, 0, 0, 0, 1},                                           // short
		{0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0},                                        // a byte too many
		{0, 0, 0, 0, 0, 0, 0, 0},                                                 // zero
		{0, 0, 0, 0, 0, 0, 0, 0, 9},                                              // zero, and a byte pgx ignores
		{0, 1, 0x7f, 0xff, 0, 0, 0, 0, 0, 1},                                     // 10000^32767
		{0, 1, 0x80, 0x00, 0, 0, 0, 0, 0, 1},                                     // 10000^-32768
		{0, 0, 0, 0, 0xc0, 0, 0, 0},                                              // NaN
		{0, 4, 0, 3, 0, 0, 0, 0, 0x27, 0x0f, 0x27, 0x0f, 0x27, 0x0f, 0x27, 0x0f}, // 9999999999999999 × 10^0
	} {
		checkDecimalDecoder(t, m, dec, raw)
	}
	// Each value owns its words: changing one changes no other.
	raw, _ := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, mustNumeric(t, "47.11"), nil)
	a, _ := dec(raw)
	b, _ := dec(raw)
	a.(*big.Rat).Add(a.(*big.Rat), big.NewRat(1, 3))
	a.(*big.Rat).Num().SetInt64(7)
	if b.(*big.Rat).RatString() != "4711/100" || ratOne.RatString() != "1" {
		t.Errorf("after changing one value: the other %s, ratOne %s", b.(*big.Rat).RatString(), ratOne.RatString())
	}
}

func mustNumeric(t *testing.T, s string) pgtype.Numeric {
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		t.Fatal(err)
	}
	return n
}

// FuzzDecimalDecoder: any bytes decode as a Decimal to what pgx's codec
// makes of them (or fail where it fails).
func FuzzDecimalDecoder(f *testing.F) {
	m := pgtype.NewMap()
	for _, s := range []string{"0", "47.11", "-0.0001", "123456789012345678", "1000000000000000000000000000000", "NaN"} {
		var n pgtype.Numeric
		if err := n.Scan(s); err != nil {
			f.Fatal(err)
		}
		raw, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, n, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	dec := decimalDecoder(m)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 64 {
			return // pgx's big.Int arithmetic on long inputs only slows the fuzzer
		}
		checkDecimalDecoder(t, m, dec, raw)
	})
}
