package plugins

import (
	"fmt"
	"strings"

	"github.com/weirlog/weir/plugins/internal/structs"
)

func init() {
	structs.Values = func(st any) []any { return st.(*Struct).values }
	structs.SetSchema = func(st, s any) { st.(*Struct).schema = s.(*Schema) }
}

// Struct is a STRUCT value: field values ordered by its schema's fields
// (Kafka Connect's Struct). Put validates each value against the field's
// schema, so a Struct is always well-typed; Validate additionally checks
// that every required field is set.
type Struct struct {
	schema *Schema
	values []any
}

// NewStruct returns an empty Struct of schema s, which must be a STRUCT.
func NewStruct(s *Schema) *Struct {
	if s == nil || s.Type != TypeStruct {
		panic(fmt.Sprintf("plugins.NewStruct: %s is not a STRUCT schema", s))
	}
	return &Struct{schema: s, values: make([]any, len(s.Fields))}
}

// NewStructWith returns a Struct of schema s holding values, one per
// field in the order of s.Fields, each validated as Put validates it. The
// Struct keeps the slice, not a copy (the caller must not change it
// afterwards): a source that decodes many rows can give their structs
// consecutive pieces of one allocation, and it skips Put's look-up by
// name. A wrong count or an invalid value is an error.
func NewStructWith(s *Schema, values []any) (*Struct, error) {
	if err := checkWith(s, values); err != nil {
		return nil, err
	}
	return &Struct{schema: s, values: values}, nil
}

func checkWith(s *Schema, values []any) error {
	if s == nil || s.Type != TypeStruct {
		return fmt.Errorf("plugins.NewStructWith: %s is not a STRUCT schema", s)
	}
	if len(values) != len(s.Fields) {
		return fmt.Errorf("%d values for the %d fields of %s", len(values), len(s.Fields), s)
	}
	for i := range s.Fields {
		f := &s.Fields[i]
		if err := ValidateValue(f.Schema, values[i]); err != nil {
			return fmt.Errorf("field %q: %w", f.Name, err)
		}
	}
	return nil
}

// StructSlab makes Structs as NewStructWith does, cut from chunks of
// Chunk Structs (256 when zero): one allocation per chunk instead of one
// per Struct, for a source that decodes many rows. A Struct handed out is
// never reused by the slab; it is an ordinary Struct (Put, Get, …), and
// while it is referenced its whole chunk stays in memory. The zero
// StructSlab is ready; it is not safe for concurrent use.
type StructSlab struct {
	Chunk int
	free  []Struct
}

// New is NewStructWith with the Struct taken from the slab.
func (a *StructSlab) New(s *Schema, values []any) (*Struct, error) {
	if err := checkWith(s, values); err != nil {
		return nil, err
	}
	if len(a.free) == 0 {
		n := a.Chunk
		if n <= 0 {
			n = 256
		}
		a.free = make([]Struct, n)
	}
	st := &a.free[0]
	a.free = a.free[1:]
	st.schema, st.values = s, values
	return st, nil
}

// Schema returns the struct's schema.
func (s *Struct) Schema() *Schema { return s.schema }

// Put sets the named field to v after validating v against the field's
// schema.
func (s *Struct) Put(name string, v any) error {
	f := s.schema.Field(name)
	if f == nil {
		return fmt.Errorf("%q is not a valid field name", name)
	}
	if err := ValidateValue(f.Schema, v); err != nil {
		return fmt.Errorf("field %q: %w", name, err)
	}
	s.values[f.Index] = v
	return nil
}

// MustPut is Put for values known to be valid; it panics on error and
// returns s for chaining.
func (s *Struct) MustPut(name string, v any) *Struct {
	if err := s.Put(name, v); err != nil {
		panic(err)
	}
	return s
}

// Get returns the named field's value, or its schema default when unset.
// Unknown names yield nil; use Has to tell them apart.
func (s *Struct) Get(name string) any {
	f := s.schema.Field(name)
	if f == nil {
		return nil
	}
	return s.GetField(f)
}

// GetField returns the value of f (from this struct's schema), defaulted.
func (s *Struct) GetField(f *Field) any {
	v := s.values[f.Index]
	if v == nil {
		return f.Schema.Default
	}
	return v
}

// Has reports whether name is a field of the struct's schema.
func (s *Struct) Has(name string) bool { return s.schema.Field(name) != nil }

// Validate checks every field (required fields must be set or defaulted).
func (s *Struct) Validate() error {
	for i := range s.schema.Fields {
		f := &s.schema.Fields[i]
		if err := ValidateValue(f.Schema, s.values[f.Index]); err != nil {
			return fmt.Errorf("field %q: %w", f.Name, err)
		}
	}
	return nil
}

// Equal compares schema and values deeply.
func (s *Struct) Equal(o *Struct) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil || !s.schema.Equal(o.schema) {
		return false
	}
	for i := range s.values {
		if !ValuesEqual(s.values[i], o.values[i]) {
			return false
		}
	}
	return true
}

// String renders Struct{a=1,b=x} like Kafka's Struct.toString.
func (s *Struct) String() string {
	var b strings.Builder
	b.WriteString("Struct{")
	first := true
	for i, f := range s.schema.Fields {
		if s.values[i] == nil {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%s=%v", f.Name, s.values[i])
	}
	b.WriteByte('}')
	return b.String()
}
