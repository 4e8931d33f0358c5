package group

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirlog/weir/core/record"
)

// Store is the coordinator's view of the __consumer_offsets topic.
//
// All methods may be called from many goroutines at once, including
// concurrent Appends to the same partition (groups that hash to the same
// partition write independently); the Store serializes them.
type Store interface {
	// Partitions is the partition count of __consumer_offsets
	// (offsets.topic.num.partitions). It must not change while a
	// Coordinator uses the Store.
	Partitions() int32
	// Append writes one v2 record batch built by the coordinator and
	// returns once it is durable (what acks=all means for the topic). The
	// Store may rewrite the batch's base offset and leader epoch in place;
	// it must not retain batch after returning. Errors that wrap a kerr
	// error are mapped to the Kafka codes Kafka's coordinator returns;
	// any other error is reported to clients as COORDINATOR_NOT_AVAILABLE.
	Append(ctx context.Context, partition int32, batch []byte) error
	// Replay calls fn for every record of the partition in offset order,
	// with a nil value for tombstones. key and value are only valid during
	// the call. An error from fn stops the replay and is returned.
	Replay(partition int32, fn func(key, value []byte) error) error
}

// Key versions of __consumer_offsets records, as Kafka writes them.
const (
	offsetKeyVersion = 1 // OffsetCommitKey (0 and 1 share a schema)
	groupKeyVersion  = 2 // GroupMetadataKey
	// Value versions: OffsetCommitValue v3 carries the leader epoch and
	// no expire timestamp; GroupMetadataValue v3 carries instance ids.
	offsetValueVersion = 3
	groupValueVersion  = 3
)

func offsetKey(groupID, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: groupID, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(o committed) []byte {
	v := kmsg.OffsetCommitValue{
		Version:         offsetValueVersion,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitMillis,
	}
	return v.AppendTo(nil)
}

func groupKey(groupID string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: groupID}
	return k.AppendTo(nil)
}

// batchOf encodes records into one batch, timestamped now.
func batchOf(nowMillis int64, kvs ...[2][]byte) ([]byte, error) {
	recs := make([]record.Record, len(kvs))
	for i, kv := range kvs {
		recs[i] = record.Record{Timestamp: nowMillis, Key: kv[0], Value: kv[1]}
	}
	return record.Plain(recs...).AppendTo(nil)
}

// storeErrorCode maps an Append failure to the code a client sees, as
// Kafka's GroupMetadataManager does.
func storeErrorCode(err error) int16 {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return kerr.CoordinatorNotAvailable.Code
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidFetchSize:
		return kerr.InvalidCommitOffsetSize.Code
	}
	return ke.Code
}

// append writes records to the group's partition of __consumer_offsets.
func (c *Coordinator) append(ctx context.Context, groupID string, kvs ...[2][]byte) error {
	batch, err := batchOf(c.clock.Now().UnixMilli(), kvs...)
	if err != nil {
		return fmt.Errorf("group %q: encode batch: %w", groupID, err)
	}
	p := PartitionFor(groupID, c.store.Partitions())
	if err := c.store.Append(ctx, p, batch); err != nil {
		return fmt.Errorf("group %q: append to __consumer_offsets-%d: %w", groupID, p, err)
	}
	return nil
}
