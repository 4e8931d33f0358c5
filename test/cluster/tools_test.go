//go:build cluster

package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/test/compat/harness"
)

// kcat (librdkafka) sees the whole cluster: 3 brokers, and an RF=3 topic's
// partitions with 3 replicas and 3 in-sync replicas each.
func TestClusterKcatMetadata(t *testing.T) {
	c, topic := startCluster(t, Config{Nodes: 3})
	bin := harness.RequireTool(t, "kcat", "run test/compat/install-kcat.sh (apt-get install -y kcat)")
	out, err := exec.Command(bin, "-b", strings.Join(c.Seeds(), ","), "-L", "-J", "-t", topic).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	var md struct {
		Brokers []struct {
			ID   int32  `json:"id"`
			Name string `json:"name"`
		} `json:"brokers"`
		Topics []struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Leader    int32 `json:"leader"`
				Replicas  []any `json:"replicas"`
				ISRs      []any `json:"isrs"`
			} `json:"partitions"`
		} `json:"topics"`
	}
	if err := json.Unmarshal(out, &md); err != nil {
		t.Fatalf("kcat -L -J output: %v\n%s", err, out)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("kcat sees %d brokers, want 3:\n%s", len(md.Brokers), out)
	}
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != partitions {
		t.Fatalf("kcat topic metadata:\n%s", out)
	}
	for _, p := range md.Topics[0].Partitions {
		if len(p.Replicas) != rf || len(p.ISRs) != rf {
			t.Errorf("kcat: p%d replicas %v isrs %v", p.Partition, p.Replicas, p.ISRs)
		}
	}
	t.Logf("kcat -L: brokers %v", md.Brokers)
}

// franz-go's own kgo integration suite (the same list as on one node, in
// test/compat/franz-suite.sh) with KGO_TEST_RF=3 against the cluster.
func TestClusterFranzSuite(t *testing.T) {
	c := Start(t, Config{Nodes: 3, Args: noConnect})
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "test/compat/franz-suite.sh"), "--broker", strings.Join(c.Seeds(), ","))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KGO_TEST_RF=3", "FRANZ_SUITE_OUT="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("franz-suite.sh against 3 nodes:\n%s", out)
	if err != nil {
		t.Fatalf("franz-suite.sh: %v", err)
	}
}

// The Connect runtime on the cluster: a FileStream source → topic →
// FileStream sink pipeline on node 1 (its worker bootstrapped with every
// node) keeps running while another broker, the leader of the pipeline's
// partition when it is not node 1, is killed; every line comes out.
func TestClusterFileStreamSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	c := Start(t, Config{Nodes: 3, Args: []string{"--connect-file-allowed-dirs", dir},
		ArgsFor: func(c *Cluster, n *Node) []string {
			return []string{"--connect-bootstrap-servers", strings.Join(c.Seeds(), ",")}
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	topic := harness.Name("filestream")
	if err := c.CreateTopic(ctx, topic, 1, rf, minISR2()); err != nil {
		t.Fatal(err)
	}
	const total = 2000
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeLines := func(from, to int) {
		for i := from; i < to; i++ {
			fmt.Fprintf(f, "line-%06d\n", i)
		}
		f.Sync()
	}
	writeLines(0, total/2)
	worker := c.Nodes[0]
	post := func(body string) {
		resp, err := http.Post("http://"+worker.HTTPAddr+"/connectors", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("POST /connectors: %s %s", resp.Status, b.String())
		}
	}
	post(fmt.Sprintf(`{"name":"src","config":{"connector.class":"FileStreamSource","file":%q,"topic":%q}}`, in, topic))
	post(fmt.Sprintf(`{"name":"sink","config":{"connector.class":"FileStreamSink","file":%q,"topics":%q}}`, out, topic))
	waitLines := func(n int, within time.Duration) map[string]int {
		deadline := time.Now().Add(within)
		for {
			b, _ := os.ReadFile(out)
			got := map[string]int{}
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if l != "" {
					got[l]++
				}
			}
			if len(got) >= n || time.Now().After(deadline) {
				return got
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if got := waitLines(total/4, 60*time.Second); len(got) < total/4 {
		t.Fatalf("pipeline moved %d lines in 60 s before any fault", len(got))
	}
	leader, _, err := c.WaitLeader(ctx, topic, 0, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	victim := leader
	if victim == worker {
		victim = c.Nodes[1]
	}
	victim.Kill()
	t.Logf("killed n%d (p0 leader n%d) with %d lines in", victim.ID, leader.ID, total/2)
	writeLines(total/2, total)
	got := waitLines(total, 2*time.Minute)
	dups := 0
	for _, n := range got {
		dups += n - 1
	}
	var missing []string
	for i := 0; i < total; i++ {
		if l := fmt.Sprintf("line-%06d", i); got[l] == 0 && len(missing) < 10 {
			missing = append(missing, l)
		}
	}
	t.Logf("FileStream through a broker kill: %d of %d lines out, %d duplicates", len(got), total, dups)
	if len(got) < total {
		t.Fatalf("lost %d lines, first %v", total-len(got), missing)
	}
}
