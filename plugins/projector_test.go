package plugins

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// mustProject fails the test unless Project succeeds.
func mustProject(t *testing.T, source *Schema, v any, target *Schema) any {
	t.Helper()
	out, err := Project(source, v, target)
	if err != nil {
		t.Fatalf("Project(%s, %v, %s): %v", source, v, target, err)
	}
	return out
}

// wantProjectErr fails the test unless Project fails with a
// *ProjectionError whose text contains every one of want.
func wantProjectErr(t *testing.T, source *Schema, v any, target *Schema, want ...string) {
	t.Helper()
	out, err := Project(source, v, target)
	var pe *ProjectionError
	if !errors.As(err, &pe) {
		t.Fatalf("Project(%s, %v, %s) = %v, %v; want a *ProjectionError", source, v, target, out, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Project(%s, %v, %s): error %q does not contain %q", source, v, target, err, w)
		}
	}
}

func TestProjectSameTypes(t *testing.T) {
	b := []byte{1, 2}
	for _, c := range []struct {
		s *Schema
		v any
	}{
		{BooleanSchema, false}, {StringSchema, "abc"}, {BytesSchema, b},
		{Int8Schema, int8(-3)}, {Int64Schema, int64(1) << 40}, {Float32Schema, float32(1.5)},
	} {
		if got := mustProject(t, c.s, c.v, c.s); !ValuesEqual(got, c.v) {
			t.Errorf("%s → itself: %v, want %v", c.s, got, c.v)
		}
		// Required to optional always works.
		if got := mustProject(t, c.s, c.v, c.s.AsOptional()); !ValuesEqual(got, c.v) {
			t.Errorf("%s → optional: %v, want %v", c.s, got, c.v)
		}
		// Optional to required without a default never does, even for a
		// value that is there: the schemas decide, not the value.
		wantProjectErr(t, c.s.AsOptional(), c.v, c.s, "optional", "no default")
	}
}

func TestProjectNumericPromotion(t *testing.T) {
	types := []Type{TypeInt8, TypeInt16, TypeInt32, TypeInt64, TypeFloat32, TypeFloat64}
	values := []any{int8(127), int16(255), int32(32767), int64(327890), float32(1.25), 1.2345}
	// want[i][j]: values[i] promoted to types[j].
	want := [][]any{
		{int8(127), int16(127), int32(127), int64(127), float32(127), float64(127)},
		{nil, int16(255), int32(255), int64(255), float32(255), float64(255)},
		{nil, nil, int32(32767), int64(32767), float32(32767), float64(32767)},
		{nil, nil, nil, int64(327890), float32(327890), float64(327890)},
		{nil, nil, nil, nil, float32(1.25), float64(1.25)},
		{nil, nil, nil, nil, nil, 1.2345},
	}
	for i, from := range types {
		for j, to := range types {
			for _, opt := range []bool{false, true} {
				src, dst := PrimitiveSchema(from, false), PrimitiveSchema(to, opt)
				if j < i {
					// Narrowing is never a projection.
					wantProjectErr(t, src, values[i], dst, "type mismatch", from.String(), to.String())
					continue
				}
				got := mustProject(t, src, values[i], dst)
				if got != want[i][j] { // same Go type and value
					t.Errorf("%s %v → %s: %v (%T), want %v (%T)", from, values[i], to, got, got, want[i][j], want[i][j])
				}
			}
		}
		for _, to := range []*Schema{BooleanSchema, StringSchema, BytesSchema} {
			wantProjectErr(t, PrimitiveSchema(from, false), values[i], to, "type mismatch")
		}
	}
	for _, c := range [][2]*Schema{{BooleanSchema, StringSchema}, {StringSchema, BytesSchema}, {BytesSchema, Int32Schema}, {StringSchema, Int64Schema}} {
		wantProjectErr(t, c[0], nil, c[1], "type mismatch")
	}
	// int64 → float32 rounds to nearest, as Java's long.floatValue does.
	if got := mustProject(t, Int64Schema, int64(1)<<60+1, Float32Schema); got != float32(1<<60) {
		t.Errorf("2^60+1 → FLOAT32: %v", got)
	}
	// A value wider than its schema says is refused, not truncated.
	wantProjectErr(t, Int16Schema, int64(1)<<40, Int32Schema, "int64")
}

func TestProjectOptionalAndDefaults(t *testing.T) {
	for _, c := range []struct {
		src      *Schema
		t        Type
		v, def   any
		promoted any
	}{
		{OptionalBooleanSchema, TypeBoolean, true, false, true},
		{OptionalStringSchema, TypeString, "abc", "def", "abc"},
		{OptionalBytesSchema, TypeBytes, []byte{1, 2}, []byte{3, 4}, []byte{1, 2}},
		{OptionalInt8Schema, TypeInt16, int8(12), int16(127), int16(12)},
		{OptionalInt16Schema, TypeInt64, int16(12), int64(127890), int64(12)},
		{OptionalInt32Schema, TypeFloat32, int32(12), float32(3.45), float32(12)},
		{OptionalInt64Schema, TypeFloat64, int64(12), 3.4567, float64(12)},
		{OptionalFloat32Schema, TypeFloat64, float32(12.5), 3.4567, 12.5},
	} {
		required := NewSchemaBuilder(c.t).Default(c.def).MustBuild()
		optional := NewSchemaBuilder(c.t).Optional().Default(c.def).MustBuild()
		for _, dst := range []*Schema{required, optional} {
			if got := mustProject(t, c.src, c.v, dst); !ValuesEqual(got, c.promoted) {
				t.Errorf("%s %v → %s: %v, want %v", c.src, c.v, dst, got, c.promoted)
			}
		}
		// nil: the required target's default stands in; an optional
		// target keeps nil (its default is for readers, not projection).
		if got := mustProject(t, c.src, nil, required); !ValuesEqual(got, c.def) {
			t.Errorf("%s nil → %s: %v, want the default %v", c.src, required, got, c.def)
		}
		if got := mustProject(t, c.src, nil, optional); got != nil {
			t.Errorf("%s nil → %s: %v, want nil", c.src, optional, got)
		}
	}
}

func TestProjectStructFields(t *testing.T) {
	v1 := StructBuilder().Name("user").Version(1).
		Field("id", Int64Schema).
		Field("gone", Int32Schema).
		Field("age", Int16Schema).MustBuild()
	v2 := StructBuilder().Name("user").Version(2).Doc("second version").
		Field("id", Int64Schema).
		Field("email", NewSchemaBuilder(TypeString).Default("none").MustBuild()).
		Field("nick", OptionalStringSchema).
		Field("age", Int64Schema). // widened
		Field("score", NewSchemaBuilder(TypeFloat64).Optional().Default(1.5).MustBuild()).MustBuild()
	src := NewStruct(v1).MustPut("id", int64(7)).MustPut("gone", int32(3)).MustPut("age", int16(40))
	got := mustProject(t, v1, src, v2).(*Struct)
	if got.Schema() != v2 {
		t.Fatalf("projected struct has schema %s, want the target itself", got.Schema())
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	// Missing fields: the default when there is one (even when optional,
	// as Kafka checks the default first), else nil when optional.
	for name, want := range map[string]any{"id": int64(7), "email": "none", "nick": nil, "age": int64(40), "score": 1.5} {
		if v := got.values[v2.Field(name).Index]; !ValuesEqual(v, want) {
			t.Errorf("field %s = %v (%T), want %v (%T)", name, v, v, want, want)
		}
	}
	if got.Has("gone") {
		t.Error("a field the target lacks was kept")
	}
	if src.Get("gone") != int32(3) || src.Get("age") != int16(40) {
		t.Errorf("the source struct changed: %v", src)
	}

	// A required field without default that the source lacks.
	v3 := StructBuilder().Name("user").Field("id", Int64Schema).Field("country", StringSchema).MustBuild()
	wantProjectErr(t, v1, src, v3, `country: required field "country" is missing`)

	// A source field left nil projects its own default.
	withDef := StructBuilder().Field("n", NewSchemaBuilder(TypeInt32).Default(int32(9)).MustBuild()).MustBuild()
	wider := StructBuilder().Field("n", Int64Schema).MustBuild()
	if g := mustProject(t, withDef, NewStruct(withDef), wider).(*Struct); g.Get("n") != int64(9) {
		t.Errorf("nil field with source default projected to %v, want 9", g.Get("n"))
	}

	// Empty source struct: default, optional and required targets.
	empty := StructBuilder().MustBuild()
	if g := mustProject(t, empty, NewStruct(empty), StructBuilder().Field("id", NewSchemaBuilder(TypeInt64).Default(int64(42)).MustBuild()).MustBuild()).(*Struct); g.Get("id") != int64(42) {
		t.Errorf("missing defaulted field = %v", g.Get("id"))
	}
	if g := mustProject(t, empty, NewStruct(empty), StructBuilder().Field("id", OptionalInt64Schema).MustBuild()).(*Struct); g.Get("id") != nil {
		t.Errorf("missing optional field = %v", g.Get("id"))
	}
	wantProjectErr(t, empty, NewStruct(empty), StructBuilder().Field("id", Int64Schema).MustBuild(), `required field "id"`)
}

func TestProjectStructDefault(t *testing.T) {
	source := StructBuilder().Optional().Field("a", Int32Schema).Field("b", Int32Schema).MustBuild()
	plain := StructBuilder().Field("a", Int32Schema).Field("b", Int32Schema).MustBuild()
	def := NewStruct(plain).MustPut("a", int32(12)).MustPut("b", int32(345))
	// A struct default is a struct of the schema it is the default of.
	target := plain.Clone()
	target.Default, def.schema = def, target
	if got := mustProject(t, source, nil, target); got != def {
		t.Errorf("nil optional struct → %v, want the target's default %v", got, def)
	}
	in := NewStruct(source).MustPut("a", int32(45)).MustPut("b", int32(678))
	got := mustProject(t, source, in, target).(*Struct)
	if got.Get("a") != int32(45) || got.Get("b") != int32(678) {
		t.Errorf("projected %v, want a=45 b=678", got)
	}
	wantProjectErr(t, source, nil, plain, "no default")
}

func TestProjectNested(t *testing.T) {
	flat1 := StructBuilder().Name("inner").Field("field", Int32Schema).MustBuild()
	flat2 := StructBuilder().Name("inner").Field("field", Int32Schema).
		Field("field2", NewSchemaBuilder(TypeInt32).Default(int32(123)).MustBuild()).MustBuild()
	outer := func(inner *Schema, num *Schema) *Schema {
		return StructBuilder().Name("outer").
			Field("first", Int32Schema).
			Field("second", StringSchema).
			Field("array", ArraySchema(num)).
			Field("map", MapSchema(num, StringSchema)).
			Field("list", ArraySchema(inner)).
			Field("nested", inner).MustBuild()
	}
	src, dst := outer(flat1, Int32Schema), outer(flat2, Int64Schema)
	in := NewStruct(src).
		MustPut("first", int32(1)).
		MustPut("second", "abc").
		MustPut("array", []any{int32(1), int32(2)}).
		MustPut("map", map[any]any{int32(5): "def"}).
		MustPut("list", []any{NewStruct(flat1).MustPut("field", int32(8))}).
		MustPut("nested", NewStruct(flat1).MustPut("field", int32(113)))
	got := mustProject(t, src, in, dst).(*Struct)
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	if got.Get("first") != int32(1) || got.Get("second") != "abc" {
		t.Errorf("primitives: %v", got)
	}
	if !ValuesEqual(got.Get("array"), []any{int64(1), int64(2)}) {
		t.Errorf("array = %v", got.Get("array"))
	}
	if !ValuesEqual(got.Get("map"), map[any]any{int64(5): "def"}) {
		t.Errorf("map = %#v", got.Get("map"))
	}
	n := got.Get("nested").(*Struct)
	if n.Schema() != flat2 || n.Get("field") != int32(113) || n.Get("field2") != int32(123) {
		t.Errorf("nested = %v", n)
	}
	l := got.Get("list").([]any)[0].(*Struct)
	if l.Get("field") != int32(8) || l.Get("field2") != int32(123) {
		t.Errorf("list[0] = %v", l)
	}

	// An error deep inside says where.
	strict := StructBuilder().Name("inner").Field("field", Int32Schema).Field("must", StringSchema).MustBuild()
	wantProjectErr(t, src, in, outer(strict, Int32Schema), `list[0].must: required field "must"`)
	wantProjectErr(t, src, in, outer(flat2, Int16Schema), "array[0]", "type mismatch")
}

func TestProjectLogicalTypes(t *testing.T) {
	d := big.NewRat(156, 100)
	if got := mustProject(t, DecimalSchema(2), d, DecimalSchema(2)); got != d {
		t.Errorf("decimal → %v", got)
	}
	day := time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)
	for _, s := range []*Schema{DateSchema(), TimeSchema(), TimestampSchema()} {
		if got := mustProject(t, s, day, s); got != day {
			t.Errorf("%s → %v", s, got)
		}
		// A later version of the logical schema is still the same type.
		if got := mustProject(t, s, day, BuilderFrom(s).Version(2).Optional().MustBuild()); got != day {
			t.Errorf("%s → %v", s, got)
		}
	}
	// The scale is a parameter: a decimal of another scale is another type.
	wantProjectErr(t, DecimalSchema(2), d, DecimalSchema(3), "parameters differ")
	invalid := NewSchemaBuilder(TypeInt32).Name("invalidLogicalTypeName").MustBuild()
	for _, s := range []*Schema{DecimalSchema(2), DateSchema(), TimeSchema(), TimestampSchema()} {
		wantProjectErr(t, s, nil, BooleanSchema, "type mismatch")
		// Same Go-level type, other meaning: a name decides.
		wantProjectErr(t, s, nil, BuilderFrom(s).Name("").MustBuild(), "name mismatch")
		wantProjectErr(t, BooleanSchema, nil, s, "type mismatch")
		if s.Type == TypeInt32 {
			wantProjectErr(t, s, nil, invalid, "name mismatch", "invalidLogicalTypeName")
			wantProjectErr(t, Int32Schema, nil, s, "name mismatch")
		}
	}
}

func TestProjectArray(t *testing.T) {
	source := ArraySchema(Int32Schema)
	if got := mustProject(t, source, []any{int32(1), int32(2), int32(3)}, source); !ValuesEqual(got, []any{int32(1), int32(2), int32(3)}) {
		t.Errorf("same schema: %v", got)
	}
	optional := BuilderFrom(source).Optional().MustBuild()
	def := BuilderFrom(source).Default([]any{int32(1), int32(2), int32(3)}).MustBuild()
	if got := mustProject(t, optional, []any{int32(4), int32(5)}, def); !ValuesEqual(got, []any{int32(4), int32(5)}) {
		t.Errorf("optional → defaulted: %v", got)
	}
	if got := mustProject(t, optional, nil, def); !ValuesEqual(got, []any{int32(1), int32(2), int32(3)}) {
		t.Errorf("nil → %v, want the default", got)
	}
	promoted := NewSchemaBuilder(TypeArray).Items(Int64Schema).Default([]any{int64(1)}).MustBuild()
	if got := mustProject(t, optional, []any{int32(4), int32(5)}, promoted); !ValuesEqual(got, []any{int64(4), int64(5)}) {
		t.Errorf("promoted: %#v", got)
	}
	wantProjectErr(t, optional, nil, source, "no default")
	wantProjectErr(t, source, []any{int32(1)}, ArraySchema(BooleanSchema), "[0]: schema type mismatch")
	// Elements follow the element schemas' optionality.
	wantProjectErr(t, ArraySchema(OptionalInt32Schema), []any{int32(1), nil}, ArraySchema(Int32Schema), "no default")
	withNil := mustProject(t, ArraySchema(OptionalInt32Schema), []any{int32(1), nil}, ArraySchema(NewSchemaBuilder(TypeInt64).Default(int64(-1)).MustBuild()))
	if !ValuesEqual(withNil, []any{int64(1), int64(-1)}) {
		t.Errorf("nil element → %v, want the items' default", withNil)
	}
	wantProjectErr(t, source, map[string]any{}, source, "not the []any")
}

func TestProjectMap(t *testing.T) {
	source := BuilderFrom(MapSchema(Int32Schema, Int32Schema)).Optional().MustBuild()
	target := BuilderFrom(MapSchema(Int32Schema, Int32Schema)).Default(map[any]any{int32(1): int32(2)}).MustBuild()
	if got := mustProject(t, source, map[any]any{int32(3): int32(4)}, target); !ValuesEqual(got, map[any]any{int32(3): int32(4)}) {
		t.Errorf("same types: %v", got)
	}
	if got := mustProject(t, source, nil, target); !ValuesEqual(got, map[any]any{int32(1): int32(2)}) {
		t.Errorf("nil → %v, want the default", got)
	}
	promoted := BuilderFrom(MapSchema(Int64Schema, Float32Schema)).Default(map[any]any{int64(3): float32(4.5)}).MustBuild()
	if got := mustProject(t, source, map[any]any{int32(3): int32(4)}, promoted); !ValuesEqual(got, map[any]any{int64(3): float32(4)}) {
		t.Errorf("promoted: %#v", got)
	}
	wantProjectErr(t, source, nil, MapSchema(Int32Schema, Int32Schema), "no default")
	wantProjectErr(t, MapSchema(Int32Schema, Int32Schema), map[any]any{int32(1): int32(2)}, MapSchema(BooleanSchema, StringSchema), "[key 1]: schema type mismatch")
	wantProjectErr(t, MapSchema(Int32Schema, Int32Schema), map[any]any{int32(1): int32(2)}, MapSchema(Int32Schema, StringSchema), "[1]: schema type mismatch")

	// String keys keep the map's Go type; a value error names its key.
	strs := MapSchema(StringSchema, Int8Schema)
	got := mustProject(t, strs, map[string]any{"a": int8(1)}, MapSchema(StringSchema, Float64Schema))
	if !ValuesEqual(got, map[string]any{"a": float64(1)}) {
		t.Errorf("string keys: %#v", got)
	}
	inner := StructBuilder().Field("x", Int32Schema).MustBuild()
	innerReq := StructBuilder().Field("x", Int32Schema).Field("y", StringSchema).MustBuild()
	wantProjectErr(t, MapSchema(StringSchema, inner), map[string]any{"k": NewStruct(inner).MustPut("x", int32(1))},
		MapSchema(StringSchema, innerReq), `["k"].y: required field "y"`)

	// Two int64 keys that round to one float32 would silently lose an
	// entry; that is refused.
	wantProjectErr(t, MapSchema(Int64Schema, StringSchema), map[any]any{int64(1)<<60 + 1: "a", int64(1) << 60: "b"},
		MapSchema(Float32Schema, StringSchema), "two keys")
}

func TestProjectNamesParametersVersions(t *testing.T) {
	src := NewSchemaBuilder(TypeInt32).Name("source").MustBuild()
	wantProjectErr(t, src, int32(12), NewSchemaBuilder(TypeInt32).Name("target").MustBuild(), "name mismatch", `"source"`, `"target"`)
	wantProjectErr(t, src, int32(34), NewSchemaBuilder(TypeInt32).Name("source").Parameter("key", "value").MustBuild(), "parameters differ")
	// No parameters and an empty parameter map are the same.
	empty := src.Clone()
	empty.Parameters = map[string]string{}
	mustProject(t, src, int32(1), empty)
	// Versions and docs are what differ between schemas a file projects
	// to: they are not checked.
	mustProject(t, BuilderFrom(src).Version(1).Doc("a").MustBuild(), int32(1), BuilderFrom(src).Version(7).Doc("b").MustBuild())
	wantProjectErr(t, nil, int32(1), Int32Schema, "no schema")
	wantProjectErr(t, Int32Schema, int32(1), nil, "no schema")
}

func TestProjectStructValueChecks(t *testing.T) {
	s := StructBuilder().Field("a", Int32Schema).MustBuild()
	other := StructBuilder().Field("b", Int32Schema).MustBuild()
	wantProjectErr(t, s, "not a struct", s, "not a *Struct")
	wantProjectErr(t, s, NewStruct(other).MustPut("b", int32(1)), s, "not the source schema")
	// A struct missing a required value (NewStruct without Put) does not
	// become a valid one by projection.
	wider := StructBuilder().Field("a", Int64Schema).MustBuild()
	if _, err := Project(s, NewStruct(s), wider); err == nil {
		t.Error("a struct with a required field unset projected without error")
	}
}
