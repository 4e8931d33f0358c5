package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/weirlog/weir/plugins"
)

// Store is what a backend does for the core. Paths are relative to the
// backend's root (the bucket, or / of the file system) and use "/".
// Its methods may run concurrently: the task stores one file on a
// goroutine of its own while Put goes on (and may list, recover or
// stream parts of other files).
type Store interface {
	// Commit makes data visible under p all at once: a reader sees the
	// whole file or nothing. end is the file's last offset (inclusive),
	// for backends whose names do not carry it.
	Commit(ctx context.Context, p string, data []byte, end int64) error
	// List returns the paths of every committed file under dir, at any
	// depth; none when dir does not exist.
	List(ctx context.Context, dir string) ([]string, error)
	// EndOffset returns the last offset of a committed file whose name
	// does not carry it.
	EndOffset(ctx context.Context, p string) (int64, error)
	// ReadMarker returns a small object's bytes; ok is false if absent.
	ReadMarker(ctx context.Context, p string) (data []byte, ok bool, err error)
	WriteMarker(ctx context.Context, p string, data []byte) error
	// Recover removes what a crashed writer of tp left behind (temp
	// files, leases, unfinished multipart uploads).
	Recover(ctx context.Context, topicsDir string, tp plugins.TopicPartition) error
	Close() error
}

// Streamer is a Store that takes a file in parts while it is written (an
// S3 multipart upload, an HDFS temp file), so an open file holds about two
// parts in memory rather than the whole file: the core hands a part over
// once its buffer reaches PartSize bytes (and uploads it behind Put, one
// part of a file at a time, while the next one fills), and a file smaller
// than one part still goes through Commit in one request.
type Streamer interface {
	Store
	// PartSize is the size of every part but the last.
	PartSize() int
	// Begin starts file p; nothing of it is visible before Complete. With
	// Naming.WithEnd the name carries the end offset, unknown until the
	// file closes: p is then provisional (named with the end of the
	// records so far), only good for where the parts go meanwhile:
	// Complete gets the final name.
	Begin(ctx context.Context, p string) (Upload, error)
}

// ErrRestartFile is what an Upload's Part or Complete wraps when the parts
// it took are lost or in an unknown state (an HDFS write pipeline that
// broke half way: which bytes reached the file is not known): the file
// can only be written again from its first record. Those records are no
// longer in memory, so the core fails the task with it (not retriable);
// the task restarts from the committed offsets, which never pass an open
// file, and Recover removes the unfinished file: the path a crash takes.
var ErrRestartFile = errors.New("the streamed parts of the file are lost; it must be written again from its first record")

// Upload is one file being streamed, used by one goroutine at a time.
type Upload interface {
	// Part stores the next part. It does not keep data after it
	// returns; after an error the same part may be given again.
	Part(ctx context.Context, data []byte) error
	// Complete stores last (the rest of the file, maybe empty) and makes
	// the whole file visible at once under p, its final name: Begin's,
	// unless names carry the end offset (Naming.WithEnd); end is its last
	// offset. After an error it may be called again with the same
	// arguments.
	Complete(ctx context.Context, p string, last []byte, end int64) error
	// Abort drops the parts (best effort: Recover of the next writer
	// removes what an Abort or a crash left).
	Abort(ctx context.Context) error
}

// Naming says how file names are built.
type Naming struct {
	TopicsDir string
	DirDelim  string
	FileDelim string
	// WithEnd adds the inclusive end offset to names (HDFS).
	WithEnd bool
}

// Dir is the directory of a topic's files of one encoded partition.
func (n Naming) Dir(topic, enc string) string {
	return n.TopicsDir + n.DirDelim + topic + n.DirDelim + enc
}

// File is the name of a file of tp starting at start (and ending at end).
func (n Naming) File(tp plugins.TopicPartition, start, end int64, ext string) string {
	s := tp.Topic + n.FileDelim + strconv.Itoa(int(tp.Partition)) + n.FileDelim + fmt.Sprintf("%010d", start)
	if n.WithEnd {
		s += n.FileDelim + fmt.Sprintf("%010d", end)
	}
	return s + ext
}

// parsed is a file name read back.
type parsed struct {
	path       string
	enc        string
	partition  int32
	start, end int64 // end -1 when the name does not carry it
}

// parse reads a path List returned for topic; ok is false for files that
// are not this sink's.
func (n Naming) parse(topic, p string) (parsed, bool) {
	prefix := n.TopicsDir + n.DirDelim + topic + n.DirDelim
	if !strings.HasPrefix(p, prefix) {
		return parsed{}, false
	}
	rel := p[len(prefix):]
	i := strings.LastIndex(rel, n.DirDelim)
	if i < 0 {
		return parsed{}, false
	}
	enc, base := rel[:i], rel[i+len(n.DirDelim):]
	if n.DirDelim != "/" {
		// A custom delimiter still leaves the name after the last "/".
		if j := strings.LastIndexByte(rel, '/'); j >= 0 {
			enc, base = rel[:j], rel[j+1:]
		}
	}
	if dot := strings.IndexByte(base, '.'); dot >= 0 {
		base = base[:dot]
	} else {
		return parsed{}, false
	}
	fields := strings.Split(base, n.FileDelim)
	want := 3
	if n.WithEnd {
		want = 4
	}
	if len(fields) != want || fields[0] != topic {
		return parsed{}, false
	}
	part, err := strconv.ParseInt(fields[1], 10, 32)
	if err != nil {
		return parsed{}, false
	}
	start, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil {
		return parsed{}, false
	}
	out := parsed{path: p, enc: enc, partition: int32(part), start: start, end: -1}
	if n.WithEnd {
		if out.end, err = strconv.ParseInt(fields[3], 10, 64); err != nil || out.end < start {
			return parsed{}, false
		}
	}
	return out, true
}

// join joins a directory and a file name with "/" (object keys and HDFS
// paths alike).
func join(dir, file string) string { return path.Join(dir, file) }
