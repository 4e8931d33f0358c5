package jsonconv

import (
	"fmt"
	"strings"
	"testing"

	"github.com/weirlog/weir/plugins"
)

var benchUsers = plugins.StructBuilder().Name("ksql.users").
	Field("registertime", plugins.Int64Schema).
	Field("userid", plugins.StringSchema).
	Field("regionid", plugins.OptionalStringSchema).
	Field("gender", plugins.OptionalStringSchema).MustBuild()

func BenchmarkJSONFromConnect(b *testing.B) {
	c := NewJSONConverter()
	v := plugins.NewStruct(benchUsers).MustPut("registertime", int64(1493819497170)).MustPut("userid", "User_1").MustPut("regionid", "Region_5").MustPut("gender", "MALE")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.FromConnect("t", benchUsers, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONToConnect(b *testing.B) {
	c := NewJSONConverter()
	v := plugins.NewStruct(benchUsers).MustPut("registertime", int64(1493819497170)).MustPut("userid", "User_1").MustPut("regionid", "Region_5").MustPut("gender", "MALE")
	benchToConnect(b, c, benchUsers, v)
}

// bench1KiB is a ~1 KiB record of the shape the storage and Elasticsearch
// sink benches write: a flat struct of strings, numbers and booleans.
var bench1KiB = func() *plugins.Schema {
	b := plugins.StructBuilder().Name("bench.order")
	for i := range 8 {
		b = b.Field(fmt.Sprintf("s%d", i), plugins.StringSchema)
		b = b.Field(fmt.Sprintf("i%d", i), plugins.Int64Schema)
		b = b.Field(fmt.Sprintf("f%d", i), plugins.Float64Schema)
		b = b.Field(fmt.Sprintf("o%d", i), plugins.OptionalStringSchema)
	}
	return b.Field("ok", plugins.BooleanSchema).MustBuild()
}()

func bench1KiBValue() *plugins.Struct {
	v := plugins.NewStruct(bench1KiB)
	for i := range 8 {
		v.MustPut(fmt.Sprintf("s%d", i), fmt.Sprintf("value-%d-%s", i, "abcdefghijklmnopqrstuvwxyz0123"))
		v.MustPut(fmt.Sprintf("i%d", i), int64(1493819497170+i))
		v.MustPut(fmt.Sprintf("f%d", i), 3.25*float64(i))
		if i%2 == 0 {
			v.MustPut(fmt.Sprintf("o%d", i), "Region_5")
		}
	}
	return v.MustPut("ok", true)
}

// BenchmarkToConnectEnvelope1KiB is the sink path's hot call with
// schemas.enable=true: the same schema on every record.
func BenchmarkToConnectEnvelope1KiB(b *testing.B) {
	benchToConnect(b, NewJSONConverter(), bench1KiB, bench1KiBValue())
}

// BenchmarkToConnectSchemaless1KiB is the same record's payload with
// schemas.enable=false.
func BenchmarkToConnectSchemaless1KiB(b *testing.B) {
	c := NewJSONConverter()
	if err := c.Configure(plugins.Config{JSONSchemasEnable: "false"}, false); err != nil {
		b.Fatal(err)
	}
	benchToConnect(b, c, bench1KiB, bench1KiBValue())
}

// benchToConnect decodes the record (schema, value) as c itself
// encoded it.
func benchToConnect(b *testing.B, c *JSONConverter, schema *plugins.Schema, value any) {
	b.Helper()
	data, err := c.FromConnect("t", schema, value)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.ToConnect("t", data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFromConnectEnvelope1KiB encodes the 1 KiB record with its
// schema (schemas.enable=true, what the storage sinks write).
func BenchmarkFromConnectEnvelope1KiB(b *testing.B) {
	benchFromConnect1KiB(b, NewJSONConverter(), bench1KiB, bench1KiBValue())
}

// BenchmarkFromConnectPayload1KiB encodes it with schemas.enable=false
// (the Elasticsearch sink's document).
func BenchmarkFromConnectPayload1KiB(b *testing.B) {
	c := NewJSONConverter()
	if err := c.Configure(plugins.Config{JSONSchemasEnable: "false"}, false); err != nil {
		b.Fatal(err)
	}
	benchFromConnect1KiB(b, c, bench1KiB, bench1KiBValue())
}

// BenchmarkFromConnectSchemaless1KiB encodes the record as ToConnect
// reads it without schemas: a map[string]any.
func BenchmarkFromConnectSchemaless1KiB(b *testing.B) {
	c := NewJSONConverter()
	if err := c.Configure(plugins.Config{JSONSchemasEnable: "false"}, false); err != nil {
		b.Fatal(err)
	}
	data, err := c.FromConnect("t", bench1KiB, bench1KiBValue())
	if err != nil {
		b.Fatal(err)
	}
	_, v, err := c.ToConnect("t", data)
	if err != nil {
		b.Fatal(err)
	}
	benchFromConnect1KiB(b, c, nil, v)
}

func benchFromConnect1KiB(b *testing.B, c *JSONConverter, s *plugins.Schema, v any) {
	b.Helper()
	data, err := c.FromConnect("t", s, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.FromConnect("t", s, v); err != nil {
			b.Fatal(err)
		}
	}
}

// benchKitValue is the value of the storage sinks' throughput rows
// (storagetest.Kit with its padding): a ~1 KiB string with a few escapes
// and non-ASCII near its start.
var benchKitValue = "v00000001 \"quoted\" back\\slash\ttab ünïcødé ✓" + strings.Repeat("x", 960)

// BenchmarkToConnectString1KiB is the storage benches' hot call: that
// string in its envelope (schemas.enable=true, a STRING schema).
func BenchmarkToConnectString1KiB(b *testing.B) {
	benchToConnect(b, NewJSONConverter(), plugins.StringSchema, benchKitValue)
}

// BenchmarkAppendFromConnectString1KiB is the storage JSON format's
// line of that string (schemas.enable=false).
func BenchmarkAppendFromConnectString1KiB(b *testing.B) {
	c := NewJSONConverter()
	if err := c.Configure(plugins.Config{JSONSchemasEnable: "false"}, false); err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.SetBytes(int64(len(benchKitValue)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = c.AppendFromConnect(buf[:0], "t", plugins.StringSchema, benchKitValue); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToConnectEvent1KiB is the Parquet rows' record in its envelope:
// a struct of an id and a 960-byte text (formattest.BenchRecord).
func BenchmarkToConnectEvent1KiB(b *testing.B) {
	s := plugins.StructBuilder().Name("bench.Event").
		Field("id", plugins.Int64Schema).Field("payload", plugins.StringSchema).MustBuild()
	benchToConnect(b, NewJSONConverter(), s, plugins.NewStruct(s).MustPut("id", int64(12345)).MustPut("payload", strings.Repeat("x", 960)))
}
