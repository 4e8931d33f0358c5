package jsonconv

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/internal/javafmt"
)

func jsonConv(t testing.TB, cfg plugins.Config) *JSONConverter {
	t.Helper()
	c := NewJSONConverter()
	if err := c.Configure(cfg, false); err != nil {
		t.Fatal(err)
	}
	return c
}

// Inputs in the format Kafka Connect documents for JsonConverter (the
// envelope examples of its docs and unit tests) and what they decode to.
func TestJSONToConnectKafkaExamples(t *testing.T) {
	c := jsonConv(t, plugins.Config{})
	dec := func(s string) *big.Rat { r, _ := new(big.Rat).SetString(s); return r }
	tests := []struct {
		name   string
		in     string
		schema *plugins.Schema
		value  any
	}{
		{"boolean", `{ "schema": { "type": "boolean" }, "payload": true }`, plugins.BooleanSchema, true},
		{"optional null", `{ "schema": { "type": "boolean", "optional": true }, "payload": null }`, plugins.OptionalBooleanSchema, nil},
		{"default", `{ "schema": { "type": "boolean", "optional": false, "default": true }, "payload": null }`, &plugins.Schema{Type: plugins.TypeBoolean, Default: true}, true},
		{"metadata", `{ "schema": { "type": "boolean", "optional": true, "name": "bool", "version": 2, "doc": "the documentation", "parameters": { "foo": "bar" }}, "payload": true }`,
			&plugins.Schema{Type: plugins.TypeBoolean, Optional: true, Name: "bool", Version: 2, Doc: "the documentation", Parameters: map[string]string{"foo": "bar"}}, true},
		{"int8", `{ "schema": { "type": "int8" }, "payload": 12 }`, plugins.Int8Schema, int8(12)},
		{"int16", `{ "schema": { "type": "int16" }, "payload": 12 }`, plugins.Int16Schema, int16(12)},
		{"int32", `{ "schema": { "type": "int32" }, "payload": 12 }`, plugins.Int32Schema, int32(12)},
		{"int64", `{ "schema": { "type": "int64" }, "payload": 4398046511104 }`, plugins.Int64Schema, int64(4398046511104)},
		{"float", `{ "schema": { "type": "float" }, "payload": 12.34 }`, plugins.Float32Schema, float32(12.34)},
		{"double", `{ "schema": { "type": "double" }, "payload": 12.34 }`, plugins.Float64Schema, 12.34},
		{"bytes", `{ "schema": { "type": "bytes" }, "payload": "dGVzdC1zdHJpbmc=" }`, plugins.BytesSchema, []byte("test-string")},
		{"string", `{ "schema": { "type": "string" }, "payload": "foo-bar-baz" }`, plugins.StringSchema, "foo-bar-baz"},
		{"array", `{ "schema": { "type": "array", "items": { "type" : "int32" } }, "payload": [1, 2, 3] }`, plugins.ArraySchema(plugins.Int32Schema), []any{int32(1), int32(2), int32(3)}},
		{"map string keys", `{ "schema": { "type": "map", "keys": { "type" : "string" }, "values": { "type" : "int32" } }, "payload": { "key1": 12, "key2": 15} }`,
			plugins.MapSchema(plugins.StringSchema, plugins.Int32Schema), map[string]any{"key1": int32(12), "key2": int32(15)}},
		{"map int keys", `{ "schema": { "type": "map", "keys": { "type" : "int32" }, "values": { "type" : "int32" } }, "payload": [ [1, 12], [2, 15] ] }`,
			plugins.MapSchema(plugins.Int32Schema, plugins.Int32Schema), map[any]any{int32(1): int32(12), int32(2): int32(15)}},
		{"decimal", `{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": { "scale": "2" } }, "payload": "AJw=" }`,
			plugins.DecimalSchema(2), dec("1.56")},
		{"date", `{ "schema": { "type": "int32", "name": "org.apache.kafka.connect.data.Date", "version": 1 }, "payload": 10000 }`,
			plugins.DateSchema(), time.Date(1997, 5, 19, 0, 0, 0, 0, time.UTC)},
		{"time", `{ "schema": { "type": "int32", "name": "org.apache.kafka.connect.data.Time", "version": 1 }, "payload": 14400000 }`,
			plugins.TimeSchema(), time.Date(1970, 1, 1, 4, 0, 0, 0, time.UTC)},
		{"timestamp", `{ "schema": { "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1 }, "payload": 4000000000 }`,
			plugins.TimestampSchema(), time.UnixMilli(4000000000).UTC()},
		{"null schema int", `{ "schema": null, "payload": 1 }`, nil, int64(1)},
		{"null schema float", `{ "schema": null, "payload": 1.2 }`, nil, 1.2},
		{"null schema array", `{ "schema": null, "payload": [1, "2", 3] }`, nil, []any{int64(1), "2", int64(3)}},
		{"null schema map", `{ "schema": null, "payload": { "field1": 1, "field2": 1 } }`, nil, map[string]any{"field1": int64(1), "field2": int64(1)}},
		{"null envelope payload", `{ "schema": null, "payload": null }`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, v, err := c.ToConnect("t", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !s.Equal(tc.schema) {
				t.Fatalf("schema = %+v, want %+v", s, tc.schema)
			}
			if !plugins.ValuesEqual(v, tc.value) {
				t.Fatalf("value = %#v, want %#v", v, tc.value)
			}
		})
	}
}

func TestJSONToConnectStruct(t *testing.T) {
	c := jsonConv(t, plugins.Config{})
	s, v, err := c.ToConnect("t", []byte(`{ "schema": { "type": "struct", "fields": [{ "field": "field1", "type": "boolean" }, { "field": "field2", "type": "string" }, { "field": "field3", "type": "string", "optional": true, "default": "dflt" }] }, "payload": { "field1": true, "field2": "string" } }`))
	if err != nil {
		t.Fatal(err)
	}
	st := v.(*plugins.Struct)
	if st.Schema() != s || st.Get("field1") != true || st.Get("field2") != "string" || st.Get("field3") != "dflt" {
		t.Fatalf("struct = %v", st)
	}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
}

// The exact bytes Kafka's JsonConverter writes for the same data.
func TestJSONFromConnectBytes(t *testing.T) {
	withSchema := jsonConv(t, plugins.Config{})
	plain := jsonConv(t, plugins.Config{"schemas.enable": "false"})
	numeric := jsonConv(t, plugins.Config{"decimal.format": "NUMERIC"})
	users := plugins.StructBuilder().Name("ksql.users").
		Field("registertime", plugins.Int64Schema).
		Field("userid", plugins.StringSchema).
		Field("regionid", plugins.OptionalStringSchema).
		Field("gender", plugins.NewSchemaBuilder(plugins.TypeString).Optional().Default("OTHER").MustBuild()).MustBuild()
	user := plugins.NewStruct(users).MustPut("registertime", int64(1493819497170)).MustPut("userid", "User_1").MustPut("regionid", "Region_5")
	tests := []struct {
		name   string
		c      *JSONConverter
		schema *plugins.Schema
		value  any
		want   string
	}{
		{"boolean", withSchema, plugins.BooleanSchema, true, `{"schema":{"type":"boolean","optional":false},"payload":true}`},
		{"int32", withSchema, plugins.Int32Schema, int32(-42), `{"schema":{"type":"int32","optional":false},"payload":-42}`},
		{"float", withSchema, plugins.Float32Schema, float32(12.34), `{"schema":{"type":"float","optional":false},"payload":12.34}`},
		{"double integral", withSchema, plugins.Float64Schema, 100.0, `{"schema":{"type":"double","optional":false},"payload":100.0}`},
		{"double big", withSchema, plugins.Float64Schema, 1.2345678e7, `{"schema":{"type":"double","optional":false},"payload":1.2345678E7}`},
		{"bytes", withSchema, plugins.BytesSchema, []byte("test-string"), `{"schema":{"type":"bytes","optional":false},"payload":"dGVzdC1zdHJpbmc="}`},
		{"string escapes", withSchema, plugins.StringSchema, "a\"b\\c\n\x01é/<", `{"schema":{"type":"string","optional":false},"payload":"a\"b\\c\n\u0001é/<"}`},
		{"array", withSchema, plugins.ArraySchema(plugins.Int32Schema), []any{int32(1), int32(2)}, `{"schema":{"type":"array","items":{"type":"int32","optional":false},"optional":false},"payload":[1,2]}`},
		{"map string keys", withSchema, plugins.MapSchema(plugins.StringSchema, plugins.Int32Schema), map[string]any{"b": int32(2), "a": int32(1)},
			`{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":{"a":1,"b":2}}`},
		{"map int keys", withSchema, plugins.MapSchema(plugins.Int32Schema, plugins.Int32Schema), map[any]any{int32(1): int32(12), int32(2): int32(15)},
			`{"schema":{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":[[1,12],[2,15]]}`},
		{"struct", withSchema, users, user,
			`{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"registertime"},{"type":"string","optional":false,"field":"userid"},{"type":"string","optional":true,"field":"regionid"},{"type":"string","optional":true,"default":"OTHER","field":"gender"}],"optional":false,"name":"ksql.users"},` +
				`"payload":{"registertime":1493819497170,"userid":"User_1","regionid":"Region_5","gender":"OTHER"}}`},
		{"decimal", withSchema, plugins.DecimalSchema(2), big.NewRat(156, 100),
			`{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AJw="}`},
		{"decimal numeric", numeric, plugins.DecimalSchema(2), big.NewRat(156, 100),
			`{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":1.56}`},
		{"debezium decimal parameters", withSchema, plugins.BuilderFrom(plugins.DecimalSchema(3)).Parameter("connect.decimal.precision", "10").MustBuild(), big.NewRat(1, 1000),
			`{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"3","connect.decimal.precision":"10"}},"payload":"AQ=="}`},
		{"date", withSchema, plugins.DateSchema(), time.Date(1997, 5, 19, 0, 0, 0, 0, time.UTC),
			`{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1},"payload":10000}`},
		{"timestamp", withSchema, plugins.TimestampSchema(), time.UnixMilli(4000000000),
			`{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":4000000000}`},
		{"schemaless with envelope", withSchema, nil, map[string]any{"k": "v"}, `{"schema":null,"payload":{"k":"v"}}`},
		{"optional null", withSchema, plugins.OptionalStringSchema, nil, `{"schema":{"type":"string","optional":true},"payload":null}`},
		{"plain struct", plain, users, user, `{"registertime":1493819497170,"userid":"User_1","regionid":"Region_5","gender":"OTHER"}`},
		{"plain schemaless", plain, nil, []any{int64(1), "x", true, nil, 1.5}, `[1,"x",true,null,1.5]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.c.FromConnect("t", tc.schema, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Fatalf("\n got %s\nwant %s", b, tc.want)
			}
			// And back: decoding and re-encoding gives the same bytes.
			s, v, err := tc.c.ToConnect("t", b)
			if err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if tc.c.schemasEnable && !s.Equal(tc.schema) {
				t.Fatalf("round trip schema %+v, want %+v", s, tc.schema)
			}
			if tc.c.schemasEnable {
				b2, err := tc.c.FromConnect("t", s, v)
				if err != nil || string(b2) != tc.want {
					t.Fatalf("re-encoded %s, %v", b2, err)
				}
			}
		})
	}
}

func TestJSONTombstoneAndErrors(t *testing.T) {
	c := jsonConv(t, plugins.Config{})
	if b, err := c.FromConnect("t", nil, nil); err != nil || b != nil {
		t.Fatalf("tombstone: %q, %v", b, err)
	}
	if s, v, err := c.ToConnect("t", nil); err != nil || s != nil || v != nil {
		t.Fatalf("nil bytes: %v %v %v", s, v, err)
	}
	bad := []struct{ in, err string }{
		{`{"a":1}`, `requires "schema" and "payload"`},
		{`{"schema":null,"payload":1,"x":2}`, `requires "schema" and "payload"`},
		{`{"schema":{"type":"int32"},"payload":"x"}`, "expected JSON NUMBER"},
		{`{"schema":{"type":"int32"},"payload":null}`, "invalid null value for required INT32"},
		{`{"schema":{"type":"widget"},"payload":1}`, "unknown schema type"},
		{`{"schema":{"type":"array"},"payload":[]}`, "did not specify the element type"},
		{`{"schema":{"type":"struct","fields":{}},"payload":{}}`, "is not an array"},
		{`{"schema":{"type":"bytes"},"payload":"!!"}`, "invalid bytes"},
		{`{"schema":`, "serialization error"},
		{`{"schema":null,"payload":1} x`, "after top-level value"},
	}
	for _, tc := range bad {
		if _, _, err := c.ToConnect("t", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ToConnect(%s) = %v, want error containing %q", tc.in, err, tc.err)
		}
	}
	if _, err := c.FromConnect("t", plugins.Int32Schema, "x"); err == nil {
		t.Error("FromConnect accepted a string for INT32")
	}
	if _, err := c.FromConnect("t", plugins.Int32Schema, nil); err == nil {
		t.Error("FromConnect accepted null for a required INT32")
	}
	plain := jsonConv(t, plugins.Config{"schemas.enable": "false"})
	s, v, err := plain.ToConnect("t", []byte(`{"a":[1,2.5,"x",false,null]}`))
	if err != nil || s != nil || !plugins.ValuesEqual(v, map[string]any{"a": []any{int64(1), 2.5, "x", false, nil}}) {
		t.Fatalf("schemaless: %v %#v %v", s, v, err)
	}
	keep := jsonConv(t, plugins.Config{"replace.null.with.default": "false"})
	dflt := &plugins.Schema{Type: plugins.TypeString, Default: "d"}
	if b, err := keep.FromConnect("t", dflt, nil); err != nil || string(b) != `{"schema":{"type":"string","optional":false,"default":"d"},"payload":null}` {
		t.Errorf("replace.null.with.default=false wrote %s, %v", b, err)
	}
	if _, v, err := keep.ToConnect("t", []byte(`{"schema":{"type":"string","default":"d"},"payload":null}`)); err != nil || v != nil {
		t.Errorf("replace.null.with.default=false read %v, %v", v, err)
	}
	if _, v, err := c.ToConnect("t", []byte(`{"schema":{"type":"string","default":"d"},"payload":null}`)); err != nil || v != "d" {
		t.Errorf("default replacement read %v, %v", v, err)
	}
	if err := NewJSONConverter().Configure(plugins.Config{"decimal.format": "HEX"}, true); err == nil {
		t.Error("decimal.format=HEX accepted")
	}
}

func TestJavaFloat(t *testing.T) {
	tests := []struct {
		f    float64
		bits int
		want string
	}{
		{0, 64, "0.0"},
		{math.Copysign(0, -1), 64, "-0.0"},
		{1, 64, "1.0"},
		{100, 64, "100.0"},
		{12.34, 64, "12.34"},
		{-1.5, 64, "-1.5"},
		{0.001, 64, "0.001"},
		{0.0001, 64, "1.0E-4"},
		{1234567, 64, "1234567.0"},
		{9999999, 64, "9999999.0"},
		{1e7, 64, "1.0E7"},
		{1.2345678e7, 64, "1.2345678E7"},
		{1e21, 64, "1.0E21"},
		{math.MaxFloat64, 64, "1.7976931348623157E308"},
		{4.9e-324, 64, "4.9E-324"},
		{0.1, 64, "0.1"},
		{float64(float32(0.1)), 32, "0.1"},
		{float64(float32(12.34)), 32, "12.34"},
		{float64(float32(3.4028235e38)), 32, "3.4028235E38"},
		{math.NaN(), 64, "NaN"},
		{math.Inf(-1), 64, "-Infinity"},
	}
	for _, tc := range tests {
		if got := javafmt.Float(tc.f, tc.bits); got != tc.want {
			t.Errorf("javafmt.Float(%v, %d) = %q, want %q", tc.f, tc.bits, got, tc.want)
		}
	}
}

// FuzzJSONToConnect feeds untrusted bytes to ToConnect in both modes: it
// must never panic, and whatever it accepts must survive FromConnect and a
// second ToConnect unchanged.
func FuzzJSONToConnect(f *testing.F) {
	for _, s := range []string{
		`{"schema":{"type":"boolean"},"payload":true}`,
		`{"schema":{"type":"struct","fields":[{"field":"a","type":"int32"},{"field":"b","type":"string","optional":true,"default":"x"}]},"payload":{"a":1}}`,
		`{"schema":{"type":"map","keys":{"type":"int32"},"values":{"type":"string"}},"payload":[[1,"a"],[2,"b"]]}`,
		`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AJw="}`,
		`{"schema":{"type":"int32","name":"org.apache.kafka.connect.data.Date","version":1},"payload":10000}`,
		`{"schema":{"type":"int64","name":"org.apache.kafka.connect.data.Timestamp"},"payload":-1}`,
		`{"schema":{"type":"array","items":{"type":"double"}},"payload":[1.5,"NaN",1e400]}`,
		`{"schema":null,"payload":{"a":[1,2,{"b":null}]}}`,
		`[1,2,3]`, `"str"`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	env, plain := NewJSONConverter(), NewJSONConverter()
	plain.schemasEnable = false
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []*JSONConverter{env, plain} {
			s, v, err := c.ToConnect("t", data)
			if err != nil {
				continue
			}
			if err := plugins.ValidateValue(s, v); err != nil && s != nil {
				t.Fatalf("ToConnect(%q) returned invalid data: %v", data, err)
			}
			out, err := c.FromConnect("t", s, v)
			if err != nil {
				t.Fatalf("FromConnect of ToConnect(%q) = %v", data, err)
			}
			if out == nil {
				continue
			}
			s2, v2, err := c.ToConnect("t", out)
			if err != nil {
				t.Fatalf("ToConnect(%q) (re-encoded from %q) = %v", out, data, err)
			}
			if c.schemasEnable && !s2.Equal(s) {
				t.Fatalf("schema changed in round trip of %q: %v vs %v", data, s, s2)
			}
			out2, err := c.FromConnect("t", s2, v2)
			if err != nil || string(out2) != string(out) {
				t.Fatalf("re-encoding %q is not stable: %q, %v", out, out2, err)
			}
		}
	})
}

// FromConnect writes a repeated schema from its cache and sizes buffers
// from the last record: the bytes are what a fresh converter writes, for
// alternating schemas too, and AppendFromConnect appends the same bytes.
func TestJSONFromConnectReuse(t *testing.T) {
	c := jsonConv(t, plugins.Config{})
	small := plugins.NewStruct(benchUsers).MustPut("registertime", int64(1)).MustPut("userid", "u")
	recs := []struct {
		s *plugins.Schema
		v any
	}{
		{bench1KiB, bench1KiBValue()}, {bench1KiB, bench1KiBValue()}, {benchUsers, small}, {bench1KiB, bench1KiBValue()},
		{nil, map[string]any{"b": map[string]any{"y": 1.5, "x": []any{"é"}}, "a": int64(1)}}, {benchUsers, small},
		{plugins.MapSchema(plugins.StringSchema, plugins.BytesSchema), map[string]any{"k": []byte{1, 2}, "j": []byte{}}},
	}
	for i, r := range recs {
		got, err := c.FromConnect("t", r.s, r.v)
		if err != nil {
			t.Fatal(err)
		}
		want, err := jsonConv(t, plugins.Config{}).FromConnect("t", r.s, r.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
		app, err := c.AppendFromConnect([]byte("x"), "t", r.s, r.v)
		if err != nil || string(app) != "x"+string(want) {
			t.Fatalf("record %d: AppendFromConnect %s, %v", i, app, err)
		}
	}
	if _, err := c.FromConnect("t", plugins.Int32Schema, "x"); err == nil {
		t.Fatal("a string for INT32 encoded")
	}
}
