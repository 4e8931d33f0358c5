package broker_test

import (
	"crypto/rand"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/twmb/franz-go/pkg/kversion"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// versionsWithFetch caps Fetch at v so tests can exercise both the
// non-flexible and the flexible encodings.
func versionsWithFetch(v int16) *kversion.Versions {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(1, v)
	return vs
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// roundTrip sends req on a fresh connection, bypassing kgo (which rewrites
// produce acks), and decodes the response.
func roundTrip(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(req.GetVersion()))
	body = binary.BigEndian.AppendUint32(body, 42)
	body = append(body, 0, 4, 't', 'e', 's', 't')
	if req.IsFlexible() {
		body = append(body, 0)
	}
	body = req.AppendTo(body)
	if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	raw := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(nc, raw); err != nil {
		t.Fatal(err)
	}
	resp := req.ResponseKind()
	raw = raw[4:] // correlation ID
	if resp.IsFlexible() && req.Key() != 18 {
		raw = raw[1:] // empty header tags
	}
	if err := resp.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	return resp
}
