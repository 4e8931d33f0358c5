package plugins

import (
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestValidateValue(t *testing.T) {
	st := StructBuilder().Field("a", Int32Schema).MustBuild()
	other := StructBuilder().Field("b", Int32Schema).MustBuild()
	tests := []struct {
		name   string
		schema *Schema
		value  any
		ok     bool
	}{
		{"int8", Int8Schema, int8(1), true},
		{"int8 wrong go type", Int8Schema, 1, false},
		{"int16", Int16Schema, int16(1), true},
		{"int32", Int32Schema, int32(1), true},
		{"int64 given int32", Int64Schema, int32(1), false},
		{"float32", Float32Schema, float32(1), true},
		{"float64", Float64Schema, 1.5, true},
		{"bool", BooleanSchema, true, true},
		{"string", StringSchema, "x", true},
		{"bytes", BytesSchema, []byte("x"), true},
		{"bytes given string", BytesSchema, "x", false},
		{"null required", StringSchema, nil, false},
		{"null optional", OptionalStringSchema, nil, true},
		{"null with default", &Schema{Type: TypeString, Default: "d"}, nil, true},
		{"array", ArraySchema(Int32Schema), []any{int32(1), int32(2)}, true},
		{"array bad element", ArraySchema(Int32Schema), []any{int32(1), "x"}, false},
		{"map string keys", MapSchema(StringSchema, Int64Schema), map[string]any{"a": int64(1)}, true},
		{"map any keys", MapSchema(Int32Schema, StringSchema), map[any]any{int32(1): "x"}, true},
		{"map bad key", MapSchema(Int32Schema, StringSchema), map[any]any{"k": "x"}, false},
		{"struct", st, NewStruct(st).MustPut("a", int32(1)), true},
		{"struct missing required", st, NewStruct(st), false},
		{"struct other schema", st, NewStruct(other).MustPut("b", int32(1)), false},
		{"decimal", DecimalSchema(2), big.NewRat(314, 100), true},
		{"decimal given bytes", DecimalSchema(2), []byte{1}, false},
		{"timestamp", TimestampSchema(), time.Now(), true},
		{"date given int32", DateSchema(), int32(1), false},
		{"schemaless accepts anything", nil, struct{}{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateValue(tc.schema, tc.value)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateValue(%v, %#v) = %v, want ok=%v", tc.schema, tc.value, err, tc.ok)
			}
		})
	}
}

func TestStructPutGet(t *testing.T) {
	s := StructBuilder().Name("user").
		Field("id", Int64Schema).
		Field("name", OptionalStringSchema).
		Field("country", NewSchemaBuilder(TypeString).Optional().Default("NL").MustBuild()).MustBuild()
	v := NewStruct(s)
	if err := v.Put("id", int64(7)); err != nil {
		t.Fatal(err)
	}
	if err := v.Put("id", "seven"); err == nil {
		t.Fatal("Put accepted a string for an INT64 field")
	}
	if err := v.Put("nope", 1); err == nil || !strings.Contains(err.Error(), "not a valid field") {
		t.Fatalf("Put of unknown field: %v", err)
	}
	if got := v.Get("id"); got != int64(7) {
		t.Fatalf("Get(id) = %v", got)
	}
	if got := v.Get("country"); got != "NL" {
		t.Fatalf("Get(country) = %v, want the default NL", got)
	}
	if got := v.Get("name"); got != nil {
		t.Fatalf("Get(name) = %v, want nil", got)
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := v.String(), "Struct{id=7}"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	w := NewStruct(s).MustPut("id", int64(7))
	if !v.Equal(w) {
		t.Fatal("equal structs compare unequal")
	}
	w.MustPut("name", "x")
	if v.Equal(w) {
		t.Fatal("different structs compare equal")
	}
}

func TestSchemaBuilderErrors(t *testing.T) {
	if _, err := StructBuilder().Field("a", Int8Schema).Field("a", Int8Schema).Build(); err == nil {
		t.Fatal("duplicate field accepted")
	}
	if _, err := NewSchemaBuilder(TypeInt32).Field("a", Int8Schema).Build(); err == nil {
		t.Fatal("field on a non-struct accepted")
	}
	if _, err := NewSchemaBuilder(TypeInt32).Default("x").Build(); err == nil {
		t.Fatal("string default for INT32 accepted")
	}
	if _, err := NewSchemaBuilder(TypeArray).Build(); err == nil {
		t.Fatal("array without items accepted")
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]Type{"int8": TypeInt8, "INT64": TypeInt64, "Float32": TypeFloat32, "boolean": TypeBoolean, "struct": TypeStruct} {
		got, err := ParseType(in)
		if err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseType("uuid"); err == nil {
		t.Error("ParseType(uuid) succeeded")
	}
}

func TestDecimalBytes(t *testing.T) {
	tests := []struct {
		val   string
		scale int
		bytes []byte
	}{
		{"1.56", 2, []byte{0x00, 0x9c}},
		{"-1.56", 2, []byte{0xff, 0x64}},
		{"0", 2, []byte{0x00}},
		{"1.27", 2, []byte{0x7f}},
		{"-1.28", 2, []byte{0x80}},
		{"1.28", 2, []byte{0x00, 0x80}},
		{"12345678901234567890", 0, []byte{0x00, 0xab, 0x54, 0xa9, 0x8c, 0xeb, 0x1f, 0x0a, 0xd2}},
	}
	for _, tc := range tests {
		r, _ := new(big.Rat).SetString(tc.val)
		b, err := DecimalToBytes(r, tc.scale)
		if err != nil || string(b) != string(tc.bytes) {
			t.Errorf("DecimalToBytes(%s, %d) = %x, %v; want %x", tc.val, tc.scale, b, err, tc.bytes)
		}
		if back := DecimalFromBytes(tc.bytes, tc.scale); back.Cmp(r) != 0 {
			t.Errorf("DecimalFromBytes(%x) = %s, want %s", tc.bytes, back.FloatString(tc.scale), tc.val)
		}
	}
	if _, err := DecimalToBytes(big.NewRat(1, 3), 2); err == nil {
		t.Error("1/3 fit scale 2")
	}
}
