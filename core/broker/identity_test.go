package broker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
)

// firstRecord creates topic, produces "new" and returns the value of the
// record at offset 0.
func recreateAndReadFirst(t *testing.T, b *broker.Broker, topic string) string {
	t.Helper()
	cl := client(t, b)
	createTopic(t, cl, topic, 1, nil)
	if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: topic, Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons := client(t, b, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consumeN(t, cons, 1)
	if recs[0].Offset != 0 {
		t.Fatalf("first record at offset %d", recs[0].Offset)
	}
	return string(recs[0].Value)
}

// TestRecreatedTopicNeverServesDeletedRecords: a crash between the
// DeleteTopics commit and the removal of the partition directory (simulated
// by putting the directory back) must not let a re-created topic of the
// same name serve the deleted topic's records, whether the broker restarts
// in between or not (issue 8, item 1).
func TestRecreatedTopicNeverServesDeletedRecords(t *testing.T) {
	dir := t.TempDir()
	saved := t.TempDir()
	withDir := func(c *broker.Config) { c.DataDir = dir }

	b := brokertest.StartWith(t, withDir)
	cl := client(t, b)
	createTopic(t, cl, "phoenix", 1, nil)
	for _, v := range []string{"old-0", "old-1", "old-2"} {
		if err := cl.ProduceSync(ctxT(t), &kgo.Record{Topic: "phoenix", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	b.Close()
	meta, err := os.ReadFile(filepath.Join(dir, "phoenix-0", "partition.metadata"))
	if err != nil || !strings.HasPrefix(string(meta), "version: 0\ntopic_id: ") {
		t.Fatalf("partition.metadata: %q %v", meta, err)
	}
	if err := os.CopyFS(filepath.Join(saved, "phoenix-0"), os.DirFS(filepath.Join(dir, "phoenix-0"))); err != nil {
		t.Fatal(err)
	}
	putBack := func() {
		t.Helper()
		os.RemoveAll(filepath.Join(dir, "phoenix-0"))
		if err := os.CopyFS(filepath.Join(dir, "phoenix-0"), os.DirFS(filepath.Join(saved, "phoenix-0"))); err != nil {
			t.Fatal(err)
		}
	}
	deleteTopic := func(b *broker.Broker) {
		t.Helper()
		resp, err := kadm.NewClient(client(t, b)).DeleteTopics(ctxT(t), "phoenix")
		if err != nil || resp["phoenix"].Err != nil {
			t.Fatalf("delete: %v %v", err, resp["phoenix"].Err)
		}
	}

	// 1. Deleted, the directory left behind, the broker restarted: the
	// stray is set aside at start, the new topic starts empty.
	b = brokertest.StartWith(t, withDir)
	deleteTopic(b)
	b.Close()
	putBack()
	b = brokertest.StartWith(t, withDir)
	if v := recreateAndReadFirst(t, b, "phoenix"); v != "new" {
		t.Fatalf("after restart, the re-created topic's offset 0 is %q: the deleted topic's record", v)
	}

	// 2. Deleted and the directory back while the broker runs: the
	// re-creation finds a directory of another topic id and sets it aside.
	deleteTopic(b)
	putBack()
	if v := recreateAndReadFirst(t, b, "phoenix"); v != "new" {
		t.Fatalf("the re-created topic's offset 0 is %q: the deleted topic's record", v)
	}
	ents, _ := os.ReadDir(dir)
	aside := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "phoenix-0.") && strings.HasSuffix(e.Name(), "-stray") {
			aside++
		}
	}
	if aside != 2 {
		t.Fatalf("%d set-aside directories, want 2 (one per case)", aside)
	}
}

// TestStrayDirectoriesDeletedAfterGrace: partition directories of topics
// the metadata does not know are set aside at start and deleted once the
// grace period has passed (issue 8, item 1).
func TestStrayDirectoriesDeletedAfterGrace(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.StartWith(t, func(c *broker.Config) { c.DataDir = dir })
	createTopic(t, client(t, b), "orphan", 2, nil)
	b.Close()
	// Lose the metadata of "orphan" only: move its directories to a fresh
	// data directory whose metadata never heard of it.
	dir2 := t.TempDir()
	for _, p := range []string{"orphan-0", "orphan-1"} {
		if err := os.Rename(filepath.Join(dir, p), filepath.Join(dir2, p)); err != nil {
			t.Fatal(err)
		}
	}
	b = brokertest.StartWith(t, func(c *broker.Config) { c.DataDir = dir2; c.StrayGracePeriod = 300 * time.Millisecond })
	if _, err := os.Stat(filepath.Join(dir2, "orphan-0")); !os.IsNotExist(err) {
		t.Fatalf("stray orphan-0 still in place: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ents, _ := os.ReadDir(dir2)
		left := 0
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "orphan-") {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d stray directories not deleted after the grace period", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
