package log

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/weirlog/weir/core/record"
)

// The v2 batch codec is core/record's; this file adapts it to the log's hot
// paths (append validation, recovery scans, reads), which read fixed header
// fields only and never decode records. Records are decoded only to check
// keys on compacted topics, to compact, and to refine timestamp look-ups.

const (
	batchHeaderSize = 61 // through the record count
	batchLengthOff  = 8  // int32, bytes after this field
	epochOff        = 12 // int32 PartitionLeaderEpoch
	magicOff        = 16 // int8
	crcOff          = 17 // uint32 CRC-32C of [attrOff, end)
	attrOff         = 21 // int16
	lastDeltaOff    = 23 // int32 LastOffsetDelta
	firstTsOff      = 27 // int64
	maxTsOff        = 35 // int64
	producerIDOff   = 43 // int64
	producerEpOff   = 51 // int16
	baseSeqOff      = 53 // int32
	numRecordsOff   = 57 // int32

	// minBatchLength is the BatchLength of a batch with no records: the
	// header minus BaseOffset and BatchLength.
	minBatchLength = batchHeaderSize - 12

	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
	attrDeleteHorizon   = 0x40 // KIP-534: FirstTimestamp is the delete horizon
)

// batchHeader is the decoded fixed part of a v2 record batch.
type batchHeader struct {
	BaseOffset      int64
	Length          int32 // BatchLength: bytes after the length field
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

func (h *batchHeader) size() int64       { return 12 + int64(h.Length) }
func (h *batchHeader) lastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }
func (h *batchHeader) nextOffset() int64 { return h.lastOffset() + 1 }
func (h *batchHeader) control() bool     { return h.Attributes&attrControl != 0 }
func (h *batchHeader) transactional() bool {
	return h.Attributes&attrTransactional != 0
}
func (h *batchHeader) compression() int8 { return int8(h.Attributes & attrCompressionMask) }

// deleteHorizon is the time (ms) after which the cleaner may drop the
// batch's tombstones, set by the first cleaning that kept them; ok is
// false if no cleaner has seen the batch yet.
func (h *batchHeader) deleteHorizon() (ms int64, ok bool) {
	return h.FirstTimestamp, h.Attributes&attrDeleteHorizon != 0
}

// lastSequence is the sequence of the batch's last record, wrapping at
// MaxInt32 as the producer does.
func (h *batchHeader) lastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	s := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if s > 1<<31-1 {
		s -= 1 << 31
	}
	return int32(s)
}

var (
	errShortHeader = errors.New("short batch header")
	errBadCRC      = errors.New("crc mismatch")
	errBadOffset   = errors.New("invalid base offset")
)

// parseHeader decodes the fixed header at b[0:] (record.ParseHeader). It
// checks what is needed to walk batches safely (magic, length, deltas), not
// the CRC.
func parseHeader(b []byte) (batchHeader, error) {
	rh, err := record.ParseHeader(b)
	h := batchHeader{
		BaseOffset: rh.BaseOffset, Length: rh.Length, LeaderEpoch: rh.PartitionLeaderEpoch,
		Magic: rh.Magic, CRC: rh.CRC, Attributes: rh.Attributes, LastOffsetDelta: rh.LastOffsetDelta,
		FirstTimestamp: rh.BaseTimestamp, MaxTimestamp: rh.MaxTimestamp, ProducerID: rh.ProducerID,
		ProducerEpoch: rh.ProducerEpoch, BaseSequence: rh.BaseSequence, NumRecords: rh.NumRecords,
	}
	if err != nil {
		return h, err
	}
	if h.BaseOffset < 0 || h.BaseOffset > 1<<62 {
		return h, errBadOffset
	}
	return h, nil
}

// verifyBatch checks the CRC-32C of one whole batch b.
func verifyBatch(b []byte) error {
	if len(b) < batchHeaderSize {
		return errShortHeader
	}
	if record.Checksum(b) != binary.BigEndian.Uint32(b[crcOff:]) {
		return errBadCRC
	}
	return nil
}

// parsedBatch is one validated batch of an Append, as a sub-slice of the
// caller's buffer.
type parsedBatch struct {
	h   batchHeader
	buf []byte
}

// splitBatches validates records (the Records of a Produce request) and
// splits it into batches. Every error wraps the kerr error a client sees.
func splitBatches(records []byte, maxMessageBytes int) ([]parsedBatch, error) {
	return appendBatches(nil, records, maxMessageBytes)
}

// appendBatches is splitBatches appending to out, so that Append can pass
// a small stack array (clients send one batch per partition per request).
func appendBatches(out []parsedBatch, records []byte, maxMessageBytes int) ([]parsedBatch, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("empty records: %w", kerr.InvalidRecord)
	}
	for len(records) > 0 {
		if len(records) >= 17 && int8(records[magicOff]) != 2 {
			return nil, fmt.Errorf("record batch magic %d: %w", int8(records[magicOff]), kerr.UnsupportedForMessageFormat)
		}
		h, err := parseHeader(records)
		if err != nil {
			if errors.Is(err, kerr.CorruptMessage) || errors.Is(err, kerr.UnsupportedForMessageFormat) {
				return nil, fmt.Errorf("record batch header: %w", err)
			}
			return nil, fmt.Errorf("record batch header: %v: %w", err, kerr.CorruptMessage)
		}
		if h.size() > int64(len(records)) {
			return nil, fmt.Errorf("record batch of %d bytes truncated to %d: %w", h.size(), len(records), kerr.CorruptMessage)
		}
		if maxMessageBytes > 0 && h.size() > int64(maxMessageBytes) {
			return nil, fmt.Errorf("record batch of %d bytes exceeds max.message.bytes %d: %w", h.size(), maxMessageBytes, kerr.MessageTooLarge)
		}
		b := records[:h.size()]
		if err := verifyBatch(b); err != nil {
			return nil, fmt.Errorf("record batch at offset %d: %v: %w", h.BaseOffset, err, kerr.CorruptMessage)
		}
		if h.NumRecords < 0 || (h.NumRecords > 0 && int64(h.NumRecords) > int64(h.LastOffsetDelta)+1) {
			return nil, fmt.Errorf("record batch count %d with last offset delta %d: %w", h.NumRecords, h.LastOffsetDelta, kerr.CorruptMessage)
		}
		out = append(out, parsedBatch{h: h, buf: b})
		records = records[h.size():]
	}
	return out, nil
}

// The fields the log owns, rewritten in place (record.Set*): base offset
// and leader epoch sit outside the CRC; LogAppendTime changes attributes
// and max timestamp, so the CRC is recomputed.
func setBaseOffset(b []byte, off int64)    { record.SetBaseOffset(b, off) }
func setLeaderEpoch(b []byte, epoch int32) { record.SetPartitionLeaderEpoch(b, epoch) }
func setLogAppendTime(b []byte, ts int64)  { record.SetLogAppendTime(b, ts) }
