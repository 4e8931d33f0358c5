package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirlog/weir/core/record"
)

// compression.type, as Kafka applies it on the leader: "producer" (the
// default) stores batches exactly as sent; "uncompressed", "gzip",
// "snappy", "lz4" or "zstd" rewrite every batch whose codec differs into
// one of that codec before it is appended. The rewrite keeps everything
// the log and clients rely on: producer id, epoch and base sequence
// (idempotence), offset deltas, timestamps, keys, values and headers. It
// costs a decode and an encode per batch, so it is done only when the
// codecs differ; the default path never touches the records.

// topicCodec is the codec compression.type asks for; ok is false for
// "producer" (keep the producer's codec).
func (b *Broker) topicCodec(dynamic map[string]string) (codec record.Codec, ok bool) {
	v, _ := b.effectiveConfig(dynamic, "compression.type")
	switch v {
	case "uncompressed":
		return record.CodecNone, true
	case "gzip":
		return record.CodecGzip, true
	case "snappy":
		return record.CodecSnappy, true
	case "lz4":
		return record.CodecLZ4, true
	case "zstd":
		return record.CodecZstd, true
	}
	return 0, false
}

// recompress returns records with every batch in codec; records itself
// when no batch needs rewriting. The original batches' CRCs are checked
// before they are decoded (the log checks the rewritten ones); input that
// does not even parse is passed through for the log to refuse. A batch the
// rewrite could not reproduce exactly (offset deltas with gaps, which only
// compaction makes) is kept as sent.
func recompress(records []byte, codec record.Codec) ([]byte, error) {
	needs := func(h *record.Header) bool { return h.Codec() != codec && h.NumRecords > 0 && !h.IsControl() }
	todo := false
	for rest := records; len(rest) > 0; {
		h, err := record.ParseHeader(rest)
		if err != nil || h.Size() > len(rest) {
			return records, nil
		}
		todo = todo || needs(&h)
		rest = rest[h.Size():]
	}
	if !todo {
		return records, nil
	}
	out := make([]byte, 0, len(records))
	for rest := records; len(rest) > 0; {
		h, _ := record.ParseHeader(rest)
		batch := rest[:h.Size()]
		rest = rest[h.Size():]
		if !needs(&h) {
			out = append(out, batch...)
			continue
		}
		recs, err := record.Records(batch) // checks the CRC
		if err != nil {
			return nil, fmt.Errorf("compression.type %s: %v: %w", codec, err, kerr.CorruptMessage)
		}
		nb := record.Batch{
			BaseOffset:           h.BaseOffset,
			PartitionLeaderEpoch: h.PartitionLeaderEpoch,
			ProducerID:           h.ProducerID,
			ProducerEpoch:        h.ProducerEpoch,
			BaseSequence:         h.BaseSequence,
			Transactional:        h.IsTransactional(),
			LogAppendTime:        h.IsLogAppendTime(),
			Codec:                codec,
			KeepOffsets:          true,
			Records:              recs,
		}
		start := len(out)
		out, err = nb.AppendTo(out)
		if err != nil {
			return nil, fmt.Errorf("compression.type %s: %v: %w", codec, err, kerr.CorruptMessage)
		}
		if nh, err := record.ParseHeader(out[start:]); err != nil || nh.LastOffsetDelta != h.LastOffsetDelta ||
			nh.BaseTimestamp != h.BaseTimestamp || nh.MaxTimestamp != h.MaxTimestamp {
			out = append(out[:start], batch...)
		}
	}
	return out, nil
}
