//go:build image

package image

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/internal/testutil"
)

func imageName() string {
	if s := os.Getenv("WEIR_IMAGE"); s != "" {
		return s
	}
	return "weir:latest"
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestImageServesKafkaWithHostNetwork runs the image on free loopback ports,
// produces and consumes through it, and checks the image's promises: numeric
// non-root user, weir health as HEALTHCHECK, and the start figures.
func TestImageServesKafkaWithHostNetwork(t *testing.T) {
	img := imageName()
	var cfg struct {
		Size   int64
		Config struct {
			User        string
			Entrypoint  []string
			Env         []string
			Healthcheck struct{ Test []string }
		}
	}
	if err := json.Unmarshal([]byte(docker(t, "image", "inspect", "--format", "{{json .}}", img)), &cfg); err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: %.1f MB", img, float64(cfg.Size)/1e6)
	// Target < 40 MB (issue 15). The image is the binary alone: 31 MB
	// once text/template's method-by-name stopped the linker from dropping
	// unused methods (TestBinaryKeepsNoMethodByName) and the Elasticsearch
	// sink linked only the APIs it calls.
	if cfg.Size >= 40e6 {
		t.Errorf("image is %d bytes, target < 40 MB", cfg.Size)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", cfg.Config.User)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "/weir serve" {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	if got := strings.Join(cfg.Config.Healthcheck.Test, " "); got != "CMD /weir health" {
		t.Errorf("healthcheck %q", got)
	}

	kafka := testutil.FreePort(t)
	httpAddr := testutil.FreePort(t)
	name := fmt.Sprintf("weir-image-test-%d", time.Now().UnixNano())
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", "-v", name).Run() })

	runAt := time.Now()
	docker(t, "run", "-d", "--name", name, "--network", "host",
		"-e", "WEIR_KAFKA_ADDR="+kafka, "-e", "WEIR_HTTP_ADDR="+httpAddr,
		"-e", "WEIR_ADVERTISED_KAFKA_ADDR="+kafka, img)
	runReturned := time.Now()

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DefaultProduceTopic("image-test"), kgo.AllowAutoTopicCreation(), kgo.MetadataMinAge(10*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 2 * time.Millisecond }),
		kgo.ConsumeTopics("image-test"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// franz-go retries dials until the deadline, so the first ack comes as
	// soon as the broker can take it.
	var acked time.Time
	for acked.IsZero() {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello from a container")}).FirstErr(); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("no produce acked within 30s: %v\n%s", err, logs(name))
			}
			time.Sleep(2 * time.Millisecond)
			continue
		}
		acked = time.Now()
	}
	started, err := time.Parse(time.RFC3339Nano, docker(t, "inspect", "--format", "{{.State.StartedAt}}", name))
	if err != nil {
		t.Fatal(err)
	}
	fromStart, fromRun := acked.Sub(started), acked.Sub(runAt)
	// One line in a fixed shape: test/bench/image.sh takes medians of it.
	fmt.Printf("weir image: %.1f MB; container start (State.StartedAt) -> first ack %d ms; docker run -> first ack %d ms (docker run itself %d ms)\n",
		float64(cfg.Size)/1e6, fromStart.Milliseconds(), fromRun.Milliseconds(), runReturned.Sub(runAt).Milliseconds())
	// The targets (issue 15) are 200 ms and 1.5 s; on 2 shared cores
	// docker run alone varies from 0.3 to over 1 s, so the test fails only
	// far past them and reports a miss of the target itself.
	if fromStart > 200*time.Millisecond || fromRun > 1500*time.Millisecond {
		t.Logf("over target: start -> ack %v (target 200 ms), docker run -> ack %v (target 1.5 s)", fromStart, fromRun)
	}
	if fromStart > 3*time.Second || fromRun > 10*time.Second {
		t.Errorf("start -> ack %v, docker run -> ack %v: far past the targets", fromStart, fromRun)
	}

	fetches := cl.PollFetches(ctx)
	if errs := fetches.Errors(); len(errs) > 0 {
		t.Fatalf("consume: %v", errs)
	}
	if recs := fetches.Records(); len(recs) == 0 || string(recs[0].Value) != "hello from a container" {
		t.Fatalf("consumed %v", recs)
	}

	// The HEALTHCHECK command works inside the image (no shell, no curl).
	if out, err := exec.Command("docker", "exec", name, "/weir", "health").CombinedOutput(); err != nil || !strings.Contains(string(out), "healthy") {
		t.Fatalf("docker exec weir health: %v %s", err, out)
	}
	if out := docker(t, "exec", name, "/weir", "version"); !strings.HasPrefix(out, "weir ") || strings.Contains(out, "unknown") {
		t.Errorf("weir version in the image: %q", out)
	}
}

func logs(name string) string {
	out, _ := exec.Command("docker", "logs", "--tail", "40", name).CombinedOutput()
	return string(out)
}
