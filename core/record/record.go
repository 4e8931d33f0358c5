package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// HeaderSize is the size of a v2 batch header; the smallest valid batch.
const HeaderSize = 61

// Offsets of header fields within a batch.
const (
	offBaseOffset   = 0
	offLength       = 8
	offLeaderEpoch  = 12
	offMagic        = 16
	offCRC          = 17
	offAttributes   = 21
	offLastDelta    = 23
	offBaseTs       = 27
	offMaxTs        = 35
	offProducerID   = 43
	offProducerEp   = 51
	offBaseSequence = 53
	offRecordCount  = 57
)

// Attribute bits.
const (
	attrCodecMask      = 0x07
	attrLogAppendTime  = 0x08
	attrTransactional  = 0x10
	attrControl        = 0x20
	attrDeleteHorizon  = 0x40
	maxBatchLengthSane = 1 << 30
)

// Codec is a batch compression codec (attributes bits 0-2).
type Codec int8

const (
	CodecNone Codec = iota
	CodecGzip
	CodecSnappy
	CodecLZ4
	CodecZstd
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Errors. Each wraps the Kafka error a client should see.
var (
	ErrCorrupt   = fmt.Errorf("corrupt record batch: %w", kerr.CorruptMessage)
	ErrTruncated = fmt.Errorf("truncated record batch: %w", kerr.CorruptMessage)
	ErrOldMagic  = fmt.Errorf("record batch magic < 2: %w", kerr.UnsupportedForMessageFormat)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded batch header.
type Header struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the batch's total size in bytes (header included).
func (h *Header) Size() int { return int(h.Length) + 12 }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// LastSequence is the producer sequence of the batch's last record.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	// Sequences wrap at MaxInt32 as in Kafka's DefaultRecordBatch.
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (1 << 31))
}

func (h *Header) Codec() Codec           { return Codec(h.Attributes & attrCodecMask) }
func (h *Header) IsLogAppendTime() bool  { return h.Attributes&attrLogAppendTime != 0 }
func (h *Header) IsTransactional() bool  { return h.Attributes&attrTransactional != 0 }
func (h *Header) IsControl() bool        { return h.Attributes&attrControl != 0 }
func (h *Header) HasDeleteHorizon() bool { return h.Attributes&attrDeleteHorizon != 0 }
func (h *Header) IsIdempotent() bool     { return h.ProducerID >= 0 }

// ParseHeader decodes the fixed header at the start of b without checking
// the CRC. It fails if b is shorter than HeaderSize, the magic is not 2, or
// the length field is implausible.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < offMagic+1 {
		return h, ErrTruncated
	}
	h.Magic = int8(b[offMagic])
	if h.Magic != 2 {
		if h.Magic == 0 || h.Magic == 1 {
			return h, ErrOldMagic
		}
		return h, fmt.Errorf("unknown magic %d: %w", h.Magic, ErrCorrupt)
	}
	if len(b) < HeaderSize {
		return h, ErrTruncated
	}
	be := binary.BigEndian
	h.BaseOffset = int64(be.Uint64(b[offBaseOffset:]))
	h.Length = int32(be.Uint32(b[offLength:]))
	h.PartitionLeaderEpoch = int32(be.Uint32(b[offLeaderEpoch:]))
	h.CRC = be.Uint32(b[offCRC:])
	h.Attributes = int16(be.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(be.Uint32(b[offLastDelta:]))
	h.BaseTimestamp = int64(be.Uint64(b[offBaseTs:]))
	h.MaxTimestamp = int64(be.Uint64(b[offMaxTs:]))
	h.ProducerID = int64(be.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(be.Uint16(b[offProducerEp:]))
	h.BaseSequence = int32(be.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(be.Uint32(b[offRecordCount:]))
	if h.Length < HeaderSize-12 || h.Length > maxBatchLengthSane {
		return h, fmt.Errorf("batch length %d: %w", h.Length, ErrCorrupt)
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, fmt.Errorf("negative record count or offset delta: %w", ErrCorrupt)
	}
	return h, nil
}

// Checksum computes the CRC-32C a batch should carry.
func Checksum(batch []byte) uint32 {
	return crc32.Checksum(batch[offAttributes:], castagnoli)
}

// Validate parses the header of the single batch in b (len(b) must equal the
// batch size) and checks its CRC and codec.
func Validate(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, ErrTruncated
	}
	if Checksum(b) != h.CRC {
		return h, fmt.Errorf("crc mismatch at base offset %d: %w", h.BaseOffset, ErrCorrupt)
	}
	if h.Codec() > CodecZstd {
		return h, fmt.Errorf("unknown compression codec %d: %w", h.Codec(), ErrCorrupt)
	}
	return h, nil
}

// Split walks the concatenated batches in b (a Produce request's records, or
// bytes read from a segment), validating each, and calls fn with each batch
// and its header. A partial batch at the end is an error (ErrTruncated).
func Split(b []byte, fn func(batch []byte, h Header) error) error {
	for len(b) > 0 {
		h, err := ParseHeader(b)
		if err != nil {
			return err
		}
		if h.Size() > len(b) {
			return ErrTruncated
		}
		batch := b[:h.Size()]
		if _, err := Validate(batch); err != nil {
			return err
		}
		if err := fn(batch, h); err != nil {
			return err
		}
		b = b[h.Size():]
	}
	return nil
}

// SetBaseOffset rewrites the base offset in place (outside the CRC).
func SetBaseOffset(batch []byte, off int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch rewrites the leader epoch in place (outside the CRC).
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch as LogAppendTime with max timestamp ts
// and recomputes the CRC, as a broker does for message.timestamp.type=LogAppendTime.
func SetLogAppendTime(batch []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(batch[offAttributes:]) | attrLogAppendTime
	be.PutUint16(batch[offAttributes:], attrs)
	be.PutUint64(batch[offMaxTs:], uint64(ts))
	be.PutUint32(batch[offCRC:], Checksum(batch))
}

// RecordHeader is one record header.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one decoded record with absolute offset and timestamp.
type Record struct {
	Offset    int64
	Timestamp int64 // ms since epoch
	Key       []byte
	Value     []byte // nil is a tombstone
	Headers   []RecordHeader
}

// Records decodes every record of one batch, decompressing as needed (to
// at most DefaultDecompressLimit bytes). The returned records do not alias
// batch.
func Records(batch []byte) ([]Record, error) {
	h, err := Validate(batch)
	if err != nil {
		return nil, err
	}
	return decodeRecords(batch, &h)
}

// RecordsUnchecked is Records without the CRC check, for batches read back
// from the log (already verified on append and on recovery).
func RecordsUnchecked(batch []byte) ([]Record, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return nil, err
	}
	if h.Size() != len(batch) {
		return nil, ErrTruncated
	}
	return decodeRecords(batch, &h)
}

func decodeRecords(batch []byte, h *Header) ([]Record, error) {
	raw := batch[HeaderSize:]
	if c := h.Codec(); c != CodecNone {
		var err error
		// Bounded: these batches come from the log, which accepted them
		// under a tighter limit, but a bound costs nothing.
		raw, err = Decompress(nil, c, raw, DefaultDecompressLimit)
		if err != nil {
			return nil, err
		}
	}
	if h.NumRecords > int32(len(raw)) { // each record takes ≥ 1 byte
		return nil, fmt.Errorf("record count %d exceeds payload: %w", h.NumRecords, ErrCorrupt)
	}
	out := make([]Record, 0, h.NumRecords)
	for i := int32(0); i < h.NumRecords; i++ {
		length, n := binary.Varint(raw)
		if n <= 0 || length < 0 || int64(len(raw)-n) < length {
			return nil, fmt.Errorf("record %d: bad length: %w", i, ErrCorrupt)
		}
		recBytes := raw[:n+int(length)]
		raw = raw[n+int(length):]
		var kr kmsg.Record
		if err := kr.ReadFrom(recBytes); err != nil {
			return nil, fmt.Errorf("record %d: %v: %w", i, err, ErrCorrupt)
		}
		r := Record{
			Offset:    h.BaseOffset + int64(kr.OffsetDelta),
			Timestamp: h.BaseTimestamp + kr.TimestampDelta64,
			Key:       kr.Key,
			Value:     kr.Value,
		}
		if h.IsLogAppendTime() {
			r.Timestamp = h.MaxTimestamp
		}
		if len(kr.Headers) > 0 {
			r.Headers = make([]RecordHeader, len(kr.Headers))
			for j, kh := range kr.Headers {
				r.Headers[j] = RecordHeader{Key: kh.Key, Value: kh.Value}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Batch describes a batch to build.
type Batch struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	ProducerID           int64 // -1 when not idempotent
	ProducerEpoch        int16 // -1 when not idempotent
	BaseSequence         int32 // -1 when not idempotent
	Transactional        bool
	Control              bool
	LogAppendTime        bool
	Codec                Codec
	// KeepOffsets takes each record's Offset as given (compaction leaves
	// gaps); otherwise records get consecutive offsets from BaseOffset.
	KeepOffsets bool
	// DeleteHorizonMs, if not 0, is stored as the base timestamp with the
	// delete-horizon attribute set (KIP-534: the time after which the
	// cleaner may drop the batch's tombstones); record timestamps are
	// encoded relative to it and decode unchanged.
	DeleteHorizonMs int64
	// Records in offset order.
	Records []Record
}

// Plain returns a batch of records from a non-idempotent, non-transactional
// writer (producer id, epoch and sequence -1), as the broker's own
// coordinators write.
func Plain(records ...Record) *Batch {
	return &Batch{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: records}
}

var compressors sync.Map // Codec → kgo.Compressor

func compressorFor(c Codec) (kgo.Compressor, error) {
	if v, ok := compressors.Load(c); ok {
		return v.(kgo.Compressor), nil
	}
	var cc kgo.CompressionCodec
	switch c {
	case CodecGzip:
		cc = kgo.GzipCompression()
	case CodecSnappy:
		cc = kgo.SnappyCompression()
	case CodecLZ4:
		cc = kgo.Lz4Compression()
	case CodecZstd:
		cc = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("cannot compress with %s", c)
	}
	comp, err := kgo.DefaultCompressor(cc)
	if err != nil {
		return nil, err
	}
	compressors.Store(c, comp)
	return comp, nil
}

// AppendTo encodes the batch (with a valid CRC) onto dst.
func (b *Batch) AppendTo(dst []byte) ([]byte, error) {
	if len(b.Records) == 0 {
		return dst, errors.New("record: a batch needs at least one record")
	}
	first, maxTs := b.Records[0].Timestamp, int64(-1)
	if b.DeleteHorizonMs != 0 {
		first = b.DeleteHorizonMs
	}
	var raw []byte
	var lastDelta int32
	for i := range b.Records {
		r := &b.Records[i]
		delta := int32(i)
		if b.KeepOffsets {
			delta = int32(r.Offset - b.BaseOffset)
		}
		lastDelta = delta
		if r.Timestamp > maxTs {
			maxTs = r.Timestamp
		}
		kr := kmsg.Record{
			TimestampDelta64: r.Timestamp - first,
			OffsetDelta:      delta,
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		// Length is the size of everything after the length varint: encode
		// once with a zero length to measure, then patch.
		body := kr.AppendTo(nil)
		kr.Length = int32(len(body) - 1) // the zero length varint took 1 byte
		raw = kr.AppendTo(raw)
	}
	var attrs int16
	if b.DeleteHorizonMs != 0 {
		attrs |= attrDeleteHorizon
	}
	if b.Codec != CodecNone {
		comp, err := compressorFor(b.Codec)
		if err != nil {
			return dst, err
		}
		var buf bytes.Buffer
		out, codec := comp.Compress(&buf, raw)
		if Codec(codec) != b.Codec {
			return dst, fmt.Errorf("record: compressor used %v, want %s", codec, b.Codec)
		}
		raw = append([]byte(nil), out...)
		attrs |= int16(b.Codec)
	}
	if b.LogAppendTime {
		attrs |= attrLogAppendTime
	}
	if b.Transactional {
		attrs |= attrTransactional
	}
	if b.Control {
		attrs |= attrControl
	}
	kb := kmsg.RecordBatch{
		FirstOffset:          b.BaseOffset,
		Length:               int32(HeaderSize - 12 + len(raw)),
		PartitionLeaderEpoch: b.PartitionLeaderEpoch,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      lastDelta,
		FirstTimestamp:       first,
		MaxTimestamp:         maxTs,
		ProducerID:           b.ProducerID,
		ProducerEpoch:        b.ProducerEpoch,
		FirstSequence:        b.BaseSequence,
		NumRecords:           int32(len(b.Records)),
		Records:              raw,
	}
	start := len(dst)
	dst = kb.AppendTo(dst)
	batch := dst[start:]
	binary.BigEndian.PutUint32(batch[offCRC:], Checksum(batch))
	return dst, nil
}
