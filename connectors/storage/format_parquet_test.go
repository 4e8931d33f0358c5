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
