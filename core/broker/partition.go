package broker

import (
	"sync"
	"sync/atomic"

	"github.com/weirlog/weir/core/cluster"
	wlog "github.com/weirlog/weir/core/log"
)

// partition is one partition this broker leads.
//
// High watermark: the only place that moves it is advanceHW. On a single
// node an append is "replicated" once it is in the leader's log (and, with
// SyncOnAppend, fsynced by Append), so HW = log end offset after the
// append. The replication issue replaces advanceHW's caller with the ISR's
// minimum fetched offset; readers only ever use highWatermark().
type partition struct {
	topic   string
	index   int32
	topicID cluster.UUID
	log     *wlog.Log

	leaderEpoch atomic.Int32
	hw          atomic.Int64
	deleted     atomic.Bool
	reopenAt    atomic.Int64 // unix ns before which an offline log is not reopened (reconcile.go)

	rep repState // replication role in a cluster (replication.go)

	// Fetch long-polls register here to be woken when the HW moves.
	nwaiters atomic.Int32
	mu       sync.Mutex
	waiters  map[chan struct{}]struct{}
}

func newPartition(topic string, index int32, id cluster.UUID, l *wlog.Log) *partition {
	p := &partition{topic: topic, index: index, topicID: id, log: l}
	p.hw.Store(l.EndOffset())
	return p
}

func (p *partition) highWatermark() int64 { return p.hw.Load() }
func (p *partition) epoch() int32         { return p.leaderEpoch.Load() }

// setLeaderEpoch records the epoch the metadata gives this partition and,
// on its leader, checkpoints it in the log so OffsetForLeaderEpoch can
// answer for it. A follower learns epochs from the batches it copies.
func (p *partition) setLeaderEpoch(e int32, lead bool) {
	if p.leaderEpoch.Swap(e) == e && (!lead || p.log.LatestEpoch() >= e) {
		return
	}
	if lead && p.log.LatestEpoch() < e {
		_ = p.log.AssignEpoch(e, p.log.EndOffset())
	}
}

// advanceHW moves the high watermark to leo if that is forward and wakes
// long-polling fetches.
func (p *partition) advanceHW(leo int64) {
	for {
		cur := p.hw.Load()
		if leo <= cur {
			return
		}
		if p.hw.CompareAndSwap(cur, leo) {
			break
		}
	}
	p.wake()
}

// resetHW sets the HW after the log's start moved past it or the log was
// truncated (DeleteRecords keeps HW; TruncateTo in replication lowers it).
func (p *partition) resetHW(v int64) {
	p.hw.Store(v)
	p.wake()
}

func (p *partition) wake() {
	if p.nwaiters.Load() == 0 {
		return
	}
	p.mu.Lock()
	for w := range p.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	p.mu.Unlock()
}

func (p *partition) addWaiter(w chan struct{}) {
	p.mu.Lock()
	if p.waiters == nil {
		p.waiters = map[chan struct{}]struct{}{}
	}
	if _, ok := p.waiters[w]; !ok {
		p.waiters[w] = struct{}{}
		p.nwaiters.Add(1)
	}
	p.mu.Unlock()
}

func (p *partition) removeWaiter(w chan struct{}) {
	p.mu.Lock()
	if _, ok := p.waiters[w]; ok {
		delete(p.waiters, w)
		p.nwaiters.Add(-1)
	}
	p.mu.Unlock()
}

func (p *partition) markDeleted() {
	p.deleted.Store(true)
	p.wake()
}
