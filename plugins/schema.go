package plugins

import (
	"bytes"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Type is a Connect schema type (Kafka Connect's Schema.Type).
type Type int8

// The Connect schema types. The zero Type is invalid so that a forgotten
// Type is caught by Validate rather than silently becoming INT8.
const (
	TypeInvalid Type = iota
	TypeInt8
	TypeInt16
	TypeInt32
	TypeInt64
	TypeFloat32
	TypeFloat64
	TypeBoolean
	TypeString
	TypeBytes
	TypeArray
	TypeMap
	TypeStruct
)

var typeNames = [...]string{"INVALID", "INT8", "INT16", "INT32", "INT64", "FLOAT32", "FLOAT64", "BOOLEAN", "STRING", "BYTES", "ARRAY", "MAP", "STRUCT"}

// String returns Kafka's enum name (INT8, STRING, STRUCT, ...).
func (t Type) String() string {
	if int(t) < len(typeNames) && t >= 0 {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// ParseType accepts Kafka's enum names in any case (int32, INT32, ...) as
// used by the Cast transform and schema specs.
func ParseType(s string) (Type, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for i, n := range typeNames {
		if i > 0 && n == u {
			return Type(i), nil
		}
	}
	return TypeInvalid, fmt.Errorf("unknown schema type %q", s)
}

// IsPrimitive reports whether t is neither ARRAY, MAP nor STRUCT.
func (t Type) IsPrimitive() bool { return t >= TypeInt8 && t <= TypeBytes }

// Logical type names, exactly as Kafka Connect writes them in schemas.
const (
	DecimalName   = "org.apache.kafka.connect.data.Decimal"
	DateName      = "org.apache.kafka.connect.data.Date"
	TimeName      = "org.apache.kafka.connect.data.Time"
	TimestampName = "org.apache.kafka.connect.data.Timestamp"
	// DecimalScaleParam is the schema parameter holding a Decimal's scale.
	DecimalScaleParam = "scale"
)

// Schema describes Connect data (Kafka Connect's Schema). A *Schema handed
// to or returned by any plugin is immutable by convention: copy it (Clone)
// before changing it. nil *Schema means "schemaless".
type Schema struct {
	Type     Type
	Optional bool
	// Default is used when a struct field or top-level value is nil. It
	// must itself be valid for the schema.
	Default    any
	Name       string
	Version    int // 0: no version
	Doc        string
	Parameters map[string]string
	// Fields of a STRUCT, in order. Field.Index is its position.
	Fields []Field
	// KeySchema of a MAP; ValueSchema of a MAP or the items of an ARRAY.
	KeySchema   *Schema
	ValueSchema *Schema
}

// Field is one field of a STRUCT schema.
type Field struct {
	Name   string
	Index  int
	Schema *Schema
}

// Predefined primitive schemas. Treat them as read-only.
var (
	Int8Schema            = &Schema{Type: TypeInt8}
	Int16Schema           = &Schema{Type: TypeInt16}
	Int32Schema           = &Schema{Type: TypeInt32}
	Int64Schema           = &Schema{Type: TypeInt64}
	Float32Schema         = &Schema{Type: TypeFloat32}
	Float64Schema         = &Schema{Type: TypeFloat64}
	BooleanSchema         = &Schema{Type: TypeBoolean}
	StringSchema          = &Schema{Type: TypeString}
	BytesSchema           = &Schema{Type: TypeBytes}
	OptionalInt8Schema    = &Schema{Type: TypeInt8, Optional: true}
	OptionalInt16Schema   = &Schema{Type: TypeInt16, Optional: true}
	OptionalInt32Schema   = &Schema{Type: TypeInt32, Optional: true}
	OptionalInt64Schema   = &Schema{Type: TypeInt64, Optional: true}
	OptionalFloat32Schema = &Schema{Type: TypeFloat32, Optional: true}
	OptionalFloat64Schema = &Schema{Type: TypeFloat64, Optional: true}
	OptionalBooleanSchema = &Schema{Type: TypeBoolean, Optional: true}
	OptionalStringSchema  = &Schema{Type: TypeString, Optional: true}
	OptionalBytesSchema   = &Schema{Type: TypeBytes, Optional: true}
)

// PrimitiveSchema returns a new schema of primitive type t.
func PrimitiveSchema(t Type, optional bool) *Schema {
	return &Schema{Type: t, Optional: optional}
}

// DecimalSchema returns the Decimal logical schema (BYTES holding the
// big-endian two's-complement unscaled value); values are *big.Rat.
func DecimalSchema(scale int) *Schema {
	return &Schema{Type: TypeBytes, Name: DecimalName, Version: 1,
		Parameters: map[string]string{DecimalScaleParam: strconv.Itoa(scale)}}
}

// DateSchema is the Date logical schema: INT32 days since the epoch; values
// are time.Time at UTC midnight.
func DateSchema() *Schema { return &Schema{Type: TypeInt32, Name: DateName, Version: 1} }

// TimeSchema is the Time logical schema: INT32 milliseconds since midnight;
// values are time.Time on 1970-01-01 UTC.
func TimeSchema() *Schema { return &Schema{Type: TypeInt32, Name: TimeName, Version: 1} }

// TimestampSchema is the Timestamp logical schema: INT64 milliseconds since
// the epoch; values are time.Time.
func TimestampSchema() *Schema { return &Schema{Type: TypeInt64, Name: TimestampName, Version: 1} }

// ArraySchema returns an ARRAY schema of items.
func ArraySchema(items *Schema) *Schema { return &Schema{Type: TypeArray, ValueSchema: items} }

// MapSchema returns a MAP schema.
func MapSchema(key, value *Schema) *Schema {
	return &Schema{Type: TypeMap, KeySchema: key, ValueSchema: value}
}

// StructSchema returns a STRUCT schema named name (may be empty) with the
// given fields in order; their Index is assigned here. SchemaBuilder
// additionally rejects duplicate names.
func StructSchema(name string, fields ...Field) *Schema {
	s := &Schema{Type: TypeStruct, Name: name}
	for _, f := range fields {
		s.Fields = append(s.Fields, Field{Name: f.Name, Index: len(s.Fields), Schema: f.Schema})
	}
	return s
}

// SchemaBuilder builds a Schema fluently, e.g.
//
//	plugins.NewSchemaBuilder(plugins.TypeStruct).Name("user").
//		Field("id", plugins.Int64Schema).Field("name", plugins.OptionalStringSchema).Build()
type SchemaBuilder struct {
	s   Schema
	err error
}

// NewSchemaBuilder starts a schema of type t.
func NewSchemaBuilder(t Type) *SchemaBuilder { return &SchemaBuilder{s: Schema{Type: t}} }

// StructBuilder starts a STRUCT schema.
func StructBuilder() *SchemaBuilder { return NewSchemaBuilder(TypeStruct) }

// BuilderFrom starts a builder from a copy of s (nested schemas shared).
func BuilderFrom(s *Schema) *SchemaBuilder {
	c := *s
	c.Fields = slices.Clone(s.Fields)
	c.Parameters = maps.Clone(s.Parameters)
	return &SchemaBuilder{s: c}
}

func (b *SchemaBuilder) Name(n string) *SchemaBuilder   { b.s.Name = n; return b }
func (b *SchemaBuilder) Version(v int) *SchemaBuilder   { b.s.Version = v; return b }
func (b *SchemaBuilder) Doc(d string) *SchemaBuilder    { b.s.Doc = d; return b }
func (b *SchemaBuilder) Optional() *SchemaBuilder       { b.s.Optional = true; return b }
func (b *SchemaBuilder) Required() *SchemaBuilder       { b.s.Optional = false; return b }
func (b *SchemaBuilder) Default(v any) *SchemaBuilder   { b.s.Default = v; return b }
func (b *SchemaBuilder) Items(s *Schema) *SchemaBuilder { b.s.ValueSchema = s; return b }

// Parameter sets one schema parameter.
func (b *SchemaBuilder) Parameter(k, v string) *SchemaBuilder {
	if b.s.Parameters == nil {
		b.s.Parameters = map[string]string{}
	}
	b.s.Parameters[k] = v
	return b
}

// Field appends a struct field; a duplicate name is reported by Build.
func (b *SchemaBuilder) Field(name string, s *Schema) *SchemaBuilder {
	if b.s.Type != TypeStruct {
		b.err = fmt.Errorf("cannot add field %q to a %s schema", name, b.s.Type)
		return b
	}
	for _, f := range b.s.Fields {
		if f.Name == name {
			b.err = fmt.Errorf("duplicate field %q", name)
			return b
		}
	}
	b.s.Fields = append(b.s.Fields, Field{Name: name, Index: len(b.s.Fields), Schema: s})
	return b
}

// Build returns the schema, or an error when it is inconsistent (duplicate
// fields, bad default).
func (b *SchemaBuilder) Build() (*Schema, error) {
	if b.err != nil {
		return nil, b.err
	}
	s := b.s
	if err := s.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

// MustBuild is Build for schemas written in code; it panics on error.
func (b *SchemaBuilder) MustBuild() *Schema {
	s, err := b.Build()
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Schema) check() error {
	switch s.Type {
	case TypeArray:
		if s.ValueSchema == nil {
			return fmt.Errorf("array schema without items schema")
		}
	case TypeMap:
		if s.KeySchema == nil || s.ValueSchema == nil {
			return fmt.Errorf("map schema without key or value schema")
		}
	case TypeInvalid:
		return fmt.Errorf("schema without type")
	}
	if s.Default != nil {
		if err := ValidateValue(s, s.Default); err != nil {
			return fmt.Errorf("invalid default: %w", err)
		}
	}
	return nil
}

// Field returns the named struct field, or nil.
func (s *Schema) Field(name string) *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// Clone returns a shallow copy with its own Fields slice and Parameters map.
func (s *Schema) Clone() *Schema {
	if s == nil {
		return nil
	}
	c := *s
	c.Fields = slices.Clone(s.Fields)
	c.Parameters = maps.Clone(s.Parameters)
	return &c
}

// AsOptional returns s if it is optional, else an optional copy.
func (s *Schema) AsOptional() *Schema {
	if s == nil || s.Optional {
		return s
	}
	c := s.Clone()
	c.Optional = true
	return c
}

// Equal reports deep equality of two schemas (nil equals nil only).
func (s *Schema) Equal(o *Schema) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil {
		return false
	}
	if s.Type != o.Type || s.Optional != o.Optional || s.Name != o.Name || s.Version != o.Version ||
		s.Doc != o.Doc || !maps.Equal(s.Parameters, o.Parameters) || len(s.Fields) != len(o.Fields) ||
		!s.KeySchema.Equal(o.KeySchema) || !s.ValueSchema.Equal(o.ValueSchema) || !defaultsEqual(s.Default, o.Default) {
		return false
	}
	for i := range s.Fields {
		if s.Fields[i].Name != o.Fields[i].Name || !s.Fields[i].Schema.Equal(o.Fields[i].Schema) {
			return false
		}
	}
	return true
}

// String renders the schema for error messages.
func (s *Schema) String() string {
	if s == nil {
		return "<schemaless>"
	}
	var b strings.Builder
	b.WriteString("Schema{")
	if s.Name != "" {
		b.WriteString(s.Name + ":")
	}
	b.WriteString(s.Type.String())
	if s.Optional {
		b.WriteString(",optional")
	}
	b.WriteString("}")
	return b.String()
}

// DecimalScale returns the scale parameter of a Decimal schema.
func (s *Schema) DecimalScale() (int, error) {
	p, ok := s.Parameters[DecimalScaleParam]
	if !ok {
		return 0, fmt.Errorf("decimal schema without %q parameter", DecimalScaleParam)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return 0, fmt.Errorf("decimal scale %q: %w", p, err)
	}
	if n < -MaxDecimalScale || n > MaxDecimalScale {
		return 0, fmt.Errorf("decimal scale %d out of range [-%d, %d]", n, MaxDecimalScale, MaxDecimalScale)
	}
	return n, nil
}

// MaxDecimalScale bounds a Decimal's scale: scales arrive in untrusted
// schemas, and big.Rat arithmetic on 10^scale would otherwise let one
// message stall a task.
const MaxDecimalScale = 1000

// ValidateValue checks that v is valid Connect data for schema s: the Go
// type matches (see Record), required values are present, struct values
// carry an equal schema. A nil schema accepts any value.
func ValidateValue(s *Schema, v any) error {
	if s == nil {
		return nil
	}
	if v == nil {
		if s.Optional || s.Default != nil {
			return nil
		}
		return fmt.Errorf("invalid value: null used for required %s", s)
	}
	switch s.Name {
	case DecimalName:
		if _, ok := v.(*big.Rat); !ok {
			return typeErr(s, v, "*big.Rat")
		}
		return nil
	case DateName, TimeName, TimestampName:
		if _, ok := v.(time.Time); !ok {
			return typeErr(s, v, "time.Time")
		}
		return nil
	}
	ok := false
	switch s.Type {
	case TypeInt8:
		_, ok = v.(int8)
	case TypeInt16:
		_, ok = v.(int16)
	case TypeInt32:
		_, ok = v.(int32)
	case TypeInt64:
		_, ok = v.(int64)
	case TypeFloat32:
		_, ok = v.(float32)
	case TypeFloat64:
		_, ok = v.(float64)
	case TypeBoolean:
		_, ok = v.(bool)
	case TypeString:
		_, ok = v.(string)
	case TypeBytes:
		_, ok = v.([]byte)
	case TypeArray:
		arr, isArr := v.([]any)
		if !isArr {
			return typeErr(s, v, "[]any")
		}
		for i, e := range arr {
			if err := ValidateValue(s.ValueSchema, e); err != nil {
				return fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return nil
	case TypeMap:
		switch m := v.(type) {
		case map[string]any:
			for k, e := range m {
				if err := ValidateValue(s.KeySchema, k); err != nil {
					return fmt.Errorf("map key %q: %w", k, err)
				}
				if err := ValidateValue(s.ValueSchema, e); err != nil {
					return fmt.Errorf("map value %q: %w", k, err)
				}
			}
			return nil
		case map[any]any:
			for k, e := range m {
				if err := ValidateValue(s.KeySchema, k); err != nil {
					return fmt.Errorf("map key %v: %w", k, err)
				}
				if err := ValidateValue(s.ValueSchema, e); err != nil {
					return fmt.Errorf("map value %v: %w", k, err)
				}
			}
			return nil
		}
		return typeErr(s, v, "map[string]any or map[any]any")
	case TypeStruct:
		st, isSt := v.(*Struct)
		if !isSt {
			return typeErr(s, v, "*Struct")
		}
		if !st.schema.Equal(s) {
			return fmt.Errorf("struct schema does not match %s", s)
		}
		return st.Validate()
	}
	if !ok {
		return typeErr(s, v, strings.ToLower(s.Type.String()))
	}
	return nil
}

func typeErr(s *Schema, v any, want string) error {
	return fmt.Errorf("invalid Go type %T for %s (want %s)", v, s, want)
}

// InferSchema returns a schema for a primitive Go value, as Kafka's
// ConnectSchema.schemaType does; nil for values without one (nil, maps,
// slices of any).
func InferSchema(v any) *Schema {
	switch x := v.(type) {
	case int8:
		return Int8Schema
	case int16:
		return Int16Schema
	case int32:
		return Int32Schema
	case int64:
		return Int64Schema
	case float32:
		return Float32Schema
	case float64:
		return Float64Schema
	case bool:
		return BooleanSchema
	case string:
		return StringSchema
	case []byte:
		return BytesSchema
	case *Struct:
		return x.schema
	}
	return nil
}

// ValuesEqual compares Connect values deeply ([]byte by content, *Struct by
// schema and values, *big.Rat numerically, time.Time by instant).
func ValuesEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case *big.Rat:
		y, ok := b.(*big.Rat)
		return ok && x.Cmp(y) == 0
	case time.Time:
		y, ok := b.(time.Time)
		return ok && x.Equal(y)
	case *Struct:
		y, ok := b.(*Struct)
		return ok && x.Equal(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !ValuesEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		return ok && mapsEqual(x, y)
	case map[any]any:
		y, ok := b.(map[any]any)
		return ok && mapsEqual(x, y)
	}
	return a == b
}

// mapsEqual compares Connect map values entry by entry with ValuesEqual.
func mapsEqual[K comparable](x, y map[K]any) bool {
	if len(x) != len(y) {
		return false
	}
	for k, v := range x {
		w, ok := y[k]
		if !ok || !ValuesEqual(v, w) {
			return false
		}
	}
	return true
}

// defaultsEqual compares schema defaults. A STRUCT default carries the
// schema it is the default of, so comparing its schema again would
// recurse forever: compare its values only.
func defaultsEqual(a, b any) bool {
	x, ok1 := a.(*Struct)
	y, ok2 := b.(*Struct)
	if !ok1 || !ok2 {
		return ValuesEqual(a, b)
	}
	if len(x.values) != len(y.values) {
		return false
	}
	for i := range x.values {
		if !ValuesEqual(x.values[i], y.values[i]) {
			return false
		}
	}
	return true
}
