package jsonconv

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/internal/structs"
)

// The canonical reader: a payload written the way Kafka's JsonConverter
// (and FromConnect) writes it, without whitespace and with every field of
// a struct in schema order, is read in one pass over its bytes. Through
// jsontext every string was scanned twice, once by the tokenizer to
// validate it and once by unquote (a 1 KiB text value: a fifth of a
// storage sink's CPU). It is an optimisation of decodeValue as decodeValue
// is of the tree walk: it takes only what it reads exactly as decodeValue
// would (the same grammar, the same conversions: parseJSONInt, ParseFloat,
// nullValue, RawToLogical) and declines anything else (ok false): another
// field order, a missing or extra field, whitespace, an escaped field
// name, arrays and maps, a NaN string, an error. The caller then reads the
// payload through jsontext, which gives the value or the error.
// FuzzJSONDirect checks it against the tree path.

// maxCanonicalDepth bounds the nesting of the structs it reads, far
// below decodeValue's maxJSONDepth and jsontext's limit.
const maxCanonicalDepth = 32

var errDeclined = errors.New("jsonconv: canonical reading declined")

// readCanonical reads the value under s at the start of b; n is the
// number of bytes it took.
func (c *JSONConverter) readCanonical(s *plugins.Schema, b []byte, depth int) (v any, n int, err error) {
	if s == nil || depth > maxCanonicalDepth || len(b) == 0 {
		return nil, 0, errDeclined
	}
	if b[0] == 'n' {
		if !bytes.HasPrefix(b, []byte("null")) {
			return nil, 0, errDeclined
		}
		if v, err = nullValue(c, s); err != nil {
			return nil, 0, errDeclined
		}
		return v, 4, nil
	}
	switch s.Type {
	case plugins.TypeBoolean:
		switch {
		case bytes.HasPrefix(b, []byte("true")):
			v, n = true, 4
		case bytes.HasPrefix(b, []byte("false")):
			v, n = false, 5
		default:
			return nil, 0, errDeclined
		}
	case plugins.TypeInt8, plugins.TypeInt16, plugins.TypeInt32, plugins.TypeInt64:
		if n = jsonNumberLen(b); n == 0 {
			return nil, 0, errDeclined
		}
		i, ok := parseJSONInt(b[:n])
		if !ok {
			return nil, 0, errDeclined
		}
		v = narrowInt(s.Type, i)
	case plugins.TypeFloat32, plugins.TypeFloat64:
		if n = jsonNumberLen(b); n == 0 {
			return nil, 0, errDeclined
		}
		f, err := strconv.ParseFloat(string(b[:n]), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, 0, errDeclined
		}
		if s.Type == plugins.TypeFloat32 {
			v = float32(f)
		} else {
			v = f
		}
	case plugins.TypeString:
		text, m, ok := c.p.readString(b)
		if !ok {
			return nil, 0, errDeclined
		}
		v, n = string(text), m
	case plugins.TypeBytes:
		text, m, ok := c.p.readString(b)
		if !ok {
			return nil, 0, errDeclined
		}
		raw := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
		k, err := base64.StdEncoding.Decode(raw, text)
		if err != nil {
			return nil, 0, errDeclined
		}
		v, n = raw[:k], m
	case plugins.TypeStruct:
		if v, n, err = c.readCanonicalStruct(s, b, depth); err != nil {
			return nil, 0, err
		}
	default:
		return nil, 0, errDeclined
	}
	if v, err = plugins.RawToLogical(s, v); err != nil {
		return nil, 0, errDeclined
	}
	return v, n, nil
}

// readCanonicalStruct reads {"f1":v1,"f2":v2,...}, every field of s in
// order, each name as it is (a name that needs escaping is declined).
func (c *JSONConverter) readCanonicalStruct(s *plugins.Schema, b []byte, depth int) (*plugins.Struct, int, error) {
	if len(s.Fields) == 0 || b[0] != '{' {
		return nil, 0, errDeclined
	}
	st := plugins.NewStruct(s)
	vals := structs.Values(st)
	i := 1
	for f := range s.Fields {
		fs := &s.Fields[f]
		if f > 0 {
			if i >= len(b) || b[i] != ',' {
				return nil, 0, errDeclined
			}
			i++
		}
		name := fs.Name
		if plainLen(name) != len(name) || len(b) < i+len(name)+3 || b[i] != '"' ||
			string(b[i+1:i+1+len(name)]) != name || b[i+1+len(name)] != '"' || b[i+2+len(name)] != ':' {
			return nil, 0, errDeclined
		}
		i += len(name) + 3
		v, n, err := c.readCanonical(fs.Schema, b[i:], depth+1)
		if err != nil {
			return nil, 0, err
		}
		vals[fs.Index] = v
		i += n
	}
	if i >= len(b) || b[i] != '}' {
		return nil, 0, errDeclined
	}
	// As decodeStruct: a null field takes its null value.
	for f := range s.Fields {
		fs := &s.Fields[f]
		if vals[fs.Index] == nil {
			v, err := nullValue(c, fs.Schema)
			if err != nil {
				return nil, 0, errDeclined
			}
			vals[fs.Index] = v
		}
	}
	return st, i + 1, nil
}

// jsonNumberLen is the length of the JSON number (RFC 8259's grammar) at
// the start of b, when a ',', '}' or ']' follows it (a number is not
// self-delimiting; anything else is declined); 0 if there is none.
func jsonNumberLen(b []byte) int {
	digits := func(i int) int {
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i
	}
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(i + 1)
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0
		}
		i = j
	}
	if i == len(b) || b[i] != ',' && b[i] != '}' && b[i] != ']' {
		return 0
	}
	return i
}
