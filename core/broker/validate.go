package broker

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/record"
)

// Produce validation: what a topic's configs ask of a produced batch, and
// the order the checks run in. record.CheckBatch does the batch itself;
// this file resolves the configs once per topic per request and applies
// the rewrites (the max timestamp Kafka corrects, compression.type).

// produceLimits is a topic's validation settings, resolved from its
// configs once per topic of a Produce request.
type produceLimits struct {
	check    record.CheckOptions
	recode   bool // compression.type asks for codec
	codec    record.Codec
	createTs bool
}

func (b *Broker) produceLimits(dynamic map[string]string) produceLimits {
	var l produceLimits
	l.codec, l.recode = b.topicCodec(dynamic)
	maxMsg := int(b.configInt(dynamic, "max.message.bytes"))
	l.check.MaxBatchBytes = maxMsg
	l.check.MaxDecompressed = max(b.cfg.MaxDecompressedBatchBytes, maxMsg)
	tsType, _ := b.effectiveConfig(dynamic, "message.timestamp.type")
	l.createTs = tsType != "LogAppendTime"
	l.check.CreateTime = l.createTs
	l.check.BeforeMaxMs = b.configInt(dynamic, "message.timestamp.before.max.ms")
	l.check.AfterMaxMs = b.configInt(dynamic, "message.timestamp.after.max.ms")
	// The deprecated difference bound applies where the newer configs
	// are left at Kafka's defaults, as Kafka 3.6+ reads it.
	if _, src := b.effectiveConfig(dynamic, "message.timestamp.difference.max.ms"); src != kmsg.ConfigSourceDefaultConfig {
		diff := b.configInt(dynamic, "message.timestamp.difference.max.ms")
		if _, s := b.effectiveConfig(dynamic, "message.timestamp.before.max.ms"); s == kmsg.ConfigSourceDefaultConfig {
			l.check.BeforeMaxMs = diff
		}
		if _, s := b.effectiveConfig(dynamic, "message.timestamp.after.max.ms"); s == kmsg.ConfigSourceDefaultConfig {
			l.check.AfterMaxMs = diff
		}
	}
	policy, _ := b.effectiveConfig(dynamic, "cleanup.policy")
	l.check.RequireKeys = strings.Contains(policy, "compact")
	return l
}

func (b *Broker) configInt(dynamic map[string]string, name string) int64 {
	v, _ := b.effectiveConfig(dynamic, name)
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return math.MaxInt64
	}
	return n
}

// errNoTxnCoordinator refuses transactional batches. INVALID_TXN_STATE is
// what a Kafka partition leader answers when the transaction coordinator
// does not know the partition to be in an ongoing transaction (KIP-890's
// produce-side verification), which is exactly the case while weir has no
// coordinator: no transaction is ever ongoing. Every client treats it as
// non-retriable (franz-go's kerr, Java's InvalidTxnStateException,
// librdkafka's fatal transactional errors), so a producer fails at once
// instead of retrying, and nothing is stored: a stored transactional batch
// with no marker would hold the last stable offset back forever and stall
// every read_committed consumer. Real transactional clients never get here
// (InitProducerId with a transactional ID is already refused); this
// guards against hand-built requests and clients that skip it.
var errNoTxnCoordinator = fmt.Errorf("transactional batches are refused: weir has no transaction coordinator yet: %w", kerr.InvalidTxnState)

// validateProduce checks one partition's records and returns what to
// append: records itself, possibly rewritten in place, or a recompressed
// copy.
func (b *Broker) validateProduce(records []byte, l *produceLimits) ([]byte, error) {
	// Attributes sit at a fixed place in v2 (low byte at 22): whether to
	// refuse a transactional batch, or keep the decompressed records for
	// compression.type, is known before CheckBatch parses the rest.
	codec := record.CodecNone
	if len(records) > 22 && records[16] == 2 {
		if records[22]&0x10 != 0 {
			return nil, errNoTxnCoordinator
		}
		codec = record.Codec(records[22] & 0x07)
	}
	opts := l.check
	opts.Now = time.Now().UnixMilli()
	recode := l.recode && codec != l.codec
	opts.KeepRecords = recode
	c, err := record.CheckBatch(records, &opts)
	if err != nil {
		return nil, err
	}
	fixTs := l.createTs && c.MaxTimestamp != c.Header.MaxTimestamp
	if fixTs || recode {
		// A rewrite recomputes the CRC, so the producer's must be
		// checked first, or damaged bytes would be laundered.
		if record.Checksum(records) != c.CRC {
			c.Release()
			return nil, fmt.Errorf("crc mismatch at base offset %d: %w", c.BaseOffset, record.ErrCorrupt)
		}
	}
	if fixTs {
		record.SetMaxTimestamp(records, c.MaxTimestamp)
	}
	if !recode {
		return records, nil
	}
	out, err := record.Recode(nil, records, c.Records, l.codec)
	c.Release()
	if err != nil {
		return nil, fmt.Errorf("compression.type %s: %v: %w", l.codec, err, kerr.UnknownServerError)
	}
	return out, nil
}
