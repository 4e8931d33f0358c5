package jsonconv

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/internal/structs"
)

// JSONConverter is Kafka Connect's JsonConverter: with schemas.enable=true
// (the default) every message is an envelope {"schema":…,"payload":…};
// with false it is the bare JSON payload. The bytes it writes are those
// Kafka's converter writes for the same data (see jsonenc.go), with two
// documented differences: map entries are written in sorted key order
// (Java's HashMap order is unspecified anyway) and schema parameters are
// written "scale" first, then sorted by key (Kafka keeps insertion order,
// which a Go map does not have).
//
// A JSONConverter is configured once and then used from one goroutine at a
// time (the runtime creates one per task and side).
type JSONConverter struct {
	schemasEnable  bool
	decimalNumeric bool
	keepNull       bool // replace.null.with.default=false
	cacheSize      int
	// schemaCache maps the JSON text of envelope schemas to parsed
	// schemas: every message of a stream repeats the same schema.
	schemaCache map[string]*plugins.Schema
	// last is the most recently used envelope schema (an object; nil when
	// caching is off): a stream repeats it, so splitEnvelope recognises
	// its bytes instead of scanning them and cachedSchema skips hashing.
	lastRaw    []byte
	lastSchema *plugins.Schema
	// p is reused by every ToConnect so its decoder and scratch are
	// allocated once, not per record.
	p jsonParser
	// treeOnly turns off direct decoding (tests compare the two paths).
	treeOnly bool
	// rawMisses counts ToConnectRawJSON's declines in a row (rawjson.go).
	rawMisses int

	// FromConnect's state: the last schema written and its JSON, the size
	// to allocate for the next record, and scratch for sorting map keys.
	encSchema     *plugins.Schema
	encSchemaJSON []byte
	sizeHint      int
	strEntries    []strEntry
}

// JSON converter configuration keys (Kafka's JsonConverterConfig).
const (
	JSONSchemasEnable   = "schemas.enable"
	JSONDecimalFormat   = "decimal.format"
	JSONSchemasCacheSz  = "schemas.cache.size"
	JSONReplaceNullDflt = "replace.null.with.default"
)

var jsonConverterDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: JSONSchemasEnable, Type: plugins.ConfigBoolean, Default: true, Importance: plugins.High, Group: "Schemas", OrderInGroup: 1,
		Documentation: "Include schemas within each of the serialized values and keys.", DisplayName: "Enable Schemas"}).
	Define(plugins.ConfigKey{Name: JSONSchemasCacheSz, Type: plugins.ConfigInt, Default: 1000, Importance: plugins.High, Group: "Schemas", OrderInGroup: 2,
		Documentation: "The maximum number of schemas that can be cached in this converter instance.", DisplayName: "Schema Cache Size"}).
	Define(plugins.ConfigKey{Name: JSONDecimalFormat, Type: plugins.ConfigString, Default: "BASE64", Validator: plugins.OneOfIgnoreCase("BASE64", "NUMERIC"), Importance: plugins.Low, Group: "Serialization", OrderInGroup: 1,
		Documentation: "Controls which format this converter will serialize decimals in: BASE64 (the unscaled value as base64-encoded bytes) or NUMERIC (a JSON number).", DisplayName: "Decimal Format"}).
	Define(plugins.ConfigKey{Name: JSONReplaceNullDflt, Type: plugins.ConfigBoolean, Default: true, Importance: plugins.Low, Group: "Serialization", OrderInGroup: 2,
		Documentation: "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used.", DisplayName: "Replace null with default"})

// ConfigDef implements ConfigDefProvider.
func (c *JSONConverter) ConfigDef() *plugins.ConfigDef { return jsonConverterDef }

// NewJSONConverter returns a converter with Kafka's defaults
// (schemas.enable=true, decimal.format=BASE64).
func NewJSONConverter() *JSONConverter { return &JSONConverter{schemasEnable: true, cacheSize: 1000} }

// Configure implements Converter.
func (c *JSONConverter) Configure(cfg plugins.Config, isKey bool) error {
	p, err := jsonConverterDef.Parse(cfg)
	if err != nil {
		return fmt.Errorf("configure JsonConverter: %w", err)
	}
	c.schemasEnable = p.Bool(JSONSchemasEnable)
	c.decimalNumeric = strings.EqualFold(p.String(JSONDecimalFormat), "NUMERIC")
	c.keepNull = !p.Bool(JSONReplaceNullDflt)
	c.cacheSize = p.Int(JSONSchemasCacheSz)
	c.schemaCache = nil
	c.rawMisses = 0
	c.encSchema, c.encSchemaJSON = nil, nil // its defaults depend on decimal.format
	return nil
}

// FromConnect implements Converter. A nil schema and nil value give nil
// bytes (a tombstone), as in Kafka.
func (c *JSONConverter) FromConnect(topic string, schema *plugins.Schema, value any) ([]byte, error) {
	if schema == nil && value == nil {
		return nil, nil
	}
	// The bytes are the caller's, so each record needs its own buffer:
	// sized from the last record's, it is one allocation, not a doubling
	// series (with room for a caller's newline).
	b, err := c.AppendFromConnect(make([]byte, 0, c.sizeHint), topic, schema, value)
	if err != nil {
		return nil, err
	}
	c.sizeHint = len(b) + len(b)/8 + 8
	return b, nil
}

// AppendFromConnect appends what FromConnect returns to dst, so a caller
// that writes the bytes out at once can reuse one buffer for all records.
// A tombstone (nil schema and value) appends nothing.
func (c *JSONConverter) AppendFromConnect(dst []byte, topic string, schema *plugins.Schema, value any) ([]byte, error) {
	if schema == nil && value == nil {
		return dst, nil
	}
	b := dst
	var err error
	// A value passed through as its JSON text (plugins.RawJSON; the DLQ
	// of a sink that took it) is that text: what appendValue writes for
	// the value it stands for.
	raw, isRaw := value.(plugins.RawJSON)
	if c.schemasEnable {
		b = append(b, `{"schema":`...)
		if schema != nil && schema == c.encSchema {
			// Schemas are immutable by convention (plugins.Schema), and a
			// stream's records share theirs: its text is written once.
			b = append(b, c.encSchemaJSON...)
		} else {
			start := len(b)
			if b, err = c.appendSchema(b, schema); err != nil {
				return dst, err
			}
			if schema != nil {
				c.encSchema, c.encSchemaJSON = schema, append(c.encSchemaJSON[:0], b[start:]...)
			}
		}
		b = append(b, `,"payload":`...)
		if isRaw {
			b = append(b, raw...)
		} else if b, err = c.appendValue(b, schema, value); err != nil {
			return dst, err
		}
		return append(b, '}'), nil
	}
	if isRaw {
		return append(b, raw...), nil
	}
	if b, err = c.appendValue(b, schema, value); err != nil {
		return dst, err
	}
	return b, nil
}

var jsonTypeNames = map[plugins.Type]string{
	plugins.TypeBoolean: "boolean", plugins.TypeInt8: "int8", plugins.TypeInt16: "int16", plugins.TypeInt32: "int32", plugins.TypeInt64: "int64",
	plugins.TypeFloat32: "float", plugins.TypeFloat64: "double", plugins.TypeBytes: "bytes", plugins.TypeString: "string",
	plugins.TypeArray: "array", plugins.TypeMap: "map", plugins.TypeStruct: "struct",
}

// appendSchema writes s as Kafka's asJsonSchema does: type, then
// items/keys+values/fields, optional, name, version, doc, parameters,
// default.
func (c *JSONConverter) appendSchema(b []byte, s *plugins.Schema) ([]byte, error) {
	return c.appendSchemaField(b, s, nil)
}

// appendSchemaField writes s; field, when non-nil, is the struct field
// name Kafka appends as "field" (it may be empty).
func (c *JSONConverter) appendSchemaField(b []byte, s *plugins.Schema, field *string) ([]byte, error) {
	if s == nil {
		return append(b, "null"...), nil
	}
	tn, ok := jsonTypeNames[s.Type]
	if !ok {
		return nil, fmt.Errorf("cannot translate unsupported schema type %s", s.Type)
	}
	var err error
	b = append(b, `{"type":`...)
	b = appendJSONString(b, tn)
	switch s.Type {
	case plugins.TypeArray:
		b = append(b, `,"items":`...)
		if b, err = c.appendSchema(b, s.ValueSchema); err != nil {
			return nil, err
		}
	case plugins.TypeMap:
		b = append(b, `,"keys":`...)
		if b, err = c.appendSchema(b, s.KeySchema); err != nil {
			return nil, err
		}
		b = append(b, `,"values":`...)
		if b, err = c.appendSchema(b, s.ValueSchema); err != nil {
			return nil, err
		}
	case plugins.TypeStruct:
		b = append(b, `,"fields":[`...)
		for i, f := range s.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = c.appendSchemaField(b, f.Schema, &f.Name); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"optional":`...)
	b = strconv.AppendBool(b, s.Optional)
	if s.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, s.Name)
	}
	if s.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(s.Version), 10)
	}
	if s.Doc != "" {
		b = append(b, `,"doc":`...)
		b = appendJSONString(b, s.Doc)
	}
	if s.Parameters != nil {
		b = append(b, `,"parameters":{`...)
		keys := make([]string, 0, len(s.Parameters))
		for k := range s.Parameters {
			keys = append(keys, k)
		}
		// Go maps forget insertion order; Kafka's Decimal builder puts
		// "scale" first (Debezium then adds connect.decimal.precision), so
		// write it first and the rest sorted.
		slices.SortFunc(keys, func(x, y string) int {
			switch {
			case x == y:
				return 0
			case x == plugins.DecimalScaleParam:
				return -1
			case y == plugins.DecimalScaleParam:
				return 1
			}
			return strings.Compare(x, y)
		})
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, s.Parameters[k])
		}
		b = append(b, '}')
	}
	if s.Default != nil {
		b = append(b, `,"default":`...)
		if b, err = c.appendValue(b, s, s.Default); err != nil {
			return nil, fmt.Errorf("schema default: %w", err)
		}
	}
	if field != nil {
		b = append(b, `,"field":`...)
		b = appendJSONString(b, *field)
	}
	return append(b, '}'), nil
}

// appendValue is Kafka's convertToJson.
func (c *JSONConverter) appendValue(b []byte, s *plugins.Schema, v any) ([]byte, error) {
	if v == nil {
		switch {
		case s == nil:
			return append(b, "null"...), nil
		case s.Default != nil && !c.keepNull:
			return c.appendValue(b, s, s.Default)
		case s.Optional || s.Default != nil:
			return append(b, "null"...), nil
		}
		return nil, errors.New("conversion error: null value for field that is required and has no default value")
	}
	if s != nil {
		switch s.Name {
		case plugins.DecimalName:
			r, ok := v.(*big.Rat)
			if !ok {
				return nil, fmt.Errorf("invalid type for Decimal, expected *big.Rat but was %T", v)
			}
			scale, err := s.DecimalScale()
			if err != nil {
				return nil, err
			}
			if c.decimalNumeric {
				str, err := plugins.DecimalString(r, scale)
				if err != nil {
					return nil, err
				}
				return append(b, str...), nil
			}
			raw, err := plugins.DecimalToBytes(r, scale)
			if err != nil {
				return nil, err
			}
			return appendBase64(b, raw), nil
		case plugins.DateName, plugins.TimeName, plugins.TimestampName:
			t, ok := v.(time.Time)
			if !ok {
				return nil, fmt.Errorf("invalid type for %s, expected time.Time but was %T", s.Name, v)
			}
			raw, err := plugins.LogicalToRaw(s, t)
			if err != nil {
				return nil, err
			}
			switch n := raw.(type) {
			case int32:
				return strconv.AppendInt(b, int64(n), 10), nil
			case int64:
				return strconv.AppendInt(b, n, 10), nil
			}
			return nil, fmt.Errorf("%s value has raw type %T", s.Name, raw)
		}
	}
	var t plugins.Type
	if s != nil {
		t = s.Type
	} else if is := plugins.InferSchema(v); is != nil {
		t = is.Type
	} else {
		switch v.(type) {
		case []any:
			t = plugins.TypeArray
		case map[string]any, map[any]any:
			t = plugins.TypeMap
		default:
			return nil, fmt.Errorf("Go type %T does not have a corresponding schema type", v)
		}
	}
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("invalid type for %s: %T", t, v)
	}
	switch t {
	case plugins.TypeInt8:
		x, ok := v.(int8)
		if !ok {
			return bad()
		}
		return strconv.AppendInt(b, int64(x), 10), nil
	case plugins.TypeInt16:
		x, ok := v.(int16)
		if !ok {
			return bad()
		}
		return strconv.AppendInt(b, int64(x), 10), nil
	case plugins.TypeInt32:
		x, ok := v.(int32)
		if !ok {
			return bad()
		}
		return strconv.AppendInt(b, int64(x), 10), nil
	case plugins.TypeInt64:
		x, ok := v.(int64)
		if !ok {
			return bad()
		}
		return strconv.AppendInt(b, x, 10), nil
	case plugins.TypeFloat32:
		x, ok := v.(float32)
		if !ok {
			return bad()
		}
		return appendJSONFloat(b, float64(x), 32), nil
	case plugins.TypeFloat64:
		x, ok := v.(float64)
		if !ok {
			return bad()
		}
		return appendJSONFloat(b, x, 64), nil
	case plugins.TypeBoolean:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		return strconv.AppendBool(b, x), nil
	case plugins.TypeString:
		x, ok := v.(string)
		if !ok {
			return bad()
		}
		return appendJSONString(b, x), nil
	case plugins.TypeBytes:
		x, ok := v.([]byte)
		if !ok {
			return bad()
		}
		return appendBase64(b, x), nil
	case plugins.TypeArray:
		x, ok := v.([]any)
		if !ok {
			return bad()
		}
		var items *plugins.Schema
		if s != nil {
			items = s.ValueSchema
		}
		b = append(b, '[')
		var err error
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = c.appendValue(b, items, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case plugins.TypeMap:
		return c.appendMap(b, s, v)
	case plugins.TypeStruct:
		x, ok := v.(*plugins.Struct)
		if !ok {
			return bad()
		}
		if !x.Schema().Equal(s) {
			return nil, errors.New("mismatching schema")
		}
		b = append(b, '{')
		var err error
		xv := structs.Values(x)
		for i := range s.Fields {
			f := &s.Fields[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f.Name)
			b = append(b, ':')
			if b, err = c.appendValue(b, f.Schema, xv[f.Index]); err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		return append(b, '}'), nil
	}
	return bad()
}

type mapEntry struct {
	k, v any
	ks   string // sort key
}

// strEntry is a map[string]any entry (a mapEntry would box its key).
type strEntry struct {
	k string
	v any
}

func (c *JSONConverter) appendMap(b []byte, s *plugins.Schema, v any) ([]byte, error) {
	var ks, vs *plugins.Schema
	if s != nil {
		ks, vs = s.KeySchema, s.ValueSchema
	}
	if m, ok := v.(map[string]any); ok && (s == nil || ks != nil && ks.Type == plugins.TypeString) {
		return c.appendStringMap(b, ks, vs, m)
	}
	var entries []mapEntry
	switch m := v.(type) {
	case map[string]any:
		for k, e := range m {
			entries = append(entries, mapEntry{k, e, k})
		}
	case map[any]any:
		for k, e := range m {
			entries = append(entries, mapEntry{k, e, fmt.Sprint(k)})
		}
	default:
		return nil, fmt.Errorf("invalid type for MAP: %T", v)
	}
	slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(a.ks, b.ks) })
	objectMode := true
	if s != nil {
		objectMode = ks != nil && ks.Type == plugins.TypeString
	} else {
		for _, e := range entries {
			if _, ok := e.k.(string); !ok {
				objectMode = false
				break
			}
		}
	}
	var err error
	if objectMode {
		b = append(b, '{')
		for i, e := range entries {
			if i > 0 {
				b = append(b, ',')
			}
			var kb []byte
			if kb, err = c.appendValue(nil, ks, e.k); err != nil {
				return nil, err
			}
			// Kafka uses the key node's text: strings unquoted.
			if k, ok := e.k.(string); ok {
				b = appendJSONString(b, k)
			} else {
				b = appendJSONString(b, string(kb))
			}
			b = append(b, ':')
			if b, err = c.appendValue(b, vs, e.v); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	b = append(b, '[')
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		if b, err = c.appendValue(b, ks, e.k); err != nil {
			return nil, err
		}
		b = append(b, ',')
		if b, err = c.appendValue(b, vs, e.v); err != nil {
			return nil, err
		}
		b = append(b, ']')
	}
	return append(b, ']'), nil
}

// appendStringMap writes a map[string]any as a JSON object in key order
// (appendMap's object mode), sorting on c's scratch (nested maps stack
// above it).
func (c *JSONConverter) appendStringMap(b []byte, ks, vs *plugins.Schema, m map[string]any) ([]byte, error) {
	start := len(c.strEntries)
	defer func() {
		clear(c.strEntries[start:])
		c.strEntries = c.strEntries[:start]
	}()
	for k, e := range m {
		c.strEntries = append(c.strEntries, strEntry{k, e})
	}
	entries := c.strEntries[start:]
	slices.SortFunc(entries, func(a, b strEntry) int { return strings.Compare(a.k, b.k) })
	b = append(b, '{')
	var err error
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		if ks != nil && (ks.Name != "" || ks.Default != nil) {
			// What appendValue checks of a key besides its type.
			if _, err = c.appendValue(nil, ks, e.k); err != nil {
				return nil, err
			}
		}
		b = appendJSONString(b, e.k)
		b = append(b, ':')
		if b, err = c.appendValue(b, vs, e.v); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// ToConnect implements Converter. data may be untrusted: malformed input
// yields an error, never a panic. Nil or empty data is a null value with
// no schema.
//
// The payload is decoded straight into Connect values (decode.go); a
// record that path declines is decoded again through a tree (jsonparse.go),
// which gives the error or the value, so the result never depends on which
// path ran (nor on what the converter has cached).
func (c *JSONConverter) ToConnect(topic string, data []byte) (*plugins.Schema, any, error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	if !c.schemasEnable {
		if !c.treeOnly {
			if v, err := c.decodeDoc(nil, data, docOpts); err == nil {
				return nil, v, nil
			}
		}
		node, err := c.p.parse(data)
		if err != nil {
			return nil, nil, fmt.Errorf("converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
		}
		v, err := c.toConnectValue(nil, node, 0)
		return nil, v, err
	}
	if !c.treeOnly {
		if s, v, ok := c.toConnectLast(data); ok {
			return s, v, nil
		}
	}
	rawSchema, rawPayload, err := splitEnvelope(&c.p, data)
	if err != nil {
		return nil, nil, err
	}
	schema, err := c.cachedSchema(rawSchema)
	if err != nil {
		return nil, nil, err
	}
	if !c.treeOnly {
		if v, err := c.decodeDoc(schema, rawPayload, docOpts); err == nil {
			return schema, v, nil
		}
	}
	payload, err := c.p.parse(rawPayload)
	if err != nil { // splitEnvelope checked it
		return nil, nil, fmt.Errorf("converting byte[] to Kafka Connect data failed due to serialization error: %w", err)
	}
	v, err := c.toConnectValue(schema, payload, 0)
	if err != nil {
		return nil, nil, err
	}
	return schema, v, nil
}

var errEnvelope = errors.New(`JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.`)

// splitEnvelope checks that data is one JSON document, an object of
// exactly "schema" and "payload" (a repeated key counts once, as in
// Kafka's check of the tree's size; its last value is used), and returns
// the two values' bytes.
func splitEnvelope(p *jsonParser, data []byte) (rawSchema, rawPayload []byte, err error) {
	serr := func(err error) ([]byte, []byte, error) {
		return nil, nil, fmt.Errorf("converting byte[] to Kafka Connect data failed due to serialization error: %w", readErr(err))
	}
	d := p.start(data, docOpts)
	if d.PeekKind() != '{' {
		if _, err := p.parse(data); err != nil {
			return serr(err)
		}
		return nil, nil, errEnvelope
	}
	if _, err := d.ReadToken(); err != nil {
		return serr(err)
	}
	var sawSchema, sawPayload, sawOther bool
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return serr(err)
		}
		val, err := d.ReadValue()
		if err != nil {
			return serr(err)
		}
		switch string(p.unquote(name)) {
		case "schema":
			sawSchema, rawSchema = true, val
		case "payload":
			sawPayload, rawPayload = true, val
		default:
			sawOther = true
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return serr(err)
	}
	if err := p.end(); err != nil {
		return serr(err)
	}
	if sawOther || !sawSchema || !sawPayload {
		return nil, nil, errEnvelope
	}
	return rawSchema, rawPayload, nil
}

// cachedSchema parses an envelope schema, reusing the result for
// byte-identical schema text. Cached schemas are shared between records,
// which is safe because schemas are immutable by convention.
func (c *JSONConverter) cachedSchema(raw []byte) (*plugins.Schema, error) {
	if c.lastRaw != nil && bytes.Equal(raw, c.lastRaw) {
		return c.lastSchema, nil
	}
	if s, ok := c.schemaCache[string(raw)]; ok {
		c.remember(raw, s)
		return s, nil
	}
	node, err := c.p.parse(raw)
	if err != nil {
		return nil, err
	}
	s, err := c.toConnectSchema(node, 0)
	if err != nil {
		return nil, err
	}
	if c.cacheSize > 0 {
		if c.schemaCache == nil || len(c.schemaCache) >= c.cacheSize {
			c.schemaCache = make(map[string]*plugins.Schema)
		}
		c.schemaCache[string(raw)] = s
		c.remember(raw, s)
	}
	return s, nil
}

// remember makes raw the last schema if it is an object (see
// splitEnvelope: only an object's bytes are self-delimiting).
func (c *JSONConverter) remember(raw []byte, s *plugins.Schema) {
	if c.cacheSize <= 0 || len(raw) == 0 || raw[0] != '{' {
		return
	}
	c.lastRaw = append(c.lastRaw[:0], raw...)
	c.lastSchema = s
}

// maxJSONDepth bounds recursion on untrusted input.
const maxJSONDepth = 256

// jsonObject is a parsed JSON object that remembers its key order, so
// schemaless maps and schema parameters are read in document order. keys
// holds each distinct key once, in order of first appearance; vals[i] is
// the last value given for keys[i] (duplicate keys: last wins, as Jackson's
// tree model). Small objects are looked up by a linear scan: a map per
// object (and its growth) was most of ToConnect's allocations; an index is
// built only past indexFrom keys, so large untrusted objects stay linear.
// The parser fills keys and vals to their exact size (see object).
type jsonObject struct {
	keys  []string
	vals  []any
	index map[string]int
}

const indexFrom = 32

func (o *jsonObject) find(k string) int {
	if o.index != nil {
		if i, ok := o.index[k]; ok {
			return i
		}
		return -1
	}
	for i, ok := range o.keys {
		if ok == k {
			return i
		}
	}
	return -1
}

func (o *jsonObject) get(k string) (any, bool) {
	if o == nil {
		return nil, false
	}
	if i := o.find(k); i >= 0 {
		return o.vals[i], true
	}
	return nil, false
}

// val is get without the presence flag (a missing key reads as null).
func (o *jsonObject) val(k string) any {
	v, _ := o.get(k)
	return v
}

// decodeJSON parses one JSON document into nil, bool, json.Number, string,
// []any and *jsonObject.
func decodeJSON(data []byte) (any, error) { return parseJSON(data) }

func jsonKind(n any) string {
	switch n.(type) {
	case nil:
		return "NULL"
	case bool:
		return "BOOLEAN"
	case json.Number:
		return "NUMBER"
	case string:
		return "STRING"
	case []any:
		return "ARRAY"
	case *jsonObject:
		return "OBJECT"
	}
	return "UNKNOWN"
}

// toConnectSchema is Kafka's asConnectSchema.
func (c *JSONConverter) toConnectSchema(n any, depth int) (*plugins.Schema, error) {
	if n == nil {
		return nil, nil
	}
	if depth > maxJSONDepth {
		return nil, errors.New("schema nested too deeply")
	}
	o, ok := n.(*jsonObject)
	if !ok {
		return nil, fmt.Errorf("schema must be a JSON object, found %s", jsonKind(n))
	}
	tn, _ := o.get("type")
	ts, ok := tn.(string)
	if !ok {
		return nil, errors.New("schema must contain 'type' field")
	}
	s := &plugins.Schema{}
	switch ts {
	case "boolean":
		s.Type = plugins.TypeBoolean
	case "int8":
		s.Type = plugins.TypeInt8
	case "int16":
		s.Type = plugins.TypeInt16
	case "int32":
		s.Type = plugins.TypeInt32
	case "int64":
		s.Type = plugins.TypeInt64
	case "float":
		s.Type = plugins.TypeFloat32
	case "double":
		s.Type = plugins.TypeFloat64
	case "bytes":
		s.Type = plugins.TypeBytes
	case "string":
		s.Type = plugins.TypeString
	case "array":
		s.Type = plugins.TypeArray
		items, _ := o.get("items")
		if items == nil {
			return nil, errors.New("array schema did not specify the element type")
		}
		is, err := c.toConnectSchema(items, depth+1)
		if err != nil {
			return nil, err
		}
		s.ValueSchema = is
	case "map":
		s.Type = plugins.TypeMap
		kn, okK := o.get("keys")
		vn, okV := o.get("values")
		if !okK || kn == nil {
			return nil, errors.New("map schema did not specify the key type")
		}
		if !okV || vn == nil {
			return nil, errors.New("map schema did not specify the value type")
		}
		var err error
		if s.KeySchema, err = c.toConnectSchema(kn, depth+1); err != nil {
			return nil, err
		}
		if s.ValueSchema, err = c.toConnectSchema(vn, depth+1); err != nil {
			return nil, err
		}
	case "struct":
		s.Type = plugins.TypeStruct
		fn, _ := o.get("fields")
		fields, ok := fn.([]any)
		if !ok {
			return nil, errors.New(`struct schema's "fields" argument is not an array`)
		}
		for _, f := range fields {
			fo, _ := f.(*jsonObject)
			nameN, _ := fo.get("field")
			name, ok := nameN.(string)
			if !ok {
				return nil, errors.New("struct schema's field name not specified properly")
			}
			if s.Field(name) != nil {
				return nil, fmt.Errorf("duplicate field %q in struct schema", name)
			}
			fs, err := c.toConnectSchema(f, depth+1)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", name, err)
			}
			s.Fields = append(s.Fields, plugins.Field{Name: name, Index: len(s.Fields), Schema: fs})
		}
	default:
		return nil, fmt.Errorf("unknown schema type: %s", ts)
	}
	if opt, _ := o.get("optional"); opt == true {
		s.Optional = true
	}
	if name, ok := o.val("name").(string); ok {
		s.Name = name
	}
	if vn, ok := o.val("version").(json.Number); ok {
		if v, err := strconv.ParseInt(string(vn), 10, 32); err == nil {
			s.Version = int(v)
		}
	}
	if doc, ok := o.val("doc").(string); ok {
		s.Doc = doc
	}
	if pn, ok := o.val("parameters").(*jsonObject); ok {
		s.Parameters = map[string]string{}
		for i, k := range pn.keys {
			pv, ok := pn.vals[i].(string)
			if !ok {
				return nil, errors.New("schema parameters must have string values")
			}
			s.Parameters[k] = pv
		}
	}
	if s.Name == plugins.DecimalName {
		if _, err := s.DecimalScale(); err != nil {
			return nil, err
		}
	}
	if dn, ok := o.get("default"); ok && dn != nil {
		d, err := c.toConnectValue(s, dn, depth+1)
		if err != nil {
			return nil, fmt.Errorf("schema default: %w", err)
		}
		if st, ok := d.(*plugins.Struct); ok {
			// The default was built against s before it had a default;
			// make it refer to the final schema so it validates.
			structs.SetSchema(st, s)
		}
		s.Default = d
	}
	return s, nil
}

// toConnectValue is Kafka's convertToConnect.
func (c *JSONConverter) toConnectValue(s *plugins.Schema, n any, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("value nested too deeply")
	}
	var t plugins.Type
	if s != nil {
		t = s.Type
		if n == nil {
			if s.Default != nil && !c.keepNull {
				return s.Default, nil
			}
			if s.Optional || s.Default != nil {
				return nil, nil
			}
			return nil, fmt.Errorf("invalid null value for required %s field", t)
		}
	} else {
		switch x := n.(type) {
		case nil:
			return nil, nil
		case bool:
			t = plugins.TypeBoolean
		case json.Number:
			if isIntegral(x) {
				t = plugins.TypeInt64
			} else {
				t = plugins.TypeFloat64
			}
		case []any:
			t = plugins.TypeArray
		case *jsonObject:
			t = plugins.TypeMap
		case string:
			t = plugins.TypeString
		}
	}
	mismatch := func() (any, error) {
		return nil, fmt.Errorf("expected JSON %s for %s, found %s", expectedKind(t), t, jsonKind(n))
	}
	var v any
	switch t {
	case plugins.TypeBoolean:
		b, ok := n.(bool)
		if !ok {
			return mismatch()
		}
		v = b
	case plugins.TypeInt8, plugins.TypeInt16, plugins.TypeInt32, plugins.TypeInt64:
		num, ok := n.(json.Number)
		if !ok {
			return mismatch()
		}
		i, err := jsonInt(num)
		if err != nil {
			return nil, err
		}
		v = narrowInt(t, i)
	case plugins.TypeFloat32, plugins.TypeFloat64:
		var f float64
		switch x := n.(type) {
		case json.Number:
			var err error
			if f, err = strconv.ParseFloat(string(x), 64); err != nil && !errors.Is(err, strconv.ErrRange) {
				return nil, fmt.Errorf("invalid number %s: %w", x, err)
			}
		case string: // Jackson writes NaN/Infinity as strings
			switch x {
			case "NaN":
				f = math.NaN()
			case "Infinity":
				f = math.Inf(1)
			case "-Infinity":
				f = math.Inf(-1)
			default:
				return mismatch()
			}
		default:
			return mismatch()
		}
		if t == plugins.TypeFloat32 {
			v = float32(f)
		} else {
			v = f
		}
	case plugins.TypeBytes:
		switch x := n.(type) {
		case string:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return nil, fmt.Errorf("invalid bytes field: %w", err)
			}
			v = b
		case json.Number:
			if s != nil && s.Name == plugins.DecimalName { // decimal.format=NUMERIC
				scale, err := s.DecimalScale()
				if err != nil {
					return nil, err
				}
				r, ok := parseDecimalNumber(string(x))
				if !ok {
					return nil, fmt.Errorf("invalid decimal %s", x)
				}
				return truncDecimal(r, scale), nil
			}
			return mismatch()
		default:
			return mismatch()
		}
	case plugins.TypeString:
		str, ok := n.(string)
		if !ok {
			return mismatch()
		}
		v = str
	case plugins.TypeArray:
		arr, ok := n.([]any)
		if !ok {
			return mismatch()
		}
		var items *plugins.Schema
		if s != nil {
			items = s.ValueSchema
		}
		out := make([]any, 0, len(arr))
		for _, e := range arr {
			ev, err := c.toConnectValue(items, e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
		v = out
	case plugins.TypeMap:
		var ks, vs *plugins.Schema
		if s != nil {
			ks, vs = s.KeySchema, s.ValueSchema
		}
		if s == nil || ks.Type == plugins.TypeString {
			o, ok := n.(*jsonObject)
			if !ok {
				return nil, fmt.Errorf("maps with string fields should be encoded as JSON objects, but found %s", jsonKind(n))
			}
			out := make(map[string]any, len(o.keys))
			for i, k := range o.keys {
				ev, err := c.toConnectValue(vs, o.vals[i], depth+1)
				if err != nil {
					return nil, err
				}
				out[k] = ev
			}
			v = out
		} else {
			arr, ok := n.([]any)
			if !ok {
				return nil, fmt.Errorf("maps with non-string fields should be encoded as JSON array of tuples, but found %s", jsonKind(n))
			}
			out := make(map[any]any, len(arr))
			for _, e := range arr {
				pair, ok := e.([]any)
				if !ok || len(pair) != 2 {
					return nil, errors.New("found invalid map entry, expected an array of length 2")
				}
				kv, err := c.toConnectValue(ks, pair[0], depth+1)
				if err != nil {
					return nil, err
				}
				if !isComparable(kv) {
					return nil, fmt.Errorf("map key of type %T is not supported", kv)
				}
				ev, err := c.toConnectValue(vs, pair[1], depth+1)
				if err != nil {
					return nil, err
				}
				out[kv] = ev
			}
			v = out
		}
	case plugins.TypeStruct:
		o, ok := n.(*jsonObject)
		if !ok {
			return nil, fmt.Errorf("structs should be encoded as JSON objects, but found %s", jsonKind(n))
		}
		st := plugins.NewStruct(s)
		vals := structs.Values(st)
		for i := range s.Fields {
			f := &s.Fields[i]
			fv, err := c.toConnectValue(f.Schema, o.val(f.Name), depth+1)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			vals[f.Index] = fv
		}
		v = st
	default:
		return nil, fmt.Errorf("unknown schema type: %s", t)
	}
	return plugins.RawToLogical(s, v)
}

func expectedKind(t plugins.Type) string {
	switch t {
	case plugins.TypeBoolean:
		return "BOOLEAN"
	case plugins.TypeString, plugins.TypeBytes:
		return "STRING"
	case plugins.TypeArray:
		return "ARRAY"
	case plugins.TypeMap, plugins.TypeStruct:
		return "OBJECT"
	}
	return "NUMBER"
}

func isComparable(v any) bool {
	switch v.(type) {
	case []byte, []any, map[string]any, map[any]any:
		return false
	}
	return true
}

func isIntegral(n json.Number) bool {
	return !strings.ContainsAny(string(n), ".eE")
}

// jsonInt converts a JSON number to int64 like Jackson's longValue
// (fractions truncated).
func jsonInt(n json.Number) (int64, error) {
	i, ok := parseJSONInt(n)
	if !ok {
		return 0, fmt.Errorf("number %s out of range for an integer", n)
	}
	return i, nil
}

// parseJSONInt reads a JSON number as an integer: exactly when it is one,
// else through float64 and truncated (Kafka's JsonConverter reads a
// number node's longValue); false when it is out of int64's range. It
// takes the string of the tree path and the bytes of the direct path.
func parseJSONInt[T ~string | ~[]byte](n T) (int64, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || f >= math.MaxInt64 || f <= math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// parseDecimalNumber parses a JSON number exactly, refusing exponents that
// would make big.Rat build enormous powers of ten.
func parseDecimalNumber(s string) (*big.Rat, bool) {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e < -plugins.MaxDecimalScale || e > plugins.MaxDecimalScale {
			return nil, false
		}
	}
	return new(big.Rat).SetString(s)
}

// truncDecimal cuts r to scale fractional digits (used when a NUMERIC
// decimal has more digits than its schema allows; Kafka's BigDecimal keeps
// them and fails later, we keep the data usable).
func truncDecimal(r *big.Rat, scale int) *big.Rat {
	if _, err := plugins.DecimalToBytes(r, scale); err == nil {
		return r
	}
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(max(scale, 0))), nil)
	x := new(big.Rat).Mul(r, new(big.Rat).SetInt(p))
	q := new(big.Int).Quo(x.Num(), x.Denom())
	return new(big.Rat).SetFrac(q, p)
}

func init() {
	plugins.Register(plugins.Registration{Class: "org.apache.kafka.connect.json.JsonConverter", Type: plugins.PluginConverter,
		Aliases: []string{"json"}, Doc: "JSON with optional schema envelope",
		New: func() any { return NewJSONConverter() }})
}

// narrowInt gives i the Go type Connect uses for schema type t (int8,
// int16, int32; int64 for INT64), truncating as Kafka's JsonConverter does
// ((byte) value.intValue() and so on). Both decode paths use it, so they
// agree (FuzzJSONDirect).
func narrowInt(t plugins.Type, i int64) any {
	switch t {
	case plugins.TypeInt8:
		return int8(i)
	case plugins.TypeInt16:
		return int16(i)
	case plugins.TypeInt32:
		return int32(i)
	}
	return i
}
