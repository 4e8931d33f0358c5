package jsonconv

import (
	"bytes"
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/weirlog/weir/plugins"
)

// JSON pass-through (plugins.RawJSONConverter): a sink that writes JSON
// lines is handed a record's payload as it is, instead of the Connect
// value ToConnect builds and the sink's format then encodes again (with
// 1 KiB records that was a third of an S3 sink's CPU).
//
// The rule is strict: a payload passes only if it is byte for byte what
// the full path (ToConnect, then a schemas.enable=false JSONConverter's
// FromConnect, i.e. the storage sinks' JsonFormat) writes for it. So a
// file never depends on which path a record took, and the payload passed
// is valid under its schema (the type checks are kept: they are what the
// scan checks). What passes is what converters write (Kafka's
// JsonConverter, FromConnect): no whitespace; struct fields all present,
// in schema order, nothing else; map keys in ascending byte order, none
// repeated; strings valid UTF-8 with only the escapes appendJSONString
// writes (\" \\ \b \t \n \f \r, \u00XX in upper-case hex for the other
// control characters); integers as plain decimal integers inside their
// type's range; floating point numbers spelled as Java's
// Double/Float.toString spells them (1.0, 1.0E10); bytes as padded
// standard base64. Everything else is declined and takes the full path,
// which gives the same JSON value spelled as it writes it, or the error
// that sends the record to the error policy. Spellings that decline are
// the same JSON, only slower: a non-ASCII or other escape (\u00fc, \/),
// numbers spelled otherwise (1 or 1e1 for a double, 1.5 for an integer
// is truncated by the full path), keys in another order. Also declined:
// a null that the full path replaces by the schema's default; Decimals
// (the sink's format writes them as BASE64 whatever the value
// converter's decimal.format); maps with non-string keys; schemaless
// values (schemas.enable=false, or an envelope schema of null: their
// numbers and maps are rewritten by the full path) and the first record
// of a schema (the envelope's schema is recognised by its bytes, as
// toConnectLast does). FuzzJSONRawPass checks the rule against the full
// path.

// rawGiveUp and rawRetry bound what declining costs a stream whose
// records never pass (a scan that gives up, then the full decode): after
// rawGiveUp declines in a row, only one record in rawRetry is tried.
const (
	rawGiveUp = 32
	rawRetry  = 256
)

// ToConnectRawJSON implements plugins.RawJSONConverter for envelopes
// (schemas.enable=true) whose schema is the last one seen.
func (c *JSONConverter) ToConnectRawJSON(_ string, data []byte) (*plugins.Schema, plugins.RawJSON, bool) {
	if !c.schemasEnable || c.treeOnly || c.lastRaw == nil || c.lastSchema == nil {
		return nil, nil, false
	}
	if c.rawMisses >= rawGiveUp {
		if c.rawMisses++; c.rawMisses%rawRetry != 0 {
			return nil, nil, false
		}
	}
	p, ok := c.rawPayload(data)
	if !ok {
		c.rawMisses++
		return nil, nil, false
	}
	c.rawMisses = 0
	return c.lastSchema, p, true
}

func (c *JSONConverter) rawPayload(data []byte) (plugins.RawJSON, bool) {
	const head, mid = `{"schema":`, `,"payload":`
	if !bytes.HasPrefix(data, []byte(head)) || !bytes.HasPrefix(data[len(head):], c.lastRaw) ||
		!bytes.HasPrefix(data[len(head)+len(c.lastRaw):], []byte(mid)) {
		return nil, false
	}
	payload := data[len(head)+len(c.lastRaw)+len(mid):]
	// A null payload is a nil value (or the schema's default), never RawJSON.
	if len(payload) == 0 || payload[0] == 'n' {
		return nil, false
	}
	n, ok := c.scanRaw(c.lastSchema, payload, 0)
	if !ok || n >= len(payload) || payload[n] != '}' || len(bytes.TrimLeft(payload[n+1:], " \t\r\n")) != 0 {
		return nil, false
	}
	return plugins.RawJSON(payload[:n]), true
}

// scanRaw checks the value under s at the start of b as the rule above
// says, building nothing; n is its length.
func (c *JSONConverter) scanRaw(s *plugins.Schema, b []byte, depth int) (n int, ok bool) {
	if s == nil || depth > maxCanonicalDepth || len(b) == 0 || s.Name == plugins.DecimalName {
		return 0, false
	}
	if b[0] == 'n' {
		// Read as nil only when optional without a default (a default
		// replaces it; required, it is an error).
		if !bytes.HasPrefix(b, []byte("null")) || !s.Optional || s.Default != nil {
			return 0, false
		}
		return 4, true
	}
	switch s.Type {
	case plugins.TypeBoolean:
		switch {
		case bytes.HasPrefix(b, []byte("true")):
			return 4, true
		case bytes.HasPrefix(b, []byte("false")):
			return 5, true
		}
	case plugins.TypeInt8, plugins.TypeInt16, plugins.TypeInt32, plugins.TypeInt64:
		return scanInt(s, b)
	case plugins.TypeFloat32, plugins.TypeFloat64:
		return c.scanFloat(s, b)
	case plugins.TypeString:
		return scanString(b)
	case plugins.TypeBytes:
		return c.scanBase64(b)
	case plugins.TypeArray:
		return c.scanArray(s.ValueSchema, b, depth)
	case plugins.TypeMap:
		if ks := s.KeySchema; ks == nil || ks.Type != plugins.TypeString || ks.Name != "" || ks.Default != nil {
			return 0, false // pairs, or keys appendStringMap checks
		}
		return c.scanMap(s.ValueSchema, b, depth)
	case plugins.TypeStruct:
		return c.scanStruct(s, b, depth)
	}
	return 0, false
}

// scanInt takes a plain decimal integer in the range of s's type (the
// full path truncates fractions and narrows, and writes neither "-0"
// nor an exponent); a logical Date, Time or Timestamp must survive its
// conversion to time.Time and back.
func scanInt(s *plugins.Schema, b []byte) (int, bool) {
	n := jsonNumberLen(b)
	if n == 0 || bytes.IndexAny(b[:n], ".eE") >= 0 || b[0] == '-' && (n == 1 || b[1] == '0') {
		return 0, false
	}
	i, err := strconv.ParseInt(string(b[:n]), 10, 64)
	if err != nil {
		return 0, false
	}
	var lo, hi int64 = math.MinInt64, math.MaxInt64
	switch s.Type {
	case plugins.TypeInt8:
		lo, hi = math.MinInt8, math.MaxInt8
	case plugins.TypeInt16:
		lo, hi = math.MinInt16, math.MaxInt16
	case plugins.TypeInt32:
		lo, hi = math.MinInt32, math.MaxInt32
	}
	if i < lo || i > hi {
		return 0, false
	}
	switch s.Name {
	case plugins.DateName, plugins.TimeName, plugins.TimestampName:
		raw := narrowInt(s.Type, i)
		t, err := plugins.RawToLogical(s, raw)
		if err != nil {
			return 0, false
		}
		if back, err := plugins.LogicalToRaw(s, t); err != nil || back != raw {
			return 0, false
		}
	}
	return n, true
}

// scanFloat takes a number spelled as appendJSONFloat spells its value
// (of float32 for FLOAT32): finite, in Java's format.
func (c *JSONConverter) scanFloat(s *plugins.Schema, b []byte) (int, bool) {
	n := jsonNumberLen(b)
	if n == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(b[:n]), 64)
	if err != nil {
		return 0, false
	}
	bits := 64
	if s.Type == plugins.TypeFloat32 {
		f, bits = float64(float32(f)), 32
	}
	if math.IsInf(f, 0) {
		return 0, false
	}
	c.p.scratch = appendJSONFloat(c.p.scratch[:0], f, bits)
	if !bytes.Equal(c.p.scratch, b[:n]) {
		return 0, false
	}
	return n, true
}

// scanString takes a string appendJSONString writes as it is: valid
// UTF-8, and only the escapes it writes.
func scanString(b []byte) (int, bool) {
	if len(b) == 0 || b[0] != '"' {
		return 0, false
	}
	i := 1
	for {
		if i += plainLen(b[i:]); i >= len(b) {
			return 0, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return 0, false
			}
			switch b[i+1] {
			case '"', '\\', 'b', 't', 'n', 'f', 'r':
				i += 2
			case 'u':
				// \u00XX, for a control character without a short escape.
				if i+6 > len(b) || b[i+2] != '0' || b[i+3] != '0' || b[i+4] != '0' && b[i+4] != '1' {
					return 0, false
				}
				x := b[i+5]
				var v byte
				switch {
				case '0' <= x && x <= '9':
					v = x - '0'
				case 'A' <= x && x <= 'F':
					v = x - 'A' + 10
				default:
					return 0, false
				}
				v |= (b[i+4] - '0') << 4
				switch v {
				case '\b', '\t', '\n', '\f', '\r':
					return 0, false
				}
				i += 6
			default:
				return 0, false
			}
		case c < utf8.RuneSelf: // a control character
			return 0, false
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false // written as U+FFFD
			}
			i += size
		}
	}
}

// scanBase64 takes bytes as appendBase64 writes them: padded standard
// base64 that strict decoding accepts (no stray bits, no line breaks),
// which encodes back to the same text.
func (c *JSONConverter) scanBase64(b []byte) (int, bool) {
	if len(b) == 0 || b[0] != '"' {
		return 0, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return 0, false
	}
	text := b[1 : 1+end]
	if len(text)%4 != 0 {
		return 0, false
	}
	for _, x := range text {
		if !('A' <= x && x <= 'Z' || 'a' <= x && x <= 'z' || '0' <= x && x <= '9' || x == '+' || x == '/' || x == '=') {
			return 0, false
		}
	}
	c.p.scratch = slices.Grow(c.p.scratch[:0], base64.StdEncoding.DecodedLen(len(text)))
	if _, err := base64.StdEncoding.Strict().Decode(c.p.scratch[:cap(c.p.scratch)], text); err != nil {
		return 0, false
	}
	return end + 2, true
}

// scanArray takes [v,...] with every element under items.
func (c *JSONConverter) scanArray(items *plugins.Schema, b []byte, depth int) (int, bool) {
	if b[0] != '[' {
		return 0, false
	}
	i := 1
	if i < len(b) && b[i] == ']' {
		return 2, true
	}
	for {
		n, ok := c.scanRaw(items, b[i:], depth+1)
		if !ok {
			return 0, false
		}
		var done bool
		if i, done, ok = afterElement(b, i+n, ']'); !ok || done {
			return i, ok
		}
	}
}

// afterElement reads what follows an array element or a map entry ending
// at b[i]: a comma (i moves past it) or close (i moves past it, done).
func afterElement(b []byte, i int, close byte) (next int, done, ok bool) {
	if i >= len(b) {
		return 0, false, false
	}
	switch b[i] {
	case ',':
		return i + 1, false, true
	case close:
		return i + 1, true, true
	}
	return 0, false, false
}

// scanMap takes {"k":v,...} with keys in ascending order, none repeated
// and none escaped (so their bytes order as appendStringMap sorts the
// keys), and every value under vs.
func (c *JSONConverter) scanMap(vs *plugins.Schema, b []byte, depth int) (int, bool) {
	if b[0] != '{' {
		return 0, false
	}
	i := 1
	if i < len(b) && b[i] == '}' {
		return 2, true
	}
	var prev []byte
	for k := 0; ; k++ {
		n, ok := scanString(b[i:])
		if !ok {
			return 0, false
		}
		key := b[i+1 : i+n-1]
		if bytes.IndexByte(key, '\\') >= 0 || k > 0 && bytes.Compare(prev, key) >= 0 {
			return 0, false
		}
		prev = key
		if i += n; i >= len(b) || b[i] != ':' {
			return 0, false
		}
		i++
		if n, ok = c.scanRaw(vs, b[i:], depth+1); !ok {
			return 0, false
		}
		var done bool
		if i, done, ok = afterElement(b, i+n, '}'); !ok || done {
			return i, ok
		}
	}
}

// scanStruct takes {"f1":v1,"f2":v2,...}: every field of s in order,
// each name as it is (one that needs escaping is declined), as
// readCanonicalStruct reads it.
func (c *JSONConverter) scanStruct(s *plugins.Schema, b []byte, depth int) (int, bool) {
	if b[0] != '{' {
		return 0, false
	}
	i := 1
	for f := range s.Fields {
		fs := &s.Fields[f]
		if f > 0 {
			if i >= len(b) || b[i] != ',' {
				return 0, false
			}
			i++
		}
		name := fs.Name
		if plainLen(name) != len(name) || len(b) < i+len(name)+3 || b[i] != '"' ||
			string(b[i+1:i+1+len(name)]) != name || b[i+1+len(name)] != '"' || b[i+2+len(name)] != ':' {
			return 0, false
		}
		i += len(name) + 3
		n, ok := c.scanRaw(fs.Schema, b[i:], depth+1)
		if !ok {
			return 0, false
		}
		i += n
	}
	if i >= len(b) || b[i] != '}' {
		return 0, false
	}
	return i + 1, true
}
