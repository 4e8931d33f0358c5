package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxInflight bounds the requests read from one connection whose responses
// are not yet written (clients pipeline up to 5; more just waits).
const maxInflight = 32

// conn serves one client connection.
//
// Threading: three goroutines per connection. The read goroutine (serve)
// decodes frames; the handle goroutine runs most handlers one at a time in
// arrival order, so a connection's produces reach the logs in the order
// sent (idempotent sequences depend on it). Handlers that may block —
// Fetch long-polls, group joins and syncs — get a goroutine of their own;
// a --fsync produce appends here and leaves its wait for the group
// commits to one (reqCtx.later), so the connection's next produces are
// appended meanwhile and share those commits.
// The write goroutine writes responses strictly in request order, whatever
// order they complete in.
//
// Limits (Kafka's socket-server settings): a frame's buffer grows with the
// bytes that arrive (never sized from the length prefix alone past 1 MiB),
// bytes read but not handled are bounded per connection
// (socket.request.max.bytes) and broker-wide (queued.max.request.bytes),
// a connection with no request and nothing in flight for
// connections.max.idle.ms is closed, and every response write has a
// deadline (WriteTimeout).
type conn struct {
	b          *Broker
	nc         net.Conn
	remote     string
	remoteHost string

	ctx    context.Context
	cancel context.CancelFunc

	budget   *byteBudget   // bytes of request frames read but not yet handled
	inflight atomic.Int32  // requests read whose responses are not yet written
	queue    chan *pending // requests in arrival order, for the writer
	work     chan work     // decoded requests, for the handler goroutine
	wbuf     []byte        // writer-owned response buffer, reused
	proven   int           // largest frame this connection delivered whole (read goroutine only)
}

// pending is one request awaiting its response.
type pending struct {
	key, version int16
	corr         int32
	clientID     string
	start        time.Time
	done         chan struct{}
	resp         kmsg.Response
	zc           *zeroCopy // fetch: record bytes to send from the log
	noResponse   bool      // acks=0 produce
	buf          *[]byte   // request frame to recycle once handled
	size         int64     // frame size, returned to the connection's budget once handled
}

func newConn(b *Broker, nc net.Conn) *conn {
	c := &conn{b: b, nc: nc, remote: nc.RemoteAddr().String(), queue: make(chan *pending, maxInflight), work: make(chan work, maxInflight)}
	c.remoteHost, _, _ = net.SplitHostPort(c.remote)
	c.budget = newByteBudget(int64(b.cfg.MaxRequestBytes))
	c.ctx, c.cancel = context.WithCancel(b.ctx)
	return c
}

var errFrame = errors.New("bad frame")

// errIdle closes a connection that sent nothing for connections.max.idle.ms
// while nothing of it was in flight.
var errIdle = errors.New("idle past connections.max.idle.ms")

func (c *conn) serve() {
	c.b.metrics.connections.Inc()
	defer c.b.metrics.connections.Dec()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	go func() {
		defer wg.Done()
		c.handleLoop()
	}()
	err := c.readLoop()
	switch {
	case errors.Is(err, errIdle):
		c.b.metrics.idleClosed.Inc()
		c.b.logger.Debug("closing idle client connection", "remote", c.remote)
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && c.ctx.Err() == nil:
		if errors.Is(err, errFrame) {
			c.b.metrics.badFrames.Inc()
		}
		// Rate-limited: a client stuck in a reconnect loop with a bad
		// request would otherwise fill the log.
		c.b.warnLimited("closing client connection", "remote", c.remote, "err", err)
	}
	// The client is gone (or broke the protocol): end long polls and
	// rebalance waits now rather than when they time out.
	c.cancel()
	close(c.work)
	wg.Wait()
	c.nc.Close()
}

// handleLoop runs the handlers in arrival order (see conn), so that reading
// the next frame overlaps handling this one.
func (c *conn) handleLoop() {
	defer close(c.queue)
	for w := range c.work {
		p := w.p
		switch {
		case p.resp != nil: // answered while decoding (ApiVersions downgrade)
			c.release(p.size)
			close(p.done)
		case isAsync(p.key):
			go c.handle(p, w.req)
		default:
			c.handle(p, w.req)
		}
	}
}

// eagerFrameBytes is the largest frame whose buffer is taken whole from its
// length prefix. Past it the buffer grows (doubling) as the bytes arrive,
// so a client announcing 100 MiB and sending a few costs a few, not 100.
const eagerFrameBytes = 1 << 20

// release returns n bytes of request frames to the connection's and the
// broker's budgets.
func (c *conn) release(n int64) {
	c.budget.release(n)
	c.b.queued.release(n)
}

// acquire reserves n bytes of request frames in both budgets; false once
// the connection is closing.
func (c *conn) acquire(n int64) bool {
	if !c.budget.acquire(c.ctx, n) {
		return false
	}
	if !c.b.queued.acquire(c.ctx, n) {
		c.budget.release(n)
		return false
	}
	return true
}

// readFull fills buf from the socket. connections.max.idle.ms is a read
// deadline that is pushed back while bytes keep arriving or responses are
// still owed to the client (a JoinGroup may rightly wait minutes).
func (c *conn) readFull(buf []byte) error {
	idle := c.b.cfg.ConnectionsMaxIdle
	got := 0
	for got < len(buf) {
		if idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		start := got
		for got < len(buf) {
			n, err := c.nc.Read(buf[got:])
			got += n
			if err == nil {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && idle > 0 {
				if got > start || c.inflight.Load() > 0 {
					break // activity: a new deadline
				}
				return errIdle
			}
			if errors.Is(err, io.EOF) && got > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readBody reads a frame of size bytes, reserving budget and growing the
// buffer only as its bytes arrive. Growing a buffer piecemeal copies what
// arrived at every doubling, which for multi-MiB produce frames was one
// more copy of every byte produced (12-20% of the broker's CPU under
// franz-go's defaults, issue 16), so two cases skip it:
//   - the free list already holds a buffer for the whole frame: the bytes
//     go straight into it (the budget still grows only with what arrived):
//     it is memory held anyway;
//   - the connection already delivered a frame at least this large: the
//     buffer is sized from the length prefix at once and its budget is
//     reserved whole. A client can thus hold, without sending, as much as
//     it proved it sends; one that announces more than ever before still
//     has to send it before the buffer grows past what it proved.
func (c *conn) readBody(size int) (*[]byte, error) {
	n := min(size, max(eagerFrameBytes, c.proven))
	if !c.acquire(int64(n)) {
		return nil, c.ctx.Err()
	}
	held := int64(n)
	bufp := freeBuf(size)
	whole := bufp != nil
	if !whole {
		bufp = getBuf(n)
	}
	got := 0
	for {
		want := min(size, len(*bufp))
		if whole {
			want = min(size, max(n, 2*got))
		}
		if int64(want) > held {
			if !c.acquire(int64(want) - held) {
				putBuf(bufp)
				c.release(held)
				return nil, c.ctx.Err()
			}
			held = int64(want)
		}
		if err := c.readFull((*bufp)[got:want]); err != nil {
			putBuf(bufp)
			c.release(held)
			return nil, err
		}
		got = want
		if got == size {
			if held > int64(size) {
				c.release(held - int64(size))
			}
			c.proven = max(c.proven, size)
			return bufp, nil
		}
		if whole {
			continue
		}
		next := getBuf(min(size, 2*len(*bufp)))
		copy(*next, (*bufp)[:got])
		putBuf(bufp)
		bufp = next
	}
}

func (c *conn) readLoop() error {
	var sizeBuf [4]byte
	for {
		if err := c.readFull(sizeBuf[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: connection closed inside a frame's size", errFrame)
			}
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > c.b.cfg.MaxRequestBytes {
			return fmt.Errorf("%w: size %d outside [8, %d]", errFrame, size, c.b.cfg.MaxRequestBytes)
		}
		// Pipelined requests are read ahead of their handling, but never
		// more than MaxRequestBytes of them at once per connection, nor
		// QueuedMaxRequestBytes over the broker.
		bufp, err := c.readBody(int(size))
		if err != nil {
			return err
		}
		body := (*bufp)[:size]
		c.b.metrics.bytesIn.Add(float64(size + 4))
		p, kreq, err := c.decode(body)
		if err != nil {
			putBuf(bufp)
			c.release(int64(size))
			return err
		}
		p.size = int64(size)
		switch {
		case p.resp != nil: // nothing decoded from the frame
			putBuf(bufp)
		case isAsync(p.key):
			// The request aliases the frame and its handler may outlive
			// this loop: leave the buffer to the garbage collector.
		default:
			p.buf = bufp // recycled by handle
		}
		// The writer learns the order first; the bounded queue is what
		// limits the requests in flight on one connection.
		c.inflight.Add(1)
		select {
		case c.queue <- p:
		case <-c.ctx.Done():
			c.inflight.Add(-1)
			if p.buf != nil {
				putBuf(p.buf)
			}
			c.release(p.size)
			return c.ctx.Err()
		}
		c.work <- work{p: p, req: kreq}
	}
}

// byteBudget bounds bytes of request frames: one connection's, or (the
// same type) the whole broker's queued.max.request.bytes.
type byteBudget struct {
	mu   sync.Mutex
	cond sync.Cond
	used int64
	max  int64
}

func newByteBudget(max int64) *byteBudget {
	b := &byteBudget{max: max}
	b.cond.L = &b.mu
	return b
}

// acquire waits until n more bytes fit (n always fits when nothing is
// held); false, with nothing taken, once ctx is done.
func (b *byteBudget) acquire(ctx context.Context, n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used > 0 && b.used+n > b.max {
		stop := context.AfterFunc(ctx, func() {
			b.mu.Lock()
			b.cond.Broadcast()
			b.mu.Unlock()
		})
		defer stop()
		for b.used > 0 && b.used+n > b.max && ctx.Err() == nil {
			b.cond.Wait()
		}
		if ctx.Err() != nil {
			return false
		}
	}
	b.used += n
	return true
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *byteBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

type work struct {
	p   *pending
	req kmsg.Request
}

// decode parses one request frame. An error means the connection must
// close: Kafka brokers do the same for unparsable requests, unknown keys
// and unsupported versions (except ApiVersions, answered below).
func (c *conn) decode(body []byte) (p *pending, kreq kmsg.Request, err error) {
	r := kbin.Reader{Src: body}
	key, version, corr := r.Int16(), r.Int16(), r.Int32()
	clientID := r.NullableString()
	p = &pending{key: key, version: version, corr: corr, start: time.Now(), done: make(chan struct{})}
	if clientID != nil {
		p.clientID = *clientID
	}
	kreq = kmsg.RequestForKey(key)
	v, served := apiKeys[key]
	if kreq == nil || !served {
		return nil, nil, fmt.Errorf("%w: unsupported api key %d", errFrame, key)
	}
	if version < v.MinVersion || version > v.MaxVersion {
		if key == kmsg.ApiVersions.Int16() {
			// A client newer than us: answer v0 with UNSUPPORTED_VERSION
			// and our ranges so it can retry with one we serve (KIP-511).
			p.resp = unsupportedApiVersions()
			p.version = 0
			return p, nil, nil
		}
		return nil, nil, fmt.Errorf("%w: %s v%d not in served range [%d, %d]", errFrame, kmsg.NameForKey(key), version, v.MinVersion, v.MaxVersion)
	}
	kreq.SetVersion(version)
	if kreq.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := r.Complete(); err != nil {
		return nil, nil, fmt.Errorf("%w: %s header: %v", errFrame, kmsg.NameForKey(key), err)
	}
	if err := kreq.ReadFrom(r.Src); err != nil {
		return nil, nil, fmt.Errorf("%w: %s v%d: %v", errFrame, kmsg.NameForKey(key), version, err)
	}
	if strictKeys[key] {
		if err := checkCanonical(kreq, r.Src); err != nil {
			return nil, nil, fmt.Errorf("%w: %s v%d: %v", errFrame, kmsg.NameForKey(key), version, err)
		}
	}
	return p, kreq, nil
}

// strictKeys are the requests with a nullable array whose null means
// "everything" (Metadata's topics, OffsetFetch's topics, DescribeConfigs'
// config names). kmsg decodes any negative array length as null, so a
// length of -2 would read as "every topic"; Kafka refuses every negative
// length but -1 as a malformed request. These are low-rate control
// requests, so the check is exact and simple: the request must encode back
// to the bytes it was read from (null is always -1).
var strictKeys = map[int16]bool{
	kmsg.Metadata.Int16():        true,
	kmsg.OffsetFetch.Int16():     true,
	kmsg.DescribeConfigs.Int16(): true,
}

func checkCanonical(kreq kmsg.Request, src []byte) error {
	if re := kreq.AppendTo(nil); !bytes.Equal(re, src) {
		return errors.New("malformed request: a negative array or string length other than -1, or trailing bytes")
	}
	return nil
}

func (c *conn) handle(p *pending, kreq kmsg.Request) {
	rc := &reqCtx{ctx: c.ctx, conn: c, p: p}
	h := handlers[p.key]
	ok := c.guard(p, func() { p.resp = h(c.b, rc, kreq) })
	if ok && rc.later != nil {
		// The handler left the end of its work to rc.later (a --fsync
		// produce waiting for its group commits): the next request of
		// this connection is handled meanwhile, and the writer still
		// answers in request order (it waits for p.done).
		later := rc.later
		go func() {
			c.finish(p, c.guard(p, later))
		}()
		return
	}
	c.finish(p, ok)
}

// guard runs a handler's work; a panic in it costs this connection, not
// the broker (ok is false then, and p has no response).
func (c *conn) guard(p *pending, f func()) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.b.logger.Error("request handler panicked; closing the connection", "remote", c.remote,
				"api", kmsg.NameForKey(p.key), "version", p.version, "panic", v, "stack", string(debug.Stack()))
			p.zc.release()
			p.resp, p.zc = nil, nil
			c.cancel()
			c.nc.Close()
			ok = false
		}
	}()
	f()
	return true
}

// finish hands a handled request to the writer: its frame goes back to
// the free list and its bytes to the budgets.
func (c *conn) finish(p *pending, ok bool) {
	if p.buf != nil {
		putBuf(p.buf)
		p.buf = nil
	}
	if ok {
		c.b.metrics.observe(p.key, time.Since(p.start))
	}
	c.release(p.size)
	close(p.done)
}

// reqCtx is what a handler gets besides its request.
type reqCtx struct {
	ctx  context.Context
	conn *conn
	p    *pending
	// later, when a handler sets it, finishes the response off the
	// connection's handler goroutine; the response is written once it
	// returns. The handler must not touch the request frame from later.
	later func()
}

func (c *conn) writeLoop() {
	broken := false
	for p := range c.queue {
		<-p.done
		if broken || p.noResponse || p.resp == nil {
			p.zc.release()
			c.inflight.Add(-1)
			continue
		}
		// A client that stops reading must not hold this goroutine, and
		// the segments a zero-copy fetch pinned, forever.
		c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.WriteTimeout))
		if err := c.write(p); err != nil {
			broken = true
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.b.metrics.writeTimeouts.Inc()
				c.b.warnLimited("client stopped reading responses; closing its connection", "remote", c.remote, "timeout", c.b.cfg.WriteTimeout)
			} else if c.ctx.Err() == nil {
				c.b.logger.Debug("write response", "remote", c.remote, "err", err)
			}
			c.cancel()
			c.nc.Close() // unblocks the reader
		}
		p.zc.release()
		c.inflight.Add(-1)
	}
}

// write frames and sends one response: size, correlation ID, the response
// header's tags when flexible (never for ApiVersions, whose response header
// is always v0), then the body.
func (c *conn) write(p *pending) error {
	resp := p.resp
	resp.SetVersion(p.version)
	buf := append(c.wbuf[:0], 0, 0, 0, 0)
	buf = binary.BigEndian.AppendUint32(buf, uint32(p.corr))
	if resp.IsFlexible() && p.key != kmsg.ApiVersions.Int16() {
		buf = append(buf, 0)
	}
	if p.zc != nil {
		return c.writeZeroCopy(buf, p)
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	c.wbuf = buf
	if cap(c.wbuf) > 4<<20 {
		c.wbuf = nil // don't pin a huge buffer per idle connection
	}
	_, err := c.nc.Write(buf)
	c.b.metrics.bytesOut.Add(float64(len(buf)))
	return err
}

// Request frame buffers are recycled by size class: produce frames are the
// bulk of the traffic and are done with once appended. A bounded free list
// rather than a sync.Pool: at produce rates the GC runs every few frames
// and would empty a Pool each time (measured: every 1 MiB frame allocated).
// A produce request carries up to one batch (1 MiB by default) for each
// partition, so frames of several MiB are common: 16 producers at
// franz-go's defaults against --fsync sent 5 MiB frames on average, and a
// class that kept only two of them idle made most frames allocate (and the
// kernel fault in and the runtime zero) fresh memory.
const bufClasses = 14 // 4 KiB << i, up to 32 MiB

// maxIdleBufBytes bounds the bytes the free lists keep idle over all
// classes; each class keeps up to maxIdleClassBytes. Buffers are only kept
// after they were in use, so this never raises the peak memory a load
// needs, only how much of it stays resident after the load stops.
const (
	maxIdleBufBytes   = 128 << 20
	maxIdleClassBytes = 64 << 20
)

// framePool is the free lists of request frame buffers, one per class.
type framePool struct {
	free  [bufClasses]chan *[]byte
	idle  atomic.Int64 // bytes idle in free
	limit int64
}

func newFramePool(limit, classLimit int64) *framePool {
	p := &framePool{limit: limit}
	for i := range p.free {
		p.free[i] = make(chan *[]byte, min(64, max(2, classLimit/(4096<<i))))
	}
	return p
}

// frames is the broker-wide (process-wide) free list.
var frames = newFramePool(maxIdleBufBytes, maxIdleClassBytes)

func getBuf(n int) *[]byte  { return frames.get(n) }
func freeBuf(n int) *[]byte { return frames.idleBuf(n) }
func putBuf(b *[]byte)      { frames.put(b) }

func (p *framePool) get(n int) *[]byte {
	if b := p.idleBuf(n); b != nil {
		return b
	}
	for i := range p.free {
		if n <= 4096<<i {
			b := make([]byte, 4096<<i)
			return &b
		}
	}
	b := make([]byte, n)
	return &b
}

// idleBuf is a buffer of at least n bytes from the free list, or nil if
// none is idle: unlike get it never allocates.
func (p *framePool) idleBuf(n int) *[]byte {
	for i := range p.free {
		if n <= 4096<<i {
			select {
			case b := <-p.free[i]:
				p.idle.Add(-int64(cap(*b)))
				return b
			default:
				return nil
			}
		}
	}
	return nil
}

func (p *framePool) put(b *[]byte) {
	size := int64(cap(*b))
	for i := range p.free {
		if size == 4096<<i {
			if p.idle.Add(size) > p.limit {
				p.idle.Add(-size) // over the total: leave it to the GC
				return
			}
			*b = (*b)[:cap(*b)]
			select {
			case p.free[i] <- b:
			default:
				p.idle.Add(-size)
			}
			return
		}
	}
}

// drain empties the free lists (tests).
func (p *framePool) drain() {
	for i := range p.free {
		for {
			select {
			case b := <-p.free[i]:
				p.idle.Add(-int64(cap(*b)))
				continue
			default:
			}
			break
		}
	}
}

// errCode is the Kafka code of err: a kerr error's own code, or
// UNKNOWN_SERVER_ERROR.
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}
