package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

func parseFormat(t testing.TB, mk func(*plugins.ParsedConfig, bool) (Format, error), cfg plugins.Config) Format {
	t.Helper()
	if cfg["flush.size"] == "" {
		cfg["flush.size"] = "10"
	}
	p, err := ConfigDef([]string{"JsonFormat"}, "JsonFormat").Parse(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := mk(p, false)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// testSchema is a value schema with every Connect type and logical type.
func testSchema() *plugins.Schema {
	inner := plugins.StructBuilder().Name("com.example.Address").
		Field("city", plugins.StringSchema).
		Field("zip", plugins.OptionalInt32Schema).MustBuild()
	return plugins.StructBuilder().Name("com.example.Order").Version(3).Doc("an order").
		Field("id", plugins.Int64Schema).
		Field("tiny", plugins.Int8Schema).
		Field("small", plugins.Int16Schema).
		Field("n", plugins.Int32Schema).
		Field("f32", plugins.Float32Schema).
		Field("f64", plugins.Float64Schema).
		Field("ok", plugins.BooleanSchema).
		Field("note", plugins.OptionalStringSchema).
		Field("raw", plugins.BytesSchema).
		Field("price", plugins.DecimalSchema(2)).
		Field("day", plugins.DateSchema()).
		Field("at", plugins.TimeSchema()).
		Field("ts", plugins.TimestampSchema()).
		Field("tags", plugins.ArraySchema(plugins.StringSchema)).
		Field("counts", plugins.MapSchema(plugins.StringSchema, plugins.Int64Schema)).
		Field("byid", plugins.MapSchema(plugins.Int32Schema, plugins.StringSchema)).
		Field("addr", inner).
		Field("alt", plugins.BuilderFrom(inner).Optional().MustBuild()).
		MustBuild()
}

func testValue(s *plugins.Schema, i int) *plugins.Struct {
	addr := s.Field("addr").Schema
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)
	st := plugins.NewStruct(s).
		MustPut("id", int64(1000+i)).MustPut("tiny", int8(-3)).MustPut("small", int16(300)).MustPut("n", int32(i)).
		MustPut("f32", float32(1.5)).MustPut("f64", 2.25).MustPut("ok", i%2 == 0).
		MustPut("raw", []byte{0, 1, 0xff}).MustPut("price", big.NewRat(int64(1234+i), 100)).
		MustPut("day", day).MustPut("at", time.UnixMilli(3600_000+int64(i)).UTC()).
		MustPut("ts", time.UnixMilli(1_764_547_200_123+int64(i)).UTC()).
		MustPut("tags", []any{"a", "b"}).MustPut("counts", map[string]any{"x": int64(i)}).
		MustPut("byid", map[any]any{int32(7): "seven"}).
		MustPut("addr", plugins.NewStruct(addr).MustPut("city", "Oslo").MustPut("zip", int32(150)))
	if i%2 == 0 {
		st.MustPut("note", "even")
		st.MustPut("alt", plugins.NewStruct(s.Field("alt").Schema).MustPut("city", "Bergen"))
	}
	return st
}

func rec(off int64, s *plugins.Schema, v any) *plugins.Record {
	return &plugins.Record{Topic: "t", Partition: 0, Offset: off, ValueSchema: s, Value: v}
}

// TestAvroSchemaMapping: the Avro schema in the file is AvroData's mapping.
func TestAvroSchemaMapping(t *testing.T) {
	m, err := mapAvro(testSchema())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(m.schemaJSON), &got); err != nil {
		t.Fatal(err)
	}
	field := func(name string) any {
		for _, f := range got["fields"].([]any) {
			if f.(map[string]any)["name"] == name {
				return f
			}
		}
		t.Fatalf("no field %s in %s", name, m.schemaJSON)
		return nil
	}
	j := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, c := range []struct{ name, want string }{
		{"id", `{"name":"id","type":"long"}`},
		{"tiny", `{"name":"tiny","type":{"connect.type":"int8","type":"int"}}`},
		{"small", `{"name":"small","type":{"connect.type":"int16","type":"int"}}`},
		{"note", `{"default":null,"name":"note","type":["null","string"]}`},
		{"price", `{"name":"price","type":{"connect.name":"org.apache.kafka.connect.data.Decimal","connect.parameters":{"scale":"2"},"connect.version":1,"logicalType":"decimal","precision":64,"scale":2,"type":"bytes"}}`},
		{"day", `{"name":"day","type":{"connect.name":"org.apache.kafka.connect.data.Date","connect.version":1,"logicalType":"date","type":"int"}}`},
		{"at", `{"name":"at","type":{"connect.name":"org.apache.kafka.connect.data.Time","connect.version":1,"logicalType":"time-millis","type":"int"}}`},
		{"ts", `{"name":"ts","type":{"connect.name":"org.apache.kafka.connect.data.Timestamp","connect.version":1,"logicalType":"timestamp-millis","type":"long"}}`},
		{"counts", `{"name":"counts","type":{"type":"map","values":"long"}}`},
		{"byid", `{"name":"byid","type":{"items":{"fields":[{"name":"key","type":"int"},{"name":"value","type":"string"}],"name":"MapEntry","namespace":"io.confluent.connect.avro","type":"record"},"type":"array"}}`},
		{"alt", `{"default":null,"name":"alt","type":["null","com.example.Address"]}`},
	} {
		if g := j(field(c.name)); g != c.want {
			t.Errorf("field %s:\n got %s\nwant %s", c.name, g, c.want)
		}
	}
	if got["name"] != "Order" || got["namespace"] != "com.example" || got["connect.version"] != 3.0 || got["doc"] != "an order" {
		t.Errorf("record header: %s", m.schemaJSON)
	}
	// Unnamed structs are ConnectDefault, ConnectDefault2, ... as AvroData names them.
	anon := plugins.StructBuilder().Field("a", plugins.StructBuilder().Field("b", plugins.Int32Schema).MustBuild()).MustBuild()
	m, err = mapAvro(anon)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.schemaJSON, `"name":"ConnectDefault"`) || !strings.Contains(m.schemaJSON, `"name":"ConnectDefault2"`) ||
		!strings.Contains(m.schemaJSON, `"namespace":"io.confluent.connect.avro"`) {
		t.Errorf("anonymous structs: %s", m.schemaJSON)
	}
}

func avroFile(t *testing.T, f Format, recs ...*plugins.Record) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := f.NewWriter(&buf)
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatalf("write %d: %v", r.Offset, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func decodeAvro(t *testing.T, b []byte) (codec string, out []map[string]any) {
	t.Helper()
	codec, datums, err := readAvro(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range datums {
		v, ok := d.(map[string]any)
		if !ok {
			t.Fatalf("datum %d is a %T, not a record", i, d)
		}
		out = append(out, v)
	}
	return codec, out
}

// TestAvroRoundTrip: every codec, every type, decoded back by goavro (its
// own container reader too) in its native form: int as
// int32, a union member as map{branch: value}. The services tests read the
// same files with fastavro.
func TestAvroRoundTrip(t *testing.T) {
	s := testSchema()
	for _, codec := range []string{"null", "deflate", "snappy", "zstandard"} {
		t.Run(codec, func(t *testing.T) {
			f := parseFormat(t, AvroFormat, plugins.Config{"avro.codec": codec})
			if f.Ext() != ".avro" {
				t.Errorf("ext %q", f.Ext())
			}
			var in []*plugins.Record
			for i := range 1500 { // ~150 KB: more than one 64 KiB block
				in = append(in, rec(int64(i), s, testValue(s, i)))
			}
			codecGot, out := decodeAvro(t, avroFile(t, f, in...))
			if codecGot != codec {
				t.Errorf("avro.codec = %q, want %q", codecGot, codec)
			}
			if len(out) != len(in) {
				t.Fatalf("%d records, want %d", len(out), len(in))
			}
			r := out[5]
			if r["id"] != int64(1005) || r["tiny"] != int32(-3) || r["small"] != int32(300) || r["n"] != int32(5) || r["ok"] != false || r["note"] != nil {
				t.Errorf("record 5 primitives: %v", r)
			}
			if p, ok := r["price"].(*big.Rat); !ok || p.Cmp(big.NewRat(1239, 100)) != 0 {
				t.Errorf("price %v (%T)", r["price"], r["price"])
			}
			if d, ok := r["day"].(time.Time); !ok || !d.Equal(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("day %v", r["day"])
			}
			if ts, ok := r["ts"].(time.Time); !ok || ts.UnixMilli() != 1_764_547_200_128 {
				t.Errorf("ts %v", r["ts"])
			}
			if at, ok := r["at"].(time.Duration); !ok || at != time.Hour+5*time.Millisecond {
				t.Errorf("at %v", r["at"])
			}
			if !reflect.DeepEqual(r["tags"], []any{"a", "b"}) || !reflect.DeepEqual(r["counts"], map[string]any{"x": int64(5)}) ||
				!reflect.DeepEqual(r["byid"], []any{map[string]any{"key": int32(7), "value": "seven"}}) {
				t.Errorf("collections: %v %v %v", r["tags"], r["counts"], r["byid"])
			}
			if !reflect.DeepEqual(r["addr"], map[string]any{"city": "Oslo", "zip": map[string]any{"int": int32(150)}}) || r["alt"] != nil {
				t.Errorf("structs: %#v %#v", r["addr"], r["alt"])
			}
			if alt := out[4]["alt"]; !reflect.DeepEqual(alt, map[string]any{"com.example.Address": map[string]any{"city": "Bergen", "zip": nil}}) {
				t.Errorf("optional struct: %#v", alt)
			}
		})
	}
}

// TestAvroRefusesWhatItCannotWrite: schemaless records, values that do not
// match their schema and invalid names fail with a clear error, and the
// records before and after them are intact.
func TestAvroRefusesWhatItCannotWrite(t *testing.T) {
	f := parseFormat(t, AvroFormat, plugins.Config{})
	s := testSchema()
	var buf bytes.Buffer
	w := f.NewWriter(&buf)
	if err := w.Write(rec(0, nil, map[string]any{"a": 1})); !errors.Is(err, errSchemaless) {
		t.Fatalf("schemaless: %v", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("a refused first record left %d bytes", buf.Len())
	}
	if err := w.Write(rec(1, s, testValue(s, 1))); err != nil {
		t.Fatal(err)
	}
	wrong := plugins.NewStruct(plugins.StructBuilder().Field("x", plugins.Int32Schema).MustBuild())
	if err := w.Write(rec(3, s, wrong)); err == nil || !strings.Contains(err.Error(), "struct of schema") {
		t.Fatalf("struct of another schema: %v", err)
	}
	if err := w.Write(rec(4, plugins.StringSchema, "x")); !errors.Is(err, errSchemaChanged) {
		t.Fatalf("another schema: %v", err)
	}
	if err := w.Write(rec(2, s, testValue(s, 2))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, out := decodeAvro(t, buf.Bytes())
	if len(out) != 2 || out[0]["id"] != int64(1001) || out[1]["id"] != int64(1002) {
		t.Fatalf("file holds %v", out)
	}
	bad3 := plugins.StructBuilder().Field("user-id", plugins.Int32Schema).MustBuild()
	if err := f.NewWriter(&bytes.Buffer{}).Write(rec(0, bad3, plugins.NewStruct(bad3).MustPut("user-id", int32(1)))); err == nil ||
		!strings.Contains(err.Error(), "Avro rejects") {
		t.Fatalf("invalid Avro name: %v", err)
	}
	_, err := ConfigDef([]string{"JsonFormat"}, "JsonFormat").Parse(plugins.Config{"flush.size": "1", "avro.codec": "bzip2"})
	if err == nil || !strings.Contains(err.Error(), "avro.codec") {
		t.Fatalf("avro.codec=bzip2: %v", err)
	}
}

// TestAvroPrimitiveValue: a non-struct value schema makes a file of that
// type (Avro containers hold any schema; optional becomes a union).
func TestAvroPrimitiveValue(t *testing.T) {
	f := parseFormat(t, AvroFormat, plugins.Config{"avro.codec": "deflate"})
	b := avroFile(t, f, rec(0, plugins.OptionalStringSchema, "a"), rec(1, plugins.OptionalStringSchema, "b"))
	_, got, err := readAvro(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []any{map[string]any{"string": "a"}, map[string]any{"string": "b"}}) {
		t.Fatalf("got %#v", got)
	}
}

// TestSchemaChangeRollsFile: through the writer core, records of a second
// schema (equal schemas given as distinct pointers do not count) start a
// new file, and a schemaless record is refused without closing the file.
func TestSchemaChangeRollsFile(t *testing.T) {
	for _, format := range []struct {
		name string
		mk   func(*plugins.ParsedConfig, bool) (Format, error)
		ext  string
	}{{"AvroFormat", AvroFormat, ".avro"}, {"ParquetFormat", ParquetFormat, ".snappy.parquet"}} {
		t.Run(format.name, func(t *testing.T) {
			st := newMem()
			task := &Task{NewBackend: func(c plugins.Config) (*Backend, error) {
				p, err := ConfigDef([]string{format.name}, format.name).Parse(c)
				if err != nil {
					return nil, err
				}
				s, err := Parse(p, map[string]func(*plugins.ParsedConfig, bool) (Format, error){format.name: format.mk}, false)
				if err != nil {
					return nil, err
				}
				return &Backend{Name: "test", Store: st, Settings: s, Naming: Naming{TopicsDir: s.TopicsDir, DirDelim: "/", FileDelim: "+", WithEnd: true}}, nil
			}}
			task.syncCommits = true // files are looked at right after Put
			if err := task.Start(&fakeCtx{}, plugins.Config{"flush.size": "100"}); err != nil {
				t.Fatal(err)
			}
			defer task.Stop()
			v1 := func() *plugins.Schema {
				return plugins.StructBuilder().Name("v").Version(1).Field("a", plugins.Int32Schema).MustBuild()
			}
			v2 := plugins.StructBuilder().Name("v").Version(2).Field("a", plugins.Int32Schema).Field("b", plugins.OptionalStringSchema).MustBuild()
			var in []plugins.Record
			for i := range 6 {
				s := v1() // a fresh, equal schema per record, as converters hand them out
				if i >= 3 {
					s = v2
				}
				in = append(in, *rec(int64(i), s, plugins.NewStruct(s).MustPut("a", int32(i))))
			}
			in = append(in, *rec(6, nil, map[string]any{"a": 6}))
			if err := task.Put(context.Background(), in[:3]); err != nil {
				t.Fatal(err)
			}
			if err := task.Put(context.Background(), in[3:6]); err != nil {
				t.Fatal(err)
			}
			err := task.Put(context.Background(), in[6:])
			if !errors.Is(err, errSchemaless) {
				t.Fatalf("schemaless record without a DLQ: %v", err)
			}
			var names []string
			for p := range st.files {
				names = append(names, p)
			}
			want := "topics/t/partition=0/t+0+0000000000+0000000002" + format.ext
			if len(names) != 1 || names[0] != want {
				t.Fatalf("files %v, want only %s (the v2 file still open)", names, want)
			}
		})
	}
}

// BenchmarkFormats1KiB: encode MB/s of 1 KiB records (the JSON form of
// each is 1024 bytes; MB/s counts 1024 bytes per record for every format)
// into files of 1000 records.
func BenchmarkFormats1KiB(b *testing.B) {
	s := plugins.StructBuilder().Name("bench.Event").
		Field("id", plugins.Int64Schema).Field("user", plugins.StringSchema).Field("kind", plugins.StringSchema).
		Field("amount", plugins.Float64Schema).Field("ok", plugins.BooleanSchema).
		Field("ts", plugins.TimestampSchema()).Field("note", plugins.OptionalStringSchema).
		Field("payload", plugins.StringSchema).MustBuild()
	mk := func(i int, payload string) *plugins.Record {
		return rec(int64(i), s, plugins.NewStruct(s).MustPut("id", int64(i)).MustPut("user", "user-"+strings.Repeat("x", 8)).
			MustPut("kind", "purchase").MustPut("amount", float64(i)*1.25).MustPut("ok", true).
			MustPut("ts", time.UnixMilli(1_764_547_200_000+int64(i)).UTC()).MustPut("note", "n").MustPut("payload", payload))
	}
	// Size the payload so the JSON line is 1024 bytes.
	jf := parseFormat(b, JSONFormat, plugins.Config{})
	var probe bytes.Buffer
	jw := jf.NewWriter(&probe)
	if err := jw.Write(mk(100000, "")); err != nil {
		b.Fatal(err)
	}
	// Random letters: text that compresses like text, not like one byte.
	rnd := rand.New(rand.NewPCG(1, 2))
	const perFile = 1000
	recs := make([]*plugins.Record, perFile)
	for i := range recs {
		p := make([]byte, 1024-probe.Len())
		for j := range p {
			p[j] = "etaoinshrdlucmfwypvbgkjqxz      "[rnd.IntN(32)]
		}
		recs[i] = mk(100000+i, string(p))
	}
	for _, c := range []struct {
		name string
		mk   func(*plugins.ParsedConfig, bool) (Format, error)
		cfg  plugins.Config
	}{
		{"json", JSONFormat, plugins.Config{}},
		{"avro-null", AvroFormat, plugins.Config{"avro.codec": "null"}},
		{"avro-snappy", AvroFormat, plugins.Config{"avro.codec": "snappy"}},
		{"avro-deflate", AvroFormat, plugins.Config{"avro.codec": "deflate"}},
		{"avro-zstandard", AvroFormat, plugins.Config{"avro.codec": "zstandard"}},
		{"parquet-snappy", ParquetFormat, plugins.Config{"parquet.codec": "snappy"}},
		{"parquet-zstd", ParquetFormat, plugins.Config{"parquet.codec": "zstd"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := parseFormat(b, c.mk, c.cfg)
			b.SetBytes(1024 * perFile)
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				w := f.NewWriter(&buf)
				for _, r := range recs {
					if err := w.Write(r); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len())/perFile, "file-bytes/record")
		})
	}
}

// TestAvroDefaults: Connect defaults become Avro field defaults (a union
// with the value's branch first when an optional field's default is not
// null), and a missing value is written as its default.
func TestAvroDefaults(t *testing.T) {
	s := plugins.StructBuilder().
		Field("o", plugins.NewSchemaBuilder(plugins.TypeString).Optional().Default("dflt").MustBuild()).
		Field("n", plugins.NewSchemaBuilder(plugins.TypeInt32).Default(int32(5)).MustBuild()).
		Field("b", plugins.NewSchemaBuilder(plugins.TypeBytes).Default([]byte{0, 0xff}).MustBuild()).
		Field("d", plugins.BuilderFrom(plugins.DateSchema()).Default(time.Unix(86400*3, 0).UTC()).MustBuild()).
		MustBuild()
	m, err := mapAvro(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`{"default":"dflt","name":"o","type":["string","null"]}`, `{"default":5,"name":"n","type":"int"}`,
		`{"default":"\u0000ÿ","name":"b","type":"bytes"}`, `"default":3,"name":"d"`} {
		if !strings.Contains(m.schemaJSON, w) {
			t.Errorf("schema lacks %s: %s", w, m.schemaJSON)
		}
	}
	f := parseFormat(t, AvroFormat, plugins.Config{})
	_, out := decodeAvro(t, avroFile(t, f, rec(0, s, plugins.NewStruct(s))))
	if len(out) != 1 || !reflect.DeepEqual(out[0]["o"], map[string]any{"string": "dflt"}) || out[0]["n"] != int32(5) || !bytes.Equal(out[0]["b"].([]byte), []byte{0, 0xff}) {
		t.Fatalf("defaults written as %v", out)
	}
}

// TestAvroParallelWriters: writers of one format share its schema cache
// (and compiled goavro codecs); files written at the same time stay whole (run
// with -race).
func TestAvroParallelWriters(t *testing.T) {
	f := parseFormat(t, AvroFormat, plugins.Config{"avro.codec": "snappy"})
	s := testSchema()
	files := make([][]byte, 4)
	var wg sync.WaitGroup
	for g := range files {
		wg.Go(func() {
			for range 3 {
				var buf bytes.Buffer
				w := f.NewWriter(&buf)
				for i := range 200 {
					if err := w.Write(rec(int64(i), s, testValue(s, g*1000+i))); err != nil {
						t.Error(err)
						return
					}
				}
				if err := w.Close(); err != nil {
					t.Error(err)
				}
				files[g] = buf.Bytes()
			}
		})
	}
	wg.Wait()
	for g, b := range files {
		if _, out := decodeAvro(t, b); len(out) != 200 || out[0]["id"] != int64(1000+g*1000) {
			t.Fatalf("file %d: %d records", g, len(out))
		}
	}
}

// TestAvroCodecNames: zstandard (zstd, any case) is taken and written to
// the header as Avro names it; a codec Avro has but weir does not write
// (bzip2, xz) is refused when the config is parsed, naming the ones it
// can use, and AvroFormat refuses it too.
func TestAvroCodecNames(t *testing.T) {
	s := testSchema()
	for _, c := range []string{"zstandard", "zstd", "ZSTD"} {
		if _, err := ConfigDef([]string{"JsonFormat"}, "JsonFormat").Parse(plugins.Config{"flush.size": "10", AvroCodecConfig: c}); err != nil {
			t.Errorf("config %s=%s: %v", AvroCodecConfig, c, err)
		}
		f := parseFormat(t, AvroFormat, plugins.Config{AvroCodecConfig: c})
		if got, out := decodeAvro(t, avroFile(t, f, rec(0, s, testValue(s, 0)))); got != "zstandard" || len(out) != 1 {
			t.Errorf("%s: avro.codec %q, %d records", c, got, len(out))
		}
	}
	for _, c := range []string{"bzip2", "xz", "lz4"} {
		_, err := ConfigDef([]string{"JsonFormat"}, "JsonFormat").Parse(plugins.Config{"flush.size": "10", AvroCodecConfig: c})
		if err == nil || !strings.Contains(err.Error(), "use null, deflate, snappy or zstandard") {
			t.Errorf("config %s=%s: %v", AvroCodecConfig, c, err)
		}
		// AvroFormat on its own, as a config without the key's validator gives it.
		p, err := plugins.NewConfigDef().Define(plugins.ConfigKey{Name: AvroCodecConfig, Type: plugins.ConfigString}).Parse(plugins.Config{AvroCodecConfig: c})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := AvroFormat(p, false); err == nil || !strings.Contains(err.Error(), "use null, deflate, snappy or zstandard") {
			t.Errorf("AvroFormat %s: %v", c, err)
		}
	}
}

// TestAvroDecimalBytes: goavro encodes a Decimal from its *big.Rat; the
// bytes are Kafka's (Decimal.fromLogical: minimal two's complement of the
// unscaled value), negatives and byte boundaries included, and a value
// with more fractional digits than the scale is refused at Write, not
// rounded.
func TestAvroDecimalBytes(t *testing.T) {
	s := plugins.StructBuilder().Name("d.D").Field("p", plugins.DecimalSchema(2)).MustBuild()
	f := parseFormat(t, AvroFormat, plugins.Config{}).(*avroFormat)
	c, err := f.compile(s)
	if err != nil {
		t.Fatal(err)
	}
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	for _, u := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(-1), big.NewInt(127), big.NewInt(128), big.NewInt(-128),
		big.NewInt(-129), big.NewInt(255), big.NewInt(-256), big.NewInt(-32768), big.NewInt(-32769), big.NewInt(65535), huge} {
		r := new(big.Rat).SetFrac(u, big.NewInt(100))
		v, err := c.m.conv(plugins.NewStruct(s).MustPut("p", r))
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.codec.BinaryFromNative(nil, v)
		if err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		k, err := plugins.DecimalToBytes(r, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := append(binary.AppendVarint(nil, int64(len(k))), k...); !bytes.Equal(got, want) {
			t.Errorf("unscaled %v: %x, Kafka's %x", u, got, want)
		}
	}
	w := f.NewWriter(io.Discard)
	if err := w.Write(rec(0, s, plugins.NewStruct(s).MustPut("p", big.NewRat(1, 1000)))); err == nil {
		t.Error("0.001 in a scale-2 decimal accepted")
	}
}

// TestAvroBlocks: records are gathered into blocks of about 64 KiB (one
// goavro Append each), not a block per record, and Close writes the rest.
func TestAvroBlocks(t *testing.T) {
	s := plugins.StructBuilder().Name("b.B").Field("s", plugins.StringSchema).MustBuild()
	f := parseFormat(t, AvroFormat, plugins.Config{})
	var recs []*plugins.Record
	for i := range 200 { // 200 datums of 1002 bytes: 3 blocks of 66 and one of 2
		recs = append(recs, rec(int64(i), s, plugins.NewStruct(s).MustPut("s", strings.Repeat("x", 1000))))
	}
	b := avroFile(t, f, recs...)
	sync := b[len(b)-16:]
	if n := bytes.Count(b, sync) - 1; n != 4 { // the header has it too
		t.Errorf("%d blocks, want 4", n)
	}
	if _, out := decodeAvro(t, b); len(out) != 200 {
		t.Errorf("%d records", len(out))
	}
}
