package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawRecord encodes one v2 record with the given deltas; keyLen -1 is a
// null key.
func rawRecord(tsDelta int64, offDelta int32, key []byte, value []byte) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, tsDelta)
	body = binary.AppendVarint(body, int64(offDelta))
	if key == nil {
		body = binary.AppendVarint(body, -1)
	} else {
		body = binary.AppendVarint(body, int64(len(key)))
		body = append(body, key...)
	}
	body = binary.AppendVarint(body, int64(len(value)))
	body = append(body, value...)
	body = binary.AppendVarint(body, 0) // headers
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

// forge wraps raw records in a batch whose header says what the caller
// wants, with a valid CRC: the forgeries a careful client never sends.
func forge(raw []byte, numRecords, lastDelta int32, baseTs int64, codec Codec) []byte {
	rb := kmsg.RecordBatch{
		Magic: 2, Attributes: int16(codec), LastOffsetDelta: lastDelta,
		FirstTimestamp: baseTs, MaxTimestamp: baseTs, ProducerID: -1, ProducerEpoch: -1,
		FirstSequence: -1, NumRecords: numRecords, Records: raw,
	}
	rb.Length = int32(HeaderSize - 12 + len(raw))
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

const now = int64(1_800_000_000_000)

func opts() *CheckOptions {
	return &CheckOptions{CreateTime: true, Now: now, BeforeMaxMs: 1<<63 - 1, AfterMaxMs: 3_600_000}
}

func TestCheckBatchAcceptsEveryCodec(t *testing.T) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := Plain(sample(20)...)
		b.Codec = c
		for i := range b.Records {
			b.Records[i].Timestamp = now - 1000 + int64(i)
		}
		enc, err := b.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := CheckBatch(enc, opts())
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if got.MaxTimestamp != now-1000+19 || got.NumRecords != 20 {
			t.Fatalf("%s: %+v", c, got)
		}
	}
}

func isCode(err error, e *kerr.Error) bool { return errors.Is(err, e) }

func TestCheckBatchRefusesForgeries(t *testing.T) {
	one := rawRecord(0, 0, []byte("k"), []byte("v"))
	two := append(rawRecord(0, 0, []byte("k"), []byte("v")), rawRecord(1, 1, []byte("k"), []byte("w"))...)
	gap := append(rawRecord(0, 0, []byte("k"), []byte("v")), rawRecord(1, 2, []byte("k"), []byte("w"))...)
	swapped := append(rawRecord(0, 1, []byte("k"), []byte("v")), rawRecord(1, 0, []byte("k"), []byte("w"))...)
	long := rawRecord(0, 0, []byte("k"), []byte("v"))
	long[0] = 0x7e // length 63: far past the batch's end
	short := append(rawRecord(0, 0, []byte("k"), []byte("v")), 0, 0)
	short[0] += 4 // length claims the two trailing bytes: fields end early
	keyPast := rawRecord(0, 0, []byte("k"), []byte("v"))
	keyPast[4] = 0x40 // key length 32 inside a 9-byte record
	hdrNeg := rawRecord(0, 0, []byte("k"), []byte("v"))
	hdrNeg[len(hdrNeg)-1] = 0x01 // header count -1

	for _, tc := range []struct {
		name  string
		batch []byte
		want  *kerr.Error
	}{
		{"1 record claiming 1000 offsets", forge(one, 1, 999, now, CodecNone), kerr.InvalidRecord},
		{"count above records", forge(one, 2, 1, now, CodecNone), kerr.InvalidRecord},
		{"zero records", forge(nil, 0, -1, now, CodecNone), kerr.CorruptMessage}, // ParseHeader: negative delta
		{"offset gap", forge(gap, 2, 1, now, CodecNone), kerr.InvalidRecord},
		{"offsets out of order", forge(swapped, 2, 1, now, CodecNone), kerr.InvalidRecord},
		{"record length past the end", forge(long, 1, 0, now, CodecNone), kerr.InvalidRecord},
		{"record length past its fields", forge(short, 1, 0, now, CodecNone), kerr.InvalidRecord},
		{"key past the record", forge(keyPast, 1, 0, now, CodecNone), kerr.InvalidRecord},
		{"negative header count", forge(hdrNeg, 1, 0, now, CodecNone), kerr.InvalidRecord},
		{"trailing bytes", forge(append(two, 1, 2, 3), 2, 1, now, CodecNone), kerr.InvalidRecord},
		{"two batches", append(forge(one, 1, 0, now, CodecNone), forge(one, 1, 0, now, CodecNone)...), kerr.InvalidRecord},
		{"garbage gzip", forge([]byte("not gzip at all"), 1, 0, now, CodecGzip), kerr.InvalidRecord},
		{"codec 7", forge(one, 1, 0, now, Codec(7)), kerr.CorruptMessage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckBatch(tc.batch, opts())
			if !isCode(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	// The same forgery with a damaged CRC is reported as damage
	// (CORRUPT_MESSAGE, retriable), not as a producer's mistake.
	bad := forge(one, 1, 999, now, CodecNone)
	bad[len(bad)-1] ^= 1
	if _, err := CheckBatch(bad, opts()); !isCode(err, kerr.CorruptMessage) {
		t.Fatalf("bad CRC: %v", err)
	}

	// Header rules.
	ctl := forge(one, 1, 0, now, CodecNone)
	binary.BigEndian.PutUint16(ctl[offAttributes:], attrControl)
	binary.BigEndian.PutUint32(ctl[offCRC:], Checksum(ctl))
	if _, err := CheckBatch(ctl, opts()); !isCode(err, kerr.InvalidRecord) {
		t.Fatalf("control batch: %v", err)
	}
	lat := forge(one, 1, 0, now, CodecNone)
	binary.BigEndian.PutUint16(lat[offAttributes:], attrLogAppendTime)
	binary.BigEndian.PutUint32(lat[offCRC:], Checksum(lat))
	if _, err := CheckBatch(lat, opts()); !isCode(err, kerr.InvalidTimestamp) {
		t.Fatalf("producer-set LogAppendTime: %v", err)
	}
	noSeq := forge(one, 1, 0, now, CodecNone)
	binary.BigEndian.PutUint64(noSeq[offProducerID:], 7)
	binary.BigEndian.PutUint32(noSeq[offCRC:], Checksum(noSeq))
	if _, err := CheckBatch(noSeq, opts()); !isCode(err, kerr.InvalidRecord) {
		t.Fatalf("idempotent without sequence: %v", err)
	}
	old := forge(one, 1, 0, now, CodecNone)
	old[offMagic] = 1
	if _, err := CheckBatch(old, opts()); !isCode(err, kerr.UnsupportedForMessageFormat) {
		t.Fatalf("magic 1: %v", err)
	}
	o := opts()
	o.MaxBatchBytes = 10
	if _, err := CheckBatch(forge(one, 1, 0, now, CodecNone), o); !isCode(err, kerr.MessageTooLarge) {
		t.Fatalf("max.message.bytes: %v", err)
	}
}

func TestCheckBatchForgedCompressed(t *testing.T) {
	gap := append(rawRecord(0, 0, []byte("k"), []byte("v")), rawRecord(1, 5, []byte("k"), []byte("w"))...)
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		comp, _ := compressorFor(c)
		var buf bytes.Buffer
		payload, _ := comp.Compress(&buf, gap)
		if _, err := CheckBatch(forge(payload, 2, 1, now, c), opts()); !isCode(err, kerr.InvalidRecord) {
			t.Fatalf("%s: offset gap inside compressed records: %v", c, err)
		}
	}
}

func TestCheckBatchTimestampsAndKeys(t *testing.T) {
	raw := append(rawRecord(0, 0, []byte("k"), []byte("a")), rawRecord(2*3_600_000, 1, nil, []byte("b"))...)
	raw = append(raw, rawRecord(-now-5, 2, []byte("k"), []byte("c"))...) // timestamp -5: before the epoch
	batch := forge(raw, 3, 2, now, CodecNone)

	_, err := CheckBatch(batch, opts())
	var re *RecordsError
	if !errors.As(err, &re) || !isCode(err, kerr.InvalidTimestamp) || len(re.Records) != 1 || re.Records[0].Index != 1 {
		t.Fatalf("2h in the future with after.max.ms 1h: %v (%+v)", err, re)
	}
	o := opts()
	o.BeforeMaxMs = 1000
	_, err = CheckBatch(batch, o)
	if !errors.As(err, &re) || len(re.Records) != 2 || re.Records[1].Index != 2 {
		t.Fatalf("before.max.ms: %v", err)
	}
	o = opts()
	o.CreateTime = false // LogAppendTime topics overwrite timestamps
	got, err := CheckBatch(batch, o)
	if err != nil || got.MaxTimestamp != now+2*3_600_000 {
		t.Fatalf("LogAppendTime topic: %v %+v", err, got)
	}
	o.RequireKeys = true
	_, err = CheckBatch(batch, o)
	if !errors.As(err, &re) || !isCode(err, kerr.InvalidRecord) || len(re.Records) != 1 || re.Records[0].Index != 1 {
		t.Fatalf("null key on a compacted topic: %v", err)
	}
}

// The uncompressed path walks records in place.
func TestCheckBatchDoesNotAllocate(t *testing.T) {
	b := Plain(sample(50)...)
	for i := range b.Records {
		b.Records[i].Timestamp = now
	}
	enc, _ := b.AppendTo(nil)
	o := opts()
	if n := testing.AllocsPerRun(100, func() {
		if _, err := CheckBatch(enc, o); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per uncompressed batch", n)
	}
}

// zeros is an endless source of zero bytes, to build bombs without
// holding them.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// bomb is one record whose value is size zero bytes, compressed with w
// as a stream (no content size announced: the worst case for the
// decoder).
func bomb(t testing.TB, c Codec, size int64) []byte {
	var rec []byte
	body := []byte{0, 0, 0, 1} // attributes, ts delta 0, offset delta 0, key null (-1)
	body = binary.AppendVarint(body, size)
	recLen := int64(len(body)) + size + 1 // + header count
	rec = binary.AppendVarint(rec, recLen)
	rec = append(rec, body...)
	src := io.MultiReader(bytes.NewReader(rec), io.LimitReader(zeros{}, size), bytes.NewReader([]byte{0}))
	var out bytes.Buffer
	var w io.WriteCloser
	switch c {
	case CodecZstd:
		zw, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	case CodecGzip:
		w = gzip.NewWriter(&out)
	default:
		t.Fatalf("no bomb for %s", c)
	}
	if _, err := io.Copy(w, src); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return forge(out.Bytes(), 1, 0, now, c)
}

func TestCheckBatchDecompressionBomb(t *testing.T) {
	for _, c := range []Codec{CodecZstd, CodecGzip} {
		t.Run(c.String(), func(t *testing.T) {
			// 64 MiB keeps gzip's compression quick; the broker's
			// test sends a 512 MiB zstd bomb.
			b := bomb(t, c, 64<<20)
			t.Logf("%s: %d bytes inflating to 64 MiB", c, len(b))
			o := opts()
			o.MaxDecompressed = 4 << 20
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := CheckBatch(b, o)
			runtime.ReadMemStats(&after)
			if !isCode(err, kerr.MessageTooLarge) || !errors.Is(err, ErrTooLarge) {
				t.Fatalf("bomb: %v", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Fatalf("refusing the bomb allocated %d MiB", alloc>>20)
			}
		})
	}
}

func TestDecompressLimitEveryCodec(t *testing.T) {
	raw := bytes.Repeat([]byte("weir "), 200_000) // 1 MB, very compressible
	for _, c := range []Codec{CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		comp, _ := compressorFor(c)
		var buf bytes.Buffer
		payload, _ := comp.Compress(&buf, raw)
		out, err := Decompress(nil, c, payload, len(raw))
		if err != nil || !bytes.Equal(out, raw) {
			t.Fatalf("%s at the limit: %v", c, err)
		}
		if _, err := Decompress(nil, c, payload, len(raw)-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%s one byte over the limit: %v", c, err)
		}
	}
	// Java's xerial-framed snappy.
	var x []byte
	x = append(x, xerialMagic...)
	x = binary.BigEndian.AppendUint32(x, 1)
	x = binary.BigEndian.AppendUint32(x, 1)
	comp, _ := compressorFor(CodecSnappy)
	for i := 0; i < 3; i++ {
		var buf bytes.Buffer
		blk, _ := comp.Compress(&buf, raw[:32<<10])
		x = binary.BigEndian.AppendUint32(x, uint32(len(blk)))
		x = append(x, blk...)
	}
	out, err := Decompress(nil, CodecSnappy, x, 96<<10)
	if err != nil || !bytes.Equal(out, bytes.Repeat(raw[:32<<10], 3)) {
		t.Fatalf("xerial: %v", err)
	}
	if _, err := Decompress(nil, CodecSnappy, x, 96<<10-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("xerial over the limit: %v", err)
	}
}

func TestRecodeKeepsEverything(t *testing.T) {
	for _, from := range []Codec{CodecNone, CodecGzip, CodecZstd} {
		for _, to := range []Codec{CodecNone, CodecSnappy, CodecLZ4} {
			b := Plain(sample(10)...)
			b.Codec, b.ProducerID, b.ProducerEpoch, b.BaseSequence = from, 42, 3, 100
			enc, _ := b.AppendTo(nil)
			o := opts()
			o.CreateTime, o.KeepRecords = false, true
			c, err := CheckBatch(enc, o)
			if err != nil {
				t.Fatal(err)
			}
			out, err := Recode(nil, enc, c.Records, to)
			c.Release()
			if err != nil {
				t.Fatal(err)
			}
			h, err := Validate(out)
			if err != nil || h.Codec() != to || h.ProducerID != 42 || h.BaseSequence != 100 || h.NumRecords != 10 {
				t.Fatalf("%s→%s: %v %+v", from, to, err, h)
			}
			want, _ := Records(enc)
			got, _ := Records(out)
			for i := range want {
				if !bytes.Equal(want[i].Value, got[i].Value) || want[i].Timestamp != got[i].Timestamp {
					t.Fatalf("%s→%s record %d differs", from, to, i)
				}
			}
		}
	}
}

func TestSetMaxTimestamp(t *testing.T) {
	enc := forge(rawRecord(5, 0, []byte("k"), []byte("v")), 1, 0, now, CodecNone)
	c, err := CheckBatch(enc, opts())
	if err != nil || c.MaxTimestamp != now+5 || c.Header.MaxTimestamp != now {
		t.Fatalf("%v %+v", err, c)
	}
	SetMaxTimestamp(enc, c.MaxTimestamp)
	if h, err := Validate(enc); err != nil || h.MaxTimestamp != now+5 {
		t.Fatalf("%v %+v", err, h)
	}
}

// FuzzCheckBatch: whatever the bytes, CheckBatch returns (no panic, no
// runaway allocation), and what it accepts is a batch whose every record
// the full decoder reads with offsets 0..n-1.
func FuzzCheckBatch(f *testing.F) {
	for _, c := range []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := Plain(sample(3)...)
		b.Codec = c
		enc, _ := b.AppendTo(nil)
		f.Add(enc)
	}
	one := rawRecord(0, 0, []byte("k"), []byte("v"))
	f.Add(forge(one, 1, 999, now, CodecNone))
	f.Add(forge(append(one, 0x7e), 1, 0, now, CodecNone))
	f.Add(forge(append(one, rawRecord(1, 2, nil, nil)...), 2, 1, now, CodecNone))
	f.Fuzz(func(t *testing.T, b []byte) {
		o := &CheckOptions{MaxDecompressed: 1 << 20, CreateTime: true, Now: now, BeforeMaxMs: 1<<63 - 1, AfterMaxMs: 3_600_000}
		c, err := CheckBatch(b, o)
		if err != nil {
			var ke *kerr.Error
			if !errors.As(err, &ke) {
				t.Fatalf("error without a Kafka code: %v", err)
			}
			return
		}
		if Checksum(b) != c.CRC {
			return // accepted structure, the log refuses the CRC
		}
		recs, err := Records(b)
		if err != nil {
			t.Fatalf("CheckBatch accepted what Records refuses: %v", err)
		}
		if len(recs) != int(c.NumRecords) {
			t.Fatalf("%d records decoded, header says %d", len(recs), c.NumRecords)
		}
		for i, r := range recs {
			if r.Offset != c.BaseOffset+int64(i) {
				t.Fatalf("record %d at offset %d", i, r.Offset)
			}
		}
	})
}

// varint's inlined one- and two-byte paths decode exactly what
// binary.Varint does, for every one-, two- and three-byte input (including
// non-minimal encodings and truncated ones).
func TestVarintMatchesBinaryVarint(t *testing.T) {
	check := func(b []byte) {
		gv, gn := varint(b)
		wv, wn := binary.Varint(b)
		if gv != wv || gn != wn {
			t.Fatalf("varint(% x) = %d, %d; binary.Varint: %d, %d", b, gv, gn, wv, wn)
		}
	}
	check(nil)
	for x := 0; x < 256; x++ {
		check([]byte{byte(x)})
		for y := 0; y < 256; y++ {
			check([]byte{byte(x), byte(y)})
			for _, z := range []byte{0, 1, 0x7f, 0x80, 0xff} {
				check([]byte{byte(x), byte(y), z})
			}
		}
	}
}
