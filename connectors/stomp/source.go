package stomp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gostomp "github.com/go-stomp/stomp/v3"
	"github.com/go-stomp/stomp/v3/frame"

	"github.com/weirlog/weir/plugins"
)

// SourceConnector is StompSource.
type SourceConnector struct {
	cfg plugins.Config
	s   sourceSettings
}

var _ plugins.SourceConnector = (*SourceConnector)(nil)

func (c *SourceConnector) ConfigDef() *plugins.ConfigDef { return sourceConfigDef }
func (c *SourceConnector) Version() string               { return plugins.Version }
func (c *SourceConnector) Stop() error                   { return nil }
func (c *SourceConnector) NewTask() plugins.SourceTask   { return &SourceTask{} }

// Start validates the configuration.
func (c *SourceConnector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	s, err := parseSource(cfg)
	if err != nil {
		return fmt.Errorf("StompSource: %w", err)
	}
	c.cfg, c.s = maps.Clone(cfg), s
	return nil
}

// TaskConfigs spreads the destinations over the tasks. Every task
// subscribes to every queue (competing consumers: the broker gives each
// message to one of them); each topic goes to exactly one task, since two
// subscriptions of a topic would each receive every message (and a durable
// subscription admits one active consumer).
func (c *SourceConnector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	var queues, topics []string
	for _, d := range c.s.destinations {
		if isTopic(d) {
			topics = append(topics, d)
		} else {
			queues = append(queues, d)
		}
	}
	n := max(maxTasks, 1)
	if len(queues) == 0 {
		n = min(n, max(len(topics), 1))
	}
	per := make([][]string, n)
	for i := range per {
		per[i] = append([]string(nil), queues...)
	}
	for i, t := range topics {
		per[i%n] = append(per[i%n], t)
	}
	out := make([]plugins.Config, 0, n)
	for i := range per {
		if len(per[i]) == 0 {
			continue
		}
		cfg := maps.Clone(c.cfg)
		cfg[taskDestinationsConfig] = strings.Join(per[i], ",")
		cfg[taskIDConfig] = strconv.Itoa(i)
		out = append(out, cfg)
	}
	return out, nil
}

// pollWait is how long Poll waits for a message before returning nil.
var pollWait = 500 * time.Millisecond

// drainWait bounds how long a stopping task keeps its connections open so
// that records still in flight to the log can be acknowledged.
var drainWait = 5 * time.Second

// SourceTask consumes its destinations, one STOMP connection each.
//
// A message is acknowledged (ACK, or NACK for a poison message tolerated by
// errors.tolerance=all) only from CommitRecord, i.e. after the runtime saw
// its record acknowledged by the log; until then the broker holds it and
// redelivers it if the connection or the worker dies. Poll runs on the task
// goroutine, CommitRecord on the runtime's producer goroutine, Stop on
// another; mu guards what they share.
type SourceTask struct {
	s   sourceSettings
	log *slog.Logger

	// life serialises Start and Stop: the runtime may call Stop while
	// Start is still running.
	life   sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	cons   []*consumer
	wake   chan struct{} // a message arrived (cap 1)

	mu      sync.Mutex
	queue   []*delivery         // received, not yet polled
	pending map[string]*pending // polled, record not yet in the log; by key
	window  dedupWindow         // keys of messages whose record is in the log
	fatal   error               // a permanent subscription failure

	// Counters for tests and logs.
	deduped  atomic.Int64
	nacked   atomic.Int64
	received atomic.Int64
}

// delivery is one MESSAGE frame as received on one session.
type delivery struct {
	sess *session
	msg  *gostomp.Message
	key  string // destination + "\x00" + message-id
	id   string
	dest string

	committed bool // client (cumulative) mode: the record is in the log
}

// pending is a polled message whose record is on its way to the log, with
// any redeliveries of it that arrived meanwhile (acknowledged together).
type pending struct {
	deliveries []*delivery
}

// Start connects, in the background, one consumer per destination.
func (t *SourceTask) Start(_ plugins.SourceTaskContext, cfg plugins.Config) error {
	s, err := parseSource(cfg)
	if err != nil {
		return fmt.Errorf("StompSource task: %w", err)
	}
	t.life.Lock()
	defer t.life.Unlock()
	t.s = s
	t.log = slog.Default().With("connector", "StompSource", "task", s.taskID)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.wake = make(chan struct{}, 1)
	t.pending = map[string]*pending{}
	t.window = newDedupWindow(s.dedupWindow)
	topics := 0
	for _, d := range s.destinations {
		if isTopic(d) {
			topics++
		}
	}
	for _, d := range s.destinations {
		c := &consumer{t: t, dest: d}
		if isTopic(d) && s.subName != "" {
			c.durable = true
			c.clientID = s.clientID
			if topics > 1 {
				c.clientID += "-" + destinationName(d)
			}
		}
		t.cons = append(t.cons, c)
		t.wg.Add(1)
		go c.run(t.ctx)
	}
	return nil
}

// Poll returns the messages received so far (at most batch.size), or nil
// after a short wait.
func (t *SourceTask) Poll(ctx context.Context) ([]plugins.Record, error) {
	if err := t.takeFatal(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	empty := len(t.queue) == 0
	t.mu.Unlock()
	if empty {
		timer := time.NewTimer(pollWait)
		select {
		case <-ctx.Done():
		case <-t.ctx.Done():
		case <-t.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
	recs, err := t.take()
	if err == nil && len(recs) == 0 {
		// Nothing to deliver and a destination is not subscribed: say why
		// (the runtime retries, and shows the cause in the task's status).
		if derr := t.downErr(); derr != nil {
			return nil, &plugins.Retriable{Err: derr}
		}
	}
	return recs, err
}

func (t *SourceTask) downErr() error {
	var errs []error
	for _, c := range t.cons {
		c.mu.Lock()
		if c.downErr != nil {
			errs = append(errs, c.downErr)
		}
		c.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (t *SourceTask) takeFatal() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fatal
}

// take turns queued deliveries into records. Redeliveries of messages
// whose record is in the log (or on its way) are acknowledged with it
// instead of becoming a second record.
func (t *SourceTask) take() ([]plugins.Record, error) {
	var ackNow []*delivery
	var nackNow []*delivery
	var recs []plugins.Record
	var poison error
	t.mu.Lock()
	n := 0
	for n < len(t.queue) && len(recs) < t.s.batchSize {
		d := t.queue[n]
		if d.sess.dead.Load() {
			// Its connection died before it was polled: the broker
			// redelivers it on the new one.
			n++
			continue
		}
		if p, ok := t.pending[d.key]; ok {
			p.deliveries = append(p.deliveries, d)
			t.deduped.Add(1)
			n++
			continue
		}
		if t.window.contains(d.key) {
			ackNow = append(ackNow, d)
			t.deduped.Add(1)
			n++
			continue
		}
		rec, err := t.record(d)
		if err != nil {
			if t.s.tolerateAll {
				t.log.Warn("poison message: NACKed (the broker's dead letter policy applies)", "destination", d.dest, "message-id", d.id, "err", err)
				nackNow = append(nackNow, d)
				n++
				continue
			}
			// Fail the task at the next poll, after the records before
			// it reached the log; the message stays unacknowledged.
			poison = fmt.Errorf("poison message %s on %s: %w (errors.tolerance=all NACKs such messages to the broker's dead letter queue)", d.id, d.dest, err)
			break
		}
		t.pending[d.key] = &pending{deliveries: []*delivery{d}}
		recs = append(recs, rec)
		n++
	}
	t.queue = t.queue[n:]
	if len(t.queue) == 0 {
		t.queue = nil
	}
	if poison != nil && len(recs) == 0 {
		t.fatal = poison
	}
	t.mu.Unlock()
	for _, d := range ackNow {
		t.ack(d)
	}
	for _, d := range nackNow {
		if err := d.sess.conn.Nack(d.msg); err != nil {
			t.log.Debug("NACK failed; the message will be redelivered", "message-id", d.id, "err", err)
		}
		t.nacked.Add(1)
	}
	if len(recs) == 0 && poison != nil {
		return nil, poison
	}
	return recs, nil
}

// record maps a MESSAGE frame to a record.
func (t *SourceTask) record(d *delivery) (plugins.Record, error) {
	m := d.msg
	rec := plugins.Record{
		Topic:           t.s.kafkaTopicFor(d.dest),
		Partition:       -1,
		SourcePartition: map[string]any{sourcePartitionDestKey: d.sess.c.dest},
		SourceOffset:    map[string]any{sourceOffsetMessageID: d.id},
	}
	if t.s.valueString {
		if !utf8.Valid(m.Body) {
			return rec, errors.New("body is not valid UTF-8 (stomp.value.type=string)")
		}
		rec.Value, rec.ValueSchema = string(m.Body), plugins.OptionalStringSchema
	} else {
		rec.Value, rec.ValueSchema = m.Body, plugins.OptionalBytesSchema
		if m.Body == nil {
			rec.Value = []byte{}
		}
	}
	rec.KeySchema = plugins.OptionalStringSchema
	if t.s.keyHeader != "" {
		if v, ok := m.Header.Contains(t.s.keyHeader); ok {
			rec.Key = v
		}
	} else {
		rec.Key = d.id
	}
	rec.Headers = headersToKafka(m.Header)
	if ts, ok := m.Header.Contains("timestamp"); ok {
		if ms, err := strconv.ParseInt(ts, 10, 64); err == nil && ms > 0 {
			rec.Timestamp = time.UnixMilli(ms)
		}
	}
	return rec, nil
}

// frameControlHeaders describe one delivery, not the message: they are not
// copied to Kafka headers.
var frameControlHeaders = map[string]bool{frame.Ack: true, frame.Subscription: true, frame.ContentLength: true}

// headersToKafka copies every header but the frame-control ones, first
// occurrence only (STOMP 1.2: a repeated header's first value counts).
// go-stomp's reader has already undone STOMP 1.1/1.2 escaping.
func headersToKafka(h *frame.Header) []plugins.Header {
	out := make([]plugins.Header, 0, h.Len())
	seen := make(map[string]bool, h.Len())
	for i := 0; i < h.Len(); i++ {
		k, v := h.GetAt(i)
		if frameControlHeaders[k] || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, plugins.Header{Key: headerPrefix + k, Value: v, Schema: plugins.StringSchema})
	}
	return out
}

// CommitRecord acknowledges the message of rec, now in the log.
func (t *SourceTask) CommitRecord(rec *plugins.Record) error {
	key, ok := recordKey(rec)
	if !ok {
		return nil
	}
	t.mu.Lock()
	p := t.pending[key]
	delete(t.pending, key)
	// Remember it before acknowledging: a redelivery racing the ACK must
	// find it.
	t.window.add(key)
	t.mu.Unlock()
	if p == nil {
		return nil
	}
	for _, d := range p.deliveries {
		t.ack(d)
	}
	return nil
}

func recordKey(rec *plugins.Record) (string, bool) {
	dest, _ := rec.SourcePartition[sourcePartitionDestKey].(string)
	id, _ := rec.SourceOffset[sourceOffsetMessageID].(string)
	if dest == "" || id == "" {
		return "", false
	}
	return dest + "\x00" + id, true
}

// ack acknowledges one delivery: at once in client-individual mode; in
// client (cumulative) mode once every earlier delivery of its session is
// in the log too. A failed ACK (lost connection) is harmless: the broker
// redelivers and the dedup window acknowledges the redelivery.
func (t *SourceTask) ack(d *delivery) {
	if !t.s.ackClient {
		if err := d.sess.conn.Ack(d.msg); err != nil {
			t.log.Debug("ACK failed; the message will be redelivered", "message-id", d.id, "err", err)
		}
		return
	}
	last := d.sess.commitCumulative(d)
	if last != nil {
		if err := d.sess.conn.Ack(last.msg); err != nil {
			t.log.Debug("ACK failed; the messages will be redelivered", "message-id", last.id, "err", err)
		}
	}
}

// Commit does nothing: messages are acknowledged record by record.
func (t *SourceTask) Commit() error { return nil }

// Stop stops receiving at once and closes the connections once the
// records in flight are in the log (or after drainWait): what is not
// acknowledged by then is redelivered by the broker to the next consumer.
func (t *SourceTask) Stop() error {
	t.life.Lock()
	defer t.life.Unlock()
	if t.cancel == nil {
		return nil
	}
	t.cancel()
	go func() {
		deadline := time.Now().Add(drainWait)
		for time.Now().Before(deadline) {
			t.mu.Lock()
			n := len(t.pending)
			t.mu.Unlock()
			if n == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, c := range t.cons {
			c.close()
		}
	}()
	return nil
}

func (t *SourceTask) enqueue(d *delivery) {
	t.received.Add(1)
	t.mu.Lock()
	t.queue = append(t.queue, d)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *SourceTask) fail(err error) {
	t.mu.Lock()
	if t.fatal == nil {
		t.fatal = err
	}
	t.mu.Unlock()
}

// consumer keeps one destination subscribed, reconnecting with exponential
// backoff and moving along the failover list.
type consumer struct {
	t        *SourceTask
	dest     string
	durable  bool
	clientID string
	next     int // index into addrs of the next broker to try

	mu      sync.Mutex
	sess    *session
	done    bool
	downErr error // why the destination is not subscribed now (nil: it is)
}

func (c *consumer) setDown(err error) {
	c.mu.Lock()
	c.downErr = err
	c.mu.Unlock()
}

// session is one connection and its subscription.
type session struct {
	c    *consumer
	conn *gostomp.Conn
	sub  *gostomp.Subscription
	dead atomic.Bool

	mu    sync.Mutex  // client (cumulative) mode only
	order []*delivery // deliveries in arrival order, not yet acknowledged
}

// commitCumulative marks d committed and returns the last delivery of the
// committed prefix, which one cumulative ACK covers (nil: nothing to ACK).
func (s *session) commitCumulative(d *delivery) *delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.committed = true
	var last *delivery
	i := 0
	for i < len(s.order) && s.order[i].committed {
		last = s.order[i]
		i++
	}
	s.order = s.order[i:]
	return last
}

// maxSubscribeErrors is how many ERROR frames in a row, with no message in
// between, make a subscription's failure permanent (a bad selector, a
// destination the user may not read): the task fails instead of retrying.
const maxSubscribeErrors = 5

func (c *consumer) run(ctx context.Context) {
	defer c.t.wg.Done()
	log := c.t.log.With("destination", c.dest)
	bo := backoff{first: c.t.s.backoff, max: c.t.s.backoffMax}
	errorFrames := 0
	for ctx.Err() == nil {
		sess, addr, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait := bo.next()
			c.setDown(fmt.Errorf("cannot subscribe to %s: %w", c.dest, err))
			log.Warn("cannot connect to the STOMP broker; retrying", "err", err, "backoff", wait)
			sleepCtx(ctx, wait)
			continue
		}
		c.setDown(nil)
		log.Info("subscribed", "broker", addr.String(), "durable", c.durable)
		got := false
		for {
			m, ok := <-sess.sub.C
			if !ok || m.Err != nil {
				sess.dead.Store(true)
				if ctx.Err() != nil {
					return
				}
				var serr *gostomp.Error
				if ok && errors.As(m.Err, &serr) && serr.Frame != nil && serr.Frame.Command == frame.ERROR {
					errorFrames++
					body := ""
					if serr.Frame != nil {
						body = strings.TrimSpace(string(serr.Frame.Body))
					}
					log.Warn("the broker closed the subscription", "err", serr.Message, "detail", firstLine(body))
					if !got && errorFrames >= maxSubscribeErrors {
						c.t.fail(fmt.Errorf("subscribing to %s: the broker answered ERROR %d times in a row: %s", c.dest, errorFrames, serr.Message))
						c.closeSession(sess)
						return
					}
					c.setDown(fmt.Errorf("the broker closed the subscription to %s: %s", c.dest, serr.Message))
				} else {
					log.Warn("lost the connection to the STOMP broker; reconnecting", "err", errString(m))
					c.setDown(fmt.Errorf("lost the connection to the STOMP broker (%s): %s", addr, errString(m)))
				}
				c.closeSession(sess)
				break
			}
			if !got {
				got, errorFrames = true, 0
				bo.reset()
			}
			c.t.enqueue(c.newDelivery(sess, m))
		}
		wait := bo.next()
		sleepCtx(ctx, wait)
	}
}

func errString(m *gostomp.Message) string {
	if m == nil || m.Err == nil {
		return "subscription closed"
	}
	return m.Err.Error()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (c *consumer) newDelivery(sess *session, m *gostomp.Message) *delivery {
	id := m.Header.Get(frame.MessageId)
	dest := m.Destination
	if dest == "" {
		dest = c.dest
	}
	d := &delivery{sess: sess, msg: m, id: id, dest: dest, key: c.dest + "\x00" + id}
	if c.t.s.ackClient {
		sess.mu.Lock()
		sess.order = append(sess.order, d)
		sess.mu.Unlock()
	}
	return d
}

// connect tries each broker of the failover list once, starting after the
// last one that worked, and subscribes.
func (c *consumer) connect(ctx context.Context) (*session, brokerAddr, error) {
	s := &c.t.s
	var errs []error
	for range s.addrs {
		a := s.addrs[c.next%len(s.addrs)]
		sess, err := c.connectTo(ctx, a)
		if err == nil {
			return sess, a, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
		c.next++
	}
	return nil, brokerAddr{}, errors.Join(errs...)
}

func (c *consumer) connectTo(ctx context.Context, a brokerAddr) (*session, error) {
	s := &c.t.s
	nc, err := dialTCP(ctx, a, s.tlsInsecure)
	if err != nil {
		return nil, err
	}
	var extra []func(*gostomp.Conn) error
	if c.durable {
		extra = append(extra, gostomp.ConnOpt.Header("client-id", c.clientID))
	}
	cctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := gostomp.ConnectWithContext(cctx, nc, s.connectOpts(a, extra...)...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("CONNECT: %w", err)
	}
	mode := gostomp.AckClientIndividual
	if s.ackClient {
		mode = gostomp.AckClient
	}
	opts := []func(*frame.Frame) error{
		gostomp.SubscribeOpt.Header("activemq.prefetchSize", strconv.Itoa(s.prefetch)),
	}
	if s.selector != "" {
		opts = append(opts, gostomp.SubscribeOpt.Header("selector", s.selector))
	}
	if c.durable {
		opts = append(opts, gostomp.SubscribeOpt.Header("activemq.subscriptionName", s.subName))
	}
	sub, err := conn.Subscribe(c.dest, mode, opts...)
	if err != nil {
		conn.MustDisconnect()
		return nil, fmt.Errorf("SUBSCRIBE %s: %w", c.dest, err)
	}
	sess := &session{c: c, conn: conn, sub: sub}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		conn.MustDisconnect()
		return nil, errStopped
	}
	c.sess = sess
	return sess, nil
}

func (c *consumer) closeSession(sess *session) {
	sess.dead.Store(true)
	_ = sess.conn.MustDisconnect()
	c.mu.Lock()
	if c.sess == sess {
		c.sess = nil
	}
	c.mu.Unlock()
}

// close ends the current session politely (DISCONNECT with a receipt, so
// the ACKs before it are processed) and stops reconnecting.
func (c *consumer) close() {
	c.mu.Lock()
	c.done = true
	sess := c.sess
	c.sess = nil
	c.mu.Unlock()
	if sess != nil {
		sess.dead.Store(true)
		if err := sess.conn.Disconnect(); err != nil {
			_ = sess.conn.MustDisconnect()
		}
	}
}

// dedupWindow remembers the last n keys added (a ring and a set).
type dedupWindow struct {
	ring []string
	next int
	set  map[string]struct{}
}

func newDedupWindow(n int) dedupWindow {
	return dedupWindow{ring: make([]string, n), set: make(map[string]struct{}, min(n, 1<<16))}
}

func (w *dedupWindow) contains(k string) bool {
	_, ok := w.set[k]
	return ok
}

func (w *dedupWindow) add(k string) {
	if len(w.ring) == 0 {
		return
	}
	if _, ok := w.set[k]; ok {
		return
	}
	if old := w.ring[w.next]; old != "" {
		delete(w.set, old)
	}
	w.ring[w.next] = k
	w.set[k] = struct{}{}
	w.next = (w.next + 1) % len(w.ring)
}
