package transforms

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// ---- ReplaceField ----------------------------------------------------

// ReplaceField ($Key/$Value) drops and renames fields (Kafka's
// ReplaceField). "blacklist"/"whitelist" are accepted as the deprecated
// spellings of exclude/include. Tombstones pass unchanged.
type ReplaceField struct {
	key              bool
	include, exclude []string
	renames, reverse map[string]string
	replaceNull      bool
	cache            schemaCache
}

var renamesValidator = plugins.ValidatorFunc("list of colon-delimited pairs, e.g. foo:bar,abc:xyz", func(_ string, v any) error {
	l, _ := v.([]string)
	for _, e := range l {
		if parts := strings.Split(e, ":"); len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return fmt.Errorf("Invalid rename mapping: %s", e)
		}
	}
	return nil
})

var replaceFieldDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "exclude", Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Documentation: "Fields to exclude. This takes precedence over the fields to include."}).
	Define(plugins.ConfigKey{Name: "include", Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Documentation: "Fields to include. If specified, only these fields will be used."}).
	Define(plugins.ConfigKey{Name: "renames", Type: plugins.ConfigList, Default: "", Validator: renamesValidator, Importance: plugins.Medium, Documentation: "Field rename mappings."}).
	Define(plugins.ConfigKey{Name: "blacklist", Type: plugins.ConfigList, Importance: plugins.Low, Documentation: "Deprecated. Use exclude instead."}).
	Define(plugins.ConfigKey{Name: "whitelist", Type: plugins.ConfigList, Importance: plugins.Low, Documentation: "Deprecated. Use include instead."}).
	Define(replaceNullKey)

func (t *ReplaceField) ConfigDef() *plugins.ConfigDef { return replaceFieldDef }

func (t *ReplaceField) Configure(cfg plugins.Config) error {
	p, err := replaceFieldDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.exclude, t.include = p.List("exclude"), p.List("include")
	if _, ok := cfg["exclude"]; !ok && cfg["blacklist"] != "" {
		t.exclude = p.List("blacklist")
	}
	if _, ok := cfg["include"]; !ok && cfg["whitelist"] != "" {
		t.include = p.List("whitelist")
	}
	t.renames, t.reverse = map[string]string{}, map[string]string{}
	for _, r := range p.List("renames") {
		from, to, _ := strings.Cut(r, ":")
		t.renames[from] = to
		t.reverse[to] = from
	}
	t.replaceNull = p.Bool("replace.null.with.default")
	return nil
}

func (t *ReplaceField) filter(name string) bool {
	return (len(t.include) == 0 || slices.Contains(t.include, name)) && !slices.Contains(t.exclude, name)
}

func (t *ReplaceField) rename(name string) string {
	if to, ok := t.renames[name]; ok {
		return to
	}
	return name
}

func (t *ReplaceField) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if value == nil {
		return rec, nil
	}
	if schema == nil {
		m, err := requireMap(value, "field replacement")
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			if t.filter(k) {
				out[t.rename(k)] = v
			}
		}
		return withOperand(rec, t.key, nil, out), nil
	}
	st, err := requireStruct(value, "field replacement")
	if err != nil {
		return nil, err
	}
	ns := t.cache.get(schema)
	if ns == nil {
		ns = copyStructBasics(schema)
		for _, f := range schema.Fields {
			if t.filter(f.Name) {
				name := t.rename(f.Name)
				if ns.Field(name) != nil {
					return nil, fmt.Errorf("ReplaceField: renaming %q produces duplicate field %q", f.Name, name)
				}
				addField(ns, name, f.Schema)
			}
		}
		t.cache.put(schema, ns)
	}
	out := plugins.NewStruct(ns)
	for i, f := range ns.Fields {
		orig := f.Name
		if from, ok := t.reverse[f.Name]; ok {
			orig = from
		}
		of := schema.Field(orig)
		values(out)[i] = fieldValue(st, of, t.replaceNull)
	}
	return withOperand(rec, t.key, ns, out), nil
}

func (t *ReplaceField) Close() error { return nil }

// ---- MaskField -------------------------------------------------------

// MaskField ($Key/$Value) replaces the listed fields with the type's zero
// value (0, false, "", epoch, empty list/map) or with "replacement"
// parsed as the field's type (Kafka's MaskField).
type MaskField struct {
	key         bool
	fields      []string
	replacement *string
	replaceNull bool
}

var maskFieldDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "fields", Type: plugins.ConfigList, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.High, Documentation: "Names of fields to mask."}).
	Define(plugins.ConfigKey{Name: "replacement", Type: plugins.ConfigString, Validator: plugins.ValidatorFunc("non-empty string", func(_ string, v any) error {
		if s, _ := v.(string); s == "" {
			return errors.New("String may not be empty")
		}
		return nil
	}), Importance: plugins.Low, Documentation: "Custom value replacement, that will be applied to all 'fields' values (numeric or non-empty string values only)."}).
	Define(replaceNullKey)

func (t *MaskField) ConfigDef() *plugins.ConfigDef { return maskFieldDef }

func (t *MaskField) Configure(cfg plugins.Config) error {
	p, err := maskFieldDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.fields = p.List("fields")
	if r, ok := p.Get("replacement").(string); ok {
		t.replacement = &r
	}
	t.replaceNull = p.Bool("replace.null.with.default")
	return nil
}

func (t *MaskField) mask(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if t.replacement != nil {
		r := *t.replacement
		var out any
		var err error
		switch v.(type) {
		case string:
			return r, nil
		case int8:
			var n int64
			n, err = strconv.ParseInt(r, 10, 8)
			out = int8(n)
		case int16:
			var n int64
			n, err = strconv.ParseInt(r, 10, 16)
			out = int16(n)
		case int32:
			var n int64
			n, err = strconv.ParseInt(r, 10, 32)
			out = int32(n)
		case int64:
			out, err = strconv.ParseInt(r, 10, 64)
		case float32:
			var f float64
			f, err = strconv.ParseFloat(r, 32)
			out = float32(f)
		case float64:
			out, err = strconv.ParseFloat(r, 64)
		case *big.Rat:
			x, ok := new(big.Rat).SetString(r)
			if !ok {
				err = errors.New("not a decimal")
			}
			out = x
		default:
			return nil, fmt.Errorf("cannot mask value of type %T with custom replacement", v)
		}
		if err != nil {
			return nil, fmt.Errorf("unable to convert %s (%T) to number: %w", r, v, err)
		}
		return out, nil
	}
	switch v.(type) {
	case bool:
		return false, nil
	case int8:
		return int8(0), nil
	case int16:
		return int16(0), nil
	case int32:
		return int32(0), nil
	case int64:
		return int64(0), nil
	case float32:
		return float32(0), nil
	case float64:
		return float64(0), nil
	case string:
		return "", nil
	case []byte:
		return []byte{}, nil
	case *big.Rat:
		return new(big.Rat), nil
	case time.Time:
		return time.UnixMilli(0).UTC(), nil
	case []any:
		return []any{}, nil
	case map[string]any:
		return map[string]any{}, nil
	case map[any]any:
		return map[any]any{}, nil
	}
	return nil, fmt.Errorf("cannot mask value of type %T", v)
}

func (t *MaskField) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if value == nil {
		return rec, nil
	}
	if schema == nil {
		m, err := requireMap(value, "masking")
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		for _, f := range t.fields {
			if v, ok := m[f]; ok {
				mv, err := t.mask(v)
				if err != nil {
					return nil, err
				}
				out[f] = mv
			}
		}
		return withOperand(rec, t.key, nil, out), nil
	}
	st, err := requireStruct(value, "masking")
	if err != nil {
		return nil, err
	}
	out := plugins.NewStruct(schema)
	for i := range schema.Fields {
		f := &schema.Fields[i]
		v := fieldValue(st, f, t.replaceNull)
		if slices.Contains(t.fields, f.Name) {
			if f.Schema.Type == plugins.TypeStruct {
				return nil, fmt.Errorf("cannot mask STRUCT field %q", f.Name)
			}
			if v, err = t.mask(v); err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		values(out)[i] = v
	}
	return withOperand(rec, t.key, schema, out), nil
}

func (t *MaskField) Close() error { return nil }

// ---- ValueToKey ------------------------------------------------------

// ValueToKey replaces the key with fields taken from the value (Kafka's
// ValueToKey). Tombstones pass unchanged.
type ValueToKey struct {
	fields      []string
	replaceNull bool
	cache       schemaCache
}

var valueToKeyDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "fields", Type: plugins.ConfigList, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.High, Documentation: "Field names on the record value to extract as the record key."}).
	Define(replaceNullKey)

func (t *ValueToKey) ConfigDef() *plugins.ConfigDef { return valueToKeyDef }

func (t *ValueToKey) Configure(cfg plugins.Config) error {
	p, err := valueToKeyDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.fields, t.replaceNull = p.List("fields"), p.Bool("replace.null.with.default")
	return nil
}

func (t *ValueToKey) Apply(rec *plugins.Record) (*plugins.Record, error) {
	if rec.Value == nil {
		return rec, nil
	}
	r := *rec
	if rec.ValueSchema == nil {
		m, err := requireMap(rec.Value, "copying fields from value to key")
		if err != nil {
			return nil, err
		}
		key := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			key[f] = m[f]
		}
		r.Key, r.KeySchema = key, nil
		return &r, nil
	}
	st, err := requireStruct(rec.Value, "copying fields from value to key")
	if err != nil {
		return nil, err
	}
	ks := t.cache.get(rec.ValueSchema)
	if ks == nil {
		ks = &plugins.Schema{Type: plugins.TypeStruct}
		for _, name := range t.fields {
			f := rec.ValueSchema.Field(name)
			if f == nil {
				return nil, fmt.Errorf("ValueToKey: field does not exist: %s", name)
			}
			addField(ks, name, f.Schema)
		}
		t.cache.put(rec.ValueSchema, ks)
	}
	key := plugins.NewStruct(ks)
	for i, f := range ks.Fields {
		values(key)[i] = fieldValue(st, st.Schema().Field(f.Name), t.replaceNull)
	}
	r.Key, r.KeySchema = key, ks
	return &r, nil
}

func (t *ValueToKey) Close() error { return nil }

// ---- HoistField ------------------------------------------------------

// HoistField ($Key/$Value) wraps the operand in a struct (or map, when
// schemaless) with a single field (Kafka's HoistField).
type HoistField struct {
	key   bool
	field string
	cache schemaCache
}

var hoistFieldDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "field", Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.Medium,
		Documentation: "Field name for the single field that will be created in the resulting Struct or Map."})

func (t *HoistField) ConfigDef() *plugins.ConfigDef { return hoistFieldDef }

func (t *HoistField) Configure(cfg plugins.Config) error {
	p, err := hoistFieldDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.field = p.String("field")
	return nil
}

func (t *HoistField) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if schema == nil {
		return withOperand(rec, t.key, nil, map[string]any{t.field: value}), nil
	}
	ns := t.cache.get(schema)
	if ns == nil {
		ns = &plugins.Schema{Type: plugins.TypeStruct}
		addField(ns, t.field, schema)
		t.cache.put(schema, ns)
	}
	out := plugins.NewStruct(ns)
	if err := out.Put(t.field, value); err != nil {
		return nil, fmt.Errorf("HoistField: %w", err)
	}
	return withOperand(rec, t.key, ns, out), nil
}

func (t *HoistField) Close() error { return nil }

// ---- ExtractField ----------------------------------------------------

// ExtractField ($Key/$Value) replaces the operand with one of its fields
// (Kafka's ExtractField). With field.syntax.version=V2 a dotted path
// reaches into nested structs/maps. A missing schemaless field gives nil;
// a missing struct field is an error.
type ExtractField struct {
	key  bool
	path []string
}

var extractFieldDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "field", Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.Medium,
		Documentation: "Field name to extract."}).
	Define(plugins.ConfigKey{Name: "field.syntax.version", Type: plugins.ConfigString, Default: "V1", Validator: plugins.OneOfIgnoreCase("V1", "V2"), Importance: plugins.High,
		Documentation: "Defines the version of the syntax to access fields. V1: field names are used as given; V2: dots separate nested field names."})

func (t *ExtractField) ConfigDef() *plugins.ConfigDef { return extractFieldDef }

func (t *ExtractField) Configure(cfg plugins.Config) error {
	p, err := extractFieldDef.Parse(cfg)
	if err != nil {
		return err
	}
	f := p.String("field")
	if strings.EqualFold(p.String("field.syntax.version"), "V2") {
		t.path = strings.Split(f, ".")
	} else {
		t.path = []string{f}
	}
	return nil
}

func (t *ExtractField) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if value == nil {
		return rec, nil
	}
	for _, name := range t.path {
		if schema == nil {
			m, err := requireMap(value, "field extraction")
			if err != nil {
				return nil, err
			}
			value = m[name]
			if value == nil {
				break
			}
			continue
		}
		st, err := requireStruct(value, "field extraction")
		if err != nil {
			return nil, err
		}
		f := schema.Field(name)
		if f == nil {
			return nil, fmt.Errorf("ExtractField: unknown field: %s", name)
		}
		schema, value = f.Schema, st.GetField(f)
		if value == nil {
			break
		}
	}
	return withOperand(rec, t.key, schema, value), nil
}

func (t *ExtractField) Close() error { return nil }

// ---- Filter ----------------------------------------------------------

// Filter drops every record it is applied to; use it with a predicate
// (Kafka's Filter).
type Filter struct{}

func (Filter) ConfigDef() *plugins.ConfigDef                      { return plugins.NewConfigDef() }
func (Filter) Configure(plugins.Config) error                     { return nil }
func (Filter) Apply(rec *plugins.Record) (*plugins.Record, error) { return nil, nil }
func (Filter) Close() error                                       { return nil }

func init() {
	registerKV("ReplaceField", "Filter or rename fields", func(k bool) plugins.Transform { return &ReplaceField{key: k} })
	registerKV("MaskField", "Mask fields with a null-equivalent or replacement value", func(k bool) plugins.Transform { return &MaskField{key: k} })
	registerTransform("ValueToKey", "Replace the key with fields of the value", func() plugins.Transform { return &ValueToKey{} })
	registerKV("HoistField", "Wrap data in a struct or map with a single field", func(k bool) plugins.Transform { return &HoistField{key: k} })
	registerKV("ExtractField", "Extract a single field", func(k bool) plugins.Transform { return &ExtractField{key: k} })
	registerTransform("Filter", "Drop records (use with a predicate)", func() plugins.Transform { return Filter{} })
}
