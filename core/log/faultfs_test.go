package log

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// faultFS wraps the OS file system and fails the operations a predicate
// picks, the way pebble's errorfs does: op is one of open, remove,
// removeall, rename (path is the new name), mkdir, readdir, stat, syncdir,
// write, sync, truncate, read. A failing write first writes half its bytes
// (a short write, as a full disk does).
type faultFS struct {
	OSFS
	mu   sync.Mutex
	pred func(op, path string) bool
	err  error
}

func newFaultFS() *faultFS { return &faultFS{err: syscall.EIO} }

func (f *faultFS) failOn(pred func(op, path string) bool) {
	f.mu.Lock()
	f.pred = pred
	f.mu.Unlock()
}

func (f *faultFS) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *faultFS) fail(op, path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pred != nil && f.pred(op, path) {
		return &os.PathError{Op: op, Path: path, Err: f.err}
	}
	return nil
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := f.fail("open", name); err != nil {
		return nil, err
	}
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

func (f *faultFS) Remove(name string) error {
	if err := f.fail("remove", name); err != nil {
		return err
	}
	return f.OSFS.Remove(name)
}

func (f *faultFS) RemoveAll(name string) error {
	if err := f.fail("removeall", name); err != nil {
		return err
	}
	return f.OSFS.RemoveAll(name)
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if err := f.fail("rename", newpath); err != nil {
		return err
	}
	return f.OSFS.Rename(oldpath, newpath)
}

func (f *faultFS) MkdirAll(name string, perm os.FileMode) error {
	if err := f.fail("mkdir", name); err != nil {
		return err
	}
	return f.OSFS.MkdirAll(name, perm)
}

func (f *faultFS) ReadDir(name string) ([]os.DirEntry, error) {
	if err := f.fail("readdir", name); err != nil {
		return nil, err
	}
	return f.OSFS.ReadDir(name)
}

func (f *faultFS) SyncDir(name string) error {
	if err := f.fail("syncdir", name); err != nil {
		return err
	}
	return f.OSFS.SyncDir(name)
}

type faultFile struct {
	File
	fs   *faultFS
	name string
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.fs.fail("write", f.name); err != nil {
		n, _ := f.File.WriteAt(b[:len(b)/2], off)
		return n, err
	}
	return f.File.WriteAt(b, off)
}

func (f *faultFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.fs.fail("read", f.name); err != nil {
		return 0, err
	}
	return f.File.ReadAt(b, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.fail("sync", f.name); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.fail("truncate", f.name); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func isStorageErr(err error) bool { return errors.Is(err, kerr.KafkaStorageError) }

// TestFaultInjection: each failure gives the caller a KAFKA_STORAGE_ERROR,
// writes nothing visible, and leaves the log readable; once the fault is
// gone appends resume at the right offset, and a restart loses nothing that
// was acknowledged.
func TestFaultInjection(t *testing.T) {
	type fault struct {
		name string
		err  error
		pred func(op, path string) bool
		cfg  func(*Config)
	}
	faults := []fault{
		{"ENOSPC short write", syscall.ENOSPC, func(op, p string) bool { return op == "write" }, nil},
		{"EACCES write", syscall.EACCES, func(op, p string) bool { return op == "write" }, nil},
		{"failed fsync with sync on append", syscall.EIO, func(op, p string) bool { return op == "sync" }, func(c *Config) { c.SyncOnAppend = true }},
		{"failed fsync by flush.messages", syscall.EIO, func(op, p string) bool { return op == "sync" }, func(c *Config) { c.FlushMessages = 1 }},
		{"cannot create segment on roll", syscall.EMFILE, func(op, p string) bool { return op == "open" }, func(c *Config) { c.SegmentBytes = 300 }},
	}
	for _, ft := range faults {
		t.Run(ft.name, func(t *testing.T) {
			dir := t.TempDir()
			c := newClock()
			ffs := newFaultFS()
			cfg := DefaultConfig()
			if ft.cfg != nil {
				ft.cfg(&cfg)
			}
			o := testOpts(c)
			o.FS = ffs
			l := mustOpen(t, dir, cfg, o)
			var acked int64
			for i := 0; i < 3; i++ {
				acked = mustAppend(t, l, simpleBatch(t, 2, c.ms())).LogEndOffset
			}
			ffs.setErr(ft.err)
			ffs.failOn(ft.pred)
			_, err := l.Append(simpleBatch(t, 2, c.ms()), AppendOptions{})
			if !isStorageErr(err) || !errors.Is(err, ft.err) {
				t.Fatalf("append under fault: %v", err)
			}
			ffs.failOn(nil)
			if l.EndOffset() != acked && !(cfg.FlushMessages == 1) {
				t.Fatalf("end %d after failed append, want %d", l.EndOffset(), acked)
			}
			if hs := readAll(t, l, 0); len(hs) < 3 {
				t.Fatalf("log unreadable after fault: %d batches", len(hs))
			}
			res := mustAppend(t, l, simpleBatch(t, 2, c.ms()))
			if res.BaseOffset != l.EndOffset()-2 {
				t.Fatalf("append after fault %+v", res)
			}
			acked = res.LogEndOffset
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			crash(l)
			l = mustOpen(t, dir, cfg, o)
			defer l.Close()
			if l.EndOffset() != acked {
				t.Fatalf("after restart end %d, want %d", l.EndOffset(), acked)
			}
			readAll(t, l, 0)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	ffs := newFaultFS()
	o := testOpts(c)
	o.FS = ffs
	l := mustOpen(t, dir, DefaultConfig(), o)
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	l.Close()
	ffs.setErr(syscall.EACCES)
	ffs.failOn(func(op, p string) bool { return op == "open" })
	if _, err := Open(dir, DefaultConfig(), o); !isStorageErr(err) || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("open with EACCES: %v", err)
	}
	ffs.setErr(syscall.EIO)
	ffs.failOn(func(op, p string) bool { return op == "read" })
	crashDir := t.TempDir()
	l = mustOpen(t, crashDir, DefaultConfig(), testOpts(c))
	mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	crash(l)
	// An I/O error during the recovery scan must fail Open, not be
	// mistaken for a torn tail and truncate good data.
	if _, err := Open(crashDir, DefaultConfig(), o); !isStorageErr(err) {
		t.Fatalf("open with EIO on read: %v", err)
	}
	ffs.failOn(nil)
	l = mustOpen(t, crashDir, DefaultConfig(), o)
	defer l.Close()
	if l.EndOffset() != 2 {
		t.Fatalf("end %d", l.EndOffset())
	}
}
