package buildinfo

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStampedVersion builds a tiny program with the Makefile's -ldflags and
// checks the stamped values win over the toolchain's.
func TestStampedVersion(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "printver")
	ld := "-X github.com/weirlog/weir/internal/buildinfo.version=v9.8.7-3-gabc -X github.com/weirlog/weir/internal/buildinfo.commit=abc1234"
	out, err := exec.Command("go", "build", "-ldflags", ld, "-o", bin, "./testdata/printver").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	got, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "v9.8.7-3-gabc abc1234" {
		t.Fatalf("stamped build says %q", got)
	}
}

func TestUnstampedHasAVersion(t *testing.T) {
	if v := Version(); v == "" || strings.Contains(v, "(devel)") {
		t.Fatalf("Version() = %q", v)
	}
	if Commit() == "" {
		t.Fatal("empty commit")
	}
}
