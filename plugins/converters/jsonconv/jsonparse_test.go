package jsonconv

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// plainTree turns parseJSON's tree into encoding/json's shapes.
func plainTree(v any) any {
	switch x := v.(type) {
	case *jsonObject:
		m := make(map[string]any, len(x.vals))
		for i, k := range x.keys {
			e := x.vals[i]
			m[k] = plainTree(e)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainTree(e)
		}
		return out
	}
	return v
}

func stdDecode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if !json.Valid(data) {
		return nil, errJSONEnd
	}
	return v, nil
}

func TestParseJSON(t *testing.T) {
	good := []string{
		`null`, ` true `, `false`, `0`, `-0.5e+10`, `1E-2`, `""`, `"a\"\\\/\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`,
		`"\ud800x"`, `"\udc00\ud800"`, "\"\xff\xfe\"", `[]`, `[1,[2,[]],{}]`, `{"a":1,"a":2,"b":[null]}`, "\t{ \"k\" : \"v\" }\r\n",
	}
	for _, s := range good {
		want, err := stdDecode([]byte(s))
		if err != nil {
			t.Fatalf("encoding/json rejects %q: %v", s, err)
		}
		got, err := parseJSON([]byte(s))
		if err != nil {
			t.Errorf("parseJSON(%q): %v", s, err)
			continue
		}
		if !reflect.DeepEqual(plainTree(got), want) {
			t.Errorf("parseJSON(%q) = %#v, want %#v", s, plainTree(got), want)
		}
	}
	bad := []string{``, ` `, `nul`, `tru`, `01`, `-`, `1.`, `.5`, `1e`, `+1`, `"abc`, "\"a\x01\"", `"\x"`, `"\u12"`, `"\u12g4"`,
		`[1,]`, `[1 2]`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1,}`, `{} {}`, `[` + strings.Repeat("[", maxParseDepth) + strings.Repeat("]", maxParseDepth+1)}
	for _, s := range bad {
		if _, err := parseJSON([]byte(s)); err == nil {
			t.Errorf("parseJSON(%q) accepted invalid JSON", s)
		}
	}
}

// FuzzJSONParse checks the jsontext-backed parseJSON against
// encoding/json: both accept the same documents and build the same values.
func FuzzJSONParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\u00e9",true,null]}`, `"\ud83d\ude00"`, `[[]]`, `-0`, "\"\xc3\x28\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := stdDecode(data)
		got, gerr := parseJSON(data)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("parseJSON(%q) err=%v, encoding/json err=%v", data, gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(plainTree(got), want) {
			t.Fatalf("parseJSON(%q) = %#v, encoding/json = %#v", data, plainTree(got), want)
		}
		// ReadValue (splitEnvelope's way to take a value's bytes) agrees.
		p := &jsonParser{}
		p.start(data, docOpts)
		raw, serr := p.dec.ReadValue()
		if serr == nil {
			serr = p.end()
		}
		if (serr == nil) != (gerr == nil) {
			t.Fatalf("ReadValue(%q) err=%v, parseJSON err=%v", data, serr, gerr)
		}
		if serr == nil && !bytes.Equal(raw, bytes.TrimSpace(data)) {
			t.Fatalf("ReadValue(%q) spans %q", data, raw)
		}
	})
}
