package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"

	wlog "github.com/weirlog/weir/core/log"
)

// Zero-copy fetch responses. kmsg stays the codec: each partition's
// RecordBatches is set to a 16-byte placeholder — a per-process random
// marker plus the partition's index in zeroCopy.results — and the response
// is encoded as usual. The writer then finds the placeholders in the
// encoded bytes, rewrites their length prefix to the real size, and sends
// the bytes around them with write(2) and the record bytes straight from the
// segment files with sendfile(2) (ReadResult.WriteTo on a *net.TCPConn).
//
//	encoded:  [hdr ... len=16][MARKER|0][... len=16][MARKER|1][tail]
//	sent:     [hdr ... len=N0][file range 0][... len=N1][file range 1][tail]
//
// The length prefix is an int32 before flexible versions (v12) and a
// uvarint of len+1 from v12, whose width changes: hence pieces, not an
// in-place patch.

var zcMarker = func() [12]byte {
	var m [12]byte
	if _, err := rand.Read(m[:]); err != nil {
		panic(err)
	}
	return m
}()

const placeholderLen = 16

type zeroCopy struct {
	results []wlog.ReadResult
}

func newZeroCopy() *zeroCopy { return &zeroCopy{} }

func (z *zeroCopy) add(rr wlog.ReadResult) []byte {
	ph := make([]byte, placeholderLen)
	copy(ph, zcMarker[:])
	binary.BigEndian.PutUint32(ph[12:], uint32(len(z.results)))
	z.results = append(z.results, rr)
	return ph
}

// release frees every read; safe on nil and more than once.
func (z *zeroCopy) release() {
	if z == nil {
		return
	}
	for _, rr := range z.results {
		rr.Release()
	}
	z.results = nil
}

// writeZeroCopy sends a fetch response whose record bytes live in z.
// prefix is the frame header (size placeholder, correlation ID, tags).
func (c *conn) writeZeroCopy(prefix []byte, p *pending) error {
	flexible := p.resp.IsFlexible()
	buf := p.resp.AppendTo(prefix)
	z := p.zc
	type piece struct {
		b  []byte
		rr wlog.ReadResult
	}
	pieces := make([]piece, 0, 2*len(z.results)+1)
	total := int64(0)
	from := 0
	for i, rr := range z.results {
		at := bytes.Index(buf[from:], zcMarker[:])
		if at < 0 {
			return fmt.Errorf("zero-copy placeholder %d not found", i)
		}
		at += from
		if int(binary.BigEndian.Uint32(buf[at+12:])) != i {
			return fmt.Errorf("zero-copy placeholder %d out of order", i)
		}
		size := rr.Size()
		var head []byte
		if flexible {
			head = binary.AppendUvarint(append([]byte(nil), buf[from:at-1]...), uint64(size)+1)
		} else {
			head = binary.BigEndian.AppendUint32(append([]byte(nil), buf[from:at-4]...), uint32(size))
		}
		pieces = append(pieces, piece{b: head}, piece{rr: rr})
		total += int64(len(head)) + size
		from = at + placeholderLen
	}
	pieces = append(pieces, piece{b: buf[from:]})
	total += int64(len(buf) - from)
	binary.BigEndian.PutUint32(pieces[0].b, uint32(total-4))

	for _, pc := range pieces {
		if pc.rr != nil {
			// The frame's length prefix promised Size bytes: a short
			// copy (the file shrank under us, a partial sendfile) would
			// desynchronise the client, so it closes the connection.
			n, err := pc.rr.WriteTo(c.nc)
			if err != nil {
				return err
			}
			if n != pc.rr.Size() {
				return fmt.Errorf("zero-copy fetch sent %d of %d record bytes", n, pc.rr.Size())
			}
			continue
		}
		if _, err := c.nc.Write(pc.b); err != nil {
			return err
		}
	}
	c.b.metrics.bytesOut.Add(float64(total))
	c.b.metrics.zeroCopy.Inc()
	return nil
}

var _ net.Conn = (*net.TCPConn)(nil)
