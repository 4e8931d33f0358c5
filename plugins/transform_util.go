package plugins

import (
	"fmt"
	"slices"
)

// operand returns the key or value side of rec.
func operand(rec *Record, key bool) (*Schema, any) {
	if key {
		return rec.KeySchema, rec.Key
	}
	return rec.ValueSchema, rec.Value
}

// withOperand returns a copy of rec with its key or value side replaced.
// The copy shares Headers with rec; use withHeaders to change those.
func withOperand(rec *Record, key bool, s *Schema, v any) *Record {
	r := *rec
	if key {
		r.KeySchema, r.Key = s, v
	} else {
		r.ValueSchema, r.Value = s, v
	}
	return &r
}

func sideName(key bool) string {
	if key {
		return "key"
	}
	return "value"
}

// requireMap returns the schemaless operand as a map, Kafka's
// Requirements.requireMap.
func requireMap(v any, purpose string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("only Map objects supported in absence of schema for [%s], found: %T", purpose, v)
	}
	return m, nil
}

// requireStruct is Kafka's Requirements.requireStruct.
func requireStruct(v any, purpose string) (*Struct, error) {
	s, ok := v.(*Struct)
	if !ok {
		return nil, fmt.Errorf("only Struct objects supported for [%s], found: %T", purpose, v)
	}
	return s, nil
}

// copyStructBasics starts a STRUCT schema with s's name, version, doc and
// parameters (Kafka's SchemaUtil.copySchemaBasics). Like Kafka it does not
// copy optionality: transformed structs have a required schema.
func copyStructBasics(s *Schema) *Schema {
	return &Schema{Type: TypeStruct, Name: s.Name, Version: s.Version, Doc: s.Doc,
		Parameters: cloneParams(s.Parameters)}
}

func cloneParams(p map[string]string) map[string]string {
	if p == nil {
		return nil
	}
	c := make(map[string]string, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

func addField(s *Schema, name string, fs *Schema) {
	s.Fields = append(s.Fields, Field{Name: name, Index: len(s.Fields), Schema: fs})
}

// schemaCache remembers the last input→output schema mapping: records of
// one stream nearly always share a schema, and a one-entry cache cannot
// grow without bound when converters hand out a fresh *Schema per record.
type schemaCache struct {
	in, out *Schema
}

func (c *schemaCache) get(in *Schema) *Schema {
	if c.in != nil && (c.in == in || c.in.Equal(in)) {
		return c.out
	}
	return nil
}

func (c *schemaCache) put(in, out *Schema) { c.in, c.out = in, out }

// fieldValue returns a struct field's value, applying its default unless
// replaceNull is false.
func fieldValue(st *Struct, f *Field, replaceNull bool) any {
	if replaceNull {
		return st.GetField(f)
	}
	return st.values[f.Index]
}

// putUnchecked sets a field without validation, for transforms that
// build structs from already-valid data.
func (s *Struct) putUnchecked(name string, v any) {
	if f := s.schema.Field(name); f != nil {
		s.values[f.Index] = v
	}
}

func cloneHeaders(h []Header) []Header { return slices.Clone(h) }

// replaceNullKey is the replace.null.with.default key shared by several
// transforms.
var replaceNullKey = ConfigKey{Name: "replace.null.with.default", Type: ConfigBoolean, Default: true, Importance: Medium,
	Documentation: "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used."}

// registerKV registers the $Key and $Value variants of a Kafka transform.
func registerKV(base, doc string, mk func(key bool) Transform) {
	Register(Registration{Class: "org.apache.kafka.connect.transforms." + base + "$Key", Type: PluginTransform, Doc: doc + " (record key)",
		New: func() any { return mk(true) }})
	Register(Registration{Class: "org.apache.kafka.connect.transforms." + base + "$Value", Type: PluginTransform, Doc: doc + " (record value)",
		New: func() any { return mk(false) }})
}

// registerTransform registers a transform without key/value variants.
func registerTransform(base, doc string, mk func() Transform) {
	Register(Registration{Class: "org.apache.kafka.connect.transforms." + base, Type: PluginTransform, Doc: doc,
		New: func() any { return mk() }})
}
