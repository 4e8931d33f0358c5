package jsonconv

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

func naivePlainLen(s []byte) int {
	i := 0
	for i < len(s) && plainASCII[s[i]] {
		i++
	}
	return i
}

// TestPlainLen puts every byte value at every position of words of
// plain bytes, and plain runs of every length before it (past two of
// the four-word turns).
func TestPlainLen(t *testing.T) {
	for c := range 256 {
		for pre := range 70 {
			for post := range 10 {
				s := append(append(bytes.Repeat([]byte("a"), pre), byte(c)), bytes.Repeat([]byte("~"), post)...)
				if got, want := plainLen(s), naivePlainLen(s); got != want {
					t.Fatalf("plainLen(%q) = %d, want %d", s, got, want)
				}
				if got, want := plainLen(string(s)), naivePlainLen(s); got != want {
					t.Fatalf("plainLen(string %q) = %d, want %d", s, got, want)
				}
			}
		}
	}
}

// checkUnescaped compares p.unquote with jsontext.AppendUnquote for one
// JSON string the decoder accepts (others are not unquote's input).
func checkUnescaped(t *testing.T, raw []byte) {
	d := jsontext.NewDecoder(bytes.NewReader(raw), docOpts...)
	v, err := d.ReadValue()
	if err != nil || v.Kind() != '"' || d.InputOffset() != int64(len(raw)) {
		return
	}
	want, _ := jsontext.AppendUnquote(nil, raw)
	var p jsonParser
	if got := p.unquote(append([]byte(nil), v...)); !bytes.Equal(got, want) {
		t.Fatalf("unquote(%q) = %q, want %q", raw, got, want)
	}
}

func TestUnquoteMatchesJSONText(t *testing.T) {
	for _, s := range []string{
		`""`, `"plain"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u0041\u00e9\u20AC"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`,
		`"\ud83dx"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`, "\"é€😀\"", "\"bad\xffutf8\"", "\"\xed\xa0\x80\"",
		`"` + strings.Repeat("x", 1000) + `\"q\" back\\slash\ttab ünïcødé ✓` + strings.Repeat("y", 37) + `"`,
		`"v00000001 \"quoted\" back\\slash\ttab ünïcødé ✓` + strings.Repeat("x", 960) + `"`, `"\u00"`, `"\ud83d\u12"`,
	} {
		checkUnescaped(t, []byte(s))
	}
}

func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`a\"b`, `\ud83d\ude00`, "é\xff", `\u0000x\n`, strings.Repeat("x", 17) + `\\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, s []byte) {
		checkUnescaped(t, append(append([]byte{'"'}, s...), '"'))
	})
}

func BenchmarkUnquote1KiB(b *testing.B) {
	raw := []byte(`"v00000001 \"quoted\" back\\slash\ttab ünïcødé ✓` + strings.Repeat("x", 960) + `"`)
	var p jsonParser
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		p.unquote(raw)
	}
}

// checkReadString checks readString on b against the decoder: what it
// takes is a string the decoder reads as the same bytes, and a string the
// decoder reads at the start of b it takes (it never declines a valid one,
// or the one-pass path would be dead code).
func checkReadString(t *testing.T, b []byte) {
	var p jsonParser
	text, n, ok := p.readString(append([]byte(nil), b...))
	d := jsontext.NewDecoder(bytes.NewReader(b), docOpts...)
	v, err := d.ReadValue()
	valid := err == nil && v.Kind() == '"'
	if !ok {
		if valid && len(b) > 0 && b[0] == '"' {
			t.Fatalf("readString(%q) declined the string %q the decoder reads", b, v)
		}
		return
	}
	if !valid {
		t.Fatalf("readString(%q) took %d bytes the decoder does not read as a string (%v)", b, n, err)
	}
	if n != len(v) {
		t.Fatalf("readString(%q) read %d bytes, the decoder %d", b, n, len(v))
	}
	want, _ := jsontext.AppendUnquote(nil, v)
	if !bytes.Equal(text, want) {
		t.Fatalf("readString(%q) = %q, want %q", b, text, want)
	}
	if got := p.unquote(append([]byte(nil), v...)); !bytes.Equal(got, want) {
		t.Fatalf("unquote(%q) = %q, want %q", v, got, want)
	}
}

func TestReadString(t *testing.T) {
	for _, s := range []string{
		`""`, `"plain"}`, `"a\"b\\c\/d"`, `"\b\f\n\r\t" `, `"\u0041\u00e9\u20AC"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`,
		`"\ud83dx"`, `"\ud83d\u0041"`, `"\ud83d\ud83d\ude00"`, "\"é€😀\"", "\"bad\xffutf8\"", "\"\xed\xa0\x80\"",
		`"v00000001 \"quoted\" back\\slash\ttab ünïcødé ✓` + strings.Repeat("x", 960) + `"}`,
		`"\u00"`, `"\ud83d\u12"`, `"abc`, `"abc\"`, "\"ctl\x01\"", "\"tab\t\"", `"\x"`, `"\`, `"é`, "\"\xe2\x9c\"", "\"\xe2\x9c",
		`x"`, ``, `"` + strings.Repeat("y", 17) + `\u00e9"`, "\"\x7f\"",
	} {
		checkReadString(t, []byte(s))
	}
}

func FuzzReadString(f *testing.F) {
	for _, s := range []string{`"a\"b"}`, `"\ud83d\ude00"`, "\"é\xff\"", `"\u0000x\n"`, `"` + strings.Repeat("x", 17) + `\\"`, `"abc`, "\"a\x01\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkReadString)
}

func BenchmarkReadString1KiB(b *testing.B) {
	raw := []byte(`"v00000001 \"quoted\" back\\slash\ttab ünïcødé ✓` + strings.Repeat("x", 960) + `"}`)
	var p jsonParser
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		p.readString(raw)
	}
}

// BenchmarkPlainLen1KiB is the scan of a 1 KiB plain string, the pad of
// the storage benches' records (a tenth of a JSON sink's CPU).
func BenchmarkPlainLen1KiB(b *testing.B) {
	s := []byte(strings.Repeat("abcdefghij", 103) + `"`)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if n := plainLen(s); n != len(s)-1 {
			b.Fatal(n)
		}
	}
}
