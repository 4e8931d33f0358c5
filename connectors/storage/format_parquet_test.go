package storage

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/weirlog/weir/plugins"
)

func readParquet(t *testing.T, b []byte) (*parquet.File, []map[string]any) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	r := parquet.NewGenericReader[map[string]any](bytes.NewReader(b), f.Schema())
	defer r.Close()
	out := make([]map[string]any, r.NumRows())
	for i := range out {
		out[i] = map[string]any{}
	}
	if n, err := r.Read(out); n != len(out) {
		t.Fatalf("read %d of %d rows: %v", n, len(out), err)
	}
	return f, out
}

// TestParquetRoundTrip: every codec and type; the extension names the
// codec as Confluent's do, columns keep the Connect field order, and the
// logical types are Parquet's.
func TestParquetRoundTrip(t *testing.T) {
	s := testSchema()
	for _, c := range []struct {
		codec, ext string
		want       format.CompressionCodec
	}{
		{"none", ".parquet", format.Uncompressed},
		{"snappy", ".snappy.parquet", format.Snappy},
		{"gzip", ".gz.parquet", format.Gzip},
		{"zstd", ".zstd.parquet", format.Zstd},
	} {
		t.Run(c.codec, func(t *testing.T) {
			f := parseFormat(t, ParquetFormat, plugins.Config{"parquet.codec": c.codec})
			if f.Ext() != c.ext {
				t.Errorf("ext %q, want %q", f.Ext(), c.ext)
			}
			if e := parseFormat(t, ParquetFormatPlain, plugins.Config{"parquet.codec": c.codec}).Ext(); e != ".parquet" {
				t.Errorf("HDFS ext %q, want .parquet", e)
			}
			var in []*plugins.Record
			for i := range 500 {
				in = append(in, rec(int64(i), s, testValue(s, i)))
			}
			pf, out := readParquet(t, avroFile(t, f, in...))
			if got := pf.Metadata().RowGroups[0].Columns[0].MetaData.Codec; got != c.want {
				t.Errorf("codec %v, want %v", got, c.want)
			}
			var cols []string
			for _, fl := range pf.Schema().Fields() {
				cols = append(cols, fl.Name())
			}
			if strings.Join(cols, ",") != "id,tiny,small,n,f32,f64,ok,note,raw,price,day,at,ts,tags,counts,byid,addr,alt" {
				t.Errorf("columns %v", cols)
			}
			schema := pf.Schema().String()
			for _, w := range []string{"DECIMAL(64,2)", "DATE", "TIME(isAdjustedToUTC=true,unit=MILLIS)",
				"TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)", "optional binary note (STRING)", "group tags (LIST)", "group counts (MAP)"} {
				if !strings.Contains(schema, w) {
					t.Errorf("schema lacks %s:\n%s", w, schema)
				}
			}
			if len(out) != len(in) {
				t.Fatalf("%d rows, want %d", len(out), len(in))
			}
			r := out[5]
			if r["id"] != int64(1005) || r["tiny"] != int32(-3) || r["small"] != int32(300) || r["note"] != nil || r["ok"] != false {
				t.Errorf("row 5: %v", r)
			}
			// parquet-go reads DECIMAL back as *big.Float.
			if p, ok := r["price"].(*big.Float); !ok || p.Text('f', 2) != "12.39" {
				t.Errorf("price %v", r["price"])
			}
			if r["day"] != int32(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC).Unix()/86400) || r["ts"] != int64(1_764_547_200_128) || r["at"] != int32(3600_005) {
				t.Errorf("times: %v %v %v", r["day"], r["ts"], r["at"])
			}
			if addr, _ := r["addr"].(map[string]any); addr["city"] != "Oslo" || addr["zip"] != int32(150) {
				t.Errorf("addr %v", r["addr"])
			}
			if alt, _ := out[4]["alt"].(map[string]any); alt["city"] != "Bergen" || alt["zip"] != nil {
				t.Errorf("alt %v", out[4]["alt"])
			}
		})
	}
}

// TestParquetRefusesWhatItCannotWrite: a schemaless record, a non-STRUCT
// schema and a mismatched value fail clearly; the rows around them are
// intact.
func TestParquetRefusesWhatItCannotWrite(t *testing.T) {
	f := parseFormat(t, ParquetFormat, plugins.Config{})
	var buf bytes.Buffer
	w := f.NewWriter(&buf)
	if err := w.Write(rec(0, nil, map[string]any{"a": 1})); !errors.Is(err, errSchemaless) {
		t.Fatalf("schemaless: %v", err)
	}
	if err := w.Write(rec(0, plugins.StringSchema, "x")); err == nil || !strings.Contains(err.Error(), "STRUCT") {
		t.Fatalf("string schema: %v", err)
	}
	s := plugins.StructBuilder().Field("a", plugins.Int32Schema).Field("l", plugins.ArraySchema(plugins.Int64Schema)).MustBuild()
	if err := w.Write(rec(1, s, plugins.NewStruct(s).MustPut("a", int32(1)).MustPut("l", []any{int64(1)}))); err != nil {
		t.Fatal(err)
	}
	// Struct.Put checks the top level only as deep as it is given;
	// a raw struct value built around the checks must still be refused.
	other := plugins.StructBuilder().Field("a", plugins.StringSchema).MustBuild()
	if err := w.Write(rec(2, s, plugins.NewStruct(other).MustPut("a", "x"))); err == nil {
		t.Fatal("a struct of another schema was written")
	}
	if err := w.Write(rec(3, s, "not a struct")); err == nil {
		t.Fatal("a string value was written")
	}
	if err := w.Write(rec(4, s, plugins.NewStruct(s).MustPut("a", int32(4)).MustPut("l", []any{}))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, out := readParquet(t, buf.Bytes())
	if len(out) != 2 || out[0]["a"] != int32(1) || out[1]["a"] != int32(4) {
		t.Fatalf("rows %v", out)
	}
	if _, err := ConfigDef([]string{"JsonFormat"}, "JsonFormat").Parse(plugins.Config{"flush.size": "1", "parquet.codec": "lzo"}); err == nil {
		t.Fatal("parquet.codec=lzo accepted")
	}
}

// TestParquetFlatSameBytes: a struct of leaves is written through
// parquetFlat, and its files are byte for byte those of the map path,
// every codec, with nulls, empty values and every leaf and logical type
// (but an optional field holding zero, which the map path writes as null
// and the flat one as the zero it is);
// a struct with nested fields keeps the map path; a value of another
// struct schema fails alike.
func TestParquetFlatSameBytes(t *testing.T) {
	s := plugins.StructBuilder().Name("com.example.Flat").
		Field("id", plugins.Int64Schema).Field("tiny", plugins.Int8Schema).Field("small", plugins.Int16Schema).
		Field("n", plugins.Int32Schema).Field("f32", plugins.Float32Schema).Field("f64", plugins.Float64Schema).
		Field("ok", plugins.BooleanSchema).Field("note", plugins.OptionalStringSchema).Field("s", plugins.StringSchema).
		Field("raw", plugins.BytesSchema).Field("oraw", plugins.OptionalBytesSchema).Field("price", plugins.DecimalSchema(2)).
		Field("day", plugins.DateSchema()).Field("at", plugins.TimeSchema()).Field("ts", plugins.TimestampSchema()).
		Field("ots", plugins.BuilderFrom(plugins.TimestampSchema()).Optional().MustBuild()).
		Field("dflt", plugins.BuilderFrom(plugins.Int32Schema).Optional().Default(int32(42)).MustBuild()).
		MustBuild()
	var in []*plugins.Record
	for i := range 700 {
		v := plugins.NewStruct(s).
			MustPut("id", int64(1000+i)).MustPut("tiny", int8(-3)).MustPut("small", int16(300)).MustPut("n", int32(i)).
			MustPut("f32", float32(i)/3).MustPut("f64", 2.25*float64(i)).MustPut("ok", i%2 == 0).
			MustPut("s", strings.Repeat("é", i%5)).MustPut("raw", []byte{0, 1, byte(i)}).
			MustPut("price", big.NewRat(int64(1234+i), 100)).
			MustPut("day", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)).
			MustPut("at", time.UnixMilli(3600_000+int64(i)).UTC()).
			MustPut("ts", time.UnixMilli(1_764_547_200_123+int64(i)).UTC())
		if i%3 == 0 {
			v.MustPut("note", "note").MustPut("oraw", []byte{}).MustPut("ots", time.UnixMilli(int64(i+1)).UTC()).MustPut("dflt", int32(i+1))
		}
		in = append(in, rec(int64(i), s, v))
	}
	for _, codec := range []string{"none", "snappy", "zstd"} {
		flat := parseFormat(t, ParquetFormat, plugins.Config{"parquet.codec": codec})
		mapped := parseFormat(t, ParquetFormat, plugins.Config{"parquet.codec": codec})
		c, err := mapped.(*parquetFormat).compile(s)
		if err != nil {
			t.Fatal(err)
		}
		if c.flat == nil {
			t.Fatal("a struct of leaves has no flat writer")
		}
		c.flat = nil // the compiled schema is cached: mapped writes maps
		a, b := avroFile(t, flat, in...), avroFile(t, mapped, in...)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: the flat writer's file (%d bytes) differs from the map writer's (%d bytes)", codec, len(a), len(b))
		}
		_, rows := readParquet(t, a)
		if len(rows) != len(in) || rows[3]["note"] != "note" || rows[4]["note"] != nil || rows[5]["id"] != int64(1005) {
			t.Fatalf("%s: rows read back %d: %v / %v", codec, len(rows), rows[3], rows[4])
		}
	}
	// An optional field holding zero: the map path (parquet-go's
	// optional of a map value) writes it as null, the flat one as 0.
	zero := rec(0, s, plugins.NewStruct(s).
		MustPut("id", int64(0)).MustPut("tiny", int8(0)).MustPut("small", int16(0)).MustPut("n", int32(0)).
		MustPut("f32", float32(0)).MustPut("f64", 0.0).MustPut("ok", false).MustPut("note", "").MustPut("s", "").
		MustPut("raw", []byte{}).MustPut("oraw", []byte{}).MustPut("price", big.NewRat(0, 1)).
		MustPut("day", time.Unix(0, 0).UTC()).MustPut("at", time.Unix(0, 0).UTC()).MustPut("ts", time.Unix(0, 0).UTC()).
		MustPut("ots", time.Unix(0, 0).UTC()).MustPut("dflt", int32(0)))
	pf, _ := readParquet(t, avroFile(t, parseFormat(t, ParquetFormat, plugins.Config{}), zero))
	for _, col := range pf.Metadata().RowGroups[0].Columns {
		if n := col.MetaData.Statistics.NullCount; n != 0 {
			t.Errorf("column %v: %d nulls for a present zero value", col.MetaData.PathInSchema, n)
		}
	}
	if c, err := parseFormat(t, ParquetFormat, plugins.Config{}).(*parquetFormat).compile(testSchema()); err != nil || c.flat != nil {
		t.Fatalf("a struct with nested fields: flat %v, %v", c.flat != nil, err)
	}
	other := plugins.StructBuilder().Name("com.example.Flat").Field("id", plugins.Int64Schema).MustBuild()
	f := parseFormat(t, ParquetFormat, plugins.Config{})
	w := f.NewWriter(&bytes.Buffer{})
	if err := w.Write(in[0]); err != nil {
		t.Fatal(err)
	}
	bad := rec(1, s, plugins.NewStruct(other).MustPut("id", int64(1)))
	if err := w.Write(bad); err == nil || !strings.Contains(err.Error(), "where") {
		t.Fatalf("a struct of another schema: %v", err)
	}
	req := rec(2, s, plugins.NewStruct(s).MustPut("id", int64(1)))
	if err := w.Write(req); err == nil || !strings.Contains(err.Error(), "null for a required") {
		t.Fatalf("a required field missing: %v", err)
	}
}

// TestParquetOptionalZeroIsNotNull: a present zero (0, "", false, empty
// bytes) in an optional column stays a value, and only a null is null, in
// every place parquet-go's reflecting writer handles (top-level fields of
// a struct that is not flat, nested fields, list elements, map values):
// parquet-go writes a plain zero in an optional column as null.
func TestParquetOptionalZeroIsNotNull(t *testing.T) {
	inner := plugins.StructBuilder().Name("inner").
		Field("city", plugins.OptionalStringSchema).
		Field("zip", plugins.OptionalInt32Schema).MustBuild()
	optI64 := plugins.OptionalInt64Schema
	s := plugins.StructBuilder().Name("outer").
		Field("note", plugins.OptionalStringSchema).
		Field("n", plugins.OptionalInt32Schema).
		Field("ok", plugins.OptionalBooleanSchema).
		Field("raw", plugins.OptionalBytesSchema).
		Field("f", plugins.OptionalFloat64Schema).
		Field("gone", plugins.OptionalInt64Schema).
		Field("ns", plugins.ArraySchema(plugins.OptionalInt32Schema)).
		Field("m", plugins.MapSchema(plugins.StringSchema, optI64)).
		Field("addr", inner).MustBuild()
	v := plugins.NewStruct(s).MustPut("note", "").MustPut("n", int32(0)).MustPut("ok", false).
		MustPut("raw", []byte{}).MustPut("f", 0.0).
		MustPut("ns", []any{int32(0), nil}).MustPut("m", map[string]any{"z": int64(0)}).
		MustPut("addr", plugins.NewStruct(inner).MustPut("city", "").MustPut("zip", int32(0)))
	b := avroFile(t, parseFormat(t, ParquetFormat, plugins.Config{}), rec(0, s, v))
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]parquet.Row, 1)
	if n, _ := pf.RowGroups()[0].Rows().ReadRows(rows); n != 1 {
		t.Fatalf("read %d rows", n)
	}
	cols := pf.Schema().Columns()
	var nulls []string
	for _, x := range rows[0] {
		if x.IsNull() {
			nulls = append(nulls, strings.Join(cols[x.Column()], "."))
		}
	}
	// "gone" was never set; the list's second element is null.
	if got := strings.Join(nulls, ","); got != "gone,ns.list.element" {
		t.Errorf("null columns %q, want only gone and the list's null element:\n%v", got, rows[0])
	}
}
