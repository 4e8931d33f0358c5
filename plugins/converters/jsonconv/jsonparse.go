package jsonconv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// JSON reading for JSONConverter.ToConnect. The bytes are tokenized by
// jsontext (github.com/go-json-experiment/json, the tokenizer that became
// encoding/json/v2), configured to accept exactly what encoding/json
// accepts: RFC 8259, duplicate object names allowed (the last value wins),
// invalid UTF-8 and lone surrogate escapes read as U+FFFD, nesting limited
// to 10000. FuzzJSONParse checks that against encoding/json.
//
// Two readers share the decoder: decode.go turns tokens straight into
// Connect values (the hot path), and parse below builds a tree (nil, bool,
// json.Number, string, []any, *jsonObject) for envelope schemas and as the
// reference the direct reader falls back on whenever it meets anything it
// does not accept, so every error a record can produce comes from the tree
// path.

const maxParseDepth = 10000

// docOpts are encoding/json's leniencies. jsontext's depth limit is
// encoding/json's, 10000, and fixed (its WithDepthLimit is not
// implemented yet); see maxSkipped for the payload read on its own.
var docOpts = []jsontext.Options{jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)}

type jsonParser struct {
	rd   bytes.Buffer // the document; jsontext reads a bytes.Buffer in place
	data []byte
	dec  jsontext.Decoder

	// Scratch stacks of the open objects' members: each object appends
	// its members above its parent's and, at its end, copies them out at
	// their exact size, so a record's objects cost two allocations each
	// instead of a growing map.
	keys []string
	vals []any

	scratch []byte            // unquoted strings before they are copied out
	keyTab  map[string]string // interned keys, see interned
}

func parseJSON(data []byte) (any, error) {
	return (&jsonParser{}).parse(data)
}

// start points the decoder at data.
func (p *jsonParser) start(data []byte, opts []jsontext.Options) *jsontext.Decoder {
	p.data = data
	p.rd = *bytes.NewBuffer(data)
	p.dec.Reset(&p.rd, opts...)
	return &p.dec
}

// parse parses one JSON document into a tree, reusing p's scratch.
func (p *jsonParser) parse(data []byte) (any, error) {
	p.start(data, docOpts)
	p.keys, p.vals = p.keys[:0], p.vals[:0]
	v, err := p.tree()
	if err != nil {
		return nil, err
	}
	if err := p.end(); err != nil {
		return nil, err
	}
	return v, nil
}

var errJSONEnd = errors.New("unexpected end of JSON input")

// readErr maps the end of the input where a value must start to
// encoding/json's error.
func readErr(err error) error {
	if err == io.EOF {
		return errJSONEnd
	}
	return err
}

// end checks that only whitespace follows the top-level value (jsontext
// reads streams of values; a document is one).
func (p *jsonParser) end() error {
	if p.dec.PeekKind() == 0 {
		if _, err := p.dec.ReadToken(); err == io.EOF {
			return nil
		}
	}
	rest := bytes.TrimLeft(p.data[p.dec.InputOffset():], " \t\r\n")
	if len(rest) == 0 {
		return errJSONEnd
	}
	return fmt.Errorf("invalid character %q after top-level value", rest[0])
}

func (p *jsonParser) tree() (any, error) {
	d := &p.dec
	switch d.PeekKind() {
	case '{':
		return p.object()
	case '[':
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		arr := []any{}
		for d.PeekKind() != ']' {
			v, err := p.tree()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := d.ReadToken(); err != nil {
			return nil, err
		}
		return arr, nil
	case '"':
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		return string(p.unquote(raw)), nil
	case '0':
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		return json.Number(raw), nil
	}
	tok, err := d.ReadToken()
	if err != nil {
		return nil, readErr(err)
	}
	if v, ok := literal(tok.Kind()); ok {
		return v, nil
	}
	return nil, fmt.Errorf("unexpected %v", tok.Kind()) // jsontext reports misplaced delimiters first
}

// literal is the value of a true, false or null token; false for any
// other kind.
func literal(k jsontext.Kind) (any, bool) {
	switch k {
	case 't':
		return true, true
	case 'f':
		return false, true
	case 'n':
		return nil, true
	}
	return nil, false
}

func (p *jsonParser) object() (any, error) {
	d := &p.dec
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	start := len(p.keys)
	var index map[string]int // of members past start, once there are many
	defer func() {
		clear(p.vals[start:]) // drop references for the GC
		p.keys, p.vals = p.keys[:start], p.vals[:start]
	}()
	for d.PeekKind() != '}' {
		raw, err := d.ReadValue()
		if err != nil {
			return nil, err
		}
		k := p.interned(p.unquote(raw))
		v, err := p.tree()
		if err != nil {
			return nil, err
		}
		index = p.member(start, index, k, v)
	}
	if _, err := d.ReadToken(); err != nil {
		return nil, err
	}
	o := &jsonObject{index: index}
	if n := len(p.keys) - start; n > 0 {
		o.keys = append(make([]string, 0, n), p.keys[start:]...)
		o.vals = append(make([]any, 0, n), p.vals[start:]...)
	}
	return o, nil
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

// unquote returns the text of the JSON string raw (as jsontext read it:
// quoted, valid), in place when it has no escapes and is valid UTF-8,
// else in p.scratch. It is valid until the next unquote.
func (p *jsonParser) unquote(raw []byte) []byte {
	s := raw[1 : len(raw)-1]
	n := plainLen(s)
	if n == len(s) || bytes.IndexByte(s[n:], '\\') < 0 && utf8.Valid(s[n:]) {
		return s
	}
	var ok bool
	if p.scratch, ok = appendUnescaped(append(p.scratch[:0], s[:n]...), s[n:]); ok {
		return p.scratch
	}
	// The decoder has validated raw: the only errors left report invalid
	// UTF-8 or surrogates, which are replaced by U+FFFD as in encoding/json.
	p.scratch, _ = jsontext.AppendUnquote(p.scratch[:0], raw)
	return p.scratch
}

// Object keys repeat in every record of a stream, so they are interned: a
// string per key per record was a third of ToConnect's allocations.
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
