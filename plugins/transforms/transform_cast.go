package transforms

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Cast ($Key/$Value) casts fields, or the whole operand, to another
// primitive type (Kafka's Cast). spec is "type" for the whole operand or
// "f1:type,f2:type"; types are int8, int16, int32, int64, float32,
// float64, boolean, string. Numbers truncate like Java's narrowing casts,
// booleans become 1/0, strings are parsed; anything casts to string
// (bytes as base64, times as ISO-8601).
type Cast struct {
	key         bool
	whole       plugins.Type
	fields      map[string]plugins.Type
	order       []string
	replaceNull bool
	cache       schemaCache
}

var castTypes = []string{"int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string"}

var castSpecValidator = plugins.ValidatorFunc("list of colon-delimited pairs, e.g. foo:bar,abc:xyz", func(_ string, v any) error {
	_, _, _, err := parseCastSpec(v.([]string))
	return err
})

func parseCastSpec(spec []string) (plugins.Type, map[string]plugins.Type, []string, error) {
	if len(spec) == 0 {
		return 0, nil, nil, fmt.Errorf("must specify at least one field to cast")
	}
	fields := map[string]plugins.Type{}
	var order []string
	for _, e := range spec {
		name, typ, hasColon := strings.Cut(e, ":")
		if !hasColon {
			if len(spec) > 1 {
				return 0, nil, nil, fmt.Errorf("cast entry %q: a whole-value cast must be the only entry", e)
			}
			t, err := parseCastType(e)
			return t, nil, nil, err
		}
		t, err := parseCastType(typ)
		if err != nil {
			return 0, nil, nil, err
		}
		fields[name] = t
		order = append(order, name)
	}
	return 0, fields, order, nil
}

func parseCastType(s string) (plugins.Type, error) {
	t, err := plugins.ParseType(strings.TrimSpace(s))
	if err != nil || !t.IsPrimitive() || t == plugins.TypeBytes {
		return 0, fmt.Errorf("invalid type found in casting spec: %s (valid: %s)", s, strings.Join(castTypes, ", "))
	}
	return t, nil
}

var castDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "spec", Type: plugins.ConfigList, Default: plugins.NoDefault, Validator: castSpecValidator, Importance: plugins.High,
		Documentation: "List of fields and the type to cast them to of the form field1:type,field2:type to cast fields of Maps or Structs. A single type to cast the entire value. Valid types are int8, int16, int32, int64, float32, float64, boolean, and string."}).
	Define(replaceNullKey)

func (t *Cast) ConfigDef() *plugins.ConfigDef { return castDef }

func (t *Cast) Configure(cfg plugins.Config) error {
	p, err := castDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.whole, t.fields, t.order, _ = parseCastSpec(p.List("spec"))
	t.replaceNull = p.Bool("replace.null.with.default")
	return nil
}

func (t *Cast) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if t.whole != plugins.TypeInvalid {
		v, err := castValue(value, t.whole)
		if err != nil {
			return nil, err
		}
		var ns *plugins.Schema
		if schema != nil {
			ns = &plugins.Schema{Type: t.whole, Optional: schema.Optional}
			if schema.Default != nil {
				if ns.Default, err = castValue(schema.Default, t.whole); err != nil {
					return nil, err
				}
			}
		}
		return withOperand(rec, t.key, ns, v), nil
	}
	if value == nil {
		return rec, nil
	}
	if schema == nil {
		m, err := requireMap(value, "cast types")
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			if to, ok := t.fields[k]; ok {
				if v, err = castValue(v, to); err != nil {
					return nil, fmt.Errorf("field %q: %w", k, err)
				}
			}
			out[k] = v
		}
		return withOperand(rec, t.key, nil, out), nil
	}
	st, err := requireStruct(value, "cast types")
	if err != nil {
		return nil, err
	}
	ns := t.cache.get(schema)
	if ns == nil {
		ns = copyStructBasics(schema)
		for _, f := range schema.Fields {
			to, ok := t.fields[f.Name]
			if !ok {
				addField(ns, f.Name, f.Schema)
				continue
			}
			if !f.Schema.Type.IsPrimitive() && to != plugins.TypeString {
				return nil, fmt.Errorf("Cast: field %q of type %s can only be cast to string", f.Name, f.Schema.Type)
			}
			fs := &plugins.Schema{Type: to, Optional: f.Schema.Optional}
			if f.Schema.Default != nil {
				if fs.Default, err = castValue(f.Schema.Default, to); err != nil {
					return nil, fmt.Errorf("field %q default: %w", f.Name, err)
				}
			}
			addField(ns, f.Name, fs)
		}
		t.cache.put(schema, ns)
	}
	out := plugins.NewStruct(ns)
	for i := range schema.Fields {
		f := &schema.Fields[i]
		v := fieldValue(st, f, t.replaceNull)
		if to, ok := t.fields[f.Name]; ok {
			if v, err = castValue(v, to); err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		values(out)[i] = v
	}
	return withOperand(rec, t.key, ns, out), nil
}

func (t *Cast) Close() error { return nil }

// castValue converts one Connect value to type to.
func castValue(v any, to plugins.Type) (any, error) {
	if v == nil {
		return nil, nil
	}
	if to == plugins.TypeString {
		switch x := v.(type) {
		case []byte:
			return base64.StdEncoding.EncodeToString(x), nil
		case time.Time:
			return x.UTC().Format("2006-01-02T15:04:05.000Z"), nil
		}
		return plugins.ValueString(v), nil
	}
	// Reduce the input to an int64 or float64 (or bool for BOOLEAN).
	var i int64
	var f float64
	isFloat := false
	switch x := v.(type) {
	case int8:
		i = int64(x)
	case int16:
		i = int64(x)
	case int32:
		i = int64(x)
	case int64:
		i = x
	case float32:
		f, isFloat = float64(x), true
	case float64:
		f, isFloat = x, true
	case *big.Rat:
		f, _ = x.Float64()
		isFloat = true
	case time.Time:
		i = x.UnixMilli()
	case bool:
		if to == plugins.TypeBoolean {
			return x, nil
		}
		if x {
			i, f = 1, 1
		}
	case string:
		s := strings.TrimSpace(x)
		switch to {
		case plugins.TypeBoolean:
			return strings.EqualFold(s, "true"), nil
		case plugins.TypeFloat32:
			p, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return nil, fmt.Errorf("cannot cast %q to float32", x)
			}
			return float32(p), nil
		case plugins.TypeFloat64:
			p, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("cannot cast %q to float64", x)
			}
			return p, nil
		}
		bits := map[plugins.Type]int{plugins.TypeInt8: 8, plugins.TypeInt16: 16, plugins.TypeInt32: 32, plugins.TypeInt64: 64}[to]
		p, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return nil, fmt.Errorf("cannot cast %q to %s", x, strings.ToLower(to.String()))
		}
		i = p
	default:
		return nil, fmt.Errorf("Cast transformation does not support casting %T to %s", v, to)
	}
	if isFloat {
		switch to {
		case plugins.TypeFloat32:
			return float32(f), nil
		case plugins.TypeFloat64:
			return f, nil
		case plugins.TypeBoolean:
			return f != 0, nil
		}
		// Java's (long) cast saturates and maps NaN to 0.
		switch {
		case math.IsNaN(f):
			i = 0
		case f >= math.MaxInt64:
			i = math.MaxInt64
		case f <= math.MinInt64:
			i = math.MinInt64
		default:
			i = int64(f)
		}
	}
	switch to {
	case plugins.TypeInt8:
		return int8(i), nil
	case plugins.TypeInt16:
		return int16(i), nil
	case plugins.TypeInt32:
		return int32(i), nil
	case plugins.TypeInt64:
		return i, nil
	case plugins.TypeFloat32:
		return float32(i), nil
	case plugins.TypeFloat64:
		return float64(i), nil
	case plugins.TypeBoolean:
		return i != 0, nil
	}
	return nil, fmt.Errorf("unsupported cast target %s", to)
}

// ---- Flatten ---------------------------------------------------------

// Flatten ($Key/$Value) flattens nested structs (or maps, when
// schemaless) into one level, joining names with "delimiter" (Kafka's
// Flatten). Fields of an optional parent become optional. Arrays and, in
// schema mode, maps are kept as they are.
type Flatten struct {
	key   bool
	delim string
	cache schemaCache
}

var flattenDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "delimiter", Type: plugins.ConfigString, Default: ".", Importance: plugins.Medium,
		Documentation: "Delimiter to insert between field names from the input record when generating field names for the output record"})

func (t *Flatten) ConfigDef() *plugins.ConfigDef { return flattenDef }

func (t *Flatten) Configure(cfg plugins.Config) error {
	p, err := flattenDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.delim = p.String("delimiter")
	if _, set := cfg["delimiter"]; set && t.delim == "" {
		t.delim = cfg["delimiter"] // keep significant whitespace
	}
	return nil
}

func (t *Flatten) join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + t.delim + name
}

func (t *Flatten) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if value == nil {
		return rec, nil
	}
	if schema == nil {
		m, err := requireMap(value, "flattening")
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		t.flattenMap("", m, out)
		return withOperand(rec, t.key, nil, out), nil
	}
	st, err := requireStruct(value, "flattening")
	if err != nil {
		return nil, err
	}
	ns := t.cache.get(schema)
	if ns == nil {
		ns = copyStructBasics(schema)
		if err := t.flattenSchema("", schema, false, ns); err != nil {
			return nil, err
		}
		t.cache.put(schema, ns)
	}
	out := plugins.NewStruct(ns)
	t.flattenStruct("", st, out)
	return withOperand(rec, t.key, ns, out), nil
}

func (t *Flatten) flattenMap(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		if nested, ok := v.(map[string]any); ok {
			t.flattenMap(t.join(prefix, k), nested, out)
			continue
		}
		out[t.join(prefix, k)] = v
	}
}

func (t *Flatten) flattenSchema(prefix string, s *plugins.Schema, optional bool, out *plugins.Schema) error {
	for _, f := range s.Fields {
		name := t.join(prefix, f.Name)
		opt := optional || f.Schema.Optional
		if f.Schema.Type == plugins.TypeStruct {
			if err := t.flattenSchema(name, f.Schema, opt, out); err != nil {
				return err
			}
			continue
		}
		if out.Field(name) != nil {
			return fmt.Errorf("Flatten: duplicate field name %q", name)
		}
		fs := f.Schema
		if opt && !fs.Optional {
			fs = fs.AsOptional()
		}
		addField(out, name, fs)
	}
	return nil
}

func (t *Flatten) flattenStruct(prefix string, st *plugins.Struct, out *plugins.Struct) {
	for i := range st.Schema().Fields {
		f := &st.Schema().Fields[i]
		name := t.join(prefix, f.Name)
		v := st.GetField(f)
		if f.Schema.Type == plugins.TypeStruct {
			if nested, ok := v.(*plugins.Struct); ok {
				t.flattenStruct(name, nested, out)
			}
			continue
		}
		putUnchecked(out, name, v)
	}
}

func (t *Flatten) Close() error { return nil }

func init() {
	registerKV("Cast", "Cast fields or the entire key or value to a specific type", func(k bool) plugins.Transform { return &Cast{key: k} })
	registerKV("Flatten", "Flatten nested data structures", func(k bool) plugins.Transform { return &Flatten{key: k} })
}
