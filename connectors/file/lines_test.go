package file

import (
	"bytes"
	"testing"
)

func TestNextLine(t *testing.T) {
	tests := []struct {
		in   string
		line string
		n    int
		ok   bool
	}{
		{"a\nb", "a", 2, true},
		{"a\r\nb", "a", 3, true},
		{"a\rb", "a", 2, true},
		{"a\r", "", 0, false},
		{"abc", "", 0, false},
		{"\n", "", 1, true},
		{"", "", 0, false},
	}
	for _, tc := range tests {
		line, n, ok := nextLine([]byte(tc.in))
		if string(line) != tc.line || n != tc.n || ok != tc.ok {
			t.Errorf("nextLine(%q) = %q, %d, %v; want %q, %d, %v", tc.in, line, n, ok, tc.line, tc.n, tc.ok)
		}
	}
}

// FuzzNextLine checks the line splitter on arbitrary file contents: lines
// never contain terminators, consumed bytes are exactly line+terminator,
// and what is left holds no complete line.
func FuzzNextLine(f *testing.F) {
	for _, s := range []string{"a\nb\r\nc\rd", "\r\r\n\n", "partial", "x\r"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rest := b
		for {
			line, n, ok := nextLine(rest)
			if !ok {
				break
			}
			if bytes.ContainsAny(line, "\r\n") {
				t.Fatalf("line %q contains a terminator", line)
			}
			term := rest[len(line):n]
			if s := string(term); s != "\n" && s != "\r\n" && s != "\r" {
				t.Fatalf("consumed terminator %q", term)
			}
			rest = rest[n:]
		}
		if i := bytes.IndexAny(rest, "\r\n"); i >= 0 && !(i == len(rest)-1 && rest[i] == '\r') {
			t.Fatalf("left %q with a complete line in it", rest)
		}
	})
}
