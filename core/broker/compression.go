package broker

import (
	"github.com/weirlog/weir/core/record"
)

// compression.type, as Kafka applies it on the leader: "producer" (the
// default) stores batches exactly as sent; "uncompressed", "gzip",
// "snappy", "lz4" or "zstd" rewrite every batch whose codec differs into
// one of that codec before it is appended. The rewrite keeps everything
// the log and clients rely on: the whole header but the codec, length and
// CRC (producer id, epoch and base sequence, offset deltas, timestamps),
// and the records byte for byte, since only the payload's compression
// changes (record.Recode). It starts from the records validation already
// decompressed (bounded like it), so it costs one compression per batch,
// and only when the codecs differ.

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
