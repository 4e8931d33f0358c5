package broker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// AlterPartitionReassignments: v0-1
// ListPartitionReassignments: v0
//
// Behavior (KIP-455; the state machine is core/cluster's reassign.go):
// * A partition's target replicas must be registered brokers, each named
//   once (INVALID_REPLICA_ASSIGNMENT). v1's AllowReplicationFactorChange
//   false refuses a target of another size (INVALID_REPLICATION_FACTOR).
// * The adding replicas create the log and follow the leader; once every
//   target replica is in the ISR the removing ones leave (and delete their
//   logs), and leadership moves off a removed leader.
// * Null replicas cancel: NO_REASSIGNMENT_IN_PROGRESS if none is.
// * A single node has one broker: only a target of [itself] is valid.
// * ListPartitionReassignments lists the ones in progress (null topics:
//   all) with their replicas, adding and removing replicas.
// * Both read the metadata as the metadata leader has it (a read barrier),
//   as Kafka's active controller answers them.

func init() {
	register(kmsg.AlterPartitionAssignments, 0, 1, handleAlterPartitionReassignments)
	register(kmsg.ListPartitionReassignments, 0, 0, handleListPartitionReassignments)
}

func handleAlterPartitionReassignments(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	allowRF := req.Version < 1 || req.AllowReplicationFactorChange
	resp.AllowReplicationFactorChange = allowRF
	ctx, cancel := requestContext(rc, req.TimeoutMillis)
	defer cancel()
	// Validate against the leader's metadata, not a lagging copy of it
	// (a cancel of a reassignment that just started, a target checked
	// against brokers that just registered).
	b.readBarrier(ctx)
	for _, rt := range req.Topics {
		out := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		out.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			p.Partition = rp.Partition
			if e, msg := b.reassign(ctx, rt.Topic, rp.Partition, rp.Replicas, allowRF); e != nil {
				p.ErrorCode = e.Code
				p.ErrorMessage = &msg
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return resp
}

// reassign validates and proposes one partition's reassignment (replicas
// nil: cancel); it returns the error and its message, or nil.
func (b *Broker) reassign(ctx context.Context, topic string, part int32, replicas []int32, allowRF bool) (*kerr.Error, string) {
	st := b.ctl.State()
	t, ok := st.Topics[topic]
	if !ok || part < 0 || int(part) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition, fmt.Sprintf("%s-%d does not exist", topic, part)
	}
	pm := t.Partitions[part]
	cmd := &cluster.Command{Op: cluster.OpReassign, Topic: topic, Partition: part}
	if replicas == nil {
		if !pm.Reassigning() {
			return kerr.NoReassignmentInProgress, fmt.Sprintf("%s-%d has no reassignment to cancel", topic, part)
		}
		cmd.Cancel = true
	} else {
		switch {
		case len(replicas) == 0:
			return kerr.InvalidReplicaAssignment, fmt.Sprintf("%s-%d: the target replica list is empty", topic, part)
		case !allowRF && len(replicas) != len(pm.Original()):
			return kerr.InvalidReplicationFactor, fmt.Sprintf("%s-%d has %d replicas; the target has %d and the request does not allow changing the replication factor", topic, part, len(pm.Original()), len(replicas))
		}
		for i, r := range replicas {
			if _, ok := st.Brokers[r]; !ok {
				return kerr.InvalidReplicaAssignment, fmt.Sprintf("%s-%d: broker %d is not registered", topic, part, r)
			}
			if slices.Contains(replicas[:i], r) {
				return kerr.InvalidReplicaAssignment, fmt.Sprintf("%s-%d: broker %d is named twice", topic, part, r)
			}
		}
		cmd.Replicas = slices.Clone(replicas)
	}
	res, err := b.ctl.Propose(ctx, cmd)
	if err != nil {
		perr := proposeErr(err)
		return kerrOf(perr), fmt.Sprintf("reassign %s-%d: %s", topic, part, reason(perr))
	}
	if res.Err != nil {
		return res.Err, fmt.Sprintf("reassign %s-%d: %s", topic, part, res.Err.Message)
	}
	return nil, ""
}

func handleListPartitionReassignments(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	ctx, cancel := requestContext(rc, req.TimeoutMillis)
	defer cancel()
	// As Kafka's controller answers it: a reassignment that completed is
	// not listed by a broker whose copy of the metadata lags.
	b.readBarrier(ctx)
	st := b.ctl.State()
	add := func(t *cluster.Topic, part int32, out *kmsg.ListPartitionReassignmentsResponseTopic) {
		if part < 0 || int(part) >= len(t.Partitions) || !t.Partitions[part].Reassigning() {
			return
		}
		pm := t.Partitions[part]
		p := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		p.Partition = part
		p.Replicas = slices.Clone(pm.Replicas)
		p.AddingReplicas = orEmpty(pm.Adding)
		p.RemovingReplicas = orEmpty(pm.Removing)
		out.Partitions = append(out.Partitions, p)
	}
	emit := func(out kmsg.ListPartitionReassignmentsResponseTopic) {
		if len(out.Partitions) > 0 {
			resp.Topics = append(resp.Topics, out)
		}
	}
	if req.Topics == nil {
		for _, name := range st.TopicNames() {
			t := st.Topics[name]
			out := kmsg.NewListPartitionReassignmentsResponseTopic()
			out.Topic = name
			for i := range t.Partitions {
				add(t, int32(i), &out)
			}
			emit(out)
		}
		return resp
	}
	for _, rt := range req.Topics {
		t, ok := st.Topics[rt.Topic]
		if !ok {
			continue // Kafka lists only what is moving; an unknown topic moves nothing
		}
		out := kmsg.NewListPartitionReassignmentsResponseTopic()
		out.Topic = rt.Topic
		for _, part := range rt.Partitions {
			add(t, part, &out)
		}
		emit(out)
	}
	return resp
}

func orEmpty(xs []int32) []int32 {
	if xs == nil {
		return []int32{}
	}
	return slices.Clone(xs)
}

// Replication throttles. weir does not throttle replication, but
// kafka-reassign-partitions --verify clears the throttles it may have set:
// it deletes the brokers' throttle rates and the topics' throttled
// replica lists. Deleting the rates (never set: broker configs are static)
// succeeds as the no-op it is; the topic lists are accepted topic configs
// (configs.go) without effect.

var brokerThrottles = []string{"leader.replication.throttled.rate", "follower.replication.throttled.rate", "replica.alter.log.dirs.io.max.bytes.per.second"}

// clearsThrottles reports whether rr only deletes broker throttle rates.
func clearsThrottles(rr kmsg.IncrementalAlterConfigsRequestResource) bool {
	if rr.ResourceType != kmsg.ConfigResourceTypeBroker || len(rr.Configs) == 0 {
		return false
	}
	for _, c := range rr.Configs {
		if c.Op != kmsg.IncrementalAlterConfigOpDelete || !slices.Contains(brokerThrottles, c.Name) {
			return false
		}
	}
	return true
}

// checkThrottledReplicas accepts Kafka's format: "", "*", or a list of
// partition:broker.
func checkThrottledReplicas(v string) error {
	if v == "" || strings.TrimSpace(v) == "*" {
		return nil
	}
	for _, it := range splitList(v) {
		p, r, ok := strings.Cut(it, ":")
		if _, err := strconv.ParseUint(strings.TrimSpace(p), 10, 31); !ok || err != nil {
			return fmt.Errorf("%q: want partition:broker", it)
		}
		if _, err := strconv.ParseUint(strings.TrimSpace(r), 10, 31); err != nil {
			return fmt.Errorf("%q: want partition:broker", it)
		}
	}
	return nil
}

// readBarrier waits until this broker has applied the metadata the leader
// had applied (cluster's ReadBarrier). If it cannot (no leader within the
// request's time, a leader that does not know the barrier), the local copy
// is read as it is: a proposal made from it is still checked by the
// state machine.
func (b *Broker) readBarrier(ctx context.Context) {
	if err := b.ctl.ReadBarrier(ctx); err != nil && b.ctx.Err() == nil {
		b.warnLimited("metadata read barrier; reading this broker's copy of the metadata as it is", "err", err)
	}
}

// requestContext is the request's context, bounded by its TimeoutMillis
// when that is positive (the admin requests that carry one).
func requestContext(rc *reqCtx, timeoutMillis int32) (context.Context, context.CancelFunc) {
	if timeoutMillis > 0 {
		return context.WithTimeout(rc.ctx, time.Duration(timeoutMillis)*time.Millisecond)
	}
	return rc.ctx, func() {}
}
