package transforms

import (
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

var (
	tsRec    = time.Date(2024, 3, 5, 13, 14, 15, 678_000_000, time.UTC)
	personS  = plugins.StructBuilder().Name("person").Field("id", plugins.Int64Schema).Field("name", plugins.OptionalStringSchema).Field("age", plugins.OptionalInt32Schema).MustBuild()
	addressS = plugins.StructBuilder().Field("city", plugins.StringSchema).Field("zip", plugins.OptionalInt32Schema).MustBuild()
	nestedS  = plugins.StructBuilder().Field("id", plugins.Int64Schema).Field("addr", addressS.AsOptional()).MustBuild()
)

func person(id int64, name string, age int32) *plugins.Struct {
	return plugins.NewStruct(personS).MustPut("id", id).MustPut("name", name).MustPut("age", age)
}

func rec(value any, schema *plugins.Schema) *plugins.Record {
	return &plugins.Record{Topic: "orders", Partition: 3, Offset: 42, Value: value, ValueSchema: schema, Timestamp: tsRec}
}

func withKey(r *plugins.Record, key any, schema *plugins.Schema) *plugins.Record {
	c := *r
	c.Key, c.KeySchema = key, schema
	return &c
}

func withTopic(r *plugins.Record, topic string) *plugins.Record {
	c := *r
	c.Topic = topic
	return &c
}

func withHeaders(r *plugins.Record, hs ...plugins.Header) *plugins.Record {
	c := *r
	c.Headers = hs
	return &c
}

func describe(r *plugins.Record) string {
	if r == nil {
		return "<dropped>"
	}
	return fmt.Sprintf("topic=%s key=%v(%v) value=%v(%v) headers=%v", r.Topic, plugins.ValueString(r.Key), r.KeySchema, plugins.ValueString(r.Value), r.ValueSchema, r.Headers)
}

func recordsEqual(a, b *plugins.Record) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Topic != b.Topic || a.Partition != b.Partition || !a.Timestamp.Equal(b.Timestamp) ||
		!a.KeySchema.Equal(b.KeySchema) || !plugins.ValuesEqual(a.Key, b.Key) ||
		!a.ValueSchema.Equal(b.ValueSchema) || !plugins.ValuesEqual(a.Value, b.Value) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !plugins.ValuesEqual(a.Headers[i].Value, b.Headers[i].Value) || !a.Headers[i].Schema.Equal(b.Headers[i].Schema) {
			return false
		}
	}
	return true
}

type transformCase struct {
	name  string
	class string
	cfg   plugins.Config
	in    *plugins.Record
	want  *plugins.Record // nil: dropped (when err is empty)
	err   string          // substring of the Configure or Apply error
}

func runTransformCases(t *testing.T, cases []transformCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := plugins.Default.NewTransform(tc.class)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			err = tr.Configure(tc.cfg)
			var got *plugins.Record
			if err == nil {
				before := describe(tc.in)
				got, err = tr.Apply(tc.in)
				if after := describe(tc.in); after != before {
					t.Fatalf("Apply modified its input:\n before %s\n after  %s", before, after)
				}
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !recordsEqual(got, tc.want) {
				t.Fatalf("\n got  %s\n want %s", describe(got), describe(tc.want))
			}
			if got != nil && got.ValueSchema != nil {
				if err := plugins.ValidateValue(got.ValueSchema, got.Value); err != nil {
					t.Fatalf("output value invalid for its schema: %v", err)
				}
			}
		})
	}
}

const kt = "org.apache.kafka.connect.transforms."

func TestInsertField(t *testing.T) {
	outS := plugins.StructBuilder().Name("person").Field("id", plugins.Int64Schema).Field("name", plugins.OptionalStringSchema).Field("age", plugins.OptionalInt32Schema).
		Field("topic", plugins.OptionalStringSchema).Field("part", plugins.Int32Schema).Field("off", plugins.OptionalInt64Schema).
		Field("ts", plugins.TimestampSchema().AsOptional()).Field("src", plugins.OptionalStringSchema).MustBuild()
	all := plugins.Config{"topic.field": "topic", "partition.field": "part!", "offset.field": "off?", "timestamp.field": "ts", "static.field": "src", "static.value": "db1"}
	runTransformCases(t, []transformCase{
		{name: "schema", class: kt + "InsertField$Value", cfg: all, in: rec(person(1, "ann", 30), personS),
			want: rec(plugins.NewStruct(outS).MustPut("id", int64(1)).MustPut("name", "ann").MustPut("age", int32(30)).MustPut("topic", "orders").
				MustPut("part", int32(3)).MustPut("off", int64(42)).MustPut("ts", tsRec).MustPut("src", "db1"), outS)},
		{name: "schemaless", class: kt + "InsertField$Value", cfg: all, in: rec(map[string]any{"id": int64(1)}, nil),
			want: rec(map[string]any{"id": int64(1), "topic": "orders", "part": int32(3), "off": int64(42), "ts": tsRec.UnixMilli(), "src": "db1"}, nil)},
		{name: "key", class: kt + "InsertField$Key", cfg: plugins.Config{"static.field": "k", "static.value": "v"},
			in: withKey(rec(nil, nil), map[string]any{"a": "b"}, nil), want: withKey(rec(nil, nil), map[string]any{"a": "b", "k": "v"}, nil)},
		{name: "empty static value", class: kt + "InsertField$Value", cfg: plugins.Config{"static.field": "s", "static.value": ""},
			in: rec(map[string]any{}, nil), want: rec(map[string]any{"s": ""}, nil)},
		{name: "tombstone passes", class: kt + "InsertField$Value", cfg: all, in: rec(nil, personS.AsOptional()), want: rec(nil, personS.AsOptional())},
		{name: "not a map", class: kt + "InsertField$Value", cfg: all, in: rec("str", nil), err: "only Map objects supported"},
		{name: "clash", class: kt + "InsertField$Value", cfg: plugins.Config{"topic.field": "id"}, in: rec(person(1, "a", 1), personS), err: "already exists"},
	})
}

func TestReplaceField(t *testing.T) {
	renamed := plugins.StructBuilder().Name("person").Field("key", plugins.Int64Schema).Field("age", plugins.OptionalInt32Schema).MustBuild()
	runTransformCases(t, []transformCase{
		{name: "exclude+rename", class: kt + "ReplaceField$Value", cfg: plugins.Config{"exclude": "name", "renames": "id:key"},
			in: rec(person(7, "bob", 40), personS), want: rec(plugins.NewStruct(renamed).MustPut("key", int64(7)).MustPut("age", int32(40)), renamed)},
		{name: "include schemaless", class: kt + "ReplaceField$Value", cfg: plugins.Config{"include": "a,c", "renames": "c:d"},
			in: rec(map[string]any{"a": 1, "b": 2, "c": 3}, nil), want: rec(map[string]any{"a": 1, "d": 3}, nil)},
		{name: "deprecated blacklist", class: kt + "ReplaceField$Value", cfg: plugins.Config{"blacklist": "b"},
			in: rec(map[string]any{"a": 1, "b": 2}, nil), want: rec(map[string]any{"a": 1}, nil)},
		{name: "key", class: kt + "ReplaceField$Key", cfg: plugins.Config{"exclude": "x"},
			in: withKey(rec("v", nil), map[string]any{"x": 1, "y": 2}, nil), want: withKey(rec("v", nil), map[string]any{"y": 2}, nil)},
		{name: "bad renames", class: kt + "ReplaceField$Value", cfg: plugins.Config{"renames": "a-b"}, err: "Invalid rename mapping"},
	})
}

func TestMaskField(t *testing.T) {
	runTransformCases(t, []transformCase{
		{name: "schema", class: kt + "MaskField$Value", cfg: plugins.Config{"fields": "name,age"},
			in: rec(person(1, "ann", 30), personS), want: rec(person(1, "", 0), personS)},
		{name: "replacement", class: kt + "MaskField$Value", cfg: plugins.Config{"fields": "name,id", "replacement": "9"},
			in: rec(person(1, "ann", 30), personS), want: rec(person(9, "9", 30), personS)},
		{name: "schemaless", class: kt + "MaskField$Value", cfg: plugins.Config{"fields": "s,b,d,l,t"},
			in:   rec(map[string]any{"s": "x", "b": true, "d": big.NewRat(5, 1), "l": []any{1}, "t": tsRec, "keep": "k"}, nil),
			want: rec(map[string]any{"s": "", "b": false, "d": new(big.Rat), "l": []any{}, "t": time.UnixMilli(0), "keep": "k"}, nil)},
		{name: "bad replacement", class: kt + "MaskField$Value", cfg: plugins.Config{"fields": "id", "replacement": "x"},
			in: rec(person(1, "a", 1), personS), err: "unable to convert"},
		{name: "fields required", class: kt + "MaskField$Value", cfg: plugins.Config{}, err: `Missing required configuration "fields"`},
	})
}

func TestValueToKey(t *testing.T) {
	keyS := plugins.StructBuilder().Field("id", plugins.Int64Schema).Field("name", plugins.OptionalStringSchema).MustBuild()
	runTransformCases(t, []transformCase{
		{name: "schema", class: kt + "ValueToKey", cfg: plugins.Config{"fields": "id,name"}, in: rec(person(5, "eve", 1), personS),
			want: withKey(rec(person(5, "eve", 1), personS), plugins.NewStruct(keyS).MustPut("id", int64(5)).MustPut("name", "eve"), keyS)},
		{name: "schemaless", class: kt + "ValueToKey", cfg: plugins.Config{"fields": "a"}, in: rec(map[string]any{"a": 1, "b": 2}, nil),
			want: withKey(rec(map[string]any{"a": 1, "b": 2}, nil), map[string]any{"a": 1}, nil)},
		{name: "missing field", class: kt + "ValueToKey", cfg: plugins.Config{"fields": "nope"}, in: rec(person(5, "eve", 1), personS), err: "does not exist"},
	})
}

func TestHoistAndExtractField(t *testing.T) {
	hoisted := plugins.StructBuilder().Field("line", plugins.StringSchema).MustBuild()
	runTransformCases(t, []transformCase{
		{name: "hoist schema", class: kt + "HoistField$Value", cfg: plugins.Config{"field": "line"}, in: rec("hello", plugins.StringSchema),
			want: rec(plugins.NewStruct(hoisted).MustPut("line", "hello"), hoisted)},
		{name: "hoist schemaless", class: kt + "HoistField$Key", cfg: plugins.Config{"field": "k"}, in: withKey(rec(nil, nil), int64(3), nil),
			want: withKey(rec(nil, nil), map[string]any{"k": int64(3)}, nil)},
		{name: "extract schema", class: kt + "ExtractField$Value", cfg: plugins.Config{"field": "name"}, in: rec(person(1, "zed", 2), personS),
			want: rec("zed", plugins.OptionalStringSchema)},
		{name: "extract schemaless", class: kt + "ExtractField$Key", cfg: plugins.Config{"field": "id"}, in: withKey(rec(nil, nil), map[string]any{"id": "x"}, nil),
			want: withKey(rec(nil, nil), "x", nil)},
		{name: "extract nested v2", class: kt + "ExtractField$Value", cfg: plugins.Config{"field": "addr.city", "field.syntax.version": "V2"},
			in:   rec(plugins.NewStruct(nestedS).MustPut("id", int64(1)).MustPut("addr", plugins.NewStruct(addressS.AsOptional()).MustPut("city", "Ghent")), nestedS),
			want: rec("Ghent", plugins.StringSchema)},
		{name: "extract unknown", class: kt + "ExtractField$Value", cfg: plugins.Config{"field": "nope"}, in: rec(person(1, "z", 2), personS), err: "unknown field"},
		{name: "extract tombstone", class: kt + "ExtractField$Value", cfg: plugins.Config{"field": "id"}, in: rec(nil, nil), want: rec(nil, nil)},
	})
}

func TestCast(t *testing.T) {
	castS := plugins.StructBuilder().Name("person").Field("id", plugins.StringSchema).Field("name", plugins.OptionalStringSchema).Field("age", plugins.OptionalFloat64Schema).MustBuild()
	runTransformCases(t, []transformCase{
		{name: "fields", class: kt + "Cast$Value", cfg: plugins.Config{"spec": "id:string,age:float64"}, in: rec(person(12, "x", 30), personS),
			want: rec(plugins.NewStruct(castS).MustPut("id", "12").MustPut("name", "x").MustPut("age", 30.0), castS)},
		{name: "whole value", class: kt + "Cast$Value", cfg: plugins.Config{"spec": "int8"}, in: rec(int64(300), plugins.Int64Schema), want: rec(int8(44), plugins.Int8Schema)},
		{name: "schemaless", class: kt + "Cast$Value", cfg: plugins.Config{"spec": "a:int32,b:boolean,c:float32,d:string,e:int64"},
			in:   rec(map[string]any{"a": "17", "b": int64(2), "c": true, "d": []byte("hi"), "e": 3.99}, nil),
			want: rec(map[string]any{"a": int32(17), "b": true, "c": float32(1), "d": "aGk=", "e": int64(3)}, nil)},
		{name: "string to boolean", class: kt + "Cast$Key", cfg: plugins.Config{"spec": "boolean"}, in: withKey(rec(nil, nil), "TRUE", plugins.StringSchema), want: withKey(rec(nil, nil), true, plugins.BooleanSchema)},
		{name: "unparsable", class: kt + "Cast$Value", cfg: plugins.Config{"spec": "int32"}, in: rec("abc", plugins.StringSchema), err: "cannot cast"},
		{name: "bad spec", class: kt + "Cast$Value", cfg: plugins.Config{"spec": "a:uuid"}, err: "invalid type"},
	})
}

func TestFlatten(t *testing.T) {
	flatS := plugins.StructBuilder().Field("id", plugins.Int64Schema).Field("addr_city", plugins.OptionalStringSchema).Field("addr_zip", plugins.OptionalInt32Schema).MustBuild()
	in := plugins.NewStruct(nestedS).MustPut("id", int64(1)).MustPut("addr", plugins.NewStruct(addressS.AsOptional()).MustPut("city", "Ghent").MustPut("zip", int32(9000)))
	runTransformCases(t, []transformCase{
		{name: "schema", class: kt + "Flatten$Value", cfg: plugins.Config{"delimiter": "_"}, in: rec(in, nestedS),
			want: rec(plugins.NewStruct(flatS).MustPut("id", int64(1)).MustPut("addr_city", "Ghent").MustPut("addr_zip", int32(9000)), flatS)},
		{name: "schemaless", class: kt + "Flatten$Value", cfg: plugins.Config{}, in: rec(map[string]any{"a": map[string]any{"b": map[string]any{"c": 1}, "d": []any{2}}, "e": 3}, nil),
			want: rec(map[string]any{"a.b.c": 1, "a.d": []any{2}, "e": 3}, nil)},
		{name: "null nested struct", class: kt + "Flatten$Value", cfg: plugins.Config{"delimiter": "_"}, in: rec(plugins.NewStruct(nestedS).MustPut("id", int64(2)), nestedS),
			want: rec(plugins.NewStruct(flatS).MustPut("id", int64(2)), flatS)},
	})
}

func TestTimestampConverter(t *testing.T) {
	evS := plugins.StructBuilder().Field("at", plugins.Int64Schema).Field("n", plugins.Int32Schema).MustBuild()
	evOut := plugins.StructBuilder().Field("at", plugins.StringSchema).Field("n", plugins.Int32Schema).MustBuild()
	ms := tsRec.UnixMilli()
	runTransformCases(t, []transformCase{
		{name: "unix field to string", class: kt + "TimestampConverter$Value", cfg: plugins.Config{"field": "at", "target.type": "string", "format": "yyyy-MM-dd'T'HH:mm:ss.SSS"},
			in: rec(plugins.NewStruct(evS).MustPut("at", ms).MustPut("n", int32(1)), evS), want: rec(plugins.NewStruct(evOut).MustPut("at", "2024-03-05T13:14:15.678").MustPut("n", int32(1)), evOut)},
		{name: "string to Timestamp", class: kt + "TimestampConverter$Value", cfg: plugins.Config{"target.type": "Timestamp", "format": "yyyy-MM-dd HH:mm:ss"},
			in: rec("2024-03-05 13:14:15", plugins.StringSchema), want: rec(time.Date(2024, 3, 5, 13, 14, 15, 0, time.UTC), plugins.TimestampSchema())},
		{name: "Timestamp to Date", class: kt + "TimestampConverter$Value", cfg: plugins.Config{"target.type": "Date"},
			in: rec(tsRec, plugins.TimestampSchema()), want: rec(time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), plugins.DateSchema())},
		{name: "Timestamp to Time", class: kt + "TimestampConverter$Value", cfg: plugins.Config{"target.type": "Time"},
			in: rec(tsRec, plugins.TimestampSchema()), want: rec(time.Date(1970, 1, 1, 13, 14, 15, 678_000_000, time.UTC), plugins.TimeSchema())},
		{name: "to unix seconds schemaless", class: kt + "TimestampConverter$Value", cfg: plugins.Config{"field": "t", "target.type": "unix", "unix.precision": "seconds"},
			in: rec(map[string]any{"t": tsRec}, nil), want: rec(map[string]any{"t": tsRec.Unix()}, nil)},
		{name: "micros in", class: kt + "TimestampConverter$Key", cfg: plugins.Config{"target.type": "Timestamp", "unix.precision": "microseconds"},
			in: withKey(rec(nil, nil), tsRec.UnixMicro(), nil), want: withKey(rec(nil, nil), tsRec, nil)},
		{name: "string needs format", class: kt + "TimestampConverter$Value", cfg: plugins.Config{"target.type": "string"}, err: "requires format"},
		{name: "bad target", class: kt + "TimestampConverter$Value", cfg: plugins.Config{"target.type": "Epoch"}, err: "String must be one of"},
		{name: "unparsable", class: kt + "TimestampConverter$Value", cfg: plugins.Config{"target.type": "unix", "format": "yyyy"}, in: rec("20x4", plugins.StringSchema), err: "could not parse"},
	})
}

func TestRouters(t *testing.T) {
	runTransformCases(t, []transformCase{
		{name: "timestamp router default", class: kt + "TimestampRouter", cfg: plugins.Config{}, in: rec("v", nil), want: withTopic(rec("v", nil), "orders-20240305")},
		{name: "timestamp router format", class: kt + "TimestampRouter", cfg: plugins.Config{"topic.format": "x_${topic}_${timestamp}", "timestamp.format": "yyyy.MM.dd-HH"},
			in: rec("v", nil), want: withTopic(rec("v", nil), "x_orders_2024.03.05-13")},
		{name: "timestamp router needs ts", class: kt + "TimestampRouter", cfg: plugins.Config{}, in: &plugins.Record{Topic: "t"}, err: "Timestamp missing"},
		{name: "regex router", class: kt + "RegexRouter", cfg: plugins.Config{"regex": "(.*)ers", "replacement": "$1-v2"}, in: rec("v", nil), want: withTopic(rec("v", nil), "ord-v2")},
		{name: "regex router partial match leaves topic", class: kt + "RegexRouter", cfg: plugins.Config{"regex": "ord", "replacement": "x"}, in: rec("v", nil), want: rec("v", nil)},
		{name: "regex router escaped dollar", class: kt + "RegexRouter", cfg: plugins.Config{"regex": "orders", "replacement": `\$orders$0`}, in: rec("v", nil), want: withTopic(rec("v", nil), "$ordersorders")},
		{name: "regex router bad regex", class: kt + "RegexRouter", cfg: plugins.Config{"regex": "(", "replacement": "x"}, err: "regex"},
	})
}

func TestHeaderTransforms(t *testing.T) {
	base := withHeaders(rec(person(1, "ann", 30), personS), plugins.Header{Key: "a", Value: "1"}, plugins.Header{Key: "b", Value: "2"}, plugins.Header{Key: "a", Value: "3"})
	moved := plugins.StructBuilder().Name("person").Field("id", plugins.Int64Schema).MustBuild()
	runTransformCases(t, []transformCase{
		{name: "insert header", class: kt + "InsertHeader", cfg: plugins.Config{"header": "v", "value.literal": "42"}, in: base,
			want: withHeaders(base, append(base.Headers[:3:3], plugins.Header{Key: "v", Value: int8(42), Schema: plugins.Int8Schema})...)},
		{name: "insert header string", class: kt + "InsertHeader", cfg: plugins.Config{"header": "v", "value.literal": "hello world"}, in: rec("x", nil),
			want: withHeaders(rec("x", nil), plugins.Header{Key: "v", Value: "hello world", Schema: plugins.StringSchema})},
		{name: "drop headers", class: kt + "DropHeaders", cfg: plugins.Config{"headers": "a,zz"}, in: base, want: withHeaders(base, plugins.Header{Key: "b", Value: "2"})},
		{name: "header from copy", class: kt + "HeaderFrom$Value", cfg: plugins.Config{"fields": "name", "headers": "who", "operation": "copy"}, in: rec(person(1, "ann", 30), personS),
			want: withHeaders(rec(person(1, "ann", 30), personS), plugins.Header{Key: "who", Value: "ann", Schema: plugins.OptionalStringSchema})},
		{name: "header from move", class: kt + "HeaderFrom$Value", cfg: plugins.Config{"fields": "name,age", "headers": "who,age", "operation": "move"}, in: rec(person(1, "ann", 30), personS),
			want: withHeaders(rec(plugins.NewStruct(moved).MustPut("id", int64(1)), moved), plugins.Header{Key: "who", Value: "ann", Schema: plugins.OptionalStringSchema}, plugins.Header{Key: "age", Value: int32(30), Schema: plugins.OptionalInt32Schema})},
		{name: "header from schemaless key", class: kt + "HeaderFrom$Key", cfg: plugins.Config{"fields": "k", "headers": "h", "operation": "move"},
			in: withKey(rec(nil, nil), map[string]any{"k": "v", "o": 1}, nil), want: withHeaders(withKey(rec(nil, nil), map[string]any{"o": 1}, nil), plugins.Header{Key: "h", Value: "v"})},
		{name: "header from mismatched lists", class: kt + "HeaderFrom$Value", cfg: plugins.Config{"fields": "a,b", "headers": "x", "operation": "copy"}, err: "same number"},
		{name: "header from bad op", class: kt + "HeaderFrom$Value", cfg: plugins.Config{"fields": "a", "headers": "x", "operation": "steal"}, err: "String must be one of"},
		{name: "filter drops", class: kt + "Filter", cfg: plugins.Config{}, in: base, want: nil},
	})
}

func TestParseStringValue(t *testing.T) {
	tests := []struct {
		in     string
		schema *plugins.Schema
		value  any
	}{
		{"true", plugins.BooleanSchema, true},
		{"42", plugins.Int8Schema, int8(42)},
		{"-300", plugins.Int16Schema, int16(-300)},
		{"70000", plugins.Int32Schema, int32(70000)},
		{"5000000000", plugins.Int64Schema, int64(5000000000)},
		{"1.5", plugins.Float64Schema, 1.5},
		{"abc", plugins.StringSchema, "abc"},
		{"Infinity", plugins.StringSchema, "Infinity"},
	}
	for _, tc := range tests {
		s, v := ParseStringValue(tc.in)
		if !s.Equal(tc.schema) || !plugins.ValuesEqual(v, tc.value) {
			t.Errorf("ParseStringValue(%q) = %v %#v, want %v %#v", tc.in, s, v, tc.schema, tc.value)
		}
	}
}

func TestJavaDateLayout(t *testing.T) {
	tests := []struct{ java, want string }{
		{"yyyyMMdd", "20240305"},
		{"yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T13:14:15.678Z"},
		{"dd MMM yy hh:mm a", "05 Mar 24 01:14 PM"},
		{"EEEE d M yyyy 'o''clock'", "Tuesday 5 3 2024 o'clock"},
		{"D", "065"},
	}
	for _, tc := range tests {
		layout, err := javaDateLayout(tc.java)
		if err != nil {
			t.Errorf("%q: %v", tc.java, err)
			continue
		}
		if got := tsRec.Format(layout); got != tc.want {
			t.Errorf("%q formats as %q, want %q", tc.java, got, tc.want)
		}
	}
	for _, bad := range []string{"yyyy-MM-dd G", "ssSSS", "'open"} {
		if _, err := javaDateLayout(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
