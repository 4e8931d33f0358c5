package storage

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/weirlog/weir/plugins"
)

// The Connect → Avro schema mapping, as Confluent's AvroData does it with
// connect.meta.data on (so files written here read like Confluent's):
//
//	INT8, INT16           int with "connect.type": "int8" / "int16"
//	INT32, INT64          int, long
//	FLOAT32, FLOAT64      float, double
//	BOOLEAN, STRING, BYTES boolean, string, bytes
//	ARRAY                 array
//	MAP, required STRING keys  map
//	MAP, other keys       array of records io.confluent.connect.avro.MapEntry{key, value}
//	STRUCT                record named after the schema (namespace = what
//	                      precedes the last dot), else io.confluent.connect.avro.ConnectDefault
//	optional              union ["null", T] with default null ([T, "null"]
//	                      when the Connect default is not null)
//	Decimal               bytes, logicalType decimal, precision from
//	                      connect.decimal.precision (default 64), scale
//	Date, Time, Timestamp int date, int time-millis, long timestamp-millis
//
// The Connect name, version, doc and parameters travel as connect.name,
// connect.version, connect.doc and connect.parameters. Values are turned
// into what github.com/linkedin/goavro/v2 encodes: records as map[string]any,
// union members as map[string]any{branch: value}, logical values as their
// underlying Connect value (days, milliseconds), but for Decimal, which
// goavro takes as the *big.Rat Connect holds.

const (
	avroNamespace        = "io.confluent.connect.avro"
	avroDefaultName      = "ConnectDefault"
	avroMapEntryName     = "MapEntry"
	decimalPrecisionProp = "connect.decimal.precision"
	defaultDecimalPrec   = 64
)

// avroConv turns one Connect value (nil included) into its goavro form.
type avroConv func(v any) (any, error)

// avroMapping is one Connect schema compiled: the Avro schema (JSON) of
// the file and the value converter.
type avroMapping struct {
	schemaJSON string
	conv       avroConv
}

type avroMapper struct {
	names map[string]*recordConv // full record names already defined
	seq   map[string]int         // per default name, how many were used
}

func mapAvro(s *plugins.Schema) (*avroMapping, error) {
	m := &avroMapper{names: map[string]*recordConv{}, seq: map[string]int{}}
	js, conv, _, err := m.schema(s, "")
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(js)
	if err != nil {
		return nil, err
	}
	return &avroMapping{schemaJSON: string(b), conv: conv}, nil
}

// schema maps s to its Avro JSON form, its value converter and the name
// goavro gives it as a union branch. path names s in errors.
func (m *avroMapper) schema(s *plugins.Schema, path string) (any, avroConv, string, error) {
	js, conv, branch, err := m.base(s, path)
	if err != nil {
		return nil, nil, "", err
	}
	if !s.Optional {
		return js, required(s, path, conv), branch, nil
	}
	// A union: goavro takes a one-entry map naming the branch.
	union := []any{"null", js}
	if s.Default != nil {
		union = []any{js, "null"}
	}
	def := s.Default
	return union, func(v any) (any, error) {
		if v == nil {
			v = def
		}
		if v == nil {
			return map[string]any{"null": nil}, nil
		}
		x, err := conv(v)
		if err != nil {
			return nil, err
		}
		return map[string]any{branch: x}, nil
	}, "union", nil
}

func required(s *plugins.Schema, path string, conv avroConv) avroConv {
	def := s.Default
	return func(v any) (any, error) {
		if v == nil {
			v = def
		}
		if v == nil {
			return nil, fmt.Errorf("%snull for a required %s", at(path), s.Type)
		}
		return conv(v)
	}
}

func at(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// props adds the connect.* properties of s to an Avro schema object.
func props(s *plugins.Schema, obj map[string]any) {
	if s.Name != "" {
		obj["connect.name"] = s.Name
	}
	if s.Version != 0 {
		obj["connect.version"] = s.Version
	}
	if s.Doc != "" {
		obj["connect.doc"] = s.Doc
	}
	if len(s.Parameters) > 0 {
		obj["connect.parameters"] = s.Parameters
	}
}

// withProps returns the short form "int" when s carries nothing to say.
func withProps(s *plugins.Schema, obj map[string]any) any {
	props(s, obj)
	if len(obj) == 1 {
		return obj["type"]
	}
	return obj
}

func (m *avroMapper) base(s *plugins.Schema, path string) (any, avroConv, string, error) {
	switch s.Name {
	case plugins.DecimalName:
		scale, err := s.DecimalScale()
		if err != nil {
			return nil, nil, "", fmt.Errorf("%s%w", at(path), err)
		}
		prec := defaultDecimalPrec
		if p, ok := s.Parameters[decimalPrecisionProp]; ok {
			if prec, err = strconv.Atoi(p); err != nil || prec < 1 {
				return nil, nil, "", fmt.Errorf("%s%s %q is not a positive integer", at(path), decimalPrecisionProp, p)
			}
		}
		if scale < 0 || scale > prec {
			return nil, nil, "", fmt.Errorf("%sdecimal scale %d is outside 0..precision %d (Avro allows no other)", at(path), scale, prec)
		}
		obj := map[string]any{"type": "bytes", "logicalType": "decimal", "precision": prec, "scale": scale}
		props(s, obj)
		return obj, decimalConv(s, path), "bytes", nil
	case plugins.DateName:
		return withLogical(s, "int", "date"), logicalConv(s, path), "int.date", nil
	case plugins.TimeName:
		return withLogical(s, "int", "time-millis"), logicalConv(s, path), "int.time-millis", nil
	case plugins.TimestampName:
		return withLogical(s, "long", "timestamp-millis"), logicalConv(s, path), "long.timestamp-millis", nil
	}
	switch s.Type {
	case plugins.TypeInt8:
		obj := map[string]any{"type": "int", "connect.type": "int8"}
		props(s, obj)
		return obj, func(v any) (any, error) {
			x, ok := v.(int8)
			if !ok {
				return nil, typeMismatch(path, s, v)
			}
			return int32(x), nil
		}, "int", nil
	case plugins.TypeInt16:
		obj := map[string]any{"type": "int", "connect.type": "int16"}
		props(s, obj)
		return obj, func(v any) (any, error) {
			x, ok := v.(int16)
			if !ok {
				return nil, typeMismatch(path, s, v)
			}
			return int32(x), nil
		}, "int", nil
	case plugins.TypeInt32:
		return withProps(s, map[string]any{"type": "int"}), is[int32](s, path), "int", nil
	case plugins.TypeInt64:
		return withProps(s, map[string]any{"type": "long"}), is[int64](s, path), "long", nil
	case plugins.TypeFloat32:
		return withProps(s, map[string]any{"type": "float"}), is[float32](s, path), "float", nil
	case plugins.TypeFloat64:
		return withProps(s, map[string]any{"type": "double"}), is[float64](s, path), "double", nil
	case plugins.TypeBoolean:
		return withProps(s, map[string]any{"type": "boolean"}), is[bool](s, path), "boolean", nil
	case plugins.TypeString:
		return withProps(s, map[string]any{"type": "string"}), is[string](s, path), "string", nil
	case plugins.TypeBytes:
		return withProps(s, map[string]any{"type": "bytes"}), is[[]byte](s, path), "bytes", nil
	case plugins.TypeArray:
		items, conv, _, err := m.schema(s.ValueSchema, path+"[]")
		if err != nil {
			return nil, nil, "", err
		}
		obj := map[string]any{"type": "array", "items": items}
		props(s, obj)
		return obj, arrayConv(s, path, conv), "array", nil
	case plugins.TypeMap:
		return m.mapSchema(s, path)
	case plugins.TypeStruct:
		return m.record(s, path)
	}
	return nil, nil, "", fmt.Errorf("%sschema type %s has no Avro form", at(path), s.Type)
}

func withLogical(s *plugins.Schema, typ, logical string) any {
	obj := map[string]any{"type": typ, "logicalType": logical}
	props(s, obj)
	return obj
}

func logicalConv(s *plugins.Schema, path string) avroConv {
	return func(v any) (any, error) {
		x, err := plugins.LogicalToRaw(s, v)
		if err != nil {
			return nil, fmt.Errorf("%s%w", at(path), err)
		}
		return x, nil
	}
}

// decimalConv checks the value as Kafka's Decimal would encode it (at most
// scale fractional digits: goavro would round instead) and hands goavro
// the *big.Rat it takes for the decimal logical type.
func decimalConv(s *plugins.Schema, path string) avroConv {
	return func(v any) (any, error) {
		if _, err := plugins.LogicalToRaw(s, v); err != nil {
			return nil, fmt.Errorf("%s%w", at(path), err)
		}
		return v, nil
	}
}

func is[T any](s *plugins.Schema, path string) avroConv {
	return func(v any) (any, error) {
		if _, ok := v.(T); !ok {
			return nil, typeMismatch(path, s, v)
		}
		return v, nil
	}
}

func typeMismatch(path string, s *plugins.Schema, v any) error {
	return fmt.Errorf("%sa %T value for a %s schema", at(path), v, s.Type)
}

func arrayConv(s *plugins.Schema, path string, item avroConv) avroConv {
	return func(v any) (any, error) {
		arr, ok := v.([]any)
		if !ok {
			return nil, typeMismatch(path, s, v)
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			x, err := item(e)
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	}
}

// mapEntries calls f for each entry of a Connect map value.
func mapEntries(s *plugins.Schema, path string, v any, f func(k, v any) error) error {
	switch m := v.(type) {
	case map[string]any:
		for k, e := range m {
			if err := f(k, e); err != nil {
				return err
			}
		}
	case map[any]any:
		for k, e := range m {
			if err := f(k, e); err != nil {
				return err
			}
		}
	default:
		return typeMismatch(path, s, v)
	}
	return nil
}

func (m *avroMapper) mapSchema(s *plugins.Schema, path string) (any, avroConv, string, error) {
	vjs, vconv, _, err := m.schema(s.ValueSchema, path+"{}")
	if err != nil {
		return nil, nil, "", err
	}
	if s.KeySchema.Type == plugins.TypeString && !s.KeySchema.Optional && s.KeySchema.Name == "" {
		obj := map[string]any{"type": "map", "values": vjs}
		props(s, obj)
		return obj, func(v any) (any, error) {
			out := map[string]any{}
			err := mapEntries(s, path, v, func(k, e any) error {
				ks, ok := k.(string)
				if !ok {
					return fmt.Errorf("%sa %T map key for a STRING key schema", at(path), k)
				}
				x, err := vconv(e)
				out[ks] = x
				return err
			})
			return out, err
		}, "map", nil
	}
	kjs, kconv, _, err := m.schema(s.KeySchema, path+"{key}")
	if err != nil {
		return nil, nil, "", err
	}
	name := m.fresh(avroMapEntryName)
	entry := map[string]any{"type": "record", "name": name, "namespace": avroNamespace,
		"fields": []any{map[string]any{"name": "key", "type": kjs}, map[string]any{"name": "value", "type": vjs}}}
	obj := map[string]any{"type": "array", "items": entry}
	props(s, obj)
	return obj, func(v any) (any, error) {
		var out []any
		err := mapEntries(s, path, v, func(k, e any) error {
			kx, err := kconv(k)
			if err != nil {
				return err
			}
			vx, err := vconv(e)
			out = append(out, map[string]any{"key": kx, "value": vx})
			return err
		})
		return out, err
	}, "array", nil
}

// fresh returns base, then base2, base3, ...: Avro names are defined once
// per schema.
func (m *avroMapper) fresh(base string) string {
	m.seq[base]++
	if n := m.seq[base]; n > 1 {
		return base + strconv.Itoa(n)
	}
	return base
}

func (m *avroMapper) record(s *plugins.Schema, path string) (any, avroConv, string, error) {
	ns, name := avroNamespace, ""
	if s.Name != "" {
		ns, name = "", s.Name
		if i := strings.LastIndexByte(s.Name, '.'); i >= 0 {
			ns, name = s.Name[:i], s.Name[i+1:]
		}
	} else {
		name = m.fresh(avroDefaultName)
	}
	full := name
	if ns != "" {
		full = ns + "." + name
	}
	if prev, ok := m.names[full]; ok {
		if !sameFields(prev.s, s) {
			return nil, nil, "", fmt.Errorf("%stwo different struct schemas are both named %q", at(path), full)
		}
		// Defined already: Avro refers to it by name.
		return full, prev.convert, full, nil
	}
	rc := &recordConv{s: s, path: path}
	m.names[full] = rc
	fields := make([]any, 0, len(s.Fields))
	for _, f := range s.Fields {
		fjs, fconv, _, err := m.schema(f.Schema, joinPath(path, f.Name))
		if err != nil {
			return nil, nil, "", err
		}
		fobj := map[string]any{"name": f.Name, "type": fjs}
		if f.Schema.Doc != "" {
			fobj["doc"] = f.Schema.Doc
		}
		if d, ok := avroDefault(f.Schema); ok {
			fobj["default"] = d
		}
		fields = append(fields, fobj)
		rc.convs = append(rc.convs, fconv)
	}
	obj := map[string]any{"type": "record", "name": name, "fields": fields}
	if ns != "" {
		obj["namespace"] = ns
	}
	if s.Doc != "" {
		obj["doc"] = s.Doc
	}
	props(s, obj)
	return obj, rc.convert, full, nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// sameFields reports whether two struct schemas have the same fields
// (their optional-ness and defaults belong to where they are used).
func sameFields(a, b *plugins.Schema) bool {
	if a == b {
		return true
	}
	if len(a.Fields) != len(b.Fields) || a.Name != b.Name {
		return false
	}
	for i := range a.Fields {
		if a.Fields[i].Name != b.Fields[i].Name || !a.Fields[i].Schema.Equal(b.Fields[i].Schema) {
			return false
		}
	}
	return true
}

// recordConv converts *plugins.Struct values of one record to
// map[string]any.
type recordConv struct {
	s     *plugins.Schema
	path  string
	convs []avroConv // per field
}

func (rc *recordConv) convert(v any) (any, error) {
	st, ok := v.(*plugins.Struct)
	if !ok {
		return nil, typeMismatch(rc.path, rc.s, v)
	}
	ss := st.Schema()
	if !sameFields(ss, rc.s) {
		return nil, fmt.Errorf("%sa struct of schema %s where %s is expected", at(rc.path), ss, rc.s)
	}
	out := make(map[string]any, len(ss.Fields))
	for i := range ss.Fields {
		x, err := rc.convs[i](st.GetField(&ss.Fields[i]))
		if err != nil {
			return nil, err
		}
		out[ss.Fields[i].Name] = x
	}
	return out, nil
}

// avroDefault is the JSON default of a field of schema s, when Avro can
// hold it: null for optional fields without one, primitives and logical
// values otherwise (struct, array and map defaults are not carried).
func avroDefault(s *plugins.Schema) (any, bool) {
	if s.Default == nil {
		return nil, s.Optional
	}
	raw, err := plugins.LogicalToRaw(s, s.Default)
	if err != nil {
		return nil, false
	}
	switch v := raw.(type) {
	case int8:
		return int32(v), true
	case int16:
		return int32(v), true
	case int32, int64, bool, string:
		return v, true
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, false
		}
		return v, true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
		return v, true
	case []byte:
		// Avro writes a bytes default as a string of code points 0-255.
		r := make([]rune, len(v))
		for i, c := range v {
			r[i] = rune(c)
		}
		return string(r), true
	}
	return nil, false
}
