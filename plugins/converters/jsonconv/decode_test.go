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
	// String payloads (the one-pass path of toConnectLast).
	str := `{"type":"string","optional":true}`
	for _, p := range []string{`"x\"y\\z\ttab ünï ✓ \u00e9\ud83d\ude00"`, `"\ud800"`, "\"bad\xff\"", "\"ctl\x01\"", `"a" `, `"a"x`,
		`"unterminated`, `null`, ` "ws"`, `"\q"`} {
		f.Add(envelope(str, `"a"`), envelope(str, p))
	}
	f.Add([]byte(`{"schema":{"type":"string","name":"org.apache.kafka.connect.data.Date"},"payload":"a"}`),
		[]byte(`{"schema":{"type":"string","name":"org.apache.kafka.connect.data.Date"},"payload":"b"}`))
	// Canonical payloads (readCanonical), and near misses.
	sch := `{"type":"struct","fields":[{"field":"b","type":"boolean","optional":true},{"field":"i","type":"int32"},` +
		`{"field":"f","type":"float","optional":true},{"field":"d","type":"double"},{"field":"y","type":"bytes","optional":true},` +
		`{"field":"s","type":"string","optional":true,"default":"dflt"},{"field":"n","type":"struct","optional":true,` +
		`"fields":[{"field":"t","type":"int64","name":"org.apache.kafka.connect.data.Timestamp"}]}]}`
	for _, p := range []string{
		`{"b":true,"i":-12,"f":1.5,"d":-0.0e-3,"y":"AJw=","s":"x\u00e9\"","n":{"t":1700000000000}}`,
		`{"b":null,"i":0,"f":null,"d":1E400,"y":null,"s":null,"n":null}`,
		`{"b":false,"i":1.9,"f":3,"d":2,"y":"","s":"","n":{"t":-1}}`,
		`{"b":false,"i":01,"f":3,"d":2,"y":"","s":"","n":{"t":-1}}`,
		`{"b":false,"i":1,"f":3,"d":2,"y":"","s":"","n":{"t":-1},"x":1}`,
		`{"i":1,"b":false,"f":3,"d":2,"y":"","s":"","n":{"t":-1}}`,
		`{"b":false,"i":1,"f":"NaN","d":2,"y":"!!","s":"","n":{"t":-1}}`,
		`{"b":false, "i":1,"f":3,"d":2,"y":"","s":"","n":{"t":-1}}`,
		`{"b":false,"i":99999999999,"f":3,"d":2,"y":"","s":"","n":{"t":-1}}`,
		`{"b":false,"\u0069":1,"f":3,"d":2,"y":"","s":"","n":{"t":-1}}`,
	} {
		f.Add(envelope(sch, `{"b":true,"i":1,"f":1,"d":1,"y":"","s":"","n":null}`), envelope(sch, p))
	}
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

// The canonical reader takes what converters write (it is not dead
// code), and reads it as the tree path does.
func TestCanonicalTaken(t *testing.T) {
	str := plugins.StructBuilder().Name("bench.Event").
		Field("id", plugins.Int64Schema).Field("payload", plugins.StringSchema).MustBuild()
	for i, r := range []struct {
		s *plugins.Schema
		v any
	}{
		{plugins.StringSchema, benchKitValue},
		{plugins.OptionalStringSchema, nil},
		{plugins.Int64Schema, int64(-7)},
		{plugins.Float64Schema, 2.5e-300},
		{plugins.BytesSchema, []byte{0, 1, 255}},
		{str, plugins.NewStruct(str).MustPut("id", int64(3)).MustPut("payload", strings.Repeat("x", 960))},
		{bench1KiB, bench1KiBValue()},
		{benchUsers, plugins.NewStruct(benchUsers).MustPut("registertime", int64(1)).MustPut("userid", "u")},
	} {
		w := NewJSONConverter()
		data, err := w.FromConnect("t", r.s, r.v)
		if err != nil {
			t.Fatal(err)
		}
		c, tree := NewJSONConverter(), NewJSONConverter()
		tree.treeOnly = true
		if _, _, err := c.ToConnect("t", data); err != nil { // learns the schema
			t.Fatal(err)
		}
		payload := data[len(`{"schema":`)+len(c.lastRaw)+len(`,"payload":`):]
		v, n, err := c.readCanonical(c.lastSchema, payload, 0)
		if err != nil || n != len(payload)-1 {
			t.Fatalf("record %d: readCanonical of %q: n %d of %d, %v", i, payload, n, len(payload)-1, err)
		}
		_, want, err := tree.ToConnect("t", data)
		if err != nil || !plugins.ValuesEqual(v, want) {
			t.Fatalf("record %d: canonical %#v, tree %#v (%v)", i, v, want, err)
		}
	}
}
