package transforms

import (
	"fmt"
	"github.com/weirlog/weir/plugins/internal/structs"
	"slices"

	"github.com/weirlog/weir/plugins"
)

// operand returns the key or value side of rec.
func operand(rec *plugins.Record, key bool) (*plugins.Schema, any) {
	if key {
		return rec.KeySchema, rec.Key
	}
	return rec.ValueSchema, rec.Value
}

// withOperand returns a copy of rec with its key or value side replaced.
// The copy shares Headers with rec; use withHeaders to change those.
func withOperand(rec *plugins.Record, key bool, s *plugins.Schema, v any) *plugins.Record {
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
func requireStruct(v any, purpose string) (*plugins.Struct, error) {
	s, ok := v.(*plugins.Struct)
	if !ok {
		return nil, fmt.Errorf("only Struct objects supported for [%s], found: %T", purpose, v)
	}
	return s, nil
}

// copyStructBasics starts a STRUCT schema with s's name, version, doc and
// parameters (Kafka's SchemaUtil.copySchemaBasics). Like Kafka it does not
// copy optionality: transformed structs have a required schema.
func copyStructBasics(s *plugins.Schema) *plugins.Schema {
	return &plugins.Schema{Type: plugins.TypeStruct, Name: s.Name, Version: s.Version, Doc: s.Doc,
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

func addField(s *plugins.Schema, name string, fs *plugins.Schema) {
	s.Fields = append(s.Fields, plugins.Field{Name: name, Index: len(s.Fields), Schema: fs})
}

// schemaCache remembers the last input→output schema mapping: records of
// one stream nearly always share a schema, and a one-entry cache cannot
// grow without bound when converters hand out a fresh *Schema per record.
type schemaCache struct {
	in, out *plugins.Schema
}

func (c *schemaCache) get(in *plugins.Schema) *plugins.Schema {
	if c.in != nil && (c.in == in || c.in.Equal(in)) {
		return c.out
	}
	return nil
}

func (c *schemaCache) put(in, out *plugins.Schema) { c.in, c.out = in, out }

// fieldValue returns a struct field's value, applying its default unless
// replaceNull is false.
func fieldValue(st *plugins.Struct, f *plugins.Field, replaceNull bool) any {
	if replaceNull {
		return st.GetField(f)
	}
	return values(st)[f.Index]
}

// putUnchecked sets a field without validation, for transforms that
// build structs from already-valid data.
func putUnchecked(s *plugins.Struct, name string, v any) {
	if f := s.Schema().Field(name); f != nil {
		values(s)[f.Index] = v
	}
}

// values is the struct's backing field slice (see plugins/internal/structs):
// the transforms copy already-valid values, so they skip Put's checks.
func values(st *plugins.Struct) []any { return structs.Values(st) }

func cloneHeaders(h []plugins.Header) []plugins.Header { return slices.Clone(h) }

// replaceNullKey is the replace.null.with.default key shared by several
// transforms.
var replaceNullKey = plugins.ConfigKey{Name: "replace.null.with.default", Type: plugins.ConfigBoolean, Default: true, Importance: plugins.Medium,
	Documentation: "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used."}

// registerKV registers the $Key and $Value variants of a Kafka transform.
func registerKV(base, doc string, mk func(key bool) plugins.Transform) {
	plugins.Register(plugins.Registration{Class: "org.apache.kafka.connect.transforms." + base + "$Key", Type: plugins.PluginTransform, Doc: doc + " (record key)",
		New: func() any { return mk(true) }})
	plugins.Register(plugins.Registration{Class: "org.apache.kafka.connect.transforms." + base + "$Value", Type: plugins.PluginTransform, Doc: doc + " (record value)",
		New: func() any { return mk(false) }})
}

// registerTransform registers a transform without key/value variants.
func registerTransform(base, doc string, mk func() plugins.Transform) {
	plugins.Register(plugins.Registration{Class: "org.apache.kafka.connect.transforms." + base, Type: plugins.PluginTransform, Doc: doc,
		New: func() any { return mk() }})
}
