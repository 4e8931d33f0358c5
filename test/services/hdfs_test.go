//go:build services

package services_test

import (
	"bytes"
	"errors"
	"os"
	"path"
	"testing"
	"time"

	"github.com/colinmarc/hdfs/v2"
)

func TestHDFS(t *testing.T) {
	c, err := hdfs.NewClient(hdfs.ClientOptions{
		Addresses: []string{addr("WEIR_HDFS_PORT", "8020")},
		User:      "weir",
	})
	if err != nil {
		hint(t, "hdfs", err)
	}
	defer c.Close()

	dir := "/" + unique("weir-smoke")
	if err := c.MkdirAll(dir, 0o755); err != nil {
		hint(t, "hdfs", err)
	}
	defer c.RemoveAll(dir)

	tmp, final := path.Join(dir, "part-0.tmp"), path.Join(dir, "part-0.json")
	want := bytes.Repeat([]byte(`{"k":"v"}`+"\n"), 10000) // ~100 KB, one block
	w, err := c.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(want); err != nil {
		t.Fatal(err)
	}
	if err := closeRetrying(w); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("stat %s after rename: %v, want not-exist", tmp, err)
	}
	got, err := c.ReadFile(final)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want %d identical bytes", len(got), len(want))
	}
}

// closeRetrying closes an HDFS file, retrying while the NameNode answers that
// the last block is still being replicated (hdfs.ErrReplicating), with
// backoff, as the Java client does. A real sink must do the same.
func closeRetrying(w *hdfs.FileWriter) error {
	delay := 50 * time.Millisecond
	for i := 0; ; i++ {
		err := w.Close()
		if err == nil || !errors.Is(err, hdfs.ErrReplicating) || i == 10 {
			return err
		}
		time.Sleep(delay)
		delay *= 2
	}
}
