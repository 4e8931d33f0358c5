package jsonconv

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/internal/structs"
)

// Schema-directed decoding: the payload's tokens become Connect values
// directly (a Struct's fields straight into its value slice), without the
// tree toConnectValue walks. It is only an optimisation of that walk: it
// returns errSlow at anything it does not take as it is (a type mismatch,
// a bad number, too deep, ...), and the caller then decodes the record
// again through the tree, which produces the error (or, for the few
// inputs where reading order matters, such as a repeated key whose first
// value does not fit the schema, the value). FuzzJSONDirect checks that
// both paths agree on every record the direct one accepts.

// errSlow sends a record to the tree path.
var errSlow = errors.New("jsonconv: direct decoding declined")

// maxSkipped bounds the struct members outside the schema that direct
// decoding skips: such a value nests at most len/2 levels, so one shorter
// than this cannot come near jsontext's depth limit of 10000 (where a
// payload read alone and inside its envelope could disagree).
const maxSkipped = 16 << 10

// decodeDoc decodes data, one JSON document, under s (nil: schemaless).
func (c *JSONConverter) decodeDoc(s *plugins.Schema, data []byte, opts []jsontext.Options) (any, error) {
	c.p.start(data, opts)
	v, err := c.decodeValue(s, 0)
	if err != nil {
		return nil, err
	}
	if err := c.p.end(); err != nil {
		return nil, err
	}
	return v, nil
}

// toConnectLast decodes an envelope whose schema is the last one, as
// Kafka's and weir's converters write it: {"schema":S,"payload":P} with no
// whitespace but, perhaps, after the closing brace. S is compared as bytes
// (it parsed before), P is decoded on its own; anything else is not taken
// (ok false). P alone may nest one level deeper than inside the envelope
// before jsontext objects, which only a skipped value could reach (the
// values decoded are at most maxJSONDepth deep): see maxSkipped.
func (c *JSONConverter) toConnectLast(data []byte) (*plugins.Schema, any, bool) {
	const head, mid = `{"schema":`, `,"payload":`
	if c.lastRaw == nil || !bytes.HasPrefix(data, []byte(head)) || !bytes.HasPrefix(data[len(head):], c.lastRaw) ||
		!bytes.HasPrefix(data[len(head)+len(c.lastRaw):], []byte(mid)) {
		return nil, nil, false
	}
	payload := data[len(head)+len(c.lastRaw)+len(mid):]
	// A payload as converters write it is read in one pass (see
	// readCanonical); what that declines goes through jsontext below.
	if v, n, err := c.readCanonical(c.lastSchema, payload, 0); err == nil && len(payload) > n && payload[n] == '}' &&
		len(bytes.TrimLeft(payload[n+1:], " \t\r\n")) == 0 {
		return c.lastSchema, v, true
	}
	c.p.start(payload, docOpts)
	v, err := c.decodeValue(c.lastSchema, 0)
	if err != nil {
		return nil, nil, false
	}
	tail := payload[c.p.dec.InputOffset():]
	if len(tail) == 0 || tail[0] != '}' || len(bytes.TrimLeft(tail[1:], " \t\r\n")) != 0 {
		return nil, nil, false
	}
	return c.lastSchema, v, true
}

// decodeValue is toConnectValue reading the next value from c.p.dec.
func (c *JSONConverter) decodeValue(s *plugins.Schema, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, errSlow
	}
	if s == nil {
		return c.decodeSchemaless(depth)
	}
	d := &c.p.dec
	k := d.PeekKind()
	if k == 'n' {
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		return nullValue(c, s)
	}
	var v any
	switch s.Type {
	case plugins.TypeBoolean:
		if k != 't' && k != 'f' {
			return nil, errSlow
		}
		tok, err := d.ReadToken()
		if err != nil {
			return nil, err
		}
		v = tok.Bool()
	case plugins.TypeInt8, plugins.TypeInt16, plugins.TypeInt32, plugins.TypeInt64:
		if k != '0' {
			return nil, errSlow
		}
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		i, ok := parseJSONInt(raw)
		if !ok {
			return nil, errSlow
		}
		v = narrowInt(s.Type, i)
	case plugins.TypeFloat32, plugins.TypeFloat64:
		var f float64
		switch k {
		case '0':
			raw, err := d.ReadValue()
			if err != nil {
				return nil, err
			}
			if f, err = strconv.ParseFloat(string(raw), 64); err != nil && !errors.Is(err, strconv.ErrRange) {
				return nil, errSlow
			}
		case '"': // Jackson writes NaN/Infinity as strings
			raw, err := d.ReadValue()
			if err != nil {
				return nil, err
			}
			switch str := c.p.unquote(raw); {
			case string(str) == "NaN":
				f = math.NaN()
			case string(str) == "Infinity":
				f = math.Inf(1)
			case string(str) == "-Infinity":
				f = math.Inf(-1)
			default:
				return nil, errSlow
			}
		default:
			return nil, errSlow
		}
		if s.Type == plugins.TypeFloat32 {
			v = float32(f)
		} else {
			v = f
		}
	case plugins.TypeBytes:
		switch k {
		case '"':
			raw, err := d.ReadValue()
			if err != nil {
				return nil, err
			}
			str := c.p.unquote(raw)
			b := make([]byte, base64.StdEncoding.DecodedLen(len(str)))
			n, err := base64.StdEncoding.Decode(b, str)
			if err != nil {
				return nil, errSlow
			}
			v = b[:n]
		case '0':
			if s.Name != plugins.DecimalName { // decimal.format=NUMERIC
				return nil, errSlow
			}
			scale, err := s.DecimalScale()
			if err != nil {
				return nil, errSlow
			}
			raw, err := d.ReadValue()
			if err != nil {
				return nil, err
			}
			r, ok := parseDecimalNumber(string(raw))
			if !ok {
				return nil, errSlow
			}
			return truncDecimal(r, scale), nil
		default:
			return nil, errSlow
		}
	case plugins.TypeString:
		if k != '"' {
			return nil, errSlow
		}
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		v = string(c.p.unquote(raw))
	case plugins.TypeArray:
		if k != '[' {
			return nil, errSlow
		}
		out, err := c.decodeArray(s.ValueSchema, depth)
		if err != nil {
			return nil, err
		}
		v = out
	case plugins.TypeMap:
		var err error
		if s.KeySchema.Type == plugins.TypeString {
			v, err = c.decodeObjectMap(s.ValueSchema, depth)
		} else {
			v, err = c.decodePairMap(s, depth)
		}
		if err != nil {
			return nil, err
		}
	case plugins.TypeStruct:
		st, err := c.decodeStruct(s, depth)
		if err != nil {
			return nil, err
		}
		v = st
	default:
		return nil, errSlow
	}
	return plugins.RawToLogical(s, v)
}

// nullValue is what a JSON null (or a missing struct field) reads as
// under s, as in toConnectValue.
func nullValue(c *JSONConverter, s *plugins.Schema) (any, error) {
	if s.Default != nil && !c.keepNull {
		return s.Default, nil
	}
	if s.Optional || s.Default != nil {
		return nil, nil
	}
	return nil, errSlow
}

func (c *JSONConverter) decodeStruct(s *plugins.Schema, depth int) (*plugins.Struct, error) {
	d := &c.p.dec
	if d.PeekKind() != '{' {
		return nil, errSlow
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	st := plugins.NewStruct(s)
	vals := structs.Values(st)
	next := 0 // fields usually come in schema order: try the next one first
	for d.PeekKind() != '}' {
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		name := c.p.unquote(raw)
		f := -1
		if next < len(s.Fields) && s.Fields[next].Name == string(name) {
			f = next
		} else {
			for i := range s.Fields {
				if s.Fields[i].Name == string(name) {
					f = i
					break
				}
			}
		}
		if f < 0 { // not in the schema: checked, then ignored
			raw, err := d.ReadValue()
			if err != nil {
				return nil, err
			}
			if len(raw) > maxSkipped {
				return nil, errSlow
			}
			continue
		}
		next = f + 1
		fs := &s.Fields[f]
		if vals[fs.Index], err = c.decodeValue(fs.Schema, depth+1); err != nil {
			return nil, err
		}
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	// Fields absent (or null, which read as nullValue already: reading it
	// again gives the same) take their null value. A present non-null
	// value never decodes to nil.
	for i := range s.Fields {
		fs := &s.Fields[i]
		if vals[fs.Index] == nil {
			v, err := nullValue(c, fs.Schema)
			if err != nil {
				return nil, err
			}
			vals[fs.Index] = v
		}
	}
	return st, nil
}

// decodeObjectMap reads a JSON object as a map with string keys, values
// under vs (nil: schemaless).
func (c *JSONConverter) decodeObjectMap(vs *plugins.Schema, depth int) (map[string]any, error) {
	d := &c.p.dec
	if d.PeekKind() != '{' {
		return nil, errSlow
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	// Members go on p's scratch stacks first, so the map is made at its
	// size (growing it was most of a schemaless record's cost).
	// (Arrays push values only, so the two stacks have their own bases.)
	ks, vs0 := len(c.p.keys), len(c.p.vals)
	defer func() {
		clear(c.p.vals[vs0:])
		c.p.keys, c.p.vals = c.p.keys[:ks], c.p.vals[:vs0]
	}()
	for d.PeekKind() != '}' {
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		k := c.p.interned(c.p.unquote(raw))
		ev, err := c.decodeValue(vs, depth+1)
		if err != nil {
			return nil, err
		}
		c.p.keys = append(c.p.keys, k)
		c.p.vals = append(c.p.vals, ev)
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(c.p.keys)-ks)
	for i, k := range c.p.keys[ks:] {
		out[k] = c.p.vals[vs0+i] // a repeated key: the last value wins
	}
	return out, nil
}

// decodeArray reads a JSON array, elements under items (nil: schemaless).
func (c *JSONConverter) decodeArray(items *plugins.Schema, depth int) ([]any, error) {
	d := &c.p.dec
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	start := len(c.p.vals)
	defer func() {
		clear(c.p.vals[start:])
		c.p.vals = c.p.vals[:start]
	}()
	for d.PeekKind() != ']' {
		ev, err := c.decodeValue(items, depth+1)
		if err != nil {
			return nil, err
		}
		c.p.vals = append(c.p.vals, ev)
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	return append(make([]any, 0, len(c.p.vals)-start), c.p.vals[start:]...), nil
}

// decodePairMap reads a map with non-string keys: an array of [key, value]
// arrays.
func (c *JSONConverter) decodePairMap(s *plugins.Schema, depth int) (map[any]any, error) {
	d := &c.p.dec
	if d.PeekKind() != '[' {
		return nil, errSlow
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	out := map[any]any{}
	for d.PeekKind() != ']' {
		if d.PeekKind() != '[' {
			return nil, errSlow
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		if d.PeekKind() == ']' {
			return nil, errSlow
		}
		// The pair is at depth+1 as in toConnectValue, its elements at
		// depth+1 too (they are read from the pair there).
		kv, err := c.decodeValue(s.KeySchema, depth+1)
		if err != nil {
			return nil, err
		}
		if !isComparable(kv) || d.PeekKind() == ']' {
			return nil, errSlow
		}
		ev, err := c.decodeValue(s.ValueSchema, depth+1)
		if err != nil {
			return nil, err
		}
		if d.PeekKind() != ']' {
			return nil, errSlow
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		out[kv] = ev
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeSchemaless is toConnectValue without a schema: the JSON types
// give the Connect ones.
func (c *JSONConverter) decodeSchemaless(depth int) (any, error) {
	d := &c.p.dec
	switch d.PeekKind() {
	case '{':
		return c.decodeObjectMap(nil, depth)
	case '[':
		return c.decodeArray(nil, depth)
	case '"':
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		return string(c.p.unquote(raw)), nil
	case '0':
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		if isIntegralBytes(raw) {
			i, ok := parseJSONInt(raw)
			if !ok {
				return nil, errSlow
			}
			return i, nil
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, errSlow
		}
		return f, nil
	}
	tok, err := d.ReadToken()
	if err != nil {
		return nil, err
	}
	if v, ok := literal(tok.Kind()); ok {
		return v, nil
	}
	return nil, errSlow
}

func isIntegralBytes(n []byte) bool {
	return bytes.IndexAny(n, ".eE") < 0
}
