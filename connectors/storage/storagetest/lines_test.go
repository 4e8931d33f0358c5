package storagetest

import "testing"

func TestLineValue(t *testing.T) {
	for _, tc := range []struct {
		line string
		want any
		err  bool
	}{
		{`"v00000042 \"q\" xxx"`, `v00000042 "q" xxx`, false},
		{`{"a":1}`, map[string]any{"a": 1.0}, false},
		{`"v00000042 unterminated`, nil, true},
	} {
		got, err := LineValue([]byte(tc.line))
		if (err != nil) != tc.err {
			t.Errorf("LineValue(%s) error %v", tc.line, err)
			continue
		}
		if m, ok := tc.want.(map[string]any); ok {
			if g, ok := got.(map[string]any); !ok || g["a"] != m["a"] {
				t.Errorf("LineValue(%s) = %v, want %v", tc.line, got, tc.want)
			}
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("LineValue(%s) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
