package transforms

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/weirlog/weir/plugins"
)

// ---- InsertHeader ----------------------------------------------------

// InsertHeader adds a header with a literal value (Kafka's InsertHeader).
// Like Kafka, the literal is typed by ParseStringValue: "42" becomes an
// INT8, "true" a BOOLEAN, anything unparsable a STRING.
type InsertHeader struct {
	header string
	schema *plugins.Schema
	value  any
}

var insertHeaderDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "header", Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.High,
		Documentation: "The name of the header."}).
	Define(plugins.ConfigKey{Name: "value.literal", Type: plugins.ConfigString, Default: plugins.NoDefault, Importance: plugins.High,
		Documentation: "The literal value that is to be set as the header value on all records."})

func (t *InsertHeader) ConfigDef() *plugins.ConfigDef { return insertHeaderDef }

func (t *InsertHeader) Configure(cfg plugins.Config) error {
	p, err := insertHeaderDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.header = p.String("header")
	// Kafka parses the raw literal; keep surrounding spaces out like its
	// ConfigDef does.
	t.schema, t.value = ParseStringValue(p.String("value.literal"))
	return nil
}

func (t *InsertHeader) Apply(rec *plugins.Record) (*plugins.Record, error) {
	r := *rec
	r.Headers = append(cloneHeaders(rec.Headers), plugins.Header{Key: t.header, Value: t.value, Schema: t.schema})
	return &r, nil
}

func (t *InsertHeader) Close() error { return nil }

// ParseStringValue infers a typed Connect value from text, the common
// cases of Kafka's Values.parseString: booleans, integers (smallest of
// INT8..INT64 that holds them), floating point numbers (FLOAT64), and
// otherwise the string itself.
func ParseStringValue(s string) (*plugins.Schema, any) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "true":
		return plugins.BooleanSchema, true
	case "false":
		return plugins.BooleanSchema, false
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		switch {
		case n >= math.MinInt8 && n <= math.MaxInt8:
			return plugins.Int8Schema, int8(n)
		case n >= math.MinInt16 && n <= math.MaxInt16:
			return plugins.Int16Schema, int16(n)
		case n >= math.MinInt32 && n <= math.MaxInt32:
			return plugins.Int32Schema, int32(n)
		}
		return plugins.Int64Schema, n
	}
	if strings.ContainsAny(t, "0123456789") && !strings.ContainsAny(t, "xXpP_") {
		if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) {
			return plugins.Float64Schema, f
		}
	}
	return plugins.StringSchema, s
}

// ---- DropHeaders -----------------------------------------------------

// DropHeaders removes every header whose key is listed (Kafka's
// DropHeaders).
type DropHeaders struct{ names []string }

var dropHeadersDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "headers", Type: plugins.ConfigList, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.High,
		Documentation: "The name of the headers to be removed."})

func (t *DropHeaders) ConfigDef() *plugins.ConfigDef { return dropHeadersDef }

func (t *DropHeaders) Configure(cfg plugins.Config) error {
	p, err := dropHeadersDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.names = p.List("headers")
	return nil
}

func (t *DropHeaders) Apply(rec *plugins.Record) (*plugins.Record, error) {
	r := *rec
	r.Headers = nil
	for _, h := range rec.Headers {
		if !slices.Contains(t.names, h.Key) {
			r.Headers = append(r.Headers, h)
		}
	}
	return &r, nil
}

func (t *DropHeaders) Close() error { return nil }

// ---- HeaderFrom ------------------------------------------------------

// HeaderFrom ($Key/$Value) copies or moves fields into headers (Kafka's
// HeaderFrom). fields[i] goes to headers[i].
type HeaderFrom struct {
	key         bool
	fields      []string
	headers     []string
	move        bool
	replaceNull bool
	cache       schemaCache
}

var headerFromDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "fields", Type: plugins.ConfigList, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.High,
		Documentation: "Field names in the record whose values are to be copied or moved to headers."}).
	Define(plugins.ConfigKey{Name: "headers", Type: plugins.ConfigList, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.High,
		Documentation: "Header names, in the same order as the field names listed in the fields configuration property."}).
	Define(plugins.ConfigKey{Name: "operation", Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.OneOf("move", "copy"), Importance: plugins.High,
		Documentation: "Either move if the fields are to be moved to the headers (removed from the key/value), or copy if the fields are to be copied to the headers (retained in the key/value)."}).
	Define(replaceNullKey)

func (t *HeaderFrom) ConfigDef() *plugins.ConfigDef { return headerFromDef }

func (t *HeaderFrom) Configure(cfg plugins.Config) error {
	p, err := headerFromDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.fields, t.headers = p.List("fields"), p.List("headers")
	if len(t.fields) != len(t.headers) {
		return errors.New("'fields' config must have the same number of elements as 'headers' config")
	}
	t.move = p.String("operation") == "move"
	t.replaceNull = p.Bool("replace.null.with.default")
	return nil
}

func (t *HeaderFrom) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if value == nil {
		return rec, nil
	}
	headers := cloneHeaders(rec.Headers)
	if schema == nil {
		m, err := requireMap(value, "header from")
		if err != nil {
			return nil, err
		}
		var out map[string]any
		if t.move {
			out = make(map[string]any, len(m))
			for k, v := range m {
				out[k] = v
			}
		}
		for i, f := range t.fields {
			headers = append(headers, plugins.Header{Key: t.headers[i], Value: m[f]})
			if t.move {
				delete(out, f)
			}
		}
		r := withOperand(rec, t.key, nil, value)
		if t.move {
			r = withOperand(rec, t.key, nil, out)
		}
		r.Headers = headers
		return r, nil
	}
	st, err := requireStruct(value, "header from")
	if err != nil {
		return nil, err
	}
	for i, name := range t.fields {
		f := schema.Field(name)
		if f == nil {
			return nil, fmt.Errorf("HeaderFrom: field %q not found in %s schema", name, sideName(t.key))
		}
		headers = append(headers, plugins.Header{Key: t.headers[i], Value: fieldValue(st, f, t.replaceNull), Schema: f.Schema})
	}
	if !t.move {
		r := withOperand(rec, t.key, schema, value)
		r.Headers = headers
		return r, nil
	}
	ns := t.cache.get(schema)
	if ns == nil {
		ns = copyStructBasics(schema)
		for _, f := range schema.Fields {
			if !slices.Contains(t.fields, f.Name) {
				addField(ns, f.Name, f.Schema)
			}
		}
		t.cache.put(schema, ns)
	}
	out := plugins.NewStruct(ns)
	for i, f := range ns.Fields {
		values(out)[i] = fieldValue(st, schema.Field(f.Name), t.replaceNull)
	}
	r := withOperand(rec, t.key, ns, out)
	r.Headers = headers
	return r, nil
}

func (t *HeaderFrom) Close() error { return nil }

func init() {
	registerTransform("InsertHeader", "Add a header with a literal value", func() plugins.Transform { return &InsertHeader{} })
	registerTransform("DropHeaders", "Remove headers by name", func() plugins.Transform { return &DropHeaders{} })
	registerKV("HeaderFrom", "Copy or move fields into headers", func(k bool) plugins.Transform { return &HeaderFrom{key: k} })
}
