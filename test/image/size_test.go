//go:build image

package image

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinaryKeepsNoMethodByName links weir as the image does and fails if
// anything in it calls methods by name through reflect (text/template's
// field evaluation, reflect.Value.MethodByName): the linker then keeps every
// exported method of every type in the binary. One cobra SetVersionTemplate
// did it, and cost 10 MB of the 41 MB image (issue 15). The failure names
// the chain that reaches the culprit.
func TestBinaryKeepsNoMethodByName(t *testing.T) {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -dumpdep", "-o", "/dev/null", "github.com/weirlog/weir/cmd/weir")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build -ldflags=-dumpdep: %v\n%s", err, tail(out.String()))
	}
	parent := map[string]string{} // first edge that reached each symbol
	var culprits []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), " -> ")
		if !ok {
			continue
		}
		from, to = symbol(from), symbol(to)
		if _, seen := parent[to]; !seen {
			parent[to] = from
		}
		if strings.Contains(sc.Text(), "<ReflectMethod>") && !slices.Contains(culprits, from) {
			culprits = append(culprits, from)
		}
	}
	if len(culprits) > 5 {
		t.Errorf("%d functions call methods by name; the first five:", len(culprits))
		culprits = culprits[:5]
	}
	for _, c := range culprits {
		chain := []string{c}
		for x := c; parent[x] != "" && len(chain) < 25; x = parent[x] {
			chain = append(chain, parent[x])
		}
		t.Errorf("%s calls methods by name (reflect), so the linker keeps every exported method; reached through:\n  %s", c, strings.Join(chain, "\n  <- "))
	}
}

func symbol(s string) string {
	s = strings.TrimSpace(s)
	for _, mark := range []string{" <ReflectMethod>", " <UsedInIface>"} {
		s = strings.ReplaceAll(s, mark, "")
	}
	return s
}

func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}
