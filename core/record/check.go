package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CheckBatch is the broker's validation of a batch a client produced, the
// checks Kafka's LogValidator makes before offsets are assigned:
//
//   - exactly one v2 batch (magic 0/1 are UNSUPPORTED_FOR_MESSAGE_FORMAT);
//   - a record count above zero that matches LastOffsetDelta+1, so a
//     batch can never claim more offsets than it has records;
//   - no control batch, no LogAppendTime set by the producer, and an
//     idempotent batch (producer id >= 0) carrying a sequence;
//   - every record well formed: its length varint inside the batch and
//     equal to the bytes its fields take, offset deltas 0, 1, 2 … in
//     order, key, value and header lengths inside the record, nothing
//     after the last record;
//   - with CreateTime, each record's timestamp within
//     [Now-BeforeMaxMs, Now+AfterMaxMs] (INVALID_TIMESTAMP, per record);
//   - on compacted topics, a key on every record (INVALID_RECORD, per
//     record);
//   - a compressed batch decompresses once, to at most MaxDecompressed
//     bytes (MESSAGE_TOO_LARGE).
//
// Uncompressed records are walked in place: nothing is allocated unless a
// record is refused. A structural error in a batch whose CRC does not
// match is reported as the CRC error (CORRUPT_MESSAGE, which clients
// retry: the bytes were damaged on the way); one with a good CRC is
// INVALID_RECORD, which they do not (the producer built it wrong). The
// CRC of a batch that passes is left to the log, which checks it anyway.

// CheckOptions says what CheckBatch enforces besides the batch's own
// consistency.
type CheckOptions struct {
	// MaxBatchBytes refuses a larger batch before anything is
	// decompressed (max.message.bytes: MESSAGE_TOO_LARGE); <= 0 is
	// unlimited.
	MaxBatchBytes int
	// MaxDecompressed bounds a compressed batch's records once
	// decompressed; <= 0 means DefaultDecompressLimit.
	MaxDecompressed int
	// CreateTime checks each record's timestamp against Now:
	// message.timestamp.type=CreateTime. LogAppendTime topics overwrite
	// timestamps, so nothing is checked.
	CreateTime bool
	// Now is the broker's clock in ms; BeforeMaxMs and AfterMaxMs are
	// message.timestamp.before.max.ms and .after.max.ms (negative or
	// math.MaxInt64: unbounded).
	Now, BeforeMaxMs, AfterMaxMs int64
	// RequireKeys refuses records without a key (compacted topics).
	RequireKeys bool
	// KeepRecords keeps a compressed batch's decompressed records in
	// Checked.Records (to recompress them); the caller must Release.
	KeepRecords bool
}

// Checked is the result of a successful CheckBatch.
type Checked struct {
	Header
	// MaxTimestamp is the largest record timestamp (-1 if every record
	// has none); the producer's header may say otherwise.
	MaxTimestamp int64
	// Records is the uncompressed records payload: a sub-slice of the
	// batch when it is not compressed, else (with KeepRecords) a pooled
	// buffer valid until Release.
	Records []byte
	pooled  *[]byte
}

// Release returns a decompression buffer to its pool; Records must not be
// used afterwards. Safe on a zero Checked and more than once.
func (c *Checked) Release() {
	if c.pooled != nil {
		putBuf(c.pooled)
		c.pooled, c.Records = nil, nil
	}
}

// RecordError is one refused record: its index in the batch and why.
type RecordError struct {
	Index   int32
	Message string
}

// RecordsError refuses a batch because of some of its records. Err is the
// Kafka error for the whole batch (INVALID_TIMESTAMP if any timestamp was
// refused, as Kafka reports it, else INVALID_RECORD).
type RecordsError struct {
	Err     *kerr.Error
	Records []RecordError
}

func (e *RecordsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d record(s) refused", len(e.Records))
	for i, r := range e.Records {
		if i == 3 {
			b.WriteString("; …")
			break
		}
		fmt.Fprintf(&b, "; record %d: %s", r.Index, r.Message)
	}
	return b.String()
}

func (e *RecordsError) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, kerr.InvalidRecord)...)
}

// CheckBatch validates batch, which must be exactly one record batch, as
// described above. Every error wraps the kerr error the producer should
// get; per-record refusals are a *RecordsError.
func CheckBatch(batch []byte, o *CheckOptions) (Checked, error) {
	c, err := checkBatch(batch, o)
	if err != nil {
		c.Release()
		if len(batch) >= HeaderSize && c.Magic == 2 && !errors.Is(err, kerr.CorruptMessage) &&
			c.Size() <= len(batch) && Checksum(batch[:c.Size()]) != c.CRC {
			return Checked{}, fmt.Errorf("crc mismatch (%v): %w", err, ErrCorrupt)
		}
		return Checked{}, err
	}
	return c, nil
}

func checkBatch(batch []byte, o *CheckOptions) (Checked, error) {
	var c Checked
	h, err := ParseHeader(batch)
	c.Header = h
	if err != nil {
		return c, err
	}
	switch {
	case h.Size() > len(batch):
		return c, fmt.Errorf("record batch of %d bytes truncated to %d: %w", h.Size(), len(batch), ErrCorrupt)
	case h.Size() < len(batch):
		return c, invalid("a produce request carries exactly one record batch per partition; %d bytes follow the first", len(batch)-h.Size())
	case o.MaxBatchBytes > 0 && h.Size() > o.MaxBatchBytes:
		return c, fmt.Errorf("record batch of %d bytes exceeds max.message.bytes %d: %w", h.Size(), o.MaxBatchBytes, kerr.MessageTooLarge)
	case h.Codec() > CodecZstd:
		return c, fmt.Errorf("unknown compression codec %d: %w", h.Codec(), ErrCorrupt)
	case h.IsControl():
		return c, invalid("clients may not write control batches")
	case h.NumRecords <= 0:
		return c, invalid("record count %d: a batch needs at least one record", h.NumRecords)
	case int64(h.LastOffsetDelta)+1 != int64(h.NumRecords):
		return c, invalid("batch claims offsets 0..%d but has %d record(s)", h.LastOffsetDelta, h.NumRecords)
	case h.ProducerID >= 0 && h.BaseSequence < 0:
		return c, invalid("idempotent batch of producer %d has no sequence (%d)", h.ProducerID, h.BaseSequence)
	case h.IsLogAppendTime():
		return c, fmt.Errorf("producers may not set the LogAppendTime timestamp type: %w", kerr.InvalidTimestamp)
	}
	raw := batch[HeaderSize:]
	if h.Codec() != CodecNone {
		buf := getBuf()
		out, err := Decompress(*buf, h.Codec(), raw, o.MaxDecompressed)
		if err != nil {
			putBuf(buf)
			if errors.Is(err, ErrCorrupt) {
				return c, invalid("%v", err)
			}
			return c, err
		}
		*buf = out
		c.pooled, raw = buf, out
	}
	c.Records = raw
	maxTs, err := walkRecords(raw, &h, o)
	if err != nil {
		return c, err
	}
	c.MaxTimestamp = maxTs
	if !o.KeepRecords && c.pooled != nil {
		c.Release()
	}
	return c, nil
}

// walkRecords checks the uncompressed records payload in place.
func walkRecords(raw []byte, h *Header, o *CheckOptions) (maxTs int64, err error) {
	maxTs = -1
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	if o.CreateTime {
		if o.BeforeMaxMs >= 0 && o.BeforeMaxMs < math.MaxInt64 && o.Now-o.BeforeMaxMs <= o.Now {
			lo = o.Now - o.BeforeMaxMs
		}
		if o.AfterMaxMs >= 0 && o.AfterMaxMs < math.MaxInt64 && o.Now+o.AfterMaxMs >= o.Now {
			hi = o.Now + o.AfterMaxMs
		}
	}
	var refused *RecordsError
	refuse := func(i int32, e *kerr.Error, msg string) {
		if refused == nil {
			refused = &RecordsError{Err: e}
		}
		if e == kerr.InvalidTimestamp {
			refused.Err = e
		}
		refused.Records = append(refused.Records, RecordError{Index: i, Message: msg})
	}
	for i := int32(0); i < h.NumRecords; i++ {
		length, n := varint(raw)
		if n <= 0 || length <= 0 || length > int64(len(raw)-n) {
			return maxTs, invalid("record %d: length %d does not fit the %d bytes left in the batch", i, length, len(raw)-max(n, 0))
		}
		rec := raw[n : n+int(length)]
		raw = raw[n+int(length):]
		rec = rec[1:] // attributes: unused in v2
		tsDelta, n := varint(rec)
		if n <= 0 {
			return maxTs, invalid("record %d: bad timestamp delta", i)
		}
		rec = rec[n:]
		delta, n := varint(rec)
		if n <= 0 || delta != int64(i) {
			return maxTs, invalid("record %d: offset delta %d, want %d (offsets must run 0..%d in order)", i, delta, i, h.LastOffsetDelta)
		}
		rec = rec[n:]
		var keyLen int64
		if keyLen, rec, err = skipBytes(rec, true); err != nil {
			return maxTs, invalid("record %d: key: %v", i, err)
		}
		if _, rec, err = skipBytes(rec, true); err != nil {
			return maxTs, invalid("record %d: value: %v", i, err)
		}
		count, n := varint(rec)
		if n <= 0 || count < 0 || count > int64(len(rec)) {
			return maxTs, invalid("record %d: header count %d", i, count)
		}
		rec = rec[n:]
		for j := int64(0); j < count; j++ {
			if _, rec, err = skipBytes(rec, false); err != nil {
				return maxTs, invalid("record %d: header %d key: %v", i, j, err)
			}
			if _, rec, err = skipBytes(rec, true); err != nil {
				return maxTs, invalid("record %d: header %d value: %v", i, j, err)
			}
		}
		if len(rec) != 0 {
			return maxTs, invalid("record %d: length says %d bytes but its fields end %d bytes early", i, length, len(rec))
		}

		ts := h.BaseTimestamp + tsDelta
		if ts > maxTs {
			maxTs = ts
		}
		if o.CreateTime && ts != -1 && (ts < lo || ts > hi) {
			refuse(i, kerr.InvalidTimestamp, fmt.Sprintf("timestamp %d is out of range: it must be within [%d, %d] (message.timestamp.before.max.ms / after.max.ms)", ts, lo, hi))
		}
		if o.RequireKeys && keyLen < 0 {
			refuse(i, kerr.InvalidRecord, "compacted topic cannot accept a record without a key")
		}
	}
	if len(raw) != 0 {
		return maxTs, invalid("%d bytes follow the last of the batch's %d records", len(raw), h.NumRecords)
	}
	if refused != nil {
		return maxTs, refused
	}
	return maxTs, nil
}

// varint is binary.Varint with the one- and two-byte cases (most lengths
// and deltas in a batch: a 1 KiB record's length and its value's take
// two) inlined: the call to binary.Varint was ~16% of the broker's CPU
// under franz-go's defaults (issue 16). Like binary.Varint (and Kafka's
// ByteUtils) it accepts a non-minimal encoding.
func varint(b []byte) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	if len(b) > 1 && b[1] < 0x80 {
		u := uint64(b[0]&0x7f) | uint64(b[1])<<7
		return int64(u>>1) ^ -int64(u&1), 2
	}
	return varintSlow(b)
}

//go:noinline
func varintSlow(b []byte) (int64, int) { return binary.Varint(b) }

// skipBytes skips one varint-length-prefixed field; -1 is null when
// nullable.
func skipBytes(b []byte, nullable bool) (length int64, rest []byte, err error) {
	l, n := varint(b)
	switch {
	case n <= 0:
		return 0, nil, errors.New("bad length varint")
	case l == -1 && nullable:
		return l, b[n:], nil
	case l < 0 || l > int64(len(b)-n):
		return 0, nil, fmt.Errorf("length %d does not fit the %d bytes left in the record", l, len(b)-n)
	}
	return l, b[n+int(l):], nil
}

// SetMaxTimestamp rewrites the batch's max timestamp and recomputes the
// CRC, as Kafka's broker corrects a producer's header to the records'
// true maximum (the time index depends on it).
func SetMaxTimestamp(batch []byte, ts int64) {
	binary.BigEndian.PutUint64(batch[offMaxTs:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offCRC:], Checksum(batch))
}

// Recode returns, appended to dst, batch (with header h) re-encoded with
// its uncompressed records payload raw compressed in codec: every header
// field but the codec bits, the length and the CRC is kept, so offsets,
// timestamps and producer state are exactly the original's.
func Recode(dst, batch, raw []byte, codec Codec) ([]byte, error) {
	payload := raw
	if codec != CodecNone {
		comp, err := compressorFor(codec)
		if err != nil {
			return dst, err
		}
		buf := compBufs.Get().(*bytes.Buffer)
		defer func() {
			if buf.Cap() <= maxPooledBuf {
				buf.Reset()
				compBufs.Put(buf)
			}
		}()
		buf.Reset()
		out, used := comp.Compress(buf, raw)
		if Codec(used) != codec {
			return dst, fmt.Errorf("record: compressor used codec %d, want %s", used, codec)
		}
		payload = out
	}
	start := len(dst)
	dst = append(dst, batch[:HeaderSize]...)
	dst = append(dst, payload...)
	b := dst[start:]
	be := binary.BigEndian
	be.PutUint32(b[offLength:], uint32(len(b)-12))
	attrs := be.Uint16(b[offAttributes:])&^attrCodecMask | uint16(codec)
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint32(b[offCRC:], Checksum(b))
	return dst, nil
}

var compBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Decompression buffers are pooled; large ones are dropped so one bomb-
// sized batch does not pin its memory.
const maxPooledBuf = 4 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
