package jsonconv

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/weirlog/weir/plugins"
)

// FuzzJSONDirect checks that direct decoding (decode.go) is only an
// optimisation of the tree path: a converter that decodes directly and one
// that only walks trees, both warmed with a (so b may hit the last-schema
// path), read b the same in both modes, errors included.
func FuzzJSONDirect(f *testing.F) {
	f.Add(envelope(schemaA, `{"id":1}`), envelope(schemaA, `{"id":2,"name":"n"}`))
	f.Add(envelope(schemaA, `{"id":1}`), envelope(schemaA, `{"id":"x","id":2,"name":null,"zz":[1,{"a":2}]}`))
	f.Add(envelope(schemaA, `{"id":1}`), envelope(schemaA, `{"id":2,"id":"x"}`))
	f.Add(envelope(schemaA, `{"id":1}`), []byte(`{"schema":`+schemaA+`,"payload":{"id":1}} `))
	f.Add(envelope(schemaB, `{"flag":false}`), []byte(`{"payload":{"flag":true},"schema":`+schemaB+`}`))
	f.Add([]byte(`{"schema":{"type":"map","keys":{"type":"int32"},"values":{"type":"string"}},"payload":[]}`),
		[]byte(`{"schema":{"type":"map","keys":{"type":"int32"},"values":{"type":"string"}},"payload":[[1,"a"],[1,"b"],[2,null]]}`))
	f.Add([]byte(`{"schema":{"type":"array","items":{"type":"double","optional":true}},"payload":[]}`),
		[]byte(`{"schema":{"type":"array","items":{"type":"double","optional":true}},"payload":[1.5,"NaN",1e400,null,"-Infinity",-0]}`))
	f.Add([]byte(`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AJw="}`),
		[]byte(`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":1.567}`))
	f.Add([]byte(`null`), []byte(`{"a":[1,2.5,-3e2,"x\u00e9\ud800",true,null,{"b":{}}],"a":{"c":12345678901234567890}}`))
	f.Add([]byte(`1`), []byte(`{"schema":{"type":"struct","fields":[{"field":"d","type":"int32","name":"org.apache.kafka.connect.data.Date","optional":true,"default":1}]},"payload":{}}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, plain := range []bool{false, true} {
			direct, tree := NewJSONConverter(), NewJSONConverter()
			tree.treeOnly = true
			direct.schemasEnable, tree.schemasEnable = !plain, !plain
			_, _, _ = direct.ToConnect("t", a)
			_, _, _ = tree.ToConnect("t", a)
			s1, v1, err1 := direct.ToConnect("t", b)
			s2, v2, err2 := tree.ToConnect("t", b)
			if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
				t.Fatalf("plain=%v, after %q, %q: direct error %v, tree %v", plain, a, b, err1, err2)
			}
			if err1 != nil {
				continue
			}
			if !s1.Equal(s2) {
				t.Fatalf("plain=%v, after %q, %q: schema %v vs %v", plain, a, b, s1, s2)
			}
			if !plugins.ValuesEqual(v1, v2) && !bytes.Contains(b, []byte("NaN")) { // NaN != NaN; the bytes below compare
				t.Fatalf("plain=%v, after %q, %q: value %#v vs %#v", plain, a, b, v1, v2)
			}
			o1, e1 := direct.FromConnect("t", s1, v1)
			o2, e2 := tree.FromConnect("t", s2, v2)
			if string(o1) != string(o2) || (e1 == nil) != (e2 == nil) {
				t.Fatalf("plain=%v, after %q, %q: encoded %q (%v) vs %q (%v)", plain, a, b, o1, e1, o2, e2)
			}
		}
	})
}

// jsontext's nesting limit is encoding/json's: 10000 levels pass, 10001
// do not, for documents and for envelopes (whose payload the last-schema
// path reads on its own, one level higher).
func TestJSONDepthLimit(t *testing.T) {
	for _, n := range []int{maxParseDepth - 1, maxParseDepth, maxParseDepth + 1} {
		doc := strings.Repeat("[", n) + strings.Repeat("]", n)
		_, err := parseJSON([]byte(doc))
		if want := json.Valid([]byte(doc)); (err == nil) != want {
			t.Errorf("depth %d: parseJSON err %v, encoding/json valid %v", n, err, want)
		}
	}
	c := jsonConv(t, plugins.Config{})
	if _, _, err := c.ToConnect("t", envelope(schemaA, `{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{maxParseDepth - 3, maxParseDepth - 2, maxParseDepth - 1} {
		// The envelope and the payload object take two levels.
		deep := strings.Repeat("[", n) + strings.Repeat("]", n)
		data := envelope(schemaA, `{"id":1,"skipped":`+deep+`}`)
		_, _, err := c.ToConnect("t", data)
		if want := json.Valid(data); (err == nil) != want {
			t.Errorf("envelope depth %d: err %v, encoding/json valid %v", n+2, err, want)
		}
	}
}
