package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/weirlog/weir/plugins"
)

// TestSourceFileTakenAway: a tailed file renamed away makes Poll fail
// retriably (the runtime shows it and retries); renamed back, reading
// goes on where it was; replaced by another file, that file is read from
// the stored offset.
func TestSourceFileTakenAway(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	appendFile(t, path, "a\nb\n")
	task := startSource(t, plugins.Config{"file": path, "topic": "lines"}, offsets{})
	if got := poll(t, task); len(got) != 2 {
		t.Fatalf("first poll = %v", got)
	}
	if err := os.Rename(path, path+".away"); err != nil {
		t.Fatal(err)
	}
	_, err := task.Poll(context.Background())
	var re *plugins.Retriable
	if !errors.As(err, &re) {
		t.Fatalf("Poll with the file gone = %v, want a retriable error", err)
	}
	appendFile(t, path+".away", "c\n") // written while away: read once it is back
	if err := os.Rename(path+".away", path); err != nil {
		t.Fatal(err)
	}
	if got := poll(t, task); !eq(got, []line{{"c", 6}}) {
		t.Fatalf("after the file came back: %v", got)
	}
	// Replaced: a new file of the same name is opened afresh.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "new\n")
	if got := poll(t, task); got != nil {
		t.Fatalf("poll that notices the replacement = %v, want nothing yet", got)
	}
	if got := poll(t, task); !eq(got, []line{{"new", 4}}) {
		t.Fatalf("after replacement: %v", got)
	}
}

// TestSinkDirectoryTakenAway: while the sink's directory is away Put fails
// retriably and writes nothing (nothing vanishes with the directory);
// back, the same batch is written; a directory that comes back empty gets
// a new file.
func TestSinkDirectoryTakenAway(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sink.txt")
	task := &SinkTask{}
	if err := task.Start(sinkCtx{}, plugins.Config{"file": path, "topics": "a"}); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	put := func(v string) error {
		return task.Put(context.Background(), []plugins.Record{{Value: v}})
	}
	if err := put("one"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	var re *plugins.Retriable
	if err := put("two"); !errors.As(err, &re) {
		t.Fatalf("Put with the directory gone = %v, want a retriable error", err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	if err := put("two"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Fatalf("file = %q", b)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := put("three"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "three\n" {
		t.Fatalf("new file = %q", b)
	}
}
