package broker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirlog/weir/core/cluster"
)

// Topic administration shared by CreateTopics, Metadata auto-creation,
// CreatePartitions and the offsets topic: everything goes through the
// metadata state machine.

const maxTopicNameLen = 249

func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("illegal topic name %q", name)
	}
	if len(name) > maxTopicNameLen {
		return fmt.Errorf("topic name longer than %d characters", maxTopicNameLen)
	}
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q has an illegal character %q at position %d: only ASCII letters, digits, '.', '_' and '-' are allowed", name, c, i)
		}
	}
	return nil
}

// badAssignment explains what is wrong with the replica list of the i-th
// entry of a manual assignment, or returns "".
func badAssignment(i int, partition int32, replicas []int32, firstLen int, brokers map[int32]cluster.Broker) string {
	switch {
	case partition != int32(i):
		return fmt.Sprintf("replica assignment entry %d is for partition %d: partitions must be listed 0..n-1 in order", i, partition)
	case len(replicas) == 0:
		return fmt.Sprintf("partition %d has no replicas", partition)
	case len(replicas) != firstLen:
		return fmt.Sprintf("partition %d has %d replicas but partition 0 has %d: every partition needs the same replication factor", partition, len(replicas), firstLen)
	}
	seen := map[int32]bool{}
	for _, r := range replicas {
		if _, ok := brokers[r]; !ok {
			return fmt.Sprintf("partition %d names broker %d, which does not exist", partition, r)
		}
		if seen[r] {
			return fmt.Sprintf("partition %d names broker %d twice", partition, r)
		}
		seen[r] = true
	}
	return ""
}

// kerrOf is the Kafka error err wraps, UNKNOWN_SERVER_ERROR if none.
func kerrOf(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return kerr.UnknownServerError
}

// reason is the text of err for a response's error message: the canned
// description of the Kafka code it wraps (which the code already says) is
// dropped, so what remains is why.
func reason(err error) string {
	msg := err.Error()
	var ke *kerr.Error
	if errors.As(err, &ke) {
		if msg == ke.Error() {
			return ke.Message
		}
		msg = strings.TrimSuffix(msg, ": "+ke.Error())
	}
	return msg
}

// assignment places n new partitions of topic name, rf replicas each (-1:
// default.replication.factor; internal topics min(3, live brokers)), over
// the live brokers; a single node places everything on itself.
// first is the index of the first new partition, so added partitions go
// on rotating leaders from where the topic's left off.
func (b *Broker) assignment(name string, first, n int32, rf int, internal bool) [][]int32 {
	if !b.multi() {
		a := make([][]int32, n)
		for i := range a {
			a[i] = []int32{b.cfg.NodeID}
		}
		return a
	}
	switch {
	case internal:
		rf = 3
	case rf <= 0:
		rf = b.cfg.DefaultReplicationFactor
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	a := cluster.Place(b.ctl.State(), n, rf, int(h.Sum32()%1024)+int(first))
	if a == nil {
		a = make([][]int32, n)
		for i := range a {
			a[i] = []int32{b.cfg.NodeID}
		}
	}
	return a
}

// createTopic proposes a topic of rf replicas (-1: the default); the error
// is a *kerr.Error when the client should see it as such.
func (b *Broker) createTopic(ctx context.Context, name string, partitions int32, rf int, configs map[string]string, internal bool) error {
	return b.createTopicAssigned(ctx, name, b.assignment(name, 0, partitions, rf, internal), configs, internal)
}

// createTopicAssigned proposes a topic with the given replica lists.
func (b *Broker) createTopicAssigned(ctx context.Context, name string, assign [][]int32, configs map[string]string, internal bool) error {
	res, err := b.ctl.Propose(ctx, &cluster.Command{
		Op: cluster.OpCreateTopic, Topic: name, TopicID: cluster.NewTopicID(), Internal: internal,
		Assignment: assign, Configs: configs,
	})
	if err != nil {
		return proposeErr(err)
	}
	if res.Err != nil {
		return res.Err
	}
	return b.inService(name)
}

// inService checks that every partition of a topic just created has its
// log open. The topic exists in the metadata either way; the ones that did
// not open (out of file descriptors, a failing disk) are retried by the
// reconciler, but the client must not be told they are ready.
func (b *Broker) inService(name string) error {
	t, ok := b.lookup(name)
	if !ok {
		return fmt.Errorf("%w: topic %q created but not in service", kerr.KafkaStorageError, name)
	}
	var missing []string
	for i, p := range t.parts {
		if p == nil && b.hosts(t.meta, i) {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	shown := missing[:min(len(missing), 10)]
	more := ""
	if len(missing) > len(shown) {
		more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
	}
	return fmt.Errorf("%w: topic %q created, but the logs of partitions %s%s could not be opened (see the broker log); they are retried in the background",
		kerr.KafkaStorageError, name, strings.Join(shown, ", "), more)
}

// partitionErrorCode is what Metadata reports for a partition: its log not
// open, or offline after a storage failure, is KAFKA_STORAGE_ERROR.
func (b *Broker) partitionErrorCode(topic string, idx int) int16 {
	t, ok := b.lookup(topic)
	if !ok || idx >= len(t.parts) {
		return kerr.LeaderNotAvailable.Code // not reconciled yet
	}
	if !b.hosts(t.meta, idx) {
		return 0 // another broker keeps it
	}
	if p := t.parts[idx]; p == nil || p.log.Offline() != nil {
		return kerr.KafkaStorageError.Code
	}
	return 0
}

// autoCreate creates a topic for a Metadata request, within the bounds
// that keep one client from flooding the metadata log: at most
// AutoCreateMaxPerRequest per request (*n counts them) and
// AutoCreatePerSecond broker-wide, and none once the client is gone.
// Past a bound the topic answers LEADER_NOT_AVAILABLE, which clients retry.
func (b *Broker) autoCreate(ctx context.Context, name string, n *int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: client gone", kerr.RequestTimedOut)
	}
	if *n >= b.cfg.AutoCreateMaxPerRequest {
		return fmt.Errorf("%w: more than %d topics to auto-create in one request", kerr.LeaderNotAvailable, b.cfg.AutoCreateMaxPerRequest)
	}
	if !b.autoCreateRate.Allow() {
		b.metrics.autoCreateLimited.Inc()
		return fmt.Errorf("%w: auto-creation above %d topics per second", kerr.LeaderNotAvailable, b.cfg.AutoCreatePerSecond)
	}
	*n++
	return b.createTopic(ctx, name, b.cfg.DefaultPartitions, -1, nil, false)
}

// proposeErr maps a controller failure to the Kafka error a client sees.
func proposeErr(err error) error {
	if errors.Is(err, cluster.ErrNotLeader) {
		return kerr.NotController
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.RequestTimedOut
	}
	return fmt.Errorf("%w: %v", kerr.UnknownServerError, err)
}

// collidingTopic returns an existing topic whose name equals name once '.'
// and '_' are treated alike, or "".
func (b *Broker) collidingTopic(name string) string {
	norm := strings.ReplaceAll(name, ".", "_")
	for other := range b.ctl.State().Topics {
		if other != name && strings.ReplaceAll(other, ".", "_") == norm {
			return other
		}
	}
	return ""
}
