package log

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/weirlog/weir/core/record"
)

// Record decoding is off the hot path: the log decodes records (with
// core/record, which decompresses every codec) only to check keys on
// compacted topics, to compact, and to refine a timestamp look-up to the
// exact record.

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
// callers verified it). fn's slices may alias b.
func forEachRecord(b []byte, fn func(r *decodedRecord) bool) error {
	h, err := parseHeader(b)
	if err != nil {
		return err
	}
	if int64(len(b)) != h.size() {
		return errShortHeader
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
func checkKeys(b []byte) error {
	var bad bool
	err := forEachRecord(b, func(r *decodedRecord) bool {
		bad = r.keyNull
		return !bad
	})
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
