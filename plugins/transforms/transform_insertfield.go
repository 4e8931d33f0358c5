package transforms

import (
	"fmt"
	"strings"

	"github.com/weirlog/weir/plugins"
)

// InsertField ($Key/$Value) inserts record metadata and a static value as
// fields (Kafka's InsertField). A field name ending in "!" makes the field
// required in the new schema, "?" (or nothing) optional. Tombstones (nil
// operand) pass unchanged. offset.field inserts Record.Offset, which is
// only meaningful for sink records.
type InsertField struct {
	key                          bool
	topic, part, off, ts, static *insertSpec
	staticValue                  *string // nil: static.value not set
	cache                        schemaCache
}

type insertSpec struct {
	name     string
	optional bool
}

func parseInsertSpec(s string) *insertSpec {
	switch {
	case s == "":
		return nil
	case strings.HasSuffix(s, "?"):
		return &insertSpec{s[:len(s)-1], true}
	case strings.HasSuffix(s, "!"):
		return &insertSpec{s[:len(s)-1], false}
	}
	return &insertSpec{s, true}
}

var insertFieldDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "topic.field", Type: plugins.ConfigString, Importance: plugins.Medium, Documentation: "Field name for Kafka topic. Suffix with ! to make this a required field, or ? to keep it optional (the default)."}).
	Define(plugins.ConfigKey{Name: "partition.field", Type: plugins.ConfigString, Importance: plugins.Medium, Documentation: "Field name for Kafka partition. Suffix with ! to make this a required field, or ? to keep it optional (the default)."}).
	Define(plugins.ConfigKey{Name: "offset.field", Type: plugins.ConfigString, Importance: plugins.Medium, Documentation: "Field name for Kafka offset - only applicable to sink connectors. Suffix with ! to make this a required field, or ? to keep it optional (the default)."}).
	Define(plugins.ConfigKey{Name: "timestamp.field", Type: plugins.ConfigString, Importance: plugins.Medium, Documentation: "Field name for record timestamp. Suffix with ! to make this a required field, or ? to keep it optional (the default)."}).
	Define(plugins.ConfigKey{Name: "static.field", Type: plugins.ConfigString, Importance: plugins.Medium, Documentation: "Field name for static data field. Suffix with ! to make this a required field, or ? to keep it optional (the default)."}).
	Define(plugins.ConfigKey{Name: "static.value", Type: plugins.ConfigString, Importance: plugins.Medium, Documentation: "Static field value, if field name configured."})

func (t *InsertField) ConfigDef() *plugins.ConfigDef { return insertFieldDef }

func (t *InsertField) Configure(cfg plugins.Config) error {
	p, err := insertFieldDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.topic = parseInsertSpec(p.String("topic.field"))
	t.part = parseInsertSpec(p.String("partition.field"))
	t.off = parseInsertSpec(p.String("offset.field"))
	t.ts = parseInsertSpec(p.String("timestamp.field"))
	t.static = parseInsertSpec(p.String("static.field"))
	if v, ok := p.Get("static.value").(string); ok {
		t.staticValue = &v
	}
	return nil
}

func (t *InsertField) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if value == nil {
		return rec, nil
	}
	if schema == nil {
		m, err := requireMap(value, "field insertion")
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m)+5)
		for k, v := range m {
			out[k] = v
		}
		if t.topic != nil {
			out[t.topic.name] = rec.Topic
		}
		if t.part != nil && rec.Partition >= 0 {
			out[t.part.name] = rec.Partition
		}
		if t.off != nil {
			out[t.off.name] = rec.Offset
		}
		if t.ts != nil && !rec.Timestamp.IsZero() {
			out[t.ts.name] = rec.Timestamp.UnixMilli()
		}
		if t.static != nil && t.staticValue != nil {
			out[t.static.name] = *t.staticValue
		}
		return withOperand(rec, t.key, nil, out), nil
	}
	st, err := requireStruct(value, "field insertion")
	if err != nil {
		return nil, err
	}
	ns := t.cache.get(schema)
	if ns == nil {
		ns = copyStructBasics(schema)
		for _, f := range schema.Fields {
			addField(ns, f.Name, f.Schema)
		}
		add := func(s *insertSpec, req, opt *plugins.Schema) {
			if s != nil {
				if s.optional {
					addField(ns, s.name, opt)
				} else {
					addField(ns, s.name, req)
				}
			}
		}
		add(t.topic, plugins.StringSchema, plugins.OptionalStringSchema)
		add(t.part, plugins.Int32Schema, plugins.OptionalInt32Schema)
		add(t.off, plugins.Int64Schema, plugins.OptionalInt64Schema)
		add(t.ts, plugins.TimestampSchema(), plugins.TimestampSchema().AsOptional())
		add(t.static, plugins.StringSchema, plugins.OptionalStringSchema)
		for i, f := range ns.Fields {
			if ns.Field(f.Name).Index != i {
				return nil, fmt.Errorf("InsertField: field %q already exists in %s", f.Name, sideName(t.key))
			}
		}
		t.cache.put(schema, ns)
	}
	out := plugins.NewStruct(ns)
	for i := range schema.Fields {
		values(out)[i] = st.GetField(&schema.Fields[i])
	}
	if t.topic != nil {
		putUnchecked(out, t.topic.name, rec.Topic)
	}
	if t.part != nil && rec.Partition >= 0 {
		putUnchecked(out, t.part.name, rec.Partition)
	}
	if t.off != nil {
		putUnchecked(out, t.off.name, rec.Offset)
	}
	if t.ts != nil && !rec.Timestamp.IsZero() {
		putUnchecked(out, t.ts.name, rec.Timestamp.UTC())
	}
	if t.static != nil && t.staticValue != nil {
		putUnchecked(out, t.static.name, *t.staticValue)
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("InsertField: %w", err)
	}
	return withOperand(rec, t.key, ns, out), nil
}

func (t *InsertField) Close() error { return nil }

func init() {
	registerKV("InsertField", "Insert record metadata or a static value as fields", func(k bool) plugins.Transform { return &InsertField{key: k} })
}
