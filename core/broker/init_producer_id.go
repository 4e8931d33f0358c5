package broker

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// InitProducerId: v0-4
//
// Behavior:
// * Idempotent producers (no transactional ID) get a fresh producer ID
//   with epoch 0, every time they ask. IDs come from blocks allocated
//   through the metadata state machine, so they are never reused, across
//   restarts included; the sequence state itself lives in each
//   partition's log.
// * v3+ may name the caller's current ProducerID and epoch (KIP-360). As
//   in Kafka, that only matters for a transactional ID, whose coordinator
//   knows which id and epoch it issued; an idempotent producer asking
//   again gets a new id. Bumping the named id's epoch instead would let
//   any client that learned another producer's id fence it. Naming only
//   one of the two (-1 for the other) is INVALID_REQUEST, as in Kafka.
// * Transactional IDs: transactions are not implemented, so
//   TRANSACTIONAL_ID_AUTHORIZATION_FAILED — fatal for the client rather
//   than an endless retry.

func init() { register(kmsg.InitProducerID, 0, 4, handleInitProducerID) }

const producerIDBlock = 1000

type producerIDs struct {
	b         *Broker
	mu        sync.Mutex
	next, end int64
}

func (p *producerIDs) allocate(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		res, err := p.b.ctl.Propose(ctx, &cluster.Command{Op: cluster.OpAllocProducerIDs, Count: producerIDBlock})
		if err != nil {
			return -1, proposeErr(err)
		}
		if res.Err != nil {
			return -1, res.Err
		}
		p.next, p.end = res.FirstProducerID, res.FirstProducerID+producerIDBlock
	}
	id := p.next
	p.next++
	return id, nil
}

func handleInitProducerID(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	if req.Version >= 3 && (req.ProducerID == -1) != (req.ProducerEpoch == -1) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	id, err := b.pids.allocate(rc.ctx)
	if err != nil {
		resp.ErrorCode = errCode(err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
