package converters

import (
	"math/big"
	"testing"

	"github.com/weirlog/weir/plugins"
)

func TestStringConverter(t *testing.T) {
	var c StringConverter
	if err := c.Configure(plugins.Config{"converter.encoding": "UTF-8"}, false); err != nil {
		t.Fatal(err)
	}
	if err := c.Configure(plugins.Config{"converter.encoding": "ISO-8859-1"}, false); err == nil {
		t.Fatal("ISO-8859-1 accepted")
	}
	st := plugins.StructBuilder().Field("a", plugins.Int32Schema).Field("b", plugins.OptionalStringSchema).MustBuild()
	tests := []struct {
		schema *plugins.Schema
		value  any
		want   string
	}{
		{plugins.StringSchema, "héllo", "héllo"},
		{plugins.Int64Schema, int64(-5), "-5"},
		{plugins.Float64Schema, 1e7, "1.0E7"},
		{plugins.Float32Schema, float32(1.5), "1.5"},
		{plugins.BooleanSchema, true, "true"},
		{plugins.DecimalSchema(2), big.NewRat(314, 100), "3.14"},
		{st, plugins.NewStruct(st).MustPut("a", int32(1)), "Struct{a=1}"},
		{nil, []any{int64(1), "x"}, "[1, x]"},
		{nil, map[string]any{"b": int64(2), "a": int64(1)}, "{a=1, b=2}"},
	}
	for _, tc := range tests {
		b, err := c.FromConnect("t", tc.schema, tc.value)
		if err != nil || string(b) != tc.want {
			t.Errorf("FromConnect(%v) = %q, %v; want %q", tc.value, b, err, tc.want)
		}
	}
	if b, err := c.FromConnect("t", nil, nil); b != nil || err != nil {
		t.Errorf("FromConnect(nil) = %q, %v", b, err)
	}
	s, v, err := c.ToConnect("t", []byte("abc"))
	if err != nil || s != plugins.OptionalStringSchema || v != "abc" {
		t.Errorf("ToConnect = %v, %v, %v", s, v, err)
	}
	s, v, err = c.ToConnect("t", nil)
	if err != nil || s != plugins.OptionalStringSchema || v != nil {
		t.Errorf("ToConnect(nil) = %v, %v, %v", s, v, err)
	}
}

func TestByteArrayConverter(t *testing.T) {
	var c ByteArrayConverter
	b, err := c.FromConnect("t", plugins.BytesSchema, []byte{1, 2})
	if err != nil || string(b) != "\x01\x02" {
		t.Fatalf("FromConnect = %v, %v", b, err)
	}
	if _, err := c.FromConnect("t", plugins.StringSchema, []byte{1}); err == nil {
		t.Fatal("STRING schema accepted")
	}
	if _, err := c.FromConnect("t", nil, "str"); err == nil {
		t.Fatal("string value accepted")
	}
	if b, err := c.FromConnect("t", nil, nil); b != nil || err != nil {
		t.Fatalf("nil: %v %v", b, err)
	}
	s, v, err := c.ToConnect("t", []byte{9})
	if err != nil || s != plugins.OptionalBytesSchema || string(v.([]byte)) != "\x09" {
		t.Fatalf("ToConnect = %v %v %v", s, v, err)
	}
}
