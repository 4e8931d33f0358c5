package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	groupPkg "github.com/weirlog/weir/core/group"
)

// FindCoordinator: v0-5
//
// Behavior:
// * Group keys (type 0): the leader of __consumer_offsets partition
//   group.PartitionFor(key) (on a single node, this node);
//   COORDINATOR_NOT_AVAILABLE while that partition has no live leader.
//   On a fresh single node the first one starts creating __consumer_offsets
//   and loading the groups (Broker.wantGroups); group requests wait for it.
// * Transaction keys (type 1): transactions are not implemented, so
//   COORDINATOR_NOT_AVAILABLE.
// * v4+ batches keys in CoordinatorKeys and answers per key.

func init() { register(kmsg.FindCoordinator, 0, 5, handleFindCoordinator) }

func handleFindCoordinator(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	if req.CoordinatorType == 0 {
		b.wantGroups() // a fresh node's groups: start loading them now
	}
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	answer := func(key string) (code int16, msg *string) {
		if req.CoordinatorType != 0 {
			m := "transactions are not supported by weir yet"
			return kerr.CoordinatorNotAvailable.Code, &m
		}
		return 0, nil
	}
	if req.Version <= 3 {
		resp.ErrorCode, resp.ErrorMessage = answer(req.CoordinatorKey)
		if resp.ErrorCode == 0 {
			resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = b.coordinatorFor(req.CoordinatorKey)
		} else {
			resp.NodeID = -1
		}
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode, c.ErrorMessage = answer(key)
		if c.ErrorCode == 0 {
			c.ErrorCode, c.NodeID, c.Host, c.Port = b.coordinatorFor(key)
		} else {
			c.NodeID = -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}

// coordinatorFor is the broker coordinating group: the leader of the
// group's __consumer_offsets partition (this node alone on a single node).
func (b *Broker) coordinatorFor(group string) (code int16, node int32, host string, port int32) {
	if !b.multi() {
		return 0, b.cfg.NodeID, b.host, b.port
	}
	st := b.ctl.State()
	t, ok := st.Topics[OffsetsTopic]
	if !ok || len(t.Partitions) == 0 {
		return kerr.CoordinatorNotAvailable.Code, -1, "", -1
	}
	p := t.Partitions[groupPkg.PartitionFor(group, int32(len(t.Partitions)))]
	br, ok := st.Brokers[p.Leader]
	if p.Leader < 0 || !ok || br.Fenced {
		return kerr.CoordinatorNotAvailable.Code, -1, "", -1
	}
	return 0, br.NodeID, br.Host, br.Port
}
