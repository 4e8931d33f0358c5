package broker

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shortRead is a ReadResult whose copy stops short of its Size, as a
// segment truncated under a sendfile would.
type shortRead struct{ size, sends int64 }

func (s *shortRead) Size() int64 { return s.size }
func (s *shortRead) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(make([]byte, s.sends))
	return int64(n), err
}
func (s *shortRead) Bytes() ([]byte, error) { return make([]byte, s.size), nil }
func (s *shortRead) Release()               {}

// TestZeroCopyShortWriteFails: the length prefix promised Size bytes; a
// short copy must fail the write (closing the connection), not leave the
// client reading the next response as records (issue 8, item 7).
func TestZeroCopyShortWriteFails(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	go io.Copy(io.Discard, client)
	b := &Broker{ctx: context.Background(), queued: newByteBudget(1)}
	b.metrics = newMetrics(prometheus.NewRegistry(), b)
	c := &conn{b: b, nc: server}
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(12)
	zc := newZeroCopy()
	tp := kmsg.NewFetchResponseTopic()
	fp := kmsg.NewFetchResponseTopicPartition()
	fp.RecordBatches = zc.add(&shortRead{size: 100, sends: 60})
	tp.Partitions = append(tp.Partitions, fp)
	resp.Topics = append(resp.Topics, tp)
	p := &pending{key: 1, version: 12, resp: resp, zc: zc}
	server.SetWriteDeadline(time.Now().Add(2 * time.Second))
	err := c.writeZeroCopy([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0}, p)
	if err == nil || !strings.Contains(err.Error(), "60 of 100") {
		t.Fatalf("short zero-copy write: %v", err)
	}
}
