package hdfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/colinmarc/hdfs/v2"

	"github.com/weirlog/weir/connectors/storage"
)

// The store streams (storage.Streamer): a file larger than hdfs.part.size
// is written to its temp file part by part while it fills, so an open file
// holds about two parts in memory, not the whole file; it is renamed to
// its final name (which carries the end offset) when it completes, so
// nothing appears under the final name before then.
var _ storage.Streamer = (*store)(nil)

func (s *store) PartSize() int { return s.partSize }

// upload is one file being streamed into its temp file.
type upload struct {
	s   *store
	p   string           // the provisional name Begin got
	tmp string           // the temp file, once created
	w   *hdfs.FileWriter // nil until the first write
	// busy is closed when the last operation on w returned: one that
	// outlived store.do's timeout still runs, and Abort must not close w
	// under it.
	busy chan struct{}
	// lost is set once a write failed: colinmarc/hdfs cannot recover a
	// write pipeline (no pipeline recovery, no recoverLease; a Flush does
	// not wait for acknowledgements), so which bytes reached the temp
	// file is unknown and the file must be written again
	// (storage.ErrRestartFile). Appending after a lease recovery would
	// need the lease's soft limit (a minute) to pass and still not say
	// which of the unacknowledged bytes landed.
	lost error
	// written: last went to w and w closed (the file is complete under
	// its temp name); only the rename is left.
	written bool
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// Begin returns at once: the temp file (under /<topics.dir>/+tmp, named
// after the provisional p, so Recover finds it by partition) is created
// by the first Part, which runs behind Put: a NameNode round trip per file
// in Put was a stall the core's uploads behind Put are meant to avoid.
func (s *store) Begin(_ context.Context, p string) (storage.Upload, error) {
	return &upload{s: s, p: p, busy: closedChan()}, nil
}

// open creates the temp file if it is not yet. Nothing is written yet, so
// a failure is retried (by the core, with the same part) under a new temp
// name: a create that outlived its timeout may still have made the old
// one, which the next Recover removes.
func (u *upload) open(ctx context.Context) error {
	if u.w != nil {
		return nil
	}
	tmp := u.s.tmpPath(u.p)
	res := make(chan *hdfs.FileWriter, 1)
	if err := u.s.do(ctx, func(cl *hdfs.Client) error {
		if err := u.s.mkdirAll(cl, path.Dir(tmp)); err != nil {
			return err
		}
		w, err := cl.Create(tmp)
		if err != nil {
			u.s.forgetDirs()
			return fmt.Errorf("create temp file: %w", err)
		}
		res <- w
		return nil
	}); err != nil {
		return err
	}
	u.w, u.tmp = <-res, tmp
	return nil
}

// op runs f on w within store.do; an error loses the file.
func (u *upload) op(ctx context.Context, what string, f func(w *hdfs.FileWriter) error) error {
	if u.lost != nil {
		return u.lost
	}
	if err := u.open(ctx); err != nil {
		return err
	}
	<-u.busy
	busy := make(chan struct{})
	u.busy = busy
	w := u.w
	err := u.s.doWithin(ctx, dataTimeout, func(*hdfs.Client) error {
		defer close(busy)
		if dl, ok := ctx.Deadline(); ok {
			w.SetDeadline(dl)
		}
		return f(w)
	})
	if err != nil {
		u.lost = fmt.Errorf("%s %s: %v: %w", what, u.tmp, err, storage.ErrRestartFile)
		return u.lost
	}
	return nil
}

// writePackets writes data in pieces of the client's packet size: the
// client copies what Write gets into a buffer it then cuts into packets,
// so a whole part (or file) written at once was a second copy of it in
// memory, in a buffer that never shrinks.
func writePackets(w *hdfs.FileWriter, data []byte) error {
	const packet = 64 << 10
	for len(data) > 0 {
		n := min(len(data), packet)
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// Part writes data to the temp file. The client copies it into its
// packets (at most a few of 64 KiB in flight to the DataNodes), so data
// is not kept; no Flush per part: colinmarc's Flush only sends the
// partial packet without waiting for its acknowledgement, so it would not
// say more about what is durable and would cut a short packet per part.
func (u *upload) Part(ctx context.Context, data []byte) error {
	return u.op(ctx, "write temp file", func(w *hdfs.FileWriter) error {
		return writePackets(w, data)
	})
}

// Complete writes last, closes the temp file (waiting for every
// DataNode's acknowledgement; ErrReplicating is retried) and renames it to
// p. A failed rename is retried alone.
func (u *upload) Complete(ctx context.Context, p string, last []byte, _ int64) error {
	if !u.written {
		if err := u.op(ctx, "finish temp file", func(w *hdfs.FileWriter) error {
			if err := writePackets(w, last); err != nil {
				return err
			}
			return closeFile(ctx, w)
		}); err != nil {
			return err
		}
		u.written = true
	}
	final := abs(p)
	return u.s.do(ctx, func(cl *hdfs.Client) error {
		if err := u.s.mkdirAll(cl, path.Dir(final)); err != nil {
			return err
		}
		err := cl.Rename(u.tmp, final)
		if err == nil {
			return nil
		}
		u.s.forgetDirs()
		// An earlier rename whose answer was lost: done.
		if _, terr := cl.Stat(u.tmp); errors.Is(terr, fs.ErrNotExist) {
			if _, ferr := cl.Stat(final); ferr == nil {
				return nil
			}
		}
		return fmt.Errorf("rename into place: %w", err)
	})
}

// Abort removes the temp file (which drops its lease) and releases the
// writer's DataNode connection; Recover of the next writer removes what
// an Abort that failed left.
func (u *upload) Abort(ctx context.Context) error {
	if u.w == nil {
		return nil // nothing created (or a create that timed out: Recover's)
	}
	err := u.s.do(ctx, func(cl *hdfs.Client) error {
		if err := cl.Remove(u.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if !u.written {
		busy, w := u.busy, u.w
		go func() {
			// After an operation that outlived its timeout returned
			// (its deadline bounds it); the file is gone, so Close
			// only ends the pipeline.
			<-busy
			_ = w.Close()
		}()
		u.written = true
	}
	return err
}
