package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Name returns prefix plus a random suffix: topic and group names never
// collide between tests or runs against a long-lived external broker.
func Name(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Client returns a franz-go client for addr, closed when t ends.
func Client(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates topic with the given partitions, replication factor 1.
func CreateTopic(t testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(Client(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s (%d partitions): %v", topic, partitions, err)
	}
	// Wait until metadata shows every partition with a leader, as a client
	// that creates and immediately uses a topic expects.
	deadline := time.Now().Add(15 * time.Second)
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil {
			td, ok := md.Topics[topic]
			if ok && td.Err == nil && len(td.Partitions) == int(partitions) {
				allLed := true
				for _, p := range td.Partitions {
					if p.Leader < 0 || p.Err != nil {
						allLed = false
					}
				}
				if allLed {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s created but metadata never showed %d led partitions (last err %v)", topic, partitions, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RequireTool fails t (never skips) when name is not on PATH.
func RequireTool(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found on PATH (%v): %s", name, err, hint)
	}
	return p
}

// Result is what a finished command left behind.
type Result struct {
	Stdout, Stderr string
	Err            error
	Elapsed        time.Duration
}

// Exec runs name with args, stdin (may be nil), bounded by timeout. The
// command is killed when the timeout passes; Err is then non-nil.
func Exec(timeout time.Duration, stdin []byte, name string, args ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = os.Environ()
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, errors.Join(err, ctx.Err()))
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Err: err, Elapsed: time.Since(start)}
}

// MustExec is Exec that fails t when the command fails.
func MustExec(t testing.TB, timeout time.Duration, stdin []byte, name string, args ...string) Result {
	t.Helper()
	r := Exec(timeout, stdin, name, args...)
	if r.Err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), r.Err, clip(r.Stdout), clip(r.Stderr))
	}
	return r
}

func clip(s string) string {
	const max = 4000
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}
