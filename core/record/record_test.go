package record

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func sample(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{
			Timestamp: 1_700_000_000_000 + int64(i),
			Key:       []byte(fmt.Sprintf("k%d", i)),
			Value:     bytes.Repeat([]byte{byte('a' + i%26)}, 100+i),
			Headers:   []RecordHeader{{Key: "h", Value: []byte{byte(i)}}},
		}
	}
	recs[n-1].Value = nil // a tombstone survives the round trip
	return recs
}

func TestRoundTripEveryCodec(t *testing.T) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		t.Run(c.String(), func(t *testing.T) {
			b := Plain(sample(20)...)
			b.BaseOffset, b.Codec = 1000, c
			enc, err := b.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			h, err := Validate(enc)
			if err != nil {
				t.Fatalf("validate: %v", err)
			}
			if h.Codec() != c || h.NumRecords != 20 || h.LastOffset() != 1019 || h.ProducerID != -1 {
				t.Fatalf("header %+v", h)
			}
			got, err := Records(enc)
			if err != nil {
				t.Fatal(err)
			}
			want := sample(20)
			for i := range want {
				g, w := got[i], want[i]
				if g.Offset != 1000+int64(i) || g.Timestamp != w.Timestamp || !bytes.Equal(g.Key, w.Key) ||
					!bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) ||
					len(g.Headers) != 1 || g.Headers[0].Value[0] != byte(i) {
					t.Fatalf("record %d: got %+v", i, g)
				}
			}
		})
	}
}

func TestKeepOffsets(t *testing.T) {
	b := Plain(Record{Offset: 10, Value: []byte("a")}, Record{Offset: 17, Value: []byte("b")})
	b.BaseOffset, b.KeepOffsets = 10, true
	enc, _ := b.AppendTo(nil)
	got, err := Records(enc)
	if err != nil || got[0].Offset != 10 || got[1].Offset != 17 {
		t.Fatalf("got %+v, %v", got, err)
	}
	h, _ := ParseHeader(enc)
	if h.LastOffset() != 17 {
		t.Fatalf("last offset %d", h.LastOffset())
	}
}

func TestRewrites(t *testing.T) {
	enc, _ := Plain(sample(3)...).AppendTo(nil)
	SetBaseOffset(enc, 42)
	SetPartitionLeaderEpoch(enc, 7)
	if _, err := Validate(enc); err != nil {
		t.Fatalf("offset and epoch lie outside the CRC: %v", err)
	}
	SetLogAppendTime(enc, 99)
	h, err := Validate(enc)
	if err != nil {
		t.Fatalf("CRC must be recomputed: %v", err)
	}
	if h.BaseOffset != 42 || h.PartitionLeaderEpoch != 7 || !h.IsLogAppendTime() || h.MaxTimestamp != 99 {
		t.Fatalf("header %+v", h)
	}
	recs, _ := Records(enc)
	if recs[0].Timestamp != 99 || recs[2].Offset != 44 {
		t.Fatalf("records %+v", recs)
	}
}

func TestCorruption(t *testing.T) {
	enc, _ := Plain(sample(5)...).AppendTo(nil)
	isCorrupt := func(err error) bool { return errors.Is(err, kerr.CorruptMessage) }

	flipped := append([]byte(nil), enc...)
	flipped[len(flipped)-3] ^= 0x40
	if _, err := Validate(flipped); !isCorrupt(err) {
		t.Fatalf("bit flip: %v", err)
	}
	if _, err := Validate(enc[:len(enc)-1]); !isCorrupt(err) {
		t.Fatalf("truncated: %v", err)
	}
	if err := Split(append(append([]byte(nil), enc...), enc[:30]...), func([]byte, Header) error { return nil }); !isCorrupt(err) {
		t.Fatalf("trailing partial batch: %v", err)
	}
	old := append([]byte(nil), enc...)
	old[16] = 1
	if _, err := ParseHeader(old); !errors.Is(err, kerr.UnsupportedForMessageFormat) {
		t.Fatalf("magic 1: %v", err)
	}
}

func TestSplit(t *testing.T) {
	var all []byte
	for i := 0; i < 4; i++ {
		b := Plain(sample(i + 1)...)
		b.Codec = Codec(i)
		all, _ = b.AppendTo(all)
	}
	var counts []int32
	if err := Split(all, func(b []byte, h Header) error {
		counts = append(counts, h.NumRecords)
		if len(b) != h.Size() {
			t.Fatalf("batch size %d != %d", len(b), h.Size())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(counts) != "[1 2 3 4]" {
		t.Fatalf("counts %v", counts)
	}
}

func TestLastSequenceWraps(t *testing.T) {
	h := Header{BaseSequence: 1<<31 - 2, LastOffsetDelta: 3}
	if got := h.LastSequence(); got != 1 {
		t.Fatalf("got %d", got)
	}
}

// FuzzSplitRecords feeds untrusted bytes (a Produce request's records field)
// through validation and decoding: it must never panic, and whatever
// validates must decode to the advertised record count.
func FuzzSplitRecords(f *testing.F) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := Plain(sample(3)...)
		b.Codec = c
		enc, _ := b.AppendTo(nil)
		f.Add(enc)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Split(data, func(batch []byte, h Header) error {
			recs, err := Records(batch)
			if err == nil && int32(len(recs)) != h.NumRecords {
				t.Fatalf("decoded %d records, header says %d", len(recs), h.NumRecords)
			}
			return nil
		})
	})
}
