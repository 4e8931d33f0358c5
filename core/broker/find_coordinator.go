package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: v0-5
//
// Behavior:
// * Group keys (type 0): this node, the only broker, coordinates every
//   group (the offsets topic's partition leader; with replication it
//   becomes the leader of group.PartitionFor(key)).
// * Transaction keys (type 1): transactions are not implemented, so
//   COORDINATOR_NOT_AVAILABLE.
// * v4+ batches keys in CoordinatorKeys and answers per key.

func init() { register(kmsg.FindCoordinator, 0, 5, handleFindCoordinator) }

func handleFindCoordinator(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.FindCoordinatorRequest)
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
			resp.NodeID, resp.Host, resp.Port = b.cfg.NodeID, b.host, b.port
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
			c.NodeID, c.Host, c.Port = b.cfg.NodeID, b.host, b.port
		} else {
			c.NodeID = -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}
