package storagetest

import "testing"

func TestLineValue(t *testing.T) {
	for _, tc := range []struct {
		line   string
		idOnly bool
		want   any
		err    bool
	}{
		{`"v00000042 \"q\" xxx"`, true, "v00000042", false},
		{`"v00000042 \"q\" xxx"`, false, `v00000042 "q" xxx`, false},
		{`"v0000004x xxx"`, true, "v0000004x xxx", false}, // not an id: decoded
		{`{"a":1}`, true, map[string]any{"a": 1.0}, false},
		{`"v00000042 unterminated`, true, nil, true},
	} {
		got, err := LineValue([]byte(tc.line), tc.idOnly)
		if (err != nil) != tc.err {
			t.Errorf("LineValue(%s, %v) error %v", tc.line, tc.idOnly, err)
			continue
		}
		if m, ok := tc.want.(map[string]any); ok {
			if g, ok := got.(map[string]any); !ok || g["a"] != m["a"] {
				t.Errorf("LineValue(%s) = %v, want %v", tc.line, got, tc.want)
			}
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("LineValue(%s, %v) = %q, want %q", tc.line, tc.idOnly, got, tc.want)
		}
	}
}
