package jsonconv

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

// rawSchema has a field of every type the pass-through takes, and of
// those it declines.
const rawSchema = `{"type":"struct","fields":[` +
	`{"field":"b","type":"boolean","optional":true},{"field":"i8","type":"int8"},{"field":"i","type":"int32"},` +
	`{"field":"l","type":"int64","optional":true},{"field":"f","type":"float","optional":true},{"field":"d","type":"double"},` +
	`{"field":"y","type":"bytes","optional":true},{"field":"s","type":"string","optional":true,"default":"dflt"},` +
	`{"field":"a","type":"array","items":{"type":"string","optional":true}},` +
	`{"field":"m","type":"map","keys":{"type":"string"},"values":{"type":"int32"},"optional":true},` +
	`{"field":"t","type":"int64","name":"org.apache.kafka.connect.data.Timestamp","optional":true},` +
	`{"field":"tm","type":"int32","name":"org.apache.kafka.connect.data.Time","optional":true},` +
	`{"field":"n","type":"struct","optional":true,"fields":[{"field":"x","type":"string"}]}]}`

const rawCanonical = `{"b":true,"i8":-128,"i":-12,"l":9223372036854775807,"f":1.5,"d":-1.0E-4,"y":"AJw=","s":"x\"\\\t\u001F ünï ✓",` +
	`"a":["",null,"z"],"m":{"a":1,"b":-2},"t":1700000000000,"tm":86399999,"n":{"x":"q"}}`

// plainFormat is the storage sinks' JsonFormat converter: what the full
// path writes a record's value with.
func plainFormat(t testing.TB) *JSONConverter {
	c := NewJSONConverter()
	if err := c.Configure(plugins.Config{"schemas.enable": "false"}, false); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRaw asserts the pass-through rule for data on a converter c
// warmed as the caller wants: if ToConnectRawJSON takes it, ToConnect
// succeeds with the same schema and the format writes exactly the
// payload, which is one line of valid JSON; the envelope written from
// the raw value is the envelope written from the decoded one.
func checkRaw(t *testing.T, c *JSONConverter, data []byte) bool {
	t.Helper()
	s, raw, ok := c.ToConnectRawJSON("t", data)
	if !ok {
		return false
	}
	s2, v, err := c.ToConnect("t", data)
	if err != nil {
		t.Fatalf("ToConnectRawJSON took %q, ToConnect fails: %v", data, err)
	}
	if s != s2 {
		t.Fatalf("%q: raw schema %v, decoded %v", data, s, s2)
	}
	if v == nil {
		t.Fatalf("%q: passed a payload that decodes to nil", data)
	}
	out, err := plainFormat(t).AppendFromConnect(nil, "t", s2, v)
	if err != nil {
		t.Fatalf("%q: the format cannot write the decoded value: %v", data, err)
	}
	if !bytes.Equal(out, raw) {
		t.Fatalf("%q: passed %s, the full path writes %s", data, raw, out)
	}
	if !json.Valid(raw) || bytes.ContainsAny(raw, "\n\r") {
		t.Fatalf("%q: passed %q, not one line of JSON", data, raw)
	}
	env := NewJSONConverter()
	e1, err1 := env.FromConnect("t", s, raw)
	e2, err2 := NewJSONConverter().FromConnect("t", s2, v)
	if err1 != nil || err2 != nil || !bytes.Equal(e1, e2) {
		t.Fatalf("%q: envelope of the raw value %s (%v), of the decoded one %s (%v)", data, e1, err1, e2, err2)
	}
	return true
}

func warmed(t *testing.T, schema string) *JSONConverter {
	t.Helper()
	c := NewJSONConverter()
	if _, _, err := c.ToConnect("t", envelope(schema, `null`)); err != nil && !strings.Contains(err.Error(), "null") {
		t.Fatal(err)
	}
	if c.lastRaw == nil {
		t.Fatalf("schema %s not remembered", schema)
	}
	return c
}

func TestRawJSONCanonicalPasses(t *testing.T) {
	c := warmed(t, rawSchema)
	if !checkRaw(t, c, envelope(rawSchema, rawCanonical)) {
		t.Fatalf("canonical payload declined: %s", rawCanonical)
	}
	// The benches' record: a string with escapes and non-ASCII text.
	str := `{"type":"string","optional":false}`
	c = warmed(t, str)
	bench := `"v00000001 \"quoted\" back\\slash\ttab ünïcødé ✓` + strings.Repeat("x", 960) + `"`
	if !checkRaw(t, c, envelope(str, bench)) {
		t.Fatal("the benches' record declined")
	}
	// Trailing whitespace after the envelope is the envelope's.
	if !checkRaw(t, c, append(envelope(str, `"a"`), " \n"...)) {
		t.Fatal("trailing newline after the envelope declined")
	}
}

// TestRawJSONWrittenByFromConnect: whatever FromConnect writes of a
// value, the pass-through takes (for the types it takes) and hands on
// exactly as the full path writes it.
func TestRawJSONWrittenByFromConnect(t *testing.T) {
	item := &plugins.Schema{Type: plugins.TypeString, Optional: true}
	nested := plugins.StructSchema("", plugins.Field{Name: "x", Schema: plugins.StringSchema})
	s := plugins.StructSchema("", plugins.Field{Name: "f32", Schema: &plugins.Schema{Type: plugins.TypeFloat32}},
		plugins.Field{Name: "f64", Schema: &plugins.Schema{Type: plugins.TypeFloat64}},
		plugins.Field{Name: "i16", Schema: &plugins.Schema{Type: plugins.TypeInt16}},
		plugins.Field{Name: "bytes", Schema: plugins.BytesSchema},
		plugins.Field{Name: "text", Schema: plugins.StringSchema},
		plugins.Field{Name: "list", Schema: plugins.ArraySchema(item)},
		plugins.Field{Name: "map", Schema: plugins.MapSchema(plugins.StringSchema, &plugins.Schema{Type: plugins.TypeInt64})},
		plugins.Field{Name: "date", Schema: plugins.DateSchema()},
		plugins.Field{Name: "nested", Schema: nested})
	texts := []string{"", "plain", "\x00\x01\x1f\x7f", "\b\t\n\f\r\"\\/", "ünï ✓ 😀 \u2028", "\xff bad utf-8"}
	floats := []float64{0, math.Copysign(0, -1), 1, 0.1, 1e7, 1e-4, 123456.789, math.MaxFloat32, math.SmallestNonzeroFloat64, 3.4e38, 1e300}
	enc := NewJSONConverter()
	for i, f := range floats {
		text := texts[i%len(texts)]
		st := plugins.NewStruct(s)
		nv := plugins.NewStruct(nested)
		put := func(st *plugins.Struct, k string, v any) {
			if err := st.Put(k, v); err != nil {
				t.Fatal(err)
			}
		}
		put(nv, "x", text)
		put(st, "f32", float32(f))
		put(st, "f64", f)
		put(st, "i16", int16(i*1000-5000))
		put(st, "bytes", bytes.Repeat([]byte{byte(i), 0xff}, i))
		put(st, "text", text)
		put(st, "list", []any{texts[(i+1)%len(texts)], nil})
		put(st, "map", map[string]any{"z": int64(i), "a": int64(-i), text + "k": int64(1)})
		put(st, "date", time.Date(2000+i, 1, 2, 0, 0, 0, 0, time.UTC))
		put(st, "nested", nv)
		data, err := enc.FromConnect("t", s, st)
		if err != nil {
			t.Fatal(err)
		}
		c := NewJSONConverter()
		if _, _, err := c.ToConnect("t", data); err != nil {
			t.Fatal(err)
		}
		passed := checkRaw(t, c, data)
		// Map keys with escapes decline; everything else FromConnect
		// writes passes (invalid UTF-8 it writes as U+FFFD) but an infinite
		// float, written as a string.
		want := !strings.ContainsAny(text, "\x00\x01\x1f\b\t\n\f\r\"\\") && !math.IsInf(float64(float32(f)), 0)
		if passed != want {
			t.Errorf("value %d (%q): passed %v, want %v: %s", i, text, passed, want, data)
		}
	}
}

func TestRawJSONDeclines(t *testing.T) {
	c := warmed(t, rawSchema)
	// Each is the canonical payload with one change the full path writes
	// otherwise (or fails).
	for _, tc := range []struct{ from, to string }{
		{`"b":true`, `"b":1`},                        // type mismatch: an error
		{`"i8":-128`, `"i8":-129`},                   // out of range: narrowed
		{`"i":-12`, `"i":-12.0`},                     // fraction
		{`"i":-12`, `"i":-1.2e1`},                    // exponent
		{`"i":-12`, `"i":-0`},                        // written 0
		{`"d":-1.0E-4`, `"d":-0.0001`},               // Java spells it -1.0E-4
		{`"d":-1.0E-4`, `"d":-1e-4`},                 // same
		{`"d":-1.0E-4`, `"d":1E400`},                 // infinite
		{`"d":-1.0E-4`, `"d":"NaN"`},                 // a string
		{`"f":1.5`, `"f":0.1000000001`},              // not a float's spelling
		{`"f":1.5`, `"f":3.5E38`},                    // overflows float32
		{`"y":"AJw="`, `"y":"AJw"`},                  // unpadded
		{`"y":"AJw="`, `"y":"AJx="`},                 // stray bits
		{`"y":"AJw="`, `"y":"AJ\/="`},                // escaped
		{`"s":"x`, `"s":"\u0078`},                    // an escape the writer does not use
		{`"s":"x`, `"s":"\/`},                        // same
		{`"s":"x`, `"s":"\u001f`},                    // lower-case hex
		{`"s":"x`, `"s":"\u000A`},                    // \n has a short escape
		{`"s":"x`, `"s":"\ud83d\ude00`},              // a surrogate pair: written raw
		{`"s":"x`, "\"s\":\"\xff"},                   // invalid UTF-8: written as U+FFFD
		{`"s":"x`, "\"s\":\"\x01"},                   // a raw control character: an error
		{`"s":"x`, `"s":null,"x":"`},                 // an extra field
		{`"s":"x\"\\\t\u001F ünï ✓"`, `"s":null`},    // null with a default: the default
		{`"a":["",null,"z"]`, `"a":["", null,"z"]`},  // whitespace
		{`"m":{"a":1,"b":-2}`, `"m":{"b":-2,"a":1}`}, // key order
		{`"m":{"a":1,"b":-2}`, `"m":{"a":1,"a":-2}`}, // a repeated key
		{`"m":{"a":1,"b":-2}`, `"m":{"\u0061":1}`},   // an escaped key
		{`"tm":86399999`, `"tm":86400000`},           // not a time of day
		{`"b":true,`, ``},                            // a missing field
		{`"n":{"x":"q"}`, `"n":{"x":null}`},          // required
		{`"i8":-128,"i":-12`, `"i":-12,"i8":-128`},   // field order
	} {
		p := strings.Replace(rawCanonical, tc.from, tc.to, 1)
		if p == rawCanonical {
			t.Fatalf("%s not in the payload", tc.from)
		}
		if checkRaw(t, c, envelope(rawSchema, p)) {
			t.Errorf("passed %s", p)
		}
	}
	for _, data := range []string{
		`{"schema":` + rawSchema + `,"payload":null}`,                       // null: a nil value
		`{"schema":` + rawSchema + ` ,"payload":` + rawCanonical + `}`,      // another spelling of the envelope
		`{"schema":` + rawSchema + `,"payload":` + rawCanonical + `}x`,      // trailing garbage
		`{"schema":` + rawSchema + `,"payload":` + rawCanonical + `,"x":1}`, // extra member
		`{"payload":` + rawCanonical + `,"schema":` + rawSchema + `}`,
		`{"schema":{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2"}},"payload":"AJw="}`,
		`{"schema":null,"payload":{"a":1}}`,
		``, `[`, `{"schema":`,
	} {
		if checkRaw(t, c, []byte(data)) {
			t.Errorf("passed %s", data)
		}
	}
	plain := plainFormat(t)
	if _, _, ok := plain.ToConnectRawJSON("t", []byte(`{"a":1}`)); ok {
		t.Error("schemas.enable=false passed a payload")
	}
}

// A stream that never passes stops being scanned, except now and then.
func TestRawJSONGivesUp(t *testing.T) {
	c := warmed(t, rawSchema)
	bad := envelope(rawSchema, strings.Replace(rawCanonical, `"i":-12`, `"i":-12.0`, 1))
	tried := 0
	for range rawGiveUp + 2*rawRetry {
		before := c.rawMisses
		c.ToConnectRawJSON("t", bad)
		if c.rawMisses == before+1 && (before < rawGiveUp || (before+1)%rawRetry == 0) {
			tried++
		}
	}
	if tried > rawGiveUp+3 {
		t.Errorf("tried %d times", tried)
	}
	if !checkRaw(t, c, envelope(rawSchema, rawCanonical)) {
		// One in rawRetry is tried: find it.
		ok := false
		for range rawRetry {
			if _, _, ok = c.ToConnectRawJSON("t", envelope(rawSchema, rawCanonical)); ok {
				break
			}
		}
		if !ok {
			t.Fatal("a canonical record never passes after declines")
		}
	}
	if c.rawMisses != 0 {
		t.Errorf("misses %d after a pass", c.rawMisses)
	}
}

// FuzzJSONRawPass checks the pass-through rule (checkRaw) on a converter
// that read a first, with the value converter settings that change
// decoding.
func FuzzJSONRawPass(f *testing.F) {
	str := `{"type":"string","optional":true}`
	f.Add(envelope(rawSchema, `null`), envelope(rawSchema, rawCanonical), uint8(0))
	f.Add(envelope(rawSchema, `null`), envelope(rawSchema, strings.Replace(rawCanonical, `"s":"x`, `"s":null,"x":"`, 1)), uint8(1))
	f.Add(envelope(rawSchema, `null`), envelope(rawSchema, strings.Replace(rawCanonical, `"s":"x\"\\\t\u001F ünï ✓"`, `"s":null`, 1)), uint8(1))
	f.Add(envelope(str, `"a"`), envelope(str, `"x\"y\\z\ttab ünï ✓ \u00e9\ud83d\ude00"`), uint8(0))
	f.Add(envelope(str, `"a"`), envelope(str, "\"\\u0000\\u001F\\u007f\x7f\""), uint8(0))
	for _, p := range []string{`[]`, `[1.0,-0.0,1.0E10,1.0E-5,3.4028235E38]`, `[1,1.5E300,NaN]`, `[0.1,1.0E-45]`} {
		f.Add(envelope(`{"type":"array","items":{"type":"float"}}`, `[]`), envelope(`{"type":"array","items":{"type":"float"}}`, p), uint8(0))
		f.Add(envelope(`{"type":"array","items":{"type":"double"}}`, `[]`), envelope(`{"type":"array","items":{"type":"double"}}`, p), uint8(2))
	}
	for _, p := range []string{`""`, `"AA=="`, `"AB=="`, `"AAA="`, `"////"`, `"A==="`} {
		f.Add(envelope(`{"type":"bytes"}`, `""`), envelope(`{"type":"bytes"}`, p), uint8(0))
	}
	for _, p := range []string{`{}`, `{"":1,"a":2}`, `{"a":null}`, `{"b":1,"a":2}`, `{"é":1,"z":2}`} {
		sch := `{"type":"map","keys":{"type":"string"},"values":{"type":"int8","optional":true}}`
		f.Add(envelope(sch, `{}`), envelope(sch, p), uint8(3))
	}
	for _, p := range []string{`0`, `-1`, `86399999`, `86400000`, `-0`, `1e3`} {
		sch := `{"type":"int32","name":"org.apache.kafka.connect.data.Time"}`
		f.Add(envelope(sch, `0`), envelope(sch, p), uint8(0))
	}
	f.Fuzz(func(t *testing.T, a, b []byte, mode uint8) {
		c := NewJSONConverter()
		cfg := plugins.Config{}
		if mode&1 != 0 {
			cfg["replace.null.with.default"] = "false"
		}
		if mode&2 != 0 {
			cfg["decimal.format"] = "NUMERIC"
		}
		if err := c.Configure(cfg, false); err != nil {
			t.Fatal(err)
		}
		_, _, _ = c.ToConnect("t", a)
		checkRaw(t, c, b)
	})
}

// BenchmarkRawJSON compares the pass-through of the benches' record with
// ToConnect and the format's encoding, the work it saves.
func BenchmarkRawJSON(b *testing.B) {
	str := `{"type":"string","optional":false}`
	data := envelope(str, `"v00000001 \"quoted\" back\\slash\ttab ünïcødé ✓`+strings.Repeat("x", 960)+`"`)
	b.Run("pass", func(b *testing.B) {
		c := NewJSONConverter()
		c.ToConnect("t", data)
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, _, ok := c.ToConnectRawJSON("t", data); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("decode+encode", func(b *testing.B) {
		c, enc := NewJSONConverter(), plainFormat(b)
		var out []byte
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			s, v, err := c.ToConnect("t", data)
			if err != nil {
				b.Fatal(err)
			}
			if out, err = enc.AppendFromConnect(out[:0], "t", s, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
