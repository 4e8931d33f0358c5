package log

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// FS is the file-system seam under a Log. Every byte the log reads or writes
// goes through it, so tests can inject failed fsyncs, ENOSPC, short writes
// and permission errors (see faultfs_test.go) without a real broken disk.
//
// Implementations must be safe for concurrent use. Paths are full paths as
// built by the log (filepath.Join of the data directory and a file name).
// Returned errors are passed up wrapped, so an implementation should return
// *os.PathError-style errors the way package os does.
type FS interface {
	// OpenFile is os.OpenFile. Segment files are opened O_RDWR|O_CREATE
	// and written with WriteAt, never O_APPEND (WriteAt forbids it).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(path string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes creations, renames and removals in dir durable.
	SyncDir(dir string) error
}

// File is the subset of *os.File the log uses. If the value is an *os.File
// the log reads it with sendfile(2) (ReadResult.WriteTo) and syncs it with
// fdatasync(2); any other File is read with ReadAt and synced with Sync.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Name() string
}

// OSFS is the real operating-system file system.
type OSFS struct{}

var _ FS = OSFS{}

func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a typed nil *os.File must not become a non-nil File
	}
	return f, nil
}
func (OSFS) Remove(name string) error                     { return os.Remove(name) }
func (OSFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (OSFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (OSFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (OSFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (OSFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncData makes f's data durable. fdatasync skips the inode metadata flush
// that fsync does (mtime), which is what makes an fsync per MiB affordable;
// the file size is still made durable because it is needed to read the data.
func syncData(f File) error {
	if of, ok := f.(*os.File); ok {
		for {
			err := unix.Fdatasync(int(of.Fd()))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: of.Name(), Err: err}
			}
			return nil
		}
	}
	return f.Sync()
}
