package jsonconv

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `a"b\c`, "tab\tnl\n\x01\x1f", "é€😀", "bad\xffutf8", strings.Repeat("7", 964), "x\"", "\\"} {
		got := string(appendJSONString(nil, s))
		var back string
		if err := json.Unmarshal([]byte(got), &back); err != nil {
			t.Fatalf("%q → %s: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if back != want {
			t.Errorf("%q → %s → %q", s, got, back)
		}
	}
}

func BenchmarkAppendJSONString1KiB(b *testing.B) {
	s := strings.Repeat("5", 1000)
	buf := make([]byte, 0, 2048)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = appendJSONString(buf[:0], s)
	}
}
