package jdbc

import (
	"math/big"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/weirlog/weir/plugins"
)

// sameRow is a pgx.Rows that returns one row of raw values forever.
type sameRow struct{ raw [][]byte }

func (r *sameRow) Close()                                       {}
func (r *sameRow) Err() error                                   { return nil }
func (r *sameRow) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r *sameRow) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r *sameRow) Next() bool                                   { return true }
func (r *sameRow) Scan(...any) error                            { return nil }
func (r *sameRow) Values() ([]any, error)                       { return nil, nil }
func (r *sameRow) RawValues() [][]byte                          { return r.raw }
func (r *sameRow) Conn() *pgx.Conn                              { return nil }
func (r *sameRow) TypeMap() *pgtype.Map                         { return nil }

// benchRowScan is a scan over the benchmark's row (see
// TestRowDecodeAllocations), its first row decoded and checked.
func benchRowScan(tb testing.TB) *scan {
	m := pgtype.NewMap()
	ts := typeSettings{numeric: "none", tz: time.UTC}
	cols := []pgColumn{
		{name: "id", notNull: true, oid: pgtype.Int8OID, typmod: -1, typtype: "b"},
		{name: "qty", notNull: true, oid: pgtype.Int4OID, typmod: -1, typtype: "b"},
		{name: "item", notNull: true, oid: pgtype.TextOID, typmod: -1, typtype: "b"},
		{name: "price", oid: pgtype.NumericOID, typmod: int32(10<<16|2) + 4, typtype: "b"},
		{name: "at", notNull: true, oid: pgtype.TimestamptzOID, typmod: -1, typtype: "b"},
	}
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	// 47.11 as table mode selects a numeric(10,2): (price * 100)::int8.
	in := []any{int64(123456), int32(789), "item-123456", int64(4711), at}
	p := &plan{keyIdx: []int{0}}
	var raw [][]byte
	for i, c := range cols {
		col := planColumn(c, ts)
		col.selectUnscaled(c.typmod)
		p.cols = append(p.cols, col)
		b, err := m.Encode(col.oid, pgtype.BinaryFormatCode, in[i], nil)
		if err != nil {
			tb.Fatal(err)
		}
		raw = append(raw, b)
	}
	if err := p.buildSchemas("src", p.keyIdx); err != nil {
		tb.Fatal(err)
	}
	sc := &scan{t: &tableState{topic: "b-src", id: tableID{Schema: "s", Name: "src"}}, plan: p, m: m, batch: 10000, rows: &sameRow{raw}}
	for _, c := range p.cols {
		sc.dec = append(sc.dec, c.decoder(m, pgtype.BinaryFormatCode))
	}
	var rec plugins.Record
	if ok, err := sc.next(&rec); !ok || err != nil {
		tb.Fatalf("next: %v %v", ok, err)
	}
	want := plugins.NewStruct(p.valueSchema).MustPut("id", int64(123456)).MustPut("qty", int32(789)).MustPut("item", "item-123456").
		MustPut("price", big.NewRat(4711, 100)).MustPut("at", at)
	if v, ok := rec.Value.(*plugins.Struct); !ok || !v.Equal(want) || rec.Topic != "b-src" {
		tb.Fatalf("record %v, want %v", rec.Value, want)
	}
	if k, ok := rec.Key.(*plugins.Struct); !ok || k.Get("id") != int64(123456) || len(rec.KeySchema.Fields) != 1 {
		tb.Fatalf("key %v", rec.Key)
	}
	return sc
}

// BenchmarkRowDecode is the client's cost per row of the benchmark's table
// without the network: pgx's scan plans, the Connect values, the structs.
func BenchmarkRowDecode(b *testing.B) {
	sc := benchRowScan(b)
	recs := make([]plugins.Record, 10000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := sc.next(&recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRowDecodeAllocations decodes the benchmark's row (bigint key, int,
// text, numeric(10,2), timestamptz; test/bench/jdbcbench) into a record
// and bounds the allocations per row: the per-row Struct building
// (NewStruct and Put by name for the value and the key) cost 13.8 per row
// before field values came from shared slabs, and 11 while the
// numeric(10,2) went through pgx's numeric codec (a big.Int per value);
// selected as its unscaled bigint it is 9.
func TestRowDecodeAllocations(t *testing.T) {
	sc := benchRowScan(t)
	var rec plugins.Record
	allocs := testing.AllocsPerRun(20000, func() {
		if _, err := sc.next(&rec); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.2f allocations per row", allocs)
	if allocs > 9.5 {
		t.Errorf("%.2f allocations per decoded row, want at most 9.5", allocs)
	}
}
