package broker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockFile is the data directory's lock, held (flock) for the broker's life.
const lockFile = ".lock"

// ErrDataDirLocked is returned by New when another process holds the data
// directory's lock.
var ErrDataDirLocked = errors.New("data directory locked")

// lockDataDir takes an exclusive flock on <dir>/.lock and writes this
// process's pid into it, as Kafka's log manager locks each log dir. Two
// brokers on one directory would each recover and append to the same
// segments; the second must stop at once, saying who holds it. The lock
// goes with the process (kill -9 included): flock is released by the
// kernel when the descriptor is closed.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "unknown pid"
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(string(bytes.TrimSpace(b))); perr == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: another weir process is using %s (%s); stop it or choose another --data-dir", ErrDataDirLocked, dir, holder)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
