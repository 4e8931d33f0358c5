package log

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPartitionMetadataFormat: the file is Kafka's, byte for byte.
func TestPartitionMetadataFormat(t *testing.T) {
	dir := t.TempDir()
	m, err := NewManager(dir, Options{Logger: discardLogger(), MaintenanceInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	id := TopicID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	if _, err := m.CreateWithID("orders", 0, id, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "orders-0", "partition.metadata"))
	if err != nil {
		t.Fatal(err)
	}
	want := "version: 0\ntopic_id: " + base64.RawURLEncoding.EncodeToString(id[:]) + "\n"
	if string(b) != want || len(strings.TrimPrefix(want, "version: 0\ntopic_id: ")) != 23 {
		t.Fatalf("partition.metadata = %q, want %q", b, want)
	}
}

// TestCreateWithIDSetsAsideAnotherTopicsDirectory: a directory left behind
// by a deleted topic of the same name is never served to the new topic,
// whether the manager opened it at start or finds it on disk (issue 8,
// item 1). PurgeAside deletes it after the grace period.
func TestCreateWithIDSetsAsideAnotherTopicsDirectory(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: discardLogger(), MaintenanceInterval: time.Hour}
	m, err := NewManager(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	oldID, newID := TopicID{1}, TopicID{2}
	l, err := m.CreateWithID("t", 0, oldID, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(simpleBatch(t, 3, time.Now().UnixMilli()), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// Restart: the old incarnation's directory is opened at start.
	m, err = NewManager(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err = m.CreateWithID("t", 0, newID, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if l.EndOffset() != 0 {
		t.Fatalf("re-created topic serves the deleted one's records: end offset %d", l.EndOffset())
	}
	if got, _ := m.TopicID("t", 0); got != newID {
		t.Fatalf("recorded id %v", got)
	}
	// Same ID again: the same log, not set aside.
	if l2, _ := m.CreateWithID("t", 0, newID, DefaultConfig()); l2 != l {
		t.Fatal("CreateWithID of the same id returned another log")
	}
	aside := asideDirs(t, dir)
	if len(aside) != 1 {
		t.Fatalf("set-aside dirs: %v", aside)
	}
	if purged, err := m.PurgeAside(time.Hour); err != nil || len(purged) != 0 {
		t.Fatalf("purged within the grace period: %v %v", purged, err)
	}
	if purged, err := m.PurgeAside(0); err != nil || len(purged) != 1 {
		t.Fatalf("purge after the grace period: %v %v", purged, err)
	}
	if len(asideDirs(t, dir)) != 0 {
		t.Fatal("set-aside dir not deleted")
	}
	m.Close()
}

func asideDirs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), asideSuffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// emfileFS fails opening files under one directory with EMFILE, as a
// process out of file descriptors would.
type emfileFS struct {
	OSFS
	match string
	fail  bool
}

func (f *emfileFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if f.fail && strings.Contains(name, f.match) {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.EMFILE}
	}
	return f.OSFS.OpenFile(name, flag, perm)
}

// TestNewManagerSurvivesOneBadLog: one directory that cannot open no
// longer fails the whole manager; it is reported and a later Create
// retries it (issue 8, item 9).
func TestNewManagerSurvivesOneBadLog(t *testing.T) {
	dir := t.TempDir()
	fs := &emfileFS{match: "/bad-0/"}
	opts := Options{FS: fs, Logger: discardLogger(), MaintenanceInterval: time.Hour}
	m, err := NewManager(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range []string{"bad", "good"} {
		if _, err := m.CreateWithID(tp, 0, TopicID{9}, DefaultConfig()); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	fs.fail = true
	m, err = NewManager(dir, opts)
	if err != nil {
		t.Fatalf("NewManager with one unopenable log: %v", err)
	}
	defer m.Close()
	if _, ok := m.Get("good", 0); !ok {
		t.Fatal("the healthy log was not opened")
	}
	if err := m.Failed()[TopicPartition{"bad", 0}]; !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Failed() = %v", m.Failed())
	}
	if _, err := m.CreateWithID("bad", 0, TopicID{9}, DefaultConfig()); err == nil {
		t.Fatal("create succeeded while the disk still fails")
	}
	fs.fail = false
	if _, err := m.CreateWithID("bad", 0, TopicID{9}, DefaultConfig()); err != nil {
		t.Fatalf("retry after the cause went away: %v", err)
	}
	if len(m.Failed()) != 0 {
		t.Fatalf("still failed: %v", m.Failed())
	}
}
