package log

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/weirlog/weir/core/record"
)

// Record decoding is off the hot path: the log decodes records (with
// core/record, which decompresses every codec, bounded) only to check keys
// on compacted topics, to compact, and to refine a timestamp look-up to
// the exact record. Checking keys and compacting decompress to at most the
// cleaner's limit (Log.decodeLimit).

// decodedRecord is the log's view of one decoded record.
type decodedRecord struct {
	offsetDelta int32
	timestamp   int64 // absolute
	key         []byte
	keyNull     bool
	value       []byte
	valueNull   bool
	src         *record.Record
}

// forEachRecord decodes the records of batch b (CRC not re-checked: the
// callers verified it), decompressing to at most record's default limit.
// fn's slices may alias b.
func forEachRecord(b []byte, fn func(r *decodedRecord) bool) error {
	return forEachRecordLimit(b, record.DefaultDecompressLimit, fn)
}

// forEachRecordLimit is forEachRecord refusing, with an error wrapping
// record.ErrTooLarge (and kerr.MessageTooLarge), a compressed batch whose
// records would inflate past limit bytes: the bytes on disk say nothing
// about what a codec makes of them (a 70 KB zstd batch can claim 512 MiB),
// so decompression is bounded before it allocates.
func forEachRecordLimit(b []byte, limit int, fn func(r *decodedRecord) bool) error {
	h, err := parseHeader(b)
	if err != nil {
		return err
	}
	if int64(len(b)) != h.size() {
		return errShortHeader
	}
	if c := h.compression(); c != 0 {
		raw, err := record.Decompress(nil, record.Codec(c), b[batchHeaderSize:], limit)
		if err != nil {
			return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		// Decode the inflated records as the uncompressed batch they are.
		plain := make([]byte, batchHeaderSize, batchHeaderSize+len(raw))
		copy(plain, b[:batchHeaderSize])
		binary.BigEndian.PutUint16(plain[attrOff:], uint16(h.Attributes)&^attrCompressionMask)
		binary.BigEndian.PutUint32(plain[batchLengthOff:], uint32(minBatchLength+len(raw)))
		b = append(plain, raw...)
	}
	recs, err := recordpkgRecords(b)
	if err != nil {
		return err
	}
	for i := range recs {
		rr := &recs[i]
		r := decodedRecord{
			offsetDelta: int32(rr.Offset - h.BaseOffset),
			timestamp:   rr.Timestamp,
			key:         rr.Key,
			keyNull:     rr.Key == nil,
			value:       rr.Value,
			valueNull:   rr.Value == nil,
			src:         rr,
		}
		if !fn(&r) {
			return nil
		}
	}
	return nil
}

var recordpkgRecords = record.RecordsUnchecked

// checkKeys rejects a batch with a null-key record, as Kafka does for
// compacted topics (the record could never be compacted away).
func checkKeys(b []byte, limit int) error {
	var bad bool
	err := forEachRecordLimit(b, limit, func(r *decodedRecord) bool {
		bad = r.keyNull
		return !bad
	})
	if errors.Is(err, record.ErrTooLarge) {
		// A batch the cleaner could never decompress has no place in a
		// compacted topic; MESSAGE_TOO_LARGE makes producers split it.
		return fmt.Errorf("decode records: %w", err)
	}
	if err != nil {
		return fmt.Errorf("decode records: %v: %w", err, kerr.CorruptMessage)
	}
	if bad {
		return fmt.Errorf("compacted topic cannot accept a record without a key: %w", kerr.InvalidRecord)
	}
	return nil
}

// refineTimestamp finds, in batch b, the first record with timestamp >= ts
// and returns its offset and timestamp. With LogAppendTime every record has
// the batch's max timestamp.
func refineTimestamp(b []byte, ts int64) (int64, int64, bool) {
	h, err := parseHeader(b)
	if err != nil {
		return 0, 0, false
	}
	if h.Attributes&attrLogAppendTime != 0 {
		return h.BaseOffset, h.MaxTimestamp, h.MaxTimestamp >= ts
	}
	var off, at int64
	found := false
	_ = forEachRecord(b, func(r *decodedRecord) bool {
		if r.timestamp >= ts {
			off, at, found = h.BaseOffset+int64(r.offsetDelta), r.timestamp, true
			return false
		}
		return true
	})
	return off, at, found
}

// maxTimestampRecord returns the offset of the first record carrying the
// batch's max timestamp.
func maxTimestampRecord(b []byte) int64 {
	h, err := parseHeader(b)
	if err != nil {
		return -1
	}
	if h.Attributes&attrLogAppendTime != 0 {
		return h.lastOffset()
	}
	off := h.lastOffset()
	_ = forEachRecord(b, func(r *decodedRecord) bool {
		if r.timestamp == h.MaxTimestamp {
			off = h.BaseOffset + int64(r.offsetDelta)
			return false
		}
		return true
	})
	return off
}

// minCleanerBatchLimit is the floor of the default cleaner decompression
// limit: the broker accepts batches that inflate to 32 MiB (or
// max.message.bytes if larger), and the cleaner must never refuse what the
// broker accepted with its defaults.
const minCleanerBatchLimit = 64 << 20

// decodeLimit is how far the cleaner (and the key check of compacted
// topics) lets one batch inflate: Options.CleanerMaxBatchBytes, or
// max.message.bytes with a floor of 64 MiB.
func (l *Log) decodeLimit(cfg Config) int {
	if l.cleanerMaxBatch > 0 {
		return l.cleanerMaxBatch
	}
	return max(cfg.MaxMessageBytes, minCleanerBatchLimit)
}
