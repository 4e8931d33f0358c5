package log

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// powerCutFS is the real file system plus a model of what a power cut
// keeps: a file's bytes up to its size when its last successful fsync
// began, and a created or renamed file only once its directory was
// synced. Cut freezes that state (every later operation fails with EIO);
// Apply rewrites the files to it.
type powerCutFS struct {
	OSFS
	mu      sync.RWMutex // Cut takes it exclusively: an fsync is before or after it
	cut     bool
	stateMu sync.Mutex
	synced  map[string]int64 // bytes a power cut keeps
	written map[string]bool  // files written through this FS
	pending map[string]bool  // directory entry not yet synced
}

func newPowerCutFS() *powerCutFS {
	return &powerCutFS{synced: map[string]int64{}, written: map[string]bool{}, pending: map[string]bool{}}
}

var errPowerCut = &os.PathError{Op: "io", Path: "power cut", Err: syscall.EIO}

func (f *powerCutFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cut {
		return nil, errPowerCut
	}
	_, statErr := os.Stat(name)
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_CREATE != 0 && errors.Is(statErr, os.ErrNotExist) {
		f.stateMu.Lock()
		f.pending[name] = true
		f.synced[name] = 0
		f.stateMu.Unlock()
	}
	return &powerCutFile{File: file, fs: f, name: name}, nil
}

func (f *powerCutFS) Rename(oldpath, newpath string) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cut {
		return errPowerCut
	}
	if err := f.OSFS.Rename(oldpath, newpath); err != nil {
		return err
	}
	f.stateMu.Lock()
	defer f.stateMu.Unlock()
	if n, ok := f.synced[oldpath]; ok {
		f.synced[newpath] = n
		f.written[newpath] = f.written[oldpath]
		delete(f.synced, oldpath)
		delete(f.written, oldpath)
	}
	delete(f.pending, oldpath)
	f.pending[newpath] = true
	return nil
}

func (f *powerCutFS) Remove(name string) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cut {
		return errPowerCut
	}
	f.stateMu.Lock()
	delete(f.synced, name)
	delete(f.written, name)
	delete(f.pending, name)
	f.stateMu.Unlock()
	return f.OSFS.Remove(name)
}

func (f *powerCutFS) SyncDir(dir string) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.cut {
		return errPowerCut
	}
	f.stateMu.Lock()
	var entries []string
	for name := range f.pending {
		if filepath.Dir(name) == dir {
			entries = append(entries, name)
		}
	}
	f.stateMu.Unlock()
	if err := f.OSFS.SyncDir(dir); err != nil {
		return err
	}
	f.stateMu.Lock()
	for _, name := range entries {
		delete(f.pending, name)
	}
	f.stateMu.Unlock()
	return nil
}

// Cut is the power cut: from now on every operation fails.
func (f *powerCutFS) Cut() {
	f.mu.Lock()
	f.cut = true
	f.mu.Unlock()
}

// Apply makes the files what the cut left: unsynced bytes and unsynced
// directory entries are gone.
func (f *powerCutFS) Apply(t *testing.T) {
	f.stateMu.Lock()
	defer f.stateMu.Unlock()
	for name := range f.pending {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	for name := range f.written {
		if f.pending[name] {
			continue
		}
		if err := os.Truncate(name, f.synced[name]); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

type powerCutFile struct {
	File
	fs   *powerCutFS
	name string
}

func (p *powerCutFile) WriteAt(b []byte, off int64) (int, error) {
	p.fs.mu.RLock()
	defer p.fs.mu.RUnlock()
	if p.fs.cut {
		return 0, errPowerCut
	}
	p.fs.stateMu.Lock()
	p.fs.written[p.name] = true
	p.fs.stateMu.Unlock()
	return p.File.WriteAt(b, off)
}

func (p *powerCutFile) Truncate(size int64) error {
	p.fs.mu.RLock()
	defer p.fs.mu.RUnlock()
	if p.fs.cut {
		return errPowerCut
	}
	if err := p.File.Truncate(size); err != nil {
		return err
	}
	p.fs.stateMu.Lock()
	p.fs.written[p.name] = true
	p.fs.synced[p.name] = min(p.fs.synced[p.name], size)
	p.fs.stateMu.Unlock()
	return nil
}

func (p *powerCutFile) Sync() error {
	p.fs.mu.RLock()
	defer p.fs.mu.RUnlock()
	if p.fs.cut {
		return errPowerCut
	}
	st, err := p.File.Stat()
	if err != nil {
		return err
	}
	if err := p.File.Sync(); err != nil {
		return err
	}
	p.fs.stateMu.Lock()
	// max: two fsyncs of one file may overlap (a commit round and a
	// roll's background flush), and the one that began earlier, with
	// less to cover, may end last.
	p.fs.synced[p.name] = max(p.fs.synced[p.name], st.Size())
	p.fs.stateMu.Unlock()
	return nil
}

// TestPowerCutKeepsAcknowledgedAppends (issue 16, durable mode): with
// SyncOnAppend (weir serve --fsync) an append returns only once its bytes
// and its segment's directory entry are durable. Many producers append
// concurrently to several logs (group commits, early returns for waiters
// a running round covered, rolls to new segments); the power is cut at an
// arbitrary moment, everything not fsynced is dropped, and every append
// that returned success before or after the cut is there after recovery,
// with its bytes.
func TestPowerCutKeepsAcknowledgedAppends(t *testing.T) {
	for round := 0; round < 3; round++ {
		const logs, producers = 3, 12
		fs := newPowerCutFS()
		dir := t.TempDir()
		cfg := DefaultConfig()
		cfg.SyncOnAppend = true
		cfg.SegmentBytes = 16 << 10 // rolls: new segments, directory syncs
		var ls []*Log
		for i := 0; i < logs; i++ {
			ls = append(ls, mustOpen(t, filepath.Join(dir, "p-"+itoa(int64(i))), cfg, Options{FS: fs, Logger: discardLogger()}))
		}
		type ack struct {
			log  int
			base int64
			crc  uint32
		}
		var (
			mu    sync.Mutex
			acks  []ack
			stop  atomic.Bool
			wg    sync.WaitGroup
			total atomic.Int64
		)
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					li := (p + i) % logs
					b := simpleBatch(t, 1+i%4, int64(p)<<32|int64(i)) // a unique CRC
					crc := binary.BigEndian.Uint32(b[17:])
					// Either path the broker uses: Append, or
					// AppendNoWait then AwaitDurable.
					var res AppendResult
					var err error
					if i%2 == 0 {
						res, err = ls[li].Append(b, AppendOptions{})
					} else {
						var pending bool
						res, pending, err = ls[li].AppendNoWait(b, AppendOptions{})
						if err == nil && pending {
							err = ls[li].AwaitDurable(res.LogEndOffset)
						}
					}
					if err != nil {
						if !isStorageErr(err) {
							t.Errorf("append failed with a non-storage error: %v", err)
						}
						return // the log is offline after the cut
					}
					total.Add(1)
					mu.Lock()
					acks = append(acks, ack{li, res.BaseOffset, crc})
					mu.Unlock()
				}
			}()
		}
		// Cut once enough is acknowledged (however loaded the machine),
		// at a moment that differs from round to round.
		for deadline := time.Now().Add(30 * time.Second); total.Load() < int64(100+round*300) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Duration(round*7) * time.Millisecond)
		fs.Cut()
		stop.Store(true)
		wg.Wait()
		for _, l := range ls {
			crash(l)
		}
		fs.Apply(t)
		if total.Load() < 20 {
			t.Fatalf("round %d: only %d appends before the cut", round, total.Load())
		}
		found := make([]map[int64]uint32, logs)
		for i := range found {
			l := mustOpen(t, filepath.Join(dir, "p-"+itoa(int64(i))), cfg, Options{Logger: discardLogger()})
			found[i] = map[int64]uint32{}
			for _, h := range readAll(t, l, l.StartOffset()) {
				found[i][h.BaseOffset] = h.CRC
			}
			l.Close()
		}
		for _, a := range acks {
			if crc, ok := found[a.log][a.base]; !ok || crc != a.crc {
				t.Fatalf("round %d: log %d lost acknowledged offset %d after the power cut (found %v, crc %x want %x; %d acknowledged)",
					round, a.log, a.base, ok, crc, a.crc, len(acks))
			}
		}
		t.Logf("round %d: %d acknowledged appends survived the power cut", round, len(acks))
	}
}
