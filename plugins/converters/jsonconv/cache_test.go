package jsonconv

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/weirlog/weir/plugins"
)

const (
	schemaA   = `{"type":"struct","name":"a","optional":false,"fields":[{"field":"id","type":"int64","optional":false},{"field":"name","type":"string","optional":true}]}`
	schemaB   = `{"type":"struct","name":"b","optional":false,"fields":[{"field":"flag","type":"boolean","optional":false}]}`
	schemaAId = `{"type":"struct","name":"a","optional":false,"fields":[{"field":"id","type":"string","optional":false},{"field":"name","type":"string","optional":true}]}`
)

func envelope(schema, payload string) []byte {
	return []byte(`{"schema":` + schema + `,"payload":` + payload + `}`)
}

// The schema cache is keyed by the schema's bytes: records of different
// schemas interleaved each decode with their own.
func TestJSONSchemaCacheInterleaved(t *testing.T) {
	for _, size := range []string{"1000", "1", "0"} {
		c := jsonConv(t, plugins.Config{JSONSchemasCacheSz: size})
		for i := range 4 {
			s, v, err := c.ToConnect("t", envelope(schemaA, `{"id":7,"name":"x"}`))
			if err != nil {
				t.Fatalf("cache %s, round %d, A: %v", size, i, err)
			}
			if s.Name != "a" || v.(*plugins.Struct).Get("id") != int64(7) || v.(*plugins.Struct).Get("name") != "x" {
				t.Fatalf("cache %s, round %d, A: %v %v", size, i, s, v)
			}
			s, v, err = c.ToConnect("t", envelope(schemaB, `{"flag":true}`))
			if err != nil {
				t.Fatalf("cache %s, round %d, B: %v", size, i, err)
			}
			if s.Name != "b" || v.(*plugins.Struct).Get("flag") != true {
				t.Fatalf("cache %s, round %d, B: %v %v", size, i, s, v)
			}
		}
	}
}

// Same field names, another type: a different schema, not a cache hit.
func TestJSONSchemaCacheSameFieldsOtherType(t *testing.T) {
	c := jsonConv(t, plugins.Config{})
	if _, v, err := c.ToConnect("t", envelope(schemaA, `{"id":7}`)); err != nil || v.(*plugins.Struct).Get("id") != int64(7) {
		t.Fatalf("int64 id: %v %v", v, err)
	}
	s, v, err := c.ToConnect("t", envelope(schemaAId, `{"id":"7"}`))
	if err != nil || s.Fields[0].Schema.Type != plugins.TypeString || v.(*plugins.Struct).Get("id") != "7" {
		t.Fatalf("string id: %v %v %v", s, v, err)
	}
	// The int64 payload under the string schema is a mismatch, not decoded
	// with the first schema.
	if _, _, err := c.ToConnect("t", envelope(schemaAId, `{"id":7}`)); err == nil {
		t.Fatal("number for a string field decoded")
	}
	if _, v, err := c.ToConnect("t", envelope(schemaA, `{"id":8}`)); err != nil || v.(*plugins.Struct).Get("id") != int64(8) {
		t.Fatalf("int64 id again: %v %v", v, err)
	}
}

// A malformed schema after a good one is an error, caches nothing, and the
// good schema still works after it.
func TestJSONSchemaCacheMalformedAfterGood(t *testing.T) {
	c := jsonConv(t, plugins.Config{})
	if _, _, err := c.ToConnect("t", envelope(schemaA, `{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		strings.Replace(schemaA, `"int64"`, `"int65"`, 1),       // unknown type
		strings.Replace(schemaA, `"fields":[`, `"fields":{`, 1), // not an array
		`{"type":"struct","fields":[{"type":"int64"}]}`,         // field without a name
	}
	for _, b := range bad {
		for range 2 { // the second time would be a cache hit
			if _, _, err := c.ToConnect("t", envelope(b, `{"id":1}`)); err == nil {
				t.Fatalf("malformed schema %s accepted", b)
			}
		}
	}
	if _, _, err := c.ToConnect("t", []byte(`{"schema":`+schemaA[:40]+`,"payload":{"id":1}}`)); err == nil {
		t.Fatal("truncated schema accepted")
	}
	if _, v, err := c.ToConnect("t", envelope(schemaA, `{"id":2}`)); err != nil || v.(*plugins.Struct).Get("id") != int64(2) {
		t.Fatalf("good schema after bad: %v %v", v, err)
	}
}

// Objects past indexFrom members switch to an index; duplicate keys keep
// their first position and take the last value, as below it.
func TestJSONObjectDuplicateKeys(t *testing.T) {
	for _, n := range []int{3, indexFrom + 5} {
		var b strings.Builder
		b.WriteString(`{`)
		for i := range n {
			b.WriteString(`"k` + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + `":1,`)
		}
		b.WriteString(`"ka":2}`)
		node, err := parseJSON([]byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		o := node.(*jsonObject)
		if len(o.keys) != n || o.keys[0] != "ka" || o.val("ka") != any(json.Number("2")) {
			t.Fatalf("n=%d: keys %d first %q ka=%v", n, len(o.keys), o.keys[0], o.val("ka"))
		}
		if _, ok := o.get("missing"); ok {
			t.Fatalf("n=%d: missing key found", n)
		}
	}
}

// The last schema's bytes are recognised without a scan; what follows
// them is still checked as before.
func TestJSONSchemaLastPrefix(t *testing.T) {
	c := jsonConv(t, plugins.Config{})
	if _, _, err := c.ToConnect("t", envelope(schemaA, `{"id":1}`)); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{
		`{"schema":` + schemaA + `x,"payload":{"id":1}}`,
		`{"schema":` + schemaA + `}`,
		`{"schema":` + schemaA,
		`{"schema":` + schemaA + `,"payload":{"id":1},"extra":1}`,
		`{"schema":` + schemaA + `,"payload":{"id":"1"}}`,
	} {
		if _, _, err := c.ToConnect("t", []byte(data)); err == nil {
			t.Errorf("%s accepted", data)
		}
	}
	if _, v, err := c.ToConnect("t", []byte(" {\n\"payload\":{\"id\":3} , \"schema\" : "+schemaA+" }\n")); err != nil || v.(*plugins.Struct).Get("id") != int64(3) {
		t.Fatalf("reordered envelope: %v %v", v, err)
	}
}

// FuzzJSONSchemaCache checks that what a converter has seen before (its
// schema cache, its last schema) never changes how it reads the next
// record: a caching converter after a and a fresh uncached one agree on b.
func FuzzJSONSchemaCache(f *testing.F) {
	f.Add(envelope(schemaA, `{"id":1}`), envelope(schemaA, `{"id":2,"name":"n"}`))
	f.Add(envelope(schemaA, `{"id":1}`), envelope(schemaAId, `{"id":2}`))
	f.Add(envelope(schemaA, `{"id":1}`), []byte(`{"schema":`+schemaA+`x,"payload":1}`))
	f.Add(envelope(schemaB, `{"flag":false}`), []byte(`{"payload":{"flag":true},"schema":`+schemaB+`,"schema":`+schemaB+`}`))
	f.Add(envelope(`{"type":"int32"}`, `1`), envelope(`{"type":"int32"} `, `2`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		cached := NewJSONConverter()
		_, _, _ = cached.ToConnect("t", a) // only warms the cache
		fresh := NewJSONConverter()
		fresh.cacheSize = 0
		s1, v1, err1 := cached.ToConnect("t", b)
		s2, v2, err2 := fresh.ToConnect("t", b)
		if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
			t.Fatalf("after %q, %q: cached error %v, uncached %v", a, b, err1, err2)
		}
		if err1 != nil {
			return
		}
		if !s1.Equal(s2) {
			t.Fatalf("after %q, %q: schema %v vs %v", a, b, s1, s2)
		}
		o1, e1 := cached.FromConnect("t", s1, v1)
		o2, e2 := fresh.FromConnect("t", s2, v2)
		if string(o1) != string(o2) || (e1 == nil) != (e2 == nil) {
			t.Fatalf("after %q, %q: value %q (%v) vs %q (%v)", a, b, o1, e1, o2, e2)
		}
	})
}

// Interned object keys are bounded: a converter fed ever new keys keeps at
// most maxInterned of them, none longer than maxInternedSz, and still
// reads every key right.
func TestJSONKeyInternBounded(t *testing.T) {
	c := jsonConv(t, plugins.Config{JSONSchemasEnable: "false"})
	long := strings.Repeat("k", maxInternedSz+1)
	for i := range maxInterned + 100 {
		k := fmt.Sprintf("key%d", i)
		_, v, err := c.ToConnect("t", []byte(`{"`+k+`":1,"`+long+`":2,"esc\u0041":3}`))
		if err != nil {
			t.Fatal(err)
		}
		m := v.(map[string]any)
		if len(m) != 3 || m[k] != int64(1) || m[long] != int64(2) || m["escA"] != int64(3) {
			t.Fatalf("record %d: %v", i, m)
		}
	}
	if n := len(c.p.keyTab); n != maxInterned {
		t.Fatalf("%d interned keys, want the bound %d", n, maxInterned)
	}
	if _, ok := c.p.keyTab[long]; ok {
		t.Fatal("a key past maxInternedSz was interned")
	}
}
