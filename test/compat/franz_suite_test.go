package compat_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// fakeKgoTest stands in for franz-go's compiled kgo tests: it passes every
// test except those named in FAKE_FAIL (fail) and FAKE_SKIP (skip), and
// notes in the file FAKE_RAN when each test starts (+name) and ends (-name).
const fakeKgoTest = `#!/bin/sh
name=$(echo "$2" | sed 's/^\^//; s/\$$//')
[ -n "$FAKE_RAN" ] && echo "+$name" >>"$FAKE_RAN" && sleep 0.05 && echo "-$name" >>"$FAKE_RAN"
case " $FAKE_FAIL " in *" $name "*) echo "    fake_test.go:1: regressed"; echo "--- FAIL: $name (0.00s)"; echo FAIL; exit 1;; esac
case " $FAKE_SKIP " in *" $name "*) echo "--- SKIP: $name (0.00s)"; echo PASS; exit 0;; esac
echo "--- PASS: $name (0.00s)"; echo PASS
`

// TestFranzSuiteStrictByDefault: franz-suite.sh fails when an extra test
// that passes today regresses (fails or starts skipping), unless
// FRANZ_SUITE_STRICT=0; the one extra that skips by design on a modern
// broker may skip but not fail. The same holds with tests run at once
// (FRANZ_SUITE_JOBS, as test/cluster runs the suite).
func TestFranzSuiteStrictByDefault(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "kgo.test")
	if err := os.WriteFile(fake, []byte(fakeKgoTest), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, jobs := range []string{"1", "3"} {
		t.Run("jobs="+jobs, func(t *testing.T) { testFranzSuiteStrict(t, fake, jobs) })
	}
}

func testFranzSuiteStrict(t *testing.T, fake, jobs string) {
	heavy := map[string]bool{"TestGroupETL": true, "TestClient_Produce": true}
	const bySkip = "TestIssueProduceBrokerTooOldFailsRecords"
	run := func(env ...string) (int, string) {
		ran := filepath.Join(t.TempDir(), "ran")
		cmd := exec.Command("bash", "../../test/compat/franz-suite.sh", "--broker", "127.0.0.1:1")
		cmd.Env = append(os.Environ(), "FRANZ_SUITE_KGO_TEST="+fake, "FRANZ_SUITE_OUT="+t.TempDir(), "FRANZ_SUITE_STRICT=", "FAKE_FAIL=", "FAKE_SKIP=", "FRANZ_SUITE_JOBS="+jobs, "FAKE_RAN="+ran)
		cmd.Env = append(cmd.Env, env...)
		out, _ := cmd.CombinedOutput()
		// Every test the script ran has its line in the summary; at most
		// jobs ran at once, and never two heavy ones.
		b, _ := os.ReadFile(ran)
		var names []string
		running, most := map[string]bool{}, 0
		for _, ev := range strings.Fields(string(b)) {
			n := ev[1:]
			if ev[0] == '-' {
				delete(running, n)
				continue
			}
			names = append(names, n)
			running[n] = true
			most = max(most, len(running))
			if heavy[n] {
				for o := range running {
					if o != n && heavy[o] {
						t.Errorf("heavy tests %s and %s ran at once", n, o)
					}
				}
			}
		}
		if want, _ := strconv.Atoi(jobs); most > want {
			t.Errorf("%d tests ran at once, FRANZ_SUITE_JOBS=%s", most, jobs)
		}
		if len(names) < 20 {
			t.Errorf("the script ran %d tests: %q", len(names), names)
		}
		for _, n := range names {
			if !regexp.MustCompile(`(?m)^\S+\s+(required|extra)\s+` + n + `\s`).MatchString(string(out)) {
				t.Errorf("%s ran but has no summary line:\n%s", n, out)
			}
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	for _, c := range []struct {
		name string
		env  []string
		want int
	}{
		{"everything passes, the by-design skip skips", []string{"FAKE_SKIP=" + bySkip}, 0},
		{"an extra fails", []string{"FAKE_SKIP=" + bySkip, "FAKE_FAIL=TestIssue523"}, 1},
		{"an extra fails, not strict", []string{"FAKE_SKIP=" + bySkip, "FAKE_FAIL=TestIssue523", "FRANZ_SUITE_STRICT=0"}, 0},
		{"an extra starts skipping", []string{"FAKE_SKIP=" + bySkip + " TestPing"}, 1},
		{"the by-design skip fails", []string{"FAKE_FAIL=" + bySkip}, 1},
		{"a required test fails", []string{"FAKE_SKIP=" + bySkip, "FAKE_FAIL=TestGroupSimple", "FRANZ_SUITE_STRICT=0"}, 1},
	} {
		code, out := run(c.env...)
		if code != c.want {
			t.Errorf("%s: exit %d, want %d\n%s", c.name, code, c.want, out)
		}
		if c.want == 1 && !strings.Contains(out, "FAIL") && !strings.Contains(out, "SKIP ") {
			t.Errorf("%s: the summary does not show what failed:\n%s", c.name, out)
		}
	}
}
