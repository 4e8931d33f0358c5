package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/weirlog/weir/plugins"
)

// The write pipeline. Put appends documents to a buffer and returns; a
// full buffer (batch.size documents or bulk.size.bytes) or linger.ms
// after the first buffered document becomes a chunk, one bulk request
// sent in the background, at most max.in.flight.requests at once. A
// synchronous Put would leave Elasticsearch idle while the runtime polls
// and converts the next batch, and would send one poll (500 records) per
// request: the bench measured that at a quarter of what the same
// Elasticsearch indexes directly.
//
// Offsets: PreCommit returns, per partition, the lowest offset of a
// document not yet acknowledged (buffered, in flight, or finished but not
// yet processed by the task goroutine), so the runtime never commits past
// an unwritten document. Reordering concurrent requests is harmless
// because keyed writes carry their offset as external version (the higher
// offset wins whatever arrives first) and the other ids are unique per
// record; write.method=upsert, which has no version, writes
// synchronously, one request at a time.
//
// Why not go-elasticsearch's esutil.BulkIndexer (re-evaluated for the
// bench, issue 14): its workers would replace send and the in-flight
// bookkeeping, with OnSuccess/OnFailure per item for the offsets and the
// dead letter queue, but it would lose what the sink promises and the
// tests check:
//   - batch.size: it flushes by bytes and by a ticker only, and deals the
//     items of one Put round-robin over its workers, so a Put of 300
//     documents with batch.size=100 is not three requests of 100
//     (TestPipelineCommitsOnlyAcknowledged);
//   - Retry-After and retries: it has none; a non-2xx answer reaches
//     OnFailure as the text "flush: [429 …] …" with the response headers
//     gone, so bulk, backoff and the resend below would stay ours anyway
//     and could no longer honour Retry-After (TestTooManyRequestsStorm);
//   - order: the round-robin puts two updates of one id (write.method=
//     upsert, which carries no version) into concurrent requests;
//   - size: esutil calls elasticsearch.NewDefaultClient, which links the
//     whole typed API: +7.3 MB on a binary using it (measured: 9.8 MB
//     with esapi.BulkRequest on a BaseClient, 17.1 MB with
//     esutil.NewBulkIndexer on the same BaseClient), what client.go
//     avoids for the image (issue 15).
// So the requests are go-elasticsearch's esapi.BulkRequest on its
// BaseClient, and the batching, concurrency and retries are here.
//
// Threading: the task goroutine (Put, PreCommit, Close, Stop) and the
// senders share the fields under pipeline.mu. Only the task goroutine
// handles a finished chunk's outcome (dead letter queue, warnings,
// failures), so the runtime's reporter is never called concurrently.

// chunk is one bulk request's documents and, once its sender is done,
// the outcome.
type chunk struct {
	docs []*doc
	// Set by the sender before it moves the chunk to pipeline.finished.
	err       error     // the request failed (transiently after max.retries, or for good)
	malformed []badItem // documents Elasticsearch refused with 400
}

// badItem is a document Elasticsearch refused for good.
type badItem struct {
	d *doc
	e esError
}

type pipeline struct {
	mu       sync.Mutex
	buf      []*doc
	bufBytes int64
	linger   *time.Timer // armed while buf is non-empty and unsent
	inflight map[*chunk]bool
	finished []*chunk      // sender done; outcome not yet handled
	failed   []*chunk      // transient failure after retries: resent by the task goroutine
	changed  chan struct{} // closed and replaced on every change, for waiters
	fatal    error
	sem      chan struct{}
}

func (t *SinkTask) initPipeline() {
	p := &t.p
	p.inflight = map[*chunk]bool{}
	p.changed = make(chan struct{})
	p.sem = make(chan struct{}, t.s.inFlight)
}

// signalLocked wakes every waiter on a pipeline change.
func (p *pipeline) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// enqueue buffers docs (the records of one Put, recs) and starts every
// chunk that is full.
func (t *SinkTask) enqueue(recs []plugins.Record, docs []*doc) {
	p := &t.p
	p.mu.Lock()
	var full []*chunk
	for _, d := range docs {
		n := int64(len(d.action) + len(d.source))
		if len(p.buf) > 0 && (len(p.buf) >= t.s.batchSize || t.s.bulkBytes > 0 && p.bufBytes+n > t.s.bulkBytes) {
			full = append(full, p.cutLocked())
		}
		p.buf = append(p.buf, d)
		p.bufBytes += n
	}
	if len(p.buf) >= t.s.batchSize {
		full = append(full, p.cutLocked())
	}
	if len(p.buf) > 0 && p.linger == nil {
		wait := t.s.linger
		if len(recs) >= t.s.maxPoll {
			// A full poll: the runtime has more records right behind it,
			// so the batch fills up with the next Puts (2,000 documents
			// a request, not one poll's 500). The timer is a backstop.
			wait = max(wait, tailLinger)
		}
		if wait <= 0 {
			full = append(full, p.cutLocked())
		} else {
			p.linger = time.AfterFunc(wait, t.lingerDone)
		}
	}
	p.mu.Unlock()
	for _, c := range full {
		t.send(c)
	}
}

// tailLinger is how long a partial batch waits after a full Put.
const tailLinger = 100 * time.Millisecond

// cutLocked turns the buffer into a chunk (in flight from here on, for
// the offsets, even while it waits for a sending slot).
func (p *pipeline) cutLocked() *chunk {
	c := &chunk{docs: p.buf}
	p.buf, p.bufBytes = nil, 0
	if p.linger != nil {
		p.linger.Stop()
		p.linger = nil
	}
	p.inflight[c] = true
	return c
}

// lingerDone sends what linger.ms left in the buffer.
func (t *SinkTask) lingerDone() {
	p := &t.p
	p.mu.Lock()
	p.linger = nil
	var c *chunk
	if len(p.buf) > 0 {
		c = p.cutLocked()
	}
	p.mu.Unlock()
	if c != nil {
		t.send(c)
	}
}

// flush sends the buffer now.
func (t *SinkTask) flush() {
	p := &t.p
	p.mu.Lock()
	var c *chunk
	if len(p.buf) > 0 {
		c = p.cutLocked()
	}
	p.mu.Unlock()
	if c != nil {
		t.send(c)
	}
}

// send waits for a sending slot (backpressure: max.in.flight.requests)
// and writes c in the background.
func (t *SinkTask) send(c *chunk) {
	t.p.sem <- struct{}{}
	go func() {
		defer func() { <-t.p.sem }()
		ctx, cancel := context.WithTimeout(t.ctx, t.s.flushTimeout)
		c.malformed, c.err = t.bulk(ctx, c.docs, c.malformed)
		cancel()
		p := &t.p
		p.mu.Lock()
		delete(p.inflight, c)
		p.finished = append(p.finished, c)
		p.signalLocked()
		p.mu.Unlock()
	}()
}

// process handles finished chunks on the task goroutine: malformed
// documents go to the dead letter queue or behavior.on.malformed.documents,
// transient failures wait in failed for resend, others become fatal.
func (t *SinkTask) process() error {
	p := &t.p
	p.mu.Lock()
	done := p.finished
	p.finished = nil
	p.mu.Unlock()
	for i, c := range done {
		for _, b := range c.malformed {
			if err := t.malformed(b.d, &b.e); err != nil {
				t.setFatal(err)
				t.requeue(done[i+1:])
				return err
			}
		}
		c.malformed = nil
		if c.err == nil {
			continue
		}
		var re *plugins.Retriable
		if errors.As(c.err, &re) {
			p.mu.Lock()
			p.failed = append(p.failed, c)
			p.mu.Unlock()
			continue
		}
		t.setFatal(c.err)
		t.requeue(done[i+1:])
		return c.err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fatal
}

// requeue puts chunks whose outcome was not handled back (they hold
// offsets back).
func (t *SinkTask) requeue(cs []*chunk) {
	p := &t.p
	p.mu.Lock()
	p.finished = append(cs, p.finished...)
	p.mu.Unlock()
}

func (t *SinkTask) setFatal(err error) {
	p := &t.p
	p.mu.Lock()
	if p.fatal == nil {
		p.fatal = err
	}
	p.mu.Unlock()
}

// resend writes the chunks that failed transiently again, synchronously
// (the task goroutine): a Put or PreCommit that cannot get them through
// returns Retriable, and nothing new is taken meanwhile.
func (t *SinkTask) resend(ctx context.Context) error {
	p := &t.p
	for {
		p.mu.Lock()
		if len(p.failed) == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.failed[0]
		p.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, t.s.flushTimeout)
		mal, err := t.bulk(cctx, c.docs, nil)
		cancel()
		for _, b := range mal {
			if merr := t.malformed(b.d, &b.e); merr != nil {
				t.setFatal(merr)
				return merr
			}
		}
		if err != nil {
			var re *plugins.Retriable
			if !errors.As(err, &re) {
				t.setFatal(err)
			}
			return err
		}
		p.mu.Lock()
		p.failed = p.failed[1:]
		p.signalLocked()
		p.mu.Unlock()
	}
}

// wait blocks until cond holds (checked with mu held) or ctx ends.
func (t *SinkTask) wait(ctx context.Context, cond func(p *pipeline) bool) error {
	p := &t.p
	for {
		p.mu.Lock()
		ok, ch := cond(p), p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pendingLocked counts the documents not yet acknowledged.
func (p *pipeline) pendingLocked() int {
	n := 0
	p.eachPendingLocked(func(*doc) { n++ })
	return n
}

// drain sends everything buffered and waits until every chunk is
// finished and handled.
func (t *SinkTask) drain(ctx context.Context) error {
	t.flush()
	if err := t.wait(ctx, func(p *pipeline) bool { return len(p.inflight) == 0 }); err != nil {
		return &plugins.Retriable{Err: fmt.Errorf("waiting for bulk requests to Elasticsearch: %w", err)}
	}
	if err := t.process(); err != nil {
		return err
	}
	return t.resend(ctx)
}

// eachPendingLocked calls f with every document not yet acknowledged.
func (p *pipeline) eachPendingLocked(f func(*doc)) {
	for _, d := range p.buf {
		f(d)
	}
	for _, cs := range [][]*chunk{p.finished, p.failed} {
		for _, c := range cs {
			for _, d := range c.docs {
				f(d)
			}
		}
	}
	for c := range p.inflight {
		for _, d := range c.docs {
			f(d)
		}
	}
}

// foreignPending reports whether a document not yet acknowledged names a
// partition cur does not know.
func (t *SinkTask) foreignPending(cur map[plugins.TopicPartition]int64) bool {
	p := &t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	foreign := false
	p.eachPendingLocked(func(d *doc) {
		if _, ok := cur[plugins.TopicPartition{Topic: d.rec.Topic, Partition: d.rec.Partition}]; !ok {
			foreign = true
		}
	})
	return foreign
}

// safeOffsets is, per partition of cur, the next offset whose every
// predecessor is acknowledged.
func (t *SinkTask) safeOffsets(cur map[plugins.TopicPartition]int64) map[plugins.TopicPartition]int64 {
	p := &t.p
	p.mu.Lock()
	defer p.mu.Unlock()
	low := map[plugins.TopicPartition]int64{}
	p.eachPendingLocked(func(d *doc) {
		tp := plugins.TopicPartition{Topic: d.rec.Topic, Partition: d.rec.Partition}
		if o, ok := low[tp]; !ok || d.rec.Offset < o {
			low[tp] = d.rec.Offset
		}
	})
	return safeOffsets(cur, low)
}

// safeOffsets caps every offset of cur at the lowest unacknowledged
// offset of its partition.
func safeOffsets(cur, lowestPending map[plugins.TopicPartition]int64) map[plugins.TopicPartition]int64 {
	out := make(map[plugins.TopicPartition]int64, len(cur))
	for tp, o := range cur {
		if l, ok := lowestPending[tp]; ok && l < o {
			o = l
		}
		out[tp] = o
	}
	return out
}

var bulkFilter = []string{"errors", "items.*.status", "items.*.error"}

var (
	fastOK    = []byte(`{"errors":false,"items":[`)
	statusKey = []byte(`"status":`)
)

type bulkResponse struct {
	Errors bool                         `json:"errors"`
	Items  []map[string]json.RawMessage `json:"items"`
}

type bulkItem struct {
	Index  string          `json:"_index"`
	ID     string          `json:"_id"`
	Status int             `json:"status"`
	Result string          `json:"result"`
	Error  json.RawMessage `json:"error"`
}

type esError struct {
	Type     string   `json:"type"`
	Reason   string   `json:"reason"`
	CausedBy *esError `json:"caused_by"`
}

func (e *esError) String() string {
	if e == nil {
		return ""
	}
	s := e.Type + ": " + e.Reason
	if e.CausedBy != nil {
		s += " (caused by " + e.CausedBy.String() + ")"
	}
	return s
}

// bulk writes docs, retrying the whole request or the items that failed
// transiently, and returns the documents Elasticsearch refused for good
// (appended to mal). A transient failure that outlasts max.retries is
// Retriable.
func (t *SinkTask) bulk(ctx context.Context, docs []*doc, mal []badItem) ([]badItem, error) {
	var last error
	for attempt := 0; ; attempt++ {
		var retryAfter time.Duration
		res, err := t.bulkOnce(ctx, docs)
		if err == nil {
			mal = append(mal, res.malformed...)
			if len(res.retry) == 0 {
				return mal, nil
			}
			docs = res.retry
			last = fmt.Errorf("%d bulk items failed transiently, e.g. %s", len(res.retry), res.example)
		} else {
			var he *httpError
			if errors.As(err, &he) {
				retryAfter = he.retryAfter
			}
			if !transient(err) {
				return mal, err
			}
			last = err
		}
		if attempt >= t.s.maxRetries || ctx.Err() != nil {
			return mal, &plugins.Retriable{Err: fmt.Errorf("bulk write to Elasticsearch after %d attempts: %w", attempt+1, last)}
		}
		d := backoff(t.s.backoff, attempt, retryAfter)
		t.log.Debug("elasticsearch sink: retrying bulk request", "attempt", attempt+1, "backoff", d, "err", last)
		if err := sleep(ctx, d); err != nil {
			return mal, &plugins.Retriable{Err: fmt.Errorf("bulk write to Elasticsearch: %w (while retrying after %w)", err, last)}
		}
	}
}

// outcome is what one bulk response says about its documents.
type outcome struct {
	retry     []*doc // failed transiently (429, 5xx per item)
	malformed []badItem
	example   string // one transient item error, for the status trace
}

// bulkOnce sends docs once.
func (t *SinkTask) bulkOnce(ctx context.Context, docs []*doc) (outcome, error) {
	body := bulkBody(docs)
	// filter_path: the answer to 2,000 documents shrinks from ~400 KB to
	// what classify reads, which Elasticsearch then need not render (nor
	// gzip) and the sink need not parse.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil) // after the body is read
	stop := t.watchBulk(ctx, cancel)
	res, err := esapi.BulkRequest{Body: bytes.NewReader(body), FilterPath: bulkFilter}.Do(ctx, t.client)
	stop()
	if err != nil {
		var na *noAnswerError
		if c := context.Cause(ctx); errors.As(c, &na) {
			err = c
		}
		return outcome{}, fmt.Errorf("bulk request to Elasticsearch: %w", err)
	}
	defer res.Body.Close()
	if res.IsError() {
		return outcome{}, readError(res.StatusCode, res.Header, res.Body)
	}
	return classify(res.Body, docs)
}

// bulkBody is the request body of docs: each one's action line and
// source line.
func bulkBody(docs []*doc) []byte {
	n := 0
	for _, d := range docs {
		n += len(d.action) + len(d.source)
	}
	body := make([]byte, 0, n)
	for _, d := range docs {
		body = append(body, d.action...)
		body = append(body, d.source...)
	}
	return body
}

// classify sorts a bulk response's items: acknowledged (written, a delete
// of a missing document, a version conflict: an older or equal external
// version than the document's, i.e. a replay), refused for good (400:
// mapping or parse errors), and to retry (anything else).
func classify(body io.Reader, docs []*doc) (outcome, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return outcome{}, fmt.Errorf("bulk response from Elasticsearch: %w", err)
	}
	// The common answer, every item written, as filter_path renders it:
	// {"errors":false,"items":[{"index":{"status":201}},…]}. Decoding its
	// items into maps was a tenth of weir's CPU in the bench; counting
	// them is enough (errors=false: no item failed). Any other shape
	// takes the full decode below.
	if bytes.HasPrefix(b, fastOK) {
		if n := bytes.Count(b, statusKey); n != len(docs) {
			return outcome{}, fmt.Errorf("bulk response has %d items for %d documents", n, len(docs))
		}
		return outcome{}, nil
	}
	var br bulkResponse
	if err := json.Unmarshal(b, &br); err != nil {
		return outcome{}, fmt.Errorf("bulk response from Elasticsearch: %w", err)
	}
	if len(br.Items) != len(docs) {
		return outcome{}, fmt.Errorf("bulk response has %d items for %d documents", len(br.Items), len(docs))
	}
	var o outcome
	if !br.Errors {
		return o, nil
	}
	for i, m := range br.Items {
		var it bulkItem
		for op, raw := range m {
			if err := json.Unmarshal(raw, &it); err != nil {
				return outcome{}, fmt.Errorf("bulk response item %d: %w", i, err)
			}
			if op == "delete" && it.Status == http.StatusNotFound {
				it.Status = http.StatusOK // deleting what is not there is done
			}
		}
		switch itemClass(it.Status) {
		case itemDone:
			continue
		case itemMalformed:
			b := badItem{d: docs[i]}
			_ = json.Unmarshal(it.Error, &b.e)
			o.malformed = append(o.malformed, b)
		default:
			var e esError
			_ = json.Unmarshal(it.Error, &e)
			if o.example == "" {
				o.example = fmt.Sprintf("HTTP %d %s", it.Status, e.String())
			}
			o.retry = append(o.retry, docs[i])
		}
	}
	return o, nil
}

type itemKind int

const (
	itemDone itemKind = iota
	itemMalformed
	itemRetry
)

// itemClass is what a bulk item's status means: 2xx done; 409 (version
// conflict: a replay of a record at or below the document's version)
// done; 400 refused for good; the rest (429, 5xx, and anything
// unexpected) retried.
func itemClass(status int) itemKind {
	switch {
	case status < 300, status == http.StatusConflict:
		return itemDone
	case status == http.StatusBadRequest:
		return itemMalformed
	}
	return itemRetry
}

// malformed handles a document Elasticsearch refused (mapping or parse
// error) on the task goroutine: the dead letter queue with
// errors.tolerance=all, otherwise behavior.on.malformed.documents.
func (t *SinkTask) malformed(d *doc, e *esError) error {
	r := &d.rec
	err := fmt.Errorf("Elasticsearch rejected document %q of record %s-%d@%d in index %s: %s", d.id, r.Topic, r.Partition, r.Offset, d.index, e.String())
	if t.tolerate && t.tctx != nil {
		if rep := t.tctx.ErrantRecordReporter(); rep != nil {
			rep(r, err)
			return nil
		}
	}
	switch t.s.onMalformed {
	case "ignore":
		return nil
	case "warn":
		t.log.Warn("elasticsearch sink: skipping a malformed document", "err", err)
		return nil
	}
	return &malformedError{fmt.Errorf("%w (%s=fail; errors.tolerance=all sends it to the dead letter queue)", err, BehaviorOnMalformed)}
}
