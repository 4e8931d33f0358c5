package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
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
// Fetch long-polls, group joins and syncs — get a goroutine of their own.
// The write goroutine writes responses strictly in request order, whatever
// order they complete in.
type conn struct {
	b          *Broker
	nc         net.Conn
	remote     string
	remoteHost string

	ctx    context.Context
	cancel context.CancelFunc

	budget *byteBudget   // bytes of request frames read but not yet handled
	queue  chan *pending // requests in arrival order, for the writer
	work   chan work     // decoded requests, for the handler goroutine
	wbuf   []byte        // writer-owned response buffer, reused
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
	context.AfterFunc(c.ctx, c.budget.close)
	return c
}

var errFrame = errors.New("bad frame")

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
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && c.ctx.Err() == nil {
		c.b.logger.Warn("closing client connection", "remote", c.remote, "err", err)
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
			c.budget.release(p.size)
			close(p.done)
		case isAsync(p.key):
			go c.handle(p, w.req)
		default:
			c.handle(p, w.req)
		}
	}
}

func (c *conn) readLoop() error {
	var sizeBuf [4]byte
	for {
		if _, err := io.ReadFull(c.nc, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > c.b.cfg.MaxRequestBytes {
			return fmt.Errorf("%w: size %d outside [8, %d]", errFrame, size, c.b.cfg.MaxRequestBytes)
		}
		// Pipelined requests are read ahead of their handling, but never
		// more than MaxRequestBytes of them at once per connection.
		if !c.budget.acquire(int64(size)) {
			return c.ctx.Err()
		}
		bufp := getBuf(int(size))
		body := (*bufp)[:size]
		if _, err := io.ReadFull(c.nc, body); err != nil {
			putBuf(bufp)
			c.budget.release(int64(size))
			return err
		}
		c.b.metrics.bytesIn.Add(float64(size + 4))
		p, kreq, err := c.decode(body)
		if err != nil {
			putBuf(bufp)
			c.budget.release(int64(size))
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
		select {
		case c.queue <- p:
		case <-c.ctx.Done():
			if p.buf != nil {
				putBuf(p.buf)
			}
			c.budget.release(p.size)
			return c.ctx.Err()
		}
		c.work <- work{p: p, req: kreq}
	}
}

// byteBudget bounds the bytes of request frames a connection holds.
type byteBudget struct {
	mu     sync.Mutex
	cond   sync.Cond
	used   int64
	max    int64
	closed bool
}

func newByteBudget(max int64) *byteBudget {
	b := &byteBudget{max: max}
	b.cond.L = &b.mu
	return b
}

// acquire waits until n more bytes fit (one frame always fits when nothing
// is held); false once closed.
func (b *byteBudget) acquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.used > 0 && b.used+n > b.max && !b.closed {
		b.cond.Wait()
	}
	b.used += n
	return !b.closed
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	b.cond.Broadcast()
}

func (b *byteBudget) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cond.Broadcast()
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
	return p, kreq, nil
}

func (c *conn) handle(p *pending, kreq kmsg.Request) {
	defer close(p.done)
	defer c.budget.release(p.size)
	defer func() {
		if p.buf != nil {
			putBuf(p.buf)
			p.buf = nil
		}
	}()
	defer func() {
		// A handler bug must cost this connection, not the broker.
		if v := recover(); v != nil {
			c.b.logger.Error("request handler panicked; closing the connection", "remote", c.remote,
				"api", kmsg.NameForKey(p.key), "version", p.version, "panic", v, "stack", string(debug.Stack()))
			p.zc.release()
			p.resp, p.zc = nil, nil
			c.cancel()
			c.nc.Close()
		}
	}()
	h := handlers[p.key]
	rc := &reqCtx{ctx: c.ctx, conn: c, p: p}
	p.resp = h(c.b, rc, kreq)
	c.b.metrics.observe(p.key, time.Since(p.start))
}

// reqCtx is what a handler gets besides its request.
type reqCtx struct {
	ctx  context.Context
	conn *conn
	p    *pending
}

func (c *conn) writeLoop() {
	broken := false
	for p := range c.queue {
		<-p.done
		if broken || p.noResponse || p.resp == nil {
			p.zc.release()
			continue
		}
		if err := c.write(p); err != nil {
			broken = true
			if c.ctx.Err() == nil {
				c.b.logger.Debug("write response", "remote", c.remote, "err", err)
			}
			c.cancel()
			c.nc.Close() // unblocks the reader
		}
		p.zc.release()
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
// partition, so frames of several MiB are common.
const bufClasses = 14 // 4 KiB << i, up to 32 MiB

var bufFree [bufClasses]chan *[]byte

func init() {
	for i := range bufFree {
		// Keep at most ~16 MiB idle per class (and at least one buffer).
		n := min(64, max(1, (16<<20)/(4096<<i)))
		bufFree[i] = make(chan *[]byte, n)
	}
}

func getBuf(n int) *[]byte {
	for i := range bufFree {
		if n <= 4096<<i {
			select {
			case b := <-bufFree[i]:
				return b
			default:
			}
			b := make([]byte, 4096<<i)
			return &b
		}
	}
	b := make([]byte, n)
	return &b
}

func putBuf(b *[]byte) {
	for i := range bufFree {
		if cap(*b) == 4096<<i {
			*b = (*b)[:cap(*b)]
			select {
			case bufFree[i] <- b:
			default:
			}
			return
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
