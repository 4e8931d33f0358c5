package jsonconv

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON parser for JSONConverter.ToConnect. encoding/json's Token
// API allocates for every token and made decoding ~30x slower than
// encoding; this parser builds the same tree (nil, bool, json.Number,
// string, []any, *jsonObject) in one pass. It accepts exactly what
// encoding/json accepts (RFC 8259; invalid UTF-8 and lone surrogates become
// U+FFFD; nesting limited to 10000) — FuzzJSONParse checks it against
// encoding/json.

const maxParseDepth = 10000

type jsonParser struct {
	data  []byte
	pos   int
	depth int
	skip  bool // validate only: build nothing

	// Scratch stacks of the open objects' members: each object appends
	// its members above its parent's and, at its end, copies them out at
	// their exact size, so a record's objects cost two allocations each
	// instead of a growing map.
	keys []string
	vals []any

	intern bool              // the string being read is an object key
	keyTab map[string]string // interned keys, see key
}

func parseJSON(data []byte) (any, error) {
	return (&jsonParser{}).parse(data)
}

// parse parses one JSON document, reusing p's scratch stacks.
func (p *jsonParser) parse(data []byte) (any, error) {
	p.reset(data)
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, fmt.Errorf("invalid character %q after top-level value", p.data[p.pos])
	}
	return v, nil
}

func (p *jsonParser) reset(data []byte) {
	p.data, p.pos, p.depth, p.skip, p.intern = data, 0, 0, false, false
	p.keys, p.vals = p.keys[:0], p.vals[:0]
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

var errJSONEnd = errors.New("unexpected end of JSON input")

func (p *jsonParser) errAt(what string) error {
	if p.pos >= len(p.data) {
		return errJSONEnd
	}
	return fmt.Errorf("invalid character %q %s at offset %d", p.data[p.pos], what, p.pos)
}

func (p *jsonParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.data) {
		return nil, errJSONEnd
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.errAt("looking for beginning of value")
}

func (p *jsonParser) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if p.pos >= len(p.data) {
			return errJSONEnd
		}
		if p.data[p.pos] != lit[i] {
			return p.errAt("in literal " + lit)
		}
		p.pos++
	}
	return nil
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxParseDepth {
		return errors.New("exceeded max depth")
	}
	return nil
}

func (p *jsonParser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++ // {
	start := len(p.keys)
	var index map[string]int // of members past start, once there are many
	defer func() {
		clear(p.vals[start:]) // drop references for the GC
		p.keys, p.vals = p.keys[:start], p.vals[:start]
	}()
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return p.finishObject(start, index), nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, errJSONEnd
		}
		if p.data[p.pos] != '"' {
			return nil, p.errAt("looking for beginning of object key string")
		}
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, errJSONEnd
		}
		if p.data[p.pos] != ':' {
			return nil, p.errAt("after object key")
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if !p.skip {
			index = p.member(start, index, k, v)
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, errJSONEnd
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return p.finishObject(start, index), nil
		default:
			return nil, p.errAt("after object key:value pair")
		}
	}
}

// member records key: v of the object whose members start at start; a
// repeated key keeps its first position and takes the last value.
func (p *jsonParser) member(start int, index map[string]int, key string, v any) map[string]int {
	if index != nil {
		if i, ok := index[key]; ok {
			p.vals[start+i] = v
			return index
		}
	} else {
		for i, k := range p.keys[start:] {
			if k == key {
				p.vals[start+i] = v
				return nil
			}
		}
	}
	p.keys = append(p.keys, key)
	p.vals = append(p.vals, v)
	n := len(p.keys) - start
	if index != nil {
		index[key] = n - 1
	} else if n > indexFrom {
		index = make(map[string]int, 2*n)
		for i, k := range p.keys[start:] {
			index[k] = i
		}
	}
	return index
}

func (p *jsonParser) finishObject(start int, index map[string]int) *jsonObject {
	if p.skip {
		return nil
	}
	o := &jsonObject{index: index}
	if n := len(p.keys) - start; n > 0 {
		o.keys = append(make([]string, 0, n), p.keys[start:]...)
		o.vals = append(make([]any, 0, n), p.vals[start:]...)
	}
	return o
}

func (p *jsonParser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++ // [
	var arr []any
	if !p.skip {
		arr = []any{}
	}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if !p.skip {
			arr = append(arr, v)
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, errJSONEnd
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return arr, nil
		default:
			return nil, p.errAt("after array element")
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *jsonParser) number() (any, error) {
	start := p.pos
	d := p.data
	if d[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos >= len(d):
		return nil, errJSONEnd
	case d[p.pos] == '0':
		p.pos++
	case d[p.pos] >= '1' && d[p.pos] <= '9':
		for p.pos < len(d) && isDigit(d[p.pos]) {
			p.pos++
		}
	default:
		return nil, p.errAt("in numeric literal")
	}
	if p.pos < len(d) && d[p.pos] == '.' {
		p.pos++
		if p.pos >= len(d) {
			return nil, errJSONEnd
		}
		if !isDigit(d[p.pos]) {
			return nil, p.errAt("after decimal point in numeric literal")
		}
		for p.pos < len(d) && isDigit(d[p.pos]) {
			p.pos++
		}
	}
	if p.pos < len(d) && (d[p.pos] == 'e' || d[p.pos] == 'E') {
		p.pos++
		if p.pos < len(d) && (d[p.pos] == '+' || d[p.pos] == '-') {
			p.pos++
		}
		if p.pos >= len(d) {
			return nil, errJSONEnd
		}
		if !isDigit(d[p.pos]) {
			return nil, p.errAt("in exponent of numeric literal")
		}
		for p.pos < len(d) && isDigit(d[p.pos]) {
			p.pos++
		}
	}
	if p.skip {
		return nil, nil
	}
	return json.Number(d[start:p.pos]), nil
}

func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// str parses a string starting at the opening quote.
func (p *jsonParser) str() (any, error) {
	s, err := p.strString()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// key reads an object key. Keys repeat in every record of a stream, so
// plain ones are interned: a string per key per record was a third of
// ToConnect's allocations.
func (p *jsonParser) key() (string, error) {
	p.intern = !p.skip
	s, err := p.strString()
	p.intern = false
	return s, err
}

// Interned keys are bounded in number and length, so hostile input cannot
// grow the table: past the bound keys are allocated as before.
const (
	maxInterned   = 4096
	maxInternedSz = 128
)

func (p *jsonParser) interned(b []byte) string {
	if len(b) > maxInternedSz {
		return string(b)
	}
	if s, ok := p.keyTab[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.keyTab) < maxInterned {
		if p.keyTab == nil {
			p.keyTab = make(map[string]string)
		}
		p.keyTab[s] = s
	}
	return s
}

func (p *jsonParser) strString() (string, error) {
	d := p.data
	p.pos++ // "
	start := p.pos
	// Fast path: no escapes, ASCII or valid UTF-8.
	for p.pos < len(d) {
		c := d[p.pos]
		if c == '"' {
			s := d[start:p.pos]
			if p.skip {
				p.pos++
				return "", nil
			}
			if utf8.Valid(s) {
				p.pos++
				if p.intern {
					return p.interned(s), nil
				}
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.pos++
	}
	p.pos = start
	buf := make([]byte, 0, 32)
	for {
		if p.pos >= len(d) {
			return "", errJSONEnd
		}
		c := d[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.errAt("in string literal")
		case c == '\\':
			p.pos++
			if p.pos >= len(d) {
				return "", errJSONEnd
			}
			e := d[p.pos]
			p.pos++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r := hex4(d[p.pos:])
				if r < 0 {
					if len(d)-p.pos < 4 {
						p.pos = len(d)
						return "", errJSONEnd
					}
					return "", p.errAt("in \\u hexadecimal character escape")
				}
				p.pos += 4
				if utf16.IsSurrogate(r) {
					if p.pos+1 < len(d) && d[p.pos] == '\\' && d[p.pos+1] == 'u' {
						if r2 := hex4(d[p.pos+2:]); r2 >= 0 {
							if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
								p.pos += 6
								buf = utf8.AppendRune(buf, dec)
								break
							}
						}
					}
					r = unicode.ReplacementChar
				}
				buf = utf8.AppendRune(buf, r)
			default:
				p.pos--
				return "", p.errAt("in string escape code")
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(d[p.pos:])
			p.pos += size
			buf = utf8.AppendRune(buf, r)
		}
	}
}

// skipValue validates the next value without building it and returns
// its bytes.
func (p *jsonParser) skipValue() ([]byte, error) {
	p.skipSpace()
	start := p.pos
	old := p.skip
	p.skip = true
	_, err := p.value()
	p.skip = old
	if err != nil {
		return nil, err
	}
	return p.data[start:p.pos], nil
}
