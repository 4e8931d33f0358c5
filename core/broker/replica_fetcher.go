package broker

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
	wlog "github.com/weirlog/weir/core/log"
)

// follow is one partition this broker copies from its leader, as the
// metadata stood when the fetcher's set was last computed.
type follow struct {
	p  *partition
	pm cluster.Partition
	id cluster.UUID
}

// leaderFetcher is the goroutine copying every partition led by one
// broker.
type leaderFetcher struct {
	follows atomic.Pointer[[]follow]
	cancel  context.CancelFunc
	done    chan struct{}
}

// replicaFetcher keeps one fetcher goroutine per leader broker, as
// Kafka's ReplicaFetcherManager keeps a fetcher thread per source broker:
// a round trip to one leader never waits for another leader's long poll.
// (With one round over every leader, an acks=all produce waited for the
// slowest leader's 200 ms long poll before its follower fetched again.)
// The sets are recomputed when the roles change and every 100 ms.
func (b *Broker) replicaFetcher() {
	defer b.wg.Done()
	fetchers := map[string]*leaderFetcher{}
	defer func() {
		for _, f := range fetchers {
			f.cancel()
			<-f.done
		}
	}()
	for {
		st := b.ctl.State()
		byAddr := map[string][]follow{}
		for _, tp := range *b.topics.Load() {
			for i, p := range tp.parts {
				pm := tp.meta.Partitions[i]
				if p == nil || pm.Leader < 0 || pm.Leader == b.cfg.NodeID {
					continue
				}
				br, ok := st.Brokers[pm.Leader]
				if !ok || br.Fenced {
					continue
				}
				addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
				byAddr[addr] = append(byAddr[addr], follow{p, pm, tp.meta.ID})
			}
		}
		for addr, fs := range byAddr {
			if f := fetchers[addr]; f != nil {
				f.follows.Store(&fs)
				continue
			}
			ctx, cancel := context.WithCancel(b.ctx)
			f := &leaderFetcher{cancel: cancel, done: make(chan struct{})}
			f.follows.Store(&fs)
			fetchers[addr] = f
			go func() {
				defer close(f.done)
				b.fetchFrom(ctx, addr, &f.follows)
			}()
		}
		for addr, f := range fetchers {
			if _, ok := byAddr[addr]; !ok {
				f.cancel()
				<-f.done
				delete(fetchers, addr)
			}
		}
		select {
		case <-b.ctx.Done():
			return
		case <-b.rolesChanged:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fetchFrom copies the partitions in follows from the leader at addr
// until ctx ends.
func (b *Broker) fetchFrom(ctx context.Context, addr string, follows *atomic.Pointer[[]follow]) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("weir-replica-"+strconv.Itoa(int(b.cfg.NodeID))))
	if err != nil {
		b.warnLimited("replica fetcher client", "leader", addr, "err", err)
		return
	}
	defer cl.Close()
	sb := cl.SeedBrokers()[0]
	for ctx.Err() == nil {
		if fs := *follows.Load(); len(fs) > 0 && b.fetchOnce(ctx, sb, fs) {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// current reports whether f still describes p's role: this broker follows
// p at the leader epoch the fetch was issued for. A response of a leader
// that lost the partition meanwhile is dropped.
func (f follow) current() bool {
	r := &f.p.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracker == nil && r.epoch == f.pm.LeaderEpoch
}

// fetchOnce truncates where a leader change asks for it, then sends one
// Fetch to the leader and appends what it returns. It reports false when
// the leader could not be reached, so the caller backs off.
func (b *Broker) fetchOnce(ctx context.Context, sb *kgo.Broker, fs []follow) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = b.cfg.NodeID
	req.ReplicaState.ID = b.cfg.NodeID
	req.ReplicaState.Epoch = -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 200, 1, 16<<20
	req.SessionEpoch = -1
	idx := map[string]map[int32]follow{}
	for _, f := range fs {
		f.p.rep.fetchMu.Lock()
		b.truncateIfNeeded(ctx, sb, f.p, f.pm)
		f.p.rep.mu.Lock()
		pending := f.p.rep.truncate
		f.p.rep.mu.Unlock()
		f.p.rep.fetchMu.Unlock()
		if pending {
			// Fetching from an untruncated log end could append the
			// leader's records after a divergent tail: retry first.
			continue
		}
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = f.p.topic, f.id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = f.p.index
		rp.FetchOffset = f.p.log.EndOffset()
		rp.CurrentLeaderEpoch = f.pm.LeaderEpoch
		rp.PartitionMaxBytes = 4 << 20
		rp.LogStartOffset = -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if idx[f.p.topic] == nil {
			idx[f.p.topic] = map[int32]follow{}
		}
		idx[f.p.topic][f.p.index] = f
	}
	if len(req.Topics) == 0 {
		return false
	}
	resp, err := sb.Request(ctx, req)
	if err != nil {
		return false
	}
	st := b.ctl.State()
	for _, rt := range resp.(*kmsg.FetchResponse).Topics {
		name := rt.Topic
		if t, ok := st.TopicByID(rt.TopicID); ok {
			name = t.Name
		}
		for _, rp := range rt.Partitions {
			f, ok := idx[name][rp.Partition]
			if !ok {
				continue
			}
			b.applyFetched(f, rp)
		}
	}
	return true
}

// applyFetched appends one partition's fetched batches and moves its HW
// and log start after the leader's, under the partition's fetchMu.
func (b *Broker) applyFetched(f follow, rp kmsg.FetchResponseTopicPartition) {
	p := f.p
	p.rep.fetchMu.Lock()
	defer p.rep.fetchMu.Unlock()
	if !f.current() {
		return
	}
	if rp.ErrorCode == kerr.OffsetOutOfRange.Code {
		b.startAtLeader(p, rp.LogStartOffset) // follower_fetch.go
	}
	if rp.ErrorCode != 0 {
		return
	}
	if len(rp.RecordBatches) > 0 {
		b.alignEmptyFollower(p, rp.RecordBatches) // follower_fetch.go
		if _, err := p.log.Append(rp.RecordBatches, wlog.AppendOptions{Origin: wlog.OriginReplication}); err != nil {
			var ke *kerr.Error
			if errors.As(err, &ke) && ke == kerr.OffsetOutOfRange {
				p.rep.mu.Lock()
				p.rep.truncate = true
				p.rep.mu.Unlock()
			}
			b.warnLimited("replica append", "topic", p.topic, "partition", p.index, "err", err)
			return
		}
	}
	p.advanceHW(min(rp.HighWatermark, p.log.EndOffset()))
	b.followLogStart(p, rp.LogStartOffset)
}
