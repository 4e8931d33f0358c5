package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Backend is what NewTask needs from connectors/s3 or connectors/hdfs.
type Backend struct {
	Name     string // for logs and errors: "S3 sink", "HDFS sink"
	Store    Store
	Settings *Settings
	Naming   Naming
}

// Task is the storage SinkTask; Open builds the backend from the task's
// configuration.
type Task struct {
	NewBackend func(cfg plugins.Config) (*Backend, error)

	b    *Backend
	tctx plugins.SinkTaskContext
	log  *slog.Logger

	mu       sync.Mutex // the idle timer reads the open files
	parts    map[plugins.TopicPartition]*pstate
	dirty    bool // a Put since the last PreCommit
	lastSafe map[plugins.TopicPartition]int64
	// committed is what the runtime reported reached the group.
	committed map[plugins.TopicPartition]int64
	clean     map[plugins.TopicPartition]cleanMarker
	stop      chan struct{}
	done      chan struct{}
	flights   []*flight       // files being stored behind Put, oldest first
	free      []*bytes.Buffer // buffers of stored files, for the next ones
	// syncCommits stores every file before Put returns (unit tests that
	// look at storage right after a Put).
	syncCommits bool
}

// pstate is one Kafka partition's writer state.
type pstate struct {
	recovered bool
	stored    map[string]int64 // encoded partition → last offset already in storage
	files     map[string]bool  // every file of the partition (fingerprint)
	marker    *cleanMarker     // left by a clean stop, checked at the first record
	next      int64            // offset after the last record taken; -1 none yet
	open      map[string]*openFile
	// rewinding: the task asked the runtime (Offset) to bring the
	// partition again from rewindTo, after a file of it was lost; until
	// a record of it comes again, PreCommit passes no offset beyond it.
	rewinding bool
	rewindTo  int64
	// bufHint is the most the buffer of the partition's last file held
	// (the whole file, or a part when streamed): the next file's buffer
	// is grown to it at once rather than by doubling from nothing.
	bufHint int
}

type openFile struct {
	path       string
	enc        string
	start, end int64
	n          int
	buf        *bytes.Buffer // the bytes not yet handed to the store
	out        *fileBuf      // what w writes to: buf, also after streamPart swapped it
	bufPeak    int           // the most buf held (bufHint)
	w          RecordWriter
	up         Upload          // streamed parts so far (nil: none yet)
	part       *partFlight     // the part being uploaded behind Put (nil: none)
	partDue    bool            // buf holds a full part not handed over yet (its upload could not start)
	schema     *plugins.Schema // value schema of the file's records (schema.compatibility)
	base       time.Time       // record time of the first record
	lastAppend time.Time       // wall clock
	opened     time.Time       // wall clock
	due        bool            // full or rotated: commit before anything else
}

// cleanMarker is written by a clean stop (see the package doc).
type cleanMarker struct {
	Offset int64  `json:"offset"`
	Files  int    `json:"files"`
	Hash   uint64 `json:"hash"`
}

func fingerprint(files map[string]bool) (int, uint64) {
	var h uint64
	for f := range files {
		x := fnv.New64a()
		x.Write([]byte(f))
		h ^= x.Sum64()
	}
	return len(files), h
}

// Start builds the backend.
func (t *Task) Start(tctx plugins.SinkTaskContext, cfg plugins.Config) error {
	b, err := t.NewBackend(cfg)
	if err != nil {
		return err
	}
	t.b, t.tctx = b, tctx
	t.log = slog.Default().With("sink", b.Name, "connector", cfg["name"])
	t.parts = map[plugins.TopicPartition]*pstate{}
	t.lastSafe = map[plugins.TopicPartition]int64{}
	t.committed = map[plugins.TopicPartition]int64{}
	t.clean = map[plugins.TopicPartition]cleanMarker{}
	if !b.Settings.ExactlyOnceSafe {
		t.log.Warn("timestamp.extractor=Wallclock: the encoded partition of a record depends on when it is written, so redelivered records are not recognised (not exactly-once)")
	}
	if b.Settings.RotateInterval > 0 || b.Settings.RotateSchedule > 0 {
		t.stop, t.done = make(chan struct{}), make(chan struct{})
		go t.timer()
	}
	return nil
}

// timer asks the runtime for a commit when an open file is idle or its
// schedule passed, so it is committed without new records arriving.
func (t *Task) timer() {
	defer close(t.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		due := false
		now := time.Now()
		for tp, ps := range t.parts {
			for _, f := range ps.open {
				if !t.wallDue(f, now) {
					continue
				}
				due = true
				if f.due {
					continue // an earlier commit failed: Put or PreCommit retries it and reports
				}
				// Store it now, behind, rather than when the runtime's
				// loop next gets to PreCommit (after its poll, up to
				// half a second later): the file becomes visible at
				// its deadline. PreCommit still waits for it before
				// any offset passes it; a failure stays due and comes
				// back from the next Put or PreCommit.
				f.due = true
				if err := t.commit(context.Background(), tp, ps, f, true); err != nil {
					t.log.Debug("storing an idle or scheduled file; retried at the next Put or PreCommit", "topic", tp.Topic, "partition", tp.Partition, "err", err)
				}
			}
		}
		t.mu.Unlock()
		if due {
			t.tctx.RequestCommit()
		}
	}
}

func (t *Task) wallDue(f *openFile, now time.Time) bool {
	s := t.b.Settings
	if s.RotateInterval > 0 && now.Sub(f.lastAppend) >= s.RotateInterval {
		return true
	}
	if s.RotateSchedule > 0 && !now.Before(f.opened.Truncate(s.RotateSchedule).Add(s.RotateSchedule)) {
		return true
	}
	return false
}

// Open registers partitions; their position is recovered from storage at
// their first Put (Open cannot report a retriable error).
func (t *Task) Open(tps []plugins.TopicPartition) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.openLocked(tps)
	return nil
}

// openLocked starts tps afresh: their position is recovered from storage
// at their next record.
func (t *Task) openLocked(tps []plugins.TopicPartition) {
	// A partition assigned again without a Close in between: its file in
	// flight lands before the next recovery lists storage.
	t.dropFlight(tps)
	for _, tp := range tps {
		if ps := t.parts[tp]; ps != nil {
			t.abortUploads(ps)
		}
		t.parts[tp] = &pstate{next: -1, open: map[string]*openFile{}}
		delete(t.clean, tp)
	}
}

// lostFile tags ErrRestartFile with the partition whose file was lost.
type lostFile struct {
	tp  plugins.TopicPartition
	err error
}

func (e *lostFile) Error() string { return e.err.Error() }
func (e *lostFile) Unwrap() error { return e.err }

// lost tags err with tp when it says a file of tp was lost (the first tag,
// nearest the file, wins).
func lost(tp plugins.TopicPartition, err error) error {
	var lf *lostFile
	if err == nil || !errors.Is(err, ErrRestartFile) || errors.As(err, &lf) {
		return err
	}
	return &lostFile{tp: tp, err: err}
}

// restartLost handles a file of tp whose streamed parts the store lost
// (ErrRestartFile): its first records are no longer in memory, so the
// partition starts again as a fresh assignment does: its open files are
// dropped (their uploads aborted), its files in flight land or are
// dropped, and the runtime is asked (Offset) to bring its records again
// from the start of the oldest file not stored; recovery from storage
// then skips what is stored, so each record is written once. It reports
// false when tp has no file that could be the lost one.
func (t *Task) restartLost(err error) (plugins.TopicPartition, bool) {
	var lf *lostFile
	if !errors.As(err, &lf) {
		return plugins.TopicPartition{}, false
	}
	tp := lf.tp
	ps := t.parts[tp]
	if ps == nil {
		return tp, false
	}
	from, found := int64(0), false
	low := func(o int64) {
		if !found || o < from {
			from, found = o, true
		}
	}
	for _, f := range ps.open {
		low(f.start)
	}
	for _, fl := range t.flights {
		if fl.tp == tp {
			low(fl.f.start)
		}
	}
	if !found {
		return tp, false
	}
	t.log.Warn("a file's streamed parts were lost; writing the partition again from the file's start", "topic", tp.Topic, "partition", tp.Partition, "offset", from, "err", err)
	t.openLocked([]plugins.TopicPartition{tp})
	ps = t.parts[tp]
	ps.rewinding, ps.rewindTo = true, from
	t.tctx.Offset(map[plugins.TopicPartition]int64{tp: from})
	return tp, true
}

func (t *Task) ctxTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}

// recover reads what storage already holds of tp.
func (t *Task) recover(ctx context.Context, tp plugins.TopicPartition, ps *pstate) error {
	ctx, cancel := t.ctxTimeout(ctx)
	defer cancel()
	n := t.b.Naming
	if err := t.b.Store.Recover(ctx, n.TopicsDir, tp); err != nil {
		return fmt.Errorf("clean up after an earlier writer of %s-%d: %w", tp.Topic, tp.Partition, err)
	}
	paths, err := t.b.Store.List(ctx, n.TopicsDir+n.DirDelim+tp.Topic)
	if err != nil {
		return fmt.Errorf("list the files of %s: %w", tp.Topic, err)
	}
	last := map[string]parsed{}
	files := map[string]bool{}
	for _, p := range paths {
		f, ok := n.parse(tp.Topic, p)
		if !ok || f.partition != tp.Partition {
			continue
		}
		files[p] = true
		if l, ok := last[f.enc]; !ok || f.start > l.start {
			last[f.enc] = f
		}
	}
	stored := map[string]int64{}
	for enc, f := range last {
		end := f.end
		if end < 0 {
			if end, err = t.b.Store.EndOffset(ctx, f.path); err != nil {
				return fmt.Errorf("read the end offset of %s: %w", f.path, err)
			}
		}
		stored[enc] = end
	}
	ps.stored, ps.files = stored, files
	ps.marker = nil
	if data, ok, err := t.b.Store.ReadMarker(ctx, t.markerPath(tp)); err != nil {
		return fmt.Errorf("read the clean-stop marker of %s-%d: %w", tp.Topic, tp.Partition, err)
	} else if ok {
		var m cleanMarker
		cnt, h := fingerprint(files)
		if json.Unmarshal(data, &m) == nil && m.Files == cnt && m.Hash == h {
			ps.marker = &m
		}
	}
	ps.recovered = true
	t.log.Info("recovered position from storage", "topic", tp.Topic, "partition", tp.Partition, "files", len(files), "encoded_partitions", len(stored))
	return nil
}

func (t *Task) markerPath(tp plugins.TopicPartition) string {
	n := t.b.Naming
	return join(n.TopicsDir+"/+clean/"+tp.Topic, fmt.Sprintf("%d", tp.Partition))
}

func retriable(err error) error {
	if err == nil {
		return nil
	}
	var re *plugins.Retriable
	// A streamed file whose parts are lost cannot be retried: its first
	// records are gone from memory (ErrRestartFile); Put and PreCommit
	// restart its partition (restartLost).
	if errors.As(err, &re) || errors.Is(err, ErrRestartFile) {
		return err
	}
	return &plugins.Retriable{Err: err}
}

// Put appends records to their open files, committing files as they fill.
func (t *Task) Put(ctx context.Context, recs []plugins.Record) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.b == nil {
		return errors.New("storage sink task is not started")
	}
	if len(recs) > 0 {
		t.dirty = true
	}
	// A lost file restarts its partition (restartLost); the rest of the
	// batch goes on, without that partition's records: they come again
	// from the offset it was reset to.
	var skip map[plugins.TopicPartition]bool
	for {
		i, err := t.put(ctx, recs, skip)
		tp, ok := t.restartLost(err)
		if !ok || skip[tp] {
			return err
		}
		if skip == nil {
			skip = map[plugins.TopicPartition]bool{}
		}
		skip[tp] = true
		recs = recs[i:]
	}
}

// put is Put from recs[0], leaving out the partitions in skip; it returns
// the index of the record it failed at.
func (t *Task) put(ctx context.Context, recs []plugins.Record, skip map[plugins.TopicPartition]bool) (int, error) {
	if err := t.flightFailed(ctx); err != nil {
		return 0, err
	}
	if err := t.commitDue(ctx); err != nil {
		return 0, err
	}
	s := t.b.Settings
	for i := range recs {
		rec := &recs[i]
		tp := plugins.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}
		if skip[tp] {
			continue
		}
		ps := t.parts[tp]
		if ps == nil {
			ps = &pstate{next: -1, open: map[string]*openFile{}}
			t.parts[tp] = ps
		}
		if !ps.recovered {
			if err := t.recover(ctx, tp, ps); err != nil {
				return i, retriable(err)
			}
		}
		ps.rewinding = false // the records come from the reset offset now
		if ps.marker != nil {
			if rec.Offset != ps.marker.Offset {
				// The group's offsets were moved while stopped: they win.
				t.log.Info("offsets moved while the connector was stopped; writing again from them",
					"topic", tp.Topic, "partition", tp.Partition, "offset", rec.Offset, "stored_position", ps.marker.Offset)
				ps.stored = map[string]int64{}
			}
			ps.marker = nil
		}
		if rec.Offset < ps.next {
			continue // redelivered after a retriable error
		}
		if rec.Value == nil && s.IgnoreNulls {
			ps.next = rec.Offset + 1
			continue
		}
		if rec.Value == nil {
			if err := t.errant(rec, errors.New("null value (behavior.on.null.values=fail)")); err != nil {
				return i, err
			}
			ps.next = rec.Offset + 1
			continue
		}
		enc, err := s.Partitioner.Encode(rec)
		if err != nil {
			if err := t.errant(rec, err); err != nil {
				return i, err
			}
			ps.next = rec.Offset + 1
			continue
		}
		if last, ok := ps.stored[enc]; ok && rec.Offset <= last {
			ps.next = rec.Offset + 1 // already in storage
			continue
		}
		rt := s.Partitioner.Time(rec)
		f := ps.open[enc]
		if f != nil && s.RotateInterval > 0 && rt.Sub(f.base) >= s.RotateInterval {
			f.due = true
			if err := t.commit(ctx, tp, ps, f, true); err != nil {
				return i, err
			}
			f = nil
		}
		// A schema change rolls a new file as schema.compatibility says;
		// a record of another schema that joins the file is projected to
		// the file's schema first, as Confluent does, so that a file
		// holding one schema (Avro, Parquet) can take it. A format whose
		// files hold one schema also rolls for a record it still cannot
		// hold.
		w := rec // what the format writes; errant gets rec as it came
		if f != nil && s.SchemaRolls(f.schema, rec.ValueSchema) {
			f.due = true
			if err := t.commit(ctx, tp, ps, f, true); err != nil {
				return i, err
			}
			f = nil
		}
		if f != nil {
			if w, err = s.Project(f.schema, rec); err != nil {
				if err := t.errant(rec, err); err != nil {
					return i, err
				}
				ps.next = rec.Offset + 1
				continue
			}
			if SchemaChanged(f.w, w) {
				f.due = true
				if err := t.commit(ctx, tp, ps, f, true); err != nil {
					return i, err
				}
				f, w = nil, rec
			}
		}
		if f == nil {
			now := time.Now()
			f = &openFile{enc: enc, start: rec.Offset, base: rt, opened: now, schema: rec.ValueSchema, buf: t.getBuf(ps.bufHint)}
			f.out = &fileBuf{b: f.buf}
			f.w = s.Format.NewWriter(f.out)
			ps.open[enc] = f
		}
		mark := f.buf.Len()
		if err := f.w.Write(w); err != nil {
			f.buf.Truncate(mark)
			if f.n == 0 {
				delete(ps.open, enc)
			}
			if err := t.errant(rec, err); err != nil {
				return i, err
			}
			ps.next = rec.Offset + 1
			continue
		}
		f.n++
		f.end = rec.Offset
		f.lastAppend = time.Now()
		ps.next = rec.Offset + 1
		if err := t.streamPart(ctx, tp, f); err != nil {
			return i, err
		}
		if f.n >= s.FlushSize {
			f.due = true
			if err := t.commit(ctx, tp, ps, f, true); err != nil {
				return i, err
			}
		}
	}
	return len(recs), nil
}

// errant hands a record that cannot be written to the dead letter queue,
// or fails the task when there is none.
func (t *Task) errant(rec *plugins.Record, err error) error {
	err = fmt.Errorf("%s: record %s-%d@%d: %w", t.b.Name, rec.Topic, rec.Partition, rec.Offset, err)
	if rep := t.tctx.ErrantRecordReporter(); rep != nil {
		rep(rec, err)
		return nil
	}
	return err
}

// commitDue commits files left due by an earlier failed commit and
// streams parts whose upload failed.
func (t *Task) commitDue(ctx context.Context) error {
	for tp, ps := range t.parts {
		for _, f := range ps.open {
			if f.due {
				if err := t.commit(ctx, tp, ps, f, false); err != nil {
					return err
				}
				continue
			}
			if err := t.settlePart(ctx, f, false); err != nil {
				return lost(tp, err)
			}
			if f.partDue {
				if err := t.streamPart(ctx, tp, f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (t *Task) filePath(tp plugins.TopicPartition, f *openFile) string {
	n := t.b.Naming
	return join(n.Dir(tp.Topic, f.enc), n.File(tp, f.start, f.end, t.b.Settings.Format.Ext()))
}

// streamPart hands f's buffer to a Streamer once it holds a whole part,
// so the file's memory stays about two parts (s3.part.size, hdfs.part.size): the part
// uploads behind Put (partFlight) while the next one fills. A file has
// one part in flight at a time, so its parts go in order; the part's
// bytes stay until the store took them, and a failure is retried with
// the same bytes (settlePart).
func (t *Task) streamPart(ctx context.Context, tp plugins.TopicPartition, f *openFile) (err error) {
	st, ok := t.b.Store.(Streamer)
	if !ok || f.buf.Len() < st.PartSize() {
		return nil
	}
	// Past the check: Put calls this for every record, and the deferred
	// closure cost an allocation each time (2% of a JSON sink's CPU).
	defer func() { err = lost(tp, err) }()
	f.partDue = true
	f.bufPeak = max(f.bufPeak, f.buf.Len())
	if err := t.settlePart(ctx, f, true); err != nil {
		return err
	}
	if f.up == nil {
		cctx, cancel := t.ctxTimeout(ctx)
		defer cancel()
		// A name by the start offset alone (S3) is final now; one that
		// carries the end (HDFS) is provisional until store names the file.
		f.path = t.filePath(tp, f)
		up, err := st.Begin(cctx, f.path)
		if err != nil {
			return retriable(fmt.Errorf("%s: start upload of %s: %w", t.b.Name, f.path, err))
		}
		f.up = up
	}
	pf := &partFlight{buf: f.buf, done: make(chan struct{})}
	f.part, f.buf, f.partDue = pf, t.getBuf(f.bufPeak), false
	f.out.b = f.buf
	up := f.up
	go func() {
		defer close(pf.done)
		cctx, cancel := t.ctxTimeout(context.Background())
		defer cancel()
		pf.err = up.Part(cctx, pf.buf.Bytes())
	}()
	return nil
}

// fileBuf is the writer a file's RecordWriter writes to: its current
// buffer, which streamPart swaps for a fresh one when a part leaves.
type fileBuf struct{ b *bytes.Buffer }

func (w *fileBuf) Write(p []byte) (int, error) { return w.b.Write(p) }

// partFlight is a part of a streamed file being uploaded behind Put:
// converting and encoding the next records overlaps the upload, where Put
// used to wait for every part.
type partFlight struct {
	buf      *bytes.Buffer
	done     chan struct{}
	err      error // set before done closes; the part's last attempt
	reported bool  // err was returned once; the next settle sends the part again
}

// settlePart waits for f's part in flight (wait false: only if it ended
// already). A part that failed is reported once as a retriable error (as
// when Put uploaded it itself), then sent again with the same bytes.
func (t *Task) settlePart(ctx context.Context, f *openFile, wait bool) error {
	pf := f.part
	if pf == nil {
		return nil
	}
	if !wait {
		select {
		case <-pf.done:
		default:
			return nil
		}
	}
	<-pf.done
	if pf.err != nil {
		if !pf.reported {
			pf.reported = true
			return retriable(fmt.Errorf("%s: upload a part of %s: %w", t.b.Name, f.path, pf.err))
		}
		cctx, cancel := t.ctxTimeout(ctx)
		pf.err = f.up.Part(cctx, pf.buf.Bytes())
		cancel()
		if pf.err != nil {
			return retriable(fmt.Errorf("%s: upload a part of %s: %w", t.b.Name, f.path, pf.err))
		}
	}
	t.putBuf(pf.buf)
	f.part = nil
	return nil
}

// finishPart is settlePart for store, which may run on a flight's
// goroutine: it changes no task state (settled returns the buffer).
func (t *Task) finishPart(ctx context.Context, f *openFile) error {
	pf := f.part
	if pf == nil {
		return nil
	}
	<-pf.done
	if pf.err != nil {
		pf.err = f.up.Part(ctx, pf.buf.Bytes())
	}
	return pf.err
}

// waitPart lets f's part in flight end before its upload is aborted (an
// Upload is used by one goroutine at a time).
func waitPart(f *openFile) {
	if f.part != nil {
		<-f.part.done
	}
}

// commit makes f durable; on failure it stays open and due. behind lets
// the upload run in the background while Put goes on with the next
// records (see flight): Put's own rotations use it, PreCommit does not.
func (t *Task) commit(ctx context.Context, tp plugins.TopicPartition, ps *pstate, f *openFile, behind bool) (err error) {
	defer func() { err = lost(tp, err) }()
	if f.w != nil {
		if err := f.w.Close(); err != nil {
			return fmt.Errorf("%s: finish file: %w", t.b.Name, err)
		}
		f.w = nil
	}
	if f.partDue {
		// A full part whose upload failed goes first.
		if err := t.streamPart(ctx, tp, f); err != nil {
			f.due = true
			return err
		}
	}
	f.bufPeak = max(f.bufPeak, f.buf.Len())
	ps.bufHint = f.bufPeak
	if !behind || t.syncCommits {
		// Files become visible in the order they were closed: those in
		// flight first.
		if err := t.settleFlights(ctx, nil); err != nil {
			f.due = true
			return err
		}
	} else {
		// At most maxFlights at once; an encoded partition's files
		// become visible in offset order: one whose earlier file is in
		// flight is stored after it, on its own goroutine, so Put goes
		// on (see flight).
		var err error
		if len(t.flights) >= maxFlights {
			oldest := t.flights[0]
			err = t.settleFlights(ctx, func(fl *flight) bool { return fl == oldest })
		}
		if err != nil {
			f.due = true
			return err
		}
		delete(ps.open, f.enc)
		fl := &flight{tp: tp, ps: ps, f: f, done: make(chan struct{})}
		for _, o := range t.flights {
			if o.tp == tp && o.f.enc == f.enc {
				fl.after = o // the latest such
			}
		}
		t.flights = append(t.flights, fl)
		go func() {
			defer close(fl.done)
			if fl.after != nil {
				if <-fl.after.done; fl.after.bgFailed {
					// Settling retries the earlier file, then this one.
					fl.bgFailed, fl.err = true, retriable(fmt.Errorf("%s: the partition's earlier file is not stored yet", t.b.Name))
					return
				}
			}
			cctx, cancel := t.ctxTimeout(context.Background())
			defer cancel()
			fl.path, fl.err = t.store(cctx, tp, f)
			fl.bgFailed = fl.err != nil
		}()
		return nil
	}
	cctx, cancel := t.ctxTimeout(ctx)
	defer cancel()
	p, err := t.store(cctx, tp, f)
	if err != nil {
		f.due = true
		return err
	}
	delete(ps.open, f.enc)
	t.settled(ps, f, p)
	return nil
}

// store hands a finished file to the backend; it changes no task state,
// so it may run on the flight's goroutine.
func (t *Task) store(ctx context.Context, tp plugins.TopicPartition, f *openFile) (string, error) {
	var p string
	var err error
	if f.up != nil {
		p = f.path
		if t.b.Naming.WithEnd {
			// Its end is known now: the final name (f.path was provisional).
			p = t.filePath(tp, f)
		}
		if err = t.finishPart(ctx, f); err == nil {
			err = f.up.Complete(ctx, p, f.buf.Bytes(), f.end)
		}
	} else {
		p = t.filePath(tp, f)
		err = t.b.Store.Commit(ctx, p, f.buf.Bytes(), f.end)
	}
	if err != nil {
		return p, retriable(fmt.Errorf("%s: commit %s: %w", t.b.Name, p, err))
	}
	return p, nil
}

func (t *Task) settled(ps *pstate, f *openFile, p string) {
	ps.stored[f.enc] = f.end
	ps.files[p] = true
	t.putBuf(f.buf)
	f.buf = nil
	if f.part != nil {
		t.putBuf(f.part.buf)
		f.part = nil
	}
}

// maxFreeBufs bounds the stored files' buffers kept for the next files:
// growing a multi-megabyte buffer from nothing (allocate, zero, copy on
// every doubling) was a third of the writer's CPU. As many as there can
// be flights: with 4 (and 8 flights and a file open per partition), the
// buffers of flights settling together were dropped, and the next
// files' were allocated anew, a page fault per 4 KiB zeroed (7% of weir's
// samples in the 1 KiB JSON drain into S3; where the machine hands
// freed memory back to its host, as here, every one of them a fault in
// the host too). The cost is memory: up to maxFlights stored files'
// worth of idle buffers per task.
const maxFreeBufs = maxFlights

// getBuf returns a buffer for a new file that will likely hold hint
// bytes (bufHint). A buffer that must be made new (the first files of a
// task, or with more files open and in flight than maxFreeBufs) is
// allocated at that size once, with a sixteenth to spare for a file a
// little larger: doubling up to it zeroed and copied about twice its
// size in the first files of every partition (a seventh of the sink's
// CPU in the 60,000-record bench).
func (t *Task) getBuf(hint int) *bytes.Buffer {
	var b *bytes.Buffer
	if n := len(t.free); n > 0 {
		b = t.free[n-1]
		t.free = t.free[:n-1]
		b.Reset()
	} else {
		b = new(bytes.Buffer)
	}
	if hint > 0 && b.Cap() < hint {
		b.Grow(hint + hint/16)
	}
	return b
}

func (t *Task) putBuf(b *bytes.Buffer) {
	if b != nil && len(t.free) < maxFreeBufs {
		t.free = append(t.free, b)
	}
}

// maxFlights bounds the files stored behind Put at once (memory: that
// many finished files, or their last parts when streamed).
const maxFlights = 8

// flight is a file whose upload runs behind Put, so converting and
// encoding the next records overlaps the uploads (the sink was idle
// during every PUT), and the files of different partitions upload side
// by side. An encoded partition's files become visible in offset order,
// which recovery relies on (it resumes after the newest file stored): a
// flight whose encoded partition already has one in flight (after) is
// stored only once that one is, and not at all when it failed; Put goes
// on meanwhile (with one file in flight per partition and Put waiting
// for it, the task sat idle half the time, and the uploads came in
// bursts of one file per partition). Its records are not yet durable:
// PreCommit, Close and Stop settle flights first, so offsets never pass
// them.
type flight struct {
	tp    plugins.TopicPartition
	ps    *pstate
	f     *openFile
	after *flight // the same encoded partition's earlier file in flight
	done  chan struct{}
	path  string
	err   error // set before done closes; a retry in settleFlights replaces it
	// bgFailed says the flight's own goroutine did not store the file;
	// set before done closes and never again, so a later flight may
	// read it while settleFlights retries this one.
	bgFailed bool
}

// settleFlights waits for the flights match selects (nil: all), oldest
// first; one that failed is tried again here, in the caller's goroutine,
// and stays in flight while it fails.
func (t *Task) settleFlights(ctx context.Context, match func(*flight) bool) error {
	var kept []*flight
	var firstErr error
	for _, fl := range t.flights {
		if firstErr != nil || (match != nil && !match(fl)) {
			kept = append(kept, fl)
			continue
		}
		<-fl.done
		if fl.err != nil {
			cctx, cancel := t.ctxTimeout(ctx)
			fl.path, fl.err = t.store(cctx, fl.tp, fl.f)
			cancel()
			if fl.err != nil {
				firstErr = lost(fl.tp, fl.err)
				kept = append(kept, fl)
				continue
			}
		}
		t.settled(fl.ps, fl.f, fl.path)
	}
	t.flights = kept
	return firstErr
}

// flightFailed settles flights that already ended, so a failed upload
// surfaces at the next Put rather than at the next commit.
func (t *Task) flightFailed(ctx context.Context) error {
	return t.settleFlights(ctx, func(fl *flight) bool {
		select {
		case <-fl.done:
			return true
		default:
			return false
		}
	})
}

// PreCommit commits idle and scheduled files and returns, per partition,
// the start of its oldest open file (or everything taken, when none is
// open).
func (t *Task) PreCommit(ctx context.Context, cur map[plugins.TopicPartition]int64) (map[plugins.TopicPartition]int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// A lost file restarts its partition (restartLost), and PreCommit
	// goes on with the others.
	var done map[plugins.TopicPartition]bool
	for {
		out, err := t.preCommit(ctx, cur)
		tp, ok := t.restartLost(err)
		if !ok || done[tp] {
			return out, err
		}
		if done == nil {
			done = map[plugins.TopicPartition]bool{}
		}
		done[tp] = true
	}
}

func (t *Task) preCommit(ctx context.Context, cur map[plugins.TopicPartition]int64) (map[plugins.TopicPartition]int64, error) {
	if err := t.settleFlights(ctx, nil); err != nil {
		return nil, err
	}
	if err := t.commitDue(ctx); err != nil {
		return nil, err
	}
	// Idle and scheduled files are stored side by side (they went one
	// after another, each upload with the sink's loop waiting), then all
	// are waited for: what PreCommit returns is durable, as before.
	now := time.Now()
	for tp, ps := range t.parts {
		for _, f := range ps.open {
			if t.wallDue(f, now) {
				f.due = true
				if err := t.commit(ctx, tp, ps, f, true); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := t.settleFlights(ctx, nil); err != nil {
		return nil, err
	}
	out := make(map[plugins.TopicPartition]int64, len(cur))
	for tp, o := range cur {
		safe := o
		if ps := t.parts[tp]; ps != nil {
			for _, f := range ps.open {
				safe = min(safe, f.start)
			}
			if ps.rewinding {
				// Asked to come again from there: cur may not know yet.
				safe = min(safe, ps.rewindTo)
			}
		}
		out[tp] = safe
		t.lastSafe[tp] = safe
	}
	t.dirty = false
	return out, nil
}

// OffsetsCommitted records what reached the consumer group.
func (t *Task) OffsetsCommitted(offs map[plugins.TopicPartition]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	maps.Copy(t.committed, offs)
}

// Close drops the open files of revoked partitions: their records come
// again from the committed offsets to whoever owns them next.
func (t *Task) Close(tps []plugins.TopicPartition) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropFlight(tps)
	for _, tp := range tps {
		ps := t.parts[tp]
		if ps != nil && !t.dirty && ps.recovered {
			// Clean only if the group holds what PreCommit last returned:
			// a final commit that failed (a rebalance in progress) leaves
			// the group behind storage, and storage must win then.
			if o, ok := t.lastSafe[tp]; ok && t.committed[tp] == o {
				cnt, h := fingerprint(ps.files)
				t.clean[tp] = cleanMarker{Offset: o, Files: cnt, Hash: h}
			}
		}
		if ps != nil {
			t.abortUploads(ps)
		}
		delete(t.parts, tp)
		delete(t.committed, tp)
	}
	return nil
}

// dropFlight settles the files in flight of tps (all when tps is nil), so
// no upload of a partition outlives its ownership; one that still fails
// is dropped: its records come again from the committed offsets, which
// never passed it.
func (t *Task) dropFlight(tps []plugins.TopicPartition) {
	ours := func(fl *flight) bool { return tps == nil || slices.Contains(tps, fl.tp) }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range len(t.flights) {
		if t.settleFlights(ctx, ours) == nil {
			return
		}
		// The oldest of ours failed again: drop it, and the later files
		// of its encoded partition (stored, they would hide the gap from
		// recovery), and go on.
		for _, fl := range t.flights {
			if !ours(fl) {
				continue
			}
			t.log.Warn("dropping a file whose upload failed; its records come again", "topic", fl.tp.Topic, "partition", fl.tp.Partition, "err", fl.err)
			t.flights = slices.DeleteFunc(t.flights, func(o *flight) bool {
				if o != fl && (o.tp != fl.tp || o.f.enc != fl.f.enc) {
					return false
				}
				<-o.done
				if o.f.up != nil {
					waitPart(o.f)
					_ = o.f.up.Abort(ctx)
				}
				return true
			})
			break
		}
	}
}

// abortUploads drops the streamed parts of open files that will not be
// committed (their records come again to whoever owns the partition).
func (t *Task) abortUploads(ps *pstate) {
	for _, f := range ps.open {
		if f.up != nil {
			waitPart(f)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := f.up.Abort(ctx); err != nil {
				t.log.Warn("aborting the upload of an unfinished file", "path", f.path, "err", err)
			}
			cancel()
			f.up = nil
		}
	}
}

// Stop writes the clean-stop markers and releases the backend.
func (t *Task) Stop() error {
	if t.stop != nil {
		close(t.stop)
		<-t.done
		t.stop = nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.b == nil {
		return nil
	}
	t.dropFlight(nil)
	for _, ps := range t.parts {
		for _, f := range ps.open {
			waitPart(f) // no upload outlives the store
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !t.dirty {
		for tp, m := range t.clean {
			data, _ := json.Marshal(m)
			if err := t.b.Store.WriteMarker(ctx, t.markerPath(tp), data); err != nil {
				t.log.Warn("writing the clean-stop marker", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			}
		}
	}
	err := t.b.Store.Close()
	t.b = nil
	return err
}
