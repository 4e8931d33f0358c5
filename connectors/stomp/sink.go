package stomp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-stomp/stomp/v3/frame"

	"github.com/weirlog/weir/plugins"
)

// SinkConnector is StompSink.
type SinkConnector struct {
	cfg plugins.Config
}

var _ plugins.SinkConnector = (*SinkConnector)(nil)

func (c *SinkConnector) ConfigDef() *plugins.ConfigDef { return sinkConfigDef }
func (c *SinkConnector) Version() string               { return plugins.Version }
func (c *SinkConnector) Stop() error                   { return nil }
func (c *SinkConnector) NewTask() plugins.SinkTask     { return &SinkTask{} }

// Start validates the configuration.
func (c *SinkConnector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	if _, err := parseSink(cfg); err != nil {
		return fmt.Errorf("StompSink: %w", err)
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs returns maxTasks identical configurations: the runtime
// spreads the topic partitions over them.
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	return plugins.SinkTaskConfigs(c.cfg, maxTasks), nil
}

// sinkReserved are the SEND headers the sink sets itself or that describe
// a delivery rather than a message; Kafka headers of these names (with or
// without the stomp. prefix) are dropped.
var sinkReserved = map[string]bool{
	frame.Destination: true, frame.MessageId: true, frame.ContentLength: true, frame.Subscription: true,
	frame.Ack: true, frame.Receipt: true, frame.Transaction: true, "persistent": true, "redelivered": true,
	kafkaKeyHeader: true,
}

// SinkTask sends records as SEND frames on one STOMP connection.
//
// With receipts on (the default) every SEND asks a receipt; up to
// stomp.max.in.flight of them are outstanding at once (pipelined, never
// awaited one by one) and PreCommit reports, per partition, the offset of
// the oldest record whose RECEIPT has not arrived, so the runtime commits
// only what the broker has confirmed. When the connection breaks, the
// unconfirmed frames are sent again on the next one (at-least-once).
//
// Put, PreCommit, Close and Stop run on the task goroutine; the reader
// goroutine of each connection delivers receipts; mu guards the window.
type SinkTask struct {
	s      sinkSettings
	log    *slog.Logger
	tctx   plugins.SinkTaskContext
	errant func(*plugins.Record, error)

	conn     *sinkConn // current connection, nil when down (task goroutine)
	nextAddr int
	seq      uint64
	refused  int // CONNECTs refused in a row
	// lastPut is, per partition, the offset of the last record taken into
	// the window: when the runtime redelivers a batch after a Retriable
	// error, what was already taken is not sent twice.
	lastPut map[plugins.TopicPartition]int64

	mu       sync.Mutex
	cond     *sync.Cond
	window   []*inflight          // in send order; head is unconfirmed when non-empty after trim
	byID     map[string]*inflight // receipt-id → entry
	unconf   int                  // unconfirmed entries
	connErr  error                // the current connection failed (set by its reader)
	poison   []*inflight          // rejected by an ERROR naming their receipt
	curConn  atomic.Pointer[sinkConn]
	progress time.Time // the last RECEIPT, or when one became outstanding
	// confirmed counts receipts since the last PreCommit; past
	// commitEvery Put asks the runtime to commit early, so a crash
	// redelivers less than a whole offset.flush.interval of records.
	confirmed int
	requested bool

	resent atomic.Int64 // frames sent again after a reconnection
}

type inflight struct {
	receipt   string
	tp        plugins.TopicPartition
	offset    int64
	f         *frame.Frame
	rec       plugins.Record
	confirmed bool
}

// Start reads the configuration; the connection is made by the first Put.
func (t *SinkTask) Start(tctx plugins.SinkTaskContext, cfg plugins.Config) error {
	s, err := parseSink(cfg)
	if err != nil {
		return fmt.Errorf("StompSink task: %w", err)
	}
	t.s = s
	t.tctx = tctx
	if tctx != nil {
		t.errant = tctx.ErrantRecordReporter()
	}
	t.log = slog.Default().With("connector", "StompSink")
	t.cond = sync.NewCond(&t.mu)
	t.byID = map[string]*inflight{}
	t.lastPut = map[plugins.TopicPartition]int64{}
	return nil
}

// Open forgets what was sent for the partitions: their records come from
// the committed offset on.
func (t *SinkTask) Open(tps []plugins.TopicPartition) error {
	for _, tp := range tps {
		delete(t.lastPut, tp)
	}
	return nil
}

// Put sends recs, batch.size frames per socket write, waiting only when
// the window of unconfirmed frames is full.
func (t *SinkTask) Put(ctx context.Context, recs []plugins.Record) error {
	for i := 0; i < len(recs); {
		if err := t.ensureConn(ctx); err != nil {
			return err
		}
		if err := t.waitRoom(ctx); err != nil {
			return err
		}
		if t.conn == nil { // the wait saw the connection fail
			continue
		}
		n := 0
		t.mu.Lock()
		room := t.s.maxInFlight - t.unconf
		t.mu.Unlock()
		for n < t.s.batchSize && n < room && i < len(recs) {
			tp := plugins.TopicPartition{Topic: recs[i].Topic, Partition: recs[i].Partition}
			if last, ok := t.lastPut[tp]; ok && recs[i].Offset <= last {
				i++ // already taken before a Retriable error
				continue
			}
			t.lastPut[tp] = recs[i].Offset
			e, err := t.entry(&recs[i])
			if err != nil {
				if rerr := t.reportErrant(&recs[i], err); rerr != nil {
					return rerr
				}
				i++
				continue
			}
			t.mu.Lock()
			t.window = append(t.window, e)
			if t.s.receipts {
				t.byID[e.receipt] = e
				if t.unconf == 0 {
					t.progress = time.Now()
				}
				t.unconf++
			} else {
				e.confirmed = true
			}
			t.mu.Unlock()
			if err := t.conn.write(e.f); err != nil {
				t.dropConn(fmt.Errorf("SEND: %w", err))
				break
			}
			n++
			i++
		}
		if t.conn != nil {
			if err := t.conn.flush(); err != nil {
				t.dropConn(fmt.Errorf("SEND: %w", err))
			}
		}
		if !t.s.receipts {
			t.trim()
		}
	}
	t.mu.Lock()
	ask := t.confirmed >= max(4*t.s.batchSize, commitEvery) && !t.requested
	t.requested = t.requested || ask
	t.mu.Unlock()
	if ask && t.tctx != nil {
		t.tctx.RequestCommit()
	}
	return t.takePoison()
}

// commitEvery is how many confirmed records make Put request a commit.
const commitEvery = 2000

// entry builds the SEND frame of one record.
func (t *SinkTask) entry(rec *plugins.Record) (*inflight, error) {
	body, err := bodyOf(rec.Value)
	if err != nil {
		return nil, err
	}
	f := frame.New(frame.SEND, frame.Destination, t.s.destinationFor(rec.Topic))
	headersFromKafka(f.Header, rec.Headers)
	if rec.Key != nil {
		f.Header.Set(kafkaKeyHeader, keyString(rec.Key))
	}
	f.Header.Set("persistent", strconv.FormatBool(t.s.persistent))
	// content-length makes ActiveMQ deliver a BytesMessage; without it a
	// TextMessage (then the body must not hold NUL, which ends a frame).
	if !t.s.valueString || bytes.IndexByte(body, 0) >= 0 {
		f.Header.Set(frame.ContentLength, strconv.Itoa(len(body)))
	}
	e := &inflight{tp: plugins.TopicPartition{Topic: rec.Topic, Partition: rec.Partition}, offset: rec.Offset, f: f, rec: *rec}
	if t.s.receipts {
		t.seq++
		e.receipt = "w" + strconv.FormatUint(t.seq, 36)
		f.Header.Set(frame.Receipt, e.receipt)
	}
	f.Body = body
	return e, nil
}

func bodyOf(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []byte:
		return x, nil
	case string:
		return []byte(x), nil
	}
	return []byte(plugins.ValueString(v)), nil
}

// keyString renders the record key for the kafka.key header (text; a
// binary key that is not UTF-8 is sent with invalid bytes replaced).
func keyString(k any) string {
	s := plugins.ValueString(k)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// headersFromKafka maps Kafka headers to SEND headers: stomp.<name> goes
// out as <name>, other names as they are; reserved names are dropped.
func headersFromKafka(h *frame.Header, hs []plugins.Header) {
	for _, kh := range hs {
		name := strings.TrimPrefix(kh.Key, headerPrefix)
		if name == "" || sinkReserved[name] || !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0 {
			continue
		}
		if kh.Value == nil {
			continue
		}
		v := plugins.ValueString(kh.Value)
		if !utf8.ValidString(v) {
			v = strings.ToValidUTF8(v, "\uFFFD")
		}
		h.Add(name, v)
	}
}

func (t *SinkTask) reportErrant(rec *plugins.Record, err error) error {
	if t.errant == nil {
		return fmt.Errorf("record %s-%d@%d: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	t.errant(rec, err)
	return nil
}

// takePoison reports the records the broker rejected, or fails the task
// when there is no dead letter queue.
func (t *SinkTask) takePoison() error {
	t.mu.Lock()
	p := t.poison
	t.poison = nil
	t.mu.Unlock()
	for _, e := range p {
		err := fmt.Errorf("the broker rejected the message for %s", e.f.Header.Get(frame.Destination))
		if rerr := t.reportErrant(&e.rec, err); rerr != nil {
			return rerr
		}
	}
	return nil
}

// waitRoom blocks while the window of unconfirmed frames is full.
func (t *SinkTask) waitRoom(ctx context.Context) error {
	return t.waitFor(ctx, func() bool { return t.unconf < t.s.maxInFlight })
}

// waitFor waits until cond holds (under mu), the connection failed (it
// is dropped: waitFor returns nil with t.conn nil), no RECEIPT arrived for
// stomp.receipt.timeout.ms while some were outstanding (the connection is
// considered broken and dropped), or ctx ends (its error is returned).
func (t *SinkTask) waitFor(ctx context.Context, cond func() bool) error {
	wake := func() {
		t.mu.Lock()
		t.cond.Broadcast()
		t.mu.Unlock()
	}
	stop := context.AfterFunc(ctx, wake)
	defer stop()
	tick := time.NewTicker(max(t.s.receiptTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				wake()
			}
		}
	}()
	t.mu.Lock()
	stalled := false
	for !cond() && t.connErr == nil && ctx.Err() == nil {
		if t.unconf > 0 && time.Since(t.progress) > t.s.receiptTimeout {
			stalled = true
			break
		}
		t.cond.Wait()
	}
	ok, cerr := cond(), t.connErr
	t.mu.Unlock()
	switch {
	case ok:
		return nil
	case cerr != nil:
		t.dropConn(cerr)
		return nil
	case stalled:
		t.dropConn(fmt.Errorf("no RECEIPT for %v", t.s.receiptTimeout))
		return nil
	default:
		return ctx.Err()
	}
}

// PreCommit flushes, waits (bounded) for the outstanding receipts, and
// returns per partition the first offset not confirmed by the broker.
func (t *SinkTask) PreCommit(ctx context.Context, current map[plugins.TopicPartition]int64) (map[plugins.TopicPartition]int64, error) {
	// Receipts keep arriving while Put runs: wait only briefly here, so
	// that a commit does not drain the pipeline; what is not confirmed yet
	// is committed next time.
	sctx, cancel := context.WithTimeout(ctx, preCommitWait)
	_ = t.settle(sctx)
	cancel()
	if err := t.takePoison(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.confirmed, t.requested = 0, false
	out := make(map[plugins.TopicPartition]int64, len(current))
	maps.Copy(out, current)
	for _, e := range t.window {
		if e.confirmed {
			continue
		}
		if cur, ok := out[e.tp]; !ok || e.offset < cur {
			out[e.tp] = e.offset
		}
	}
	return out, nil
}

// preCommitWait bounds how long PreCommit waits for outstanding receipts.
var preCommitWait = time.Second

// settle waits until every frame is confirmed, re-sending after a broken
// connection, until ctx ends.
func (t *SinkTask) settle(ctx context.Context) error {
	bo := backoff{first: t.s.backoff, max: t.s.backoffMax}
	for {
		t.mu.Lock()
		done := t.unconf == 0
		t.mu.Unlock()
		if done {
			return nil
		}
		if err := t.ensureConn(ctx); err != nil {
			var re *plugins.Retriable
			if !errors.As(err, &re) || !sleepCtx(ctx, bo.next()) {
				return err
			}
			continue
		}
		if err := t.waitFor(ctx, func() bool { return t.unconf == 0 }); err != nil {
			return err
		}
	}
}

// Close flushes what was sent for the revoked partitions (all of them: the
// window is shared).
func (t *SinkTask) Close([]plugins.TopicPartition) error {
	ctx, cancel := context.WithTimeout(context.Background(), t.s.receiptTimeout)
	defer cancel()
	_ = t.settle(ctx)
	return nil
}

// Stop disconnects; unconfirmed records were not committed and are
// delivered again to the next task.
func (t *SinkTask) Stop() error {
	if t.conn != nil {
		t.conn.disconnect()
		t.conn = nil
	}
	return nil
}

// trim drops the confirmed prefix of the window.
func (t *SinkTask) trim() {
	t.mu.Lock()
	t.trimLocked()
	t.mu.Unlock()
}

func (t *SinkTask) trimLocked() {
	i := 0
	for i < len(t.window) && t.window[i].confirmed {
		t.window[i] = nil
		i++
	}
	t.window = t.window[i:]
	if len(t.window) == 0 {
		t.window = nil
	}
}

// onReceipt is called by the reader goroutine.
func (t *SinkTask) onReceipt(c *sinkConn, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c != t.current() {
		return
	}
	e := t.byID[id]
	if e == nil || e.confirmed {
		return
	}
	e.confirmed = true
	delete(t.byID, id)
	t.unconf--
	t.confirmed++
	t.progress = time.Now()
	if len(t.window) > 0 && t.window[0] == e {
		t.trimLocked()
	}
	t.cond.Broadcast()
}

// onError is called by the reader goroutine when the connection ends. An
// ERROR naming a receipt rejects that one message (poison); the connection
// is re-established either way (ActiveMQ closes it after an ERROR).
func (t *SinkTask) onError(c *sinkConn, err error, receiptID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c != t.current() {
		return
	}
	if e := t.byID[receiptID]; receiptID != "" && e != nil && !e.confirmed {
		e.confirmed = true
		delete(t.byID, receiptID)
		t.unconf--
		t.poison = append(t.poison, e)
		t.trimLocked()
	}
	if t.connErr == nil {
		t.connErr = err
	}
	t.cond.Broadcast()
}

// current is the connection the reader callbacks belong to (under mu).
func (t *SinkTask) current() *sinkConn { return t.curConn.Load() }

// dropConn closes the current connection after a failure.
func (t *SinkTask) dropConn(err error) {
	if t.conn == nil {
		return
	}
	t.log.Warn("STOMP connection lost; reconnecting and sending the unconfirmed messages again", "broker", t.conn.addr.String(), "err", err)
	t.conn.close()
	t.conn = nil
	t.curConn.Store(nil)
}

// ensureConn connects when there is no connection, trying each broker of
// the failover list once, and sends every unconfirmed frame again. When
// none answers it returns a Retriable error (the runtime backs off and
// retries, and shows the cause in the task's status); a broker refusing
// CONNECT (credentials) maxSubscribeErrors times in a row is fatal.
func (t *SinkTask) ensureConn(ctx context.Context) error {
	t.mu.Lock()
	cerr := t.connErr
	t.mu.Unlock()
	if t.conn != nil && cerr != nil {
		t.dropConn(cerr)
	}
	if t.conn != nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var errs []error
	refused := false
	for range t.s.addrs {
		a := t.s.addrs[t.nextAddr%len(t.s.addrs)]
		c, err := dialSink(ctx, a, &t.s.connSettings, t)
		if err == nil {
			t.refused = 0
			if err := t.resend(c); err != nil {
				return &plugins.Retriable{Err: fmt.Errorf("sending to the STOMP broker %s: %w", a, err)}
			}
			return nil
		}
		var rf *connectRefused
		if errors.As(err, &rf) {
			refused = true
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
		t.nextAddr++
	}
	err := fmt.Errorf("cannot connect to the STOMP broker: %w", errors.Join(errs...))
	if refused {
		t.refused++
		if t.refused >= maxSubscribeErrors {
			return err
		}
	}
	t.log.Warn("STOMP broker unreachable", "err", err)
	return &plugins.Retriable{Err: err}
}

// resend installs c and writes every unconfirmed frame on it, in order.
func (t *SinkTask) resend(c *sinkConn) error {
	t.mu.Lock()
	t.connErr = nil
	t.progress = time.Now()
	t.curConn.Store(c)
	var again []*inflight
	for _, e := range t.window {
		if !e.confirmed {
			again = append(again, e)
		}
	}
	t.mu.Unlock()
	t.conn = c
	for _, e := range again {
		if err := c.write(e.f); err != nil {
			t.dropConn(err)
			return err
		}
	}
	if len(again) > 0 {
		t.resent.Add(int64(len(again)))
		if err := c.flush(); err != nil {
			t.dropConn(err)
			return err
		}
	}
	return nil
}

// sinkConn is one STOMP connection written frame by frame with go-stomp's
// frame codec. go-stomp's Conn.Send waits for each receipt before the next
// SEND can start (it holds its lock while waiting), which would make every
// message a round trip; here the frames are pipelined and a reader
// goroutine hands the receipts back.
type sinkConn struct {
	addr   brokerAddr
	nc     net.Conn
	bw     *bufio.Writer
	fw     *frame.Writer
	wmu    sync.Mutex // the task goroutine and the heart-beat goroutine write
	hbSend time.Duration
	done   chan struct{}
	once   sync.Once
}

type connectRefused struct{ msg string }

func (e *connectRefused) Error() string { return "CONNECT refused: " + e.msg }

func dialSink(ctx context.Context, a brokerAddr, s *connSettings, t *SinkTask) (*sinkConn, error) {
	nc, err := dialTCP(ctx, a, s.tlsInsecure)
	if err != nil {
		return nil, err
	}
	host := s.vhost
	if host == "" {
		host = a.host
	}
	c := &sinkConn{addr: a, nc: nc, done: make(chan struct{})}
	c.bw = bufio.NewWriterSize(nc, 256<<10)
	// frame.Writer flushes its own buffer after every frame: into bw, which
	// reaches the socket once per batch.
	c.fw = frame.NewWriterSize(c.bw, 64<<10)
	cf := frame.New(frame.CONNECT, frame.AcceptVersion, "1.2,1.1", frame.Host, host,
		frame.HeartBeat, fmt.Sprintf("%d,%d", s.hbSend.Milliseconds(), s.hbRecv.Milliseconds()))
	if s.login != "" || s.passcode != "" {
		cf.Header.Add(frame.Login, s.login)
		cf.Header.Add(frame.Passcode, s.passcode)
	}
	_ = nc.SetDeadline(time.Now().Add(dialTimeout))
	if err := c.write(cf); err == nil {
		err = c.flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	fr := frame.NewReaderSize(nc, 64<<10)
	resp, err := fr.Read()
	for err == nil && resp == nil { // heart-beats before CONNECTED
		resp, err = fr.Read()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	if resp.Command != frame.CONNECTED {
		nc.Close()
		return nil, &connectRefused{msg: resp.Header.Get(frame.Message)}
	}
	var readTO time.Duration
	if hb, ok := resp.Header.Contains(frame.HeartBeat); ok {
		sx, sy, err := frame.ParseHeartBeat(hb)
		if err == nil {
			// The server sends every sx (if we asked); we send every sy.
			if sx > 0 && s.hbRecv > 0 {
				readTO = 2*max(sx, s.hbRecv) + 5*time.Second
			}
			if sy > 0 && s.hbSend > 0 {
				c.hbSend = max(sy, s.hbSend)
			}
		}
	}
	go c.readLoop(fr, readTO, t)
	if c.hbSend > 0 {
		go c.heartbeats()
	}
	return c, nil
}

func (c *sinkConn) write(f *frame.Frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.fw.Write(f)
}

func (c *sinkConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.bw.Flush()
}

func (c *sinkConn) heartbeats() {
	tk := time.NewTicker(c.hbSend / 2)
	defer tk.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-tk.C:
			c.wmu.Lock()
			// A lone EOL; skipped when frames are waiting (they count).
			if c.bw.Buffered() == 0 {
				_, _ = c.bw.WriteString("\n")
				_ = c.bw.Flush()
			}
			c.wmu.Unlock()
		}
	}
}

func (c *sinkConn) readLoop(fr *frame.Reader, timeout time.Duration, t *SinkTask) {
	for {
		if timeout > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(timeout))
		}
		f, err := fr.Read()
		if err != nil {
			select {
			case <-c.done:
			default:
				t.onError(c, fmt.Errorf("read: %w", err), "")
			}
			return
		}
		if f == nil {
			continue
		}
		switch f.Command {
		case frame.RECEIPT:
			t.onReceipt(c, f.Header.Get(frame.ReceiptId))
		case frame.ERROR:
			msg := f.Header.Get(frame.Message)
			if body := strings.TrimSpace(string(f.Body)); body != "" {
				msg += ": " + firstLine(body)
			}
			t.onError(c, fmt.Errorf("ERROR from the broker: %s", msg), f.Header.Get(frame.ReceiptId))
			c.close()
			return
		}
	}
}

func (c *sinkConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

// disconnect sends DISCONNECT (best effort) and closes.
func (c *sinkConn) disconnect() {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	if err := c.write(frame.New(frame.DISCONNECT)); err == nil {
		_ = c.flush()
	}
	c.close()
}
