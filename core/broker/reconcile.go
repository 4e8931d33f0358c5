package broker

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/weirlog/weir/core/cluster"
	wlog "github.com/weirlog/weir/core/log"
)

// Reconciling the partition logs with the metadata.
//
// raft's apply goroutine only hands each new state over (handOver); the
// reconciler goroutine opens, creates and deletes partition logs to match
// the newest state it was given, skipping states superseded meanwhile.
// Deleting a topic of thousands of segments therefore never stalls the
// metadata state machine. A proposer waits in settle (cluster's Settle
// hook) until the reconciler has put the proposal's state in service, so
// CreateTopics still answers only once the new logs exist.
//
// Partitions whose log failed to open (out of file descriptors, a failing
// disk) stay nil in topicParts: they answer KAFKA_STORAGE_ERROR, Metadata
// reports them, and the reconciler retries them every retryInterval until
// they open.

// createParallelism bounds the partition logs reconcile opens at once.
const createParallelism = 16

// retryInterval is how often partitions that failed to open are retried.
const retryInterval = 2 * time.Second

// handOver is cluster.Config.OnChange: it runs on raft's apply goroutine
// and must not block.
func (b *Broker) handOver(prev, next *cluster.State, _ *cluster.Command) {
	if !b.replayed.Load() {
		return // startup replay: Start reconciles once at the end
	}
	b.reconMu.Lock()
	if b.reconWant == nil || next.Index >= b.reconWant.Index {
		b.reconWant = next
	}
	if prev == nil || !maps.Equal(prev.Topics, next.Topics) {
		// Only proposers of topic changes wait for the reconciler
		// (a producer-id block or a broker registration does not).
		b.reconPending[next.Index] = struct{}{}
	}
	b.reconMu.Unlock()
	select {
	case b.reconKick <- struct{}{}:
	default:
	}
}

// settle is cluster.Config.Settle: it returns once the state that command
// index produced (or a newer one) is in service.
func (b *Broker) settle(ctx context.Context, index uint64) error {
	if !b.replayed.Load() {
		return nil
	}
	b.reconMu.Lock()
	defer b.reconMu.Unlock()
	if _, ok := b.reconPending[index]; !ok {
		return nil // changed no topic, or already in service
	}
	target := index
	stop := context.AfterFunc(ctx, func() {
		b.reconMu.Lock()
		b.reconCond.Broadcast()
		b.reconMu.Unlock()
	})
	defer stop()
	stopB := context.AfterFunc(b.ctx, func() {
		b.reconMu.Lock()
		b.reconCond.Broadcast()
		b.reconMu.Unlock()
	})
	defer stopB()
	for b.reconDone < target {
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.ctx.Err() != nil {
			return errors.New("broker shutting down")
		}
		b.reconCond.Wait()
	}
	return nil
}

func (b *Broker) reconcileLoop() {
	defer b.wg.Done()
	retry := time.NewTicker(retryInterval)
	defer retry.Stop()
	purge := time.NewTicker(min(b.cfg.StrayGracePeriod/4+time.Millisecond, time.Minute))
	defer purge.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.reconKick:
		case <-retry.C:
			if !b.hasUnopened() {
				continue
			}
		case <-purge.C:
			b.purgeAside()
			continue
		}
		b.reconMu.Lock()
		st := b.reconWant
		b.reconMu.Unlock()
		if st == nil {
			st = b.ctl.State()
		}
		b.reconcile(st)
	}
}

// hasUnopened reports whether a served partition's log failed to open or
// is offline and due for a reopen.
func (b *Broker) hasUnopened() bool {
	for _, t := range *b.topics.Load() {
		if b.hasNil(t) || b.reopenDue(t.parts) {
			return true
		}
	}
	return false
}

// reopenDue reports whether one of parts is offline after a storage
// failure and its next reopen attempt is due. Attempts back off (2 s
// doubling to a minute per partition): each one rescans the log.
func (b *Broker) reopenDue(parts []*partition) bool {
	for _, p := range parts {
		if p == nil || p.log.Offline() == nil {
			continue
		}
		if at := p.reopenAt.Load(); at == 0 || time.Now().UnixNano() >= at {
			return true
		}
	}
	return false
}

// reopenBackoff carries the partition's backoff to its replacement via the
// manager's key; recorded here on the broker by topic/partition.
func (b *Broker) reopenBackoff(p *partition) {
	b.reopenMu.Lock()
	defer b.reopenMu.Unlock()
	k := p.topic + "\x00" + strconv.Itoa(int(p.index))
	d := b.reopenDelay[k]
	d = min(max(2*d, retryInterval), time.Minute)
	b.reopenDelay[k] = d
	b.reopenNext[k] = time.Now().Add(d).UnixNano()
}

// reconcile makes the served partitions match next: new partitions get
// logs (recording the topic ID in each directory), deleted topics lose
// theirs, changed configs and leader epochs are applied, and partitions
// that failed to open before are tried again.
func (b *Broker) reconcile(next *cluster.State) {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()
	if next.Index < b.reconciledIndex {
		return // a newer state was already reconciled
	}
	b.reconciledIndex = next.Index
	cur := *b.topics.Load()
	out := make(map[string]*topicParts, len(next.Topics))
	// New partition logs are opened concurrently: a fresh data directory's
	// first state holds dozens of internal partitions (__consumer_offsets
	// alone has 50), and opening a new log and checkpointing its leader
	// epoch costs a few fsyncs, which the disk overlaps well.
	type create struct {
		name  string
		tp    *topicParts
		i     int
		cfg   wlog.Config
		epoch int32
		lead  bool
	}
	var creates []create
	var moved []*partition
	for name, t := range next.Topics {
		old, had := cur[name]
		if had && old.meta == t && !b.hasNil(old) && !b.reopenDue(old.parts) {
			out[name] = old
			continue
		}
		if had && old.meta.ID != t.ID { // deleted and recreated between two states
			b.dropTopic(old)
			had = false
		}
		tp := &topicParts{meta: t, parts: make([]*partition, len(t.Partitions))}
		lcfg := b.logConfig(t.Configs)
		for i, pm := range t.Partitions {
			if had && i < len(old.parts) && old.parts[i] != nil && !b.hosts(t, i) {
				// Reassigned away (admin_reassign.go): the log goes
				// once the new state is in service.
				moved = append(moved, old.parts[i])
				continue
			}
			if had && i < len(old.parts) && old.parts[i] != nil && !b.reopenDue(old.parts[i:i+1]) {
				p := old.parts[i]
				if !maps.Equal(old.meta.Configs, t.Configs) {
					p.log.SetConfig(lcfg)
				}
				p.setLeaderEpoch(pm.LeaderEpoch, b.leads(t, i))
				tp.parts[i] = p
				continue
			}
			if had && i < len(old.parts) && old.parts[i] != nil {
				// Offline after a storage failure: reopened below (the
				// manager closes and recovers it); waiters on the old
				// partition give up.
				old.parts[i].markDeleted()
				b.reopenBackoff(old.parts[i])
			}
			if !b.hosts(t, i) {
				continue // another broker's replica
			}
			creates = append(creates, create{name: name, tp: tp, i: i, cfg: lcfg, epoch: pm.LeaderEpoch, lead: b.leads(t, i)})
		}
		out[name] = tp
	}
	run := func(c create) {
		l, err := b.logs.CreateWithID(c.name, int32(c.i), c.tp.meta.ID, c.cfg)
		if err != nil {
			b.errorLimited("partition log did not open; retrying in the background", "topic", c.name, "partition", c.i, "err", err)
			return // its slot stays nil: KAFKA_STORAGE_ERROR until a retry opens it
		}
		p := newPartition(c.name, int32(c.i), c.tp.meta.ID, l)
		b.reopenMu.Lock()
		k := c.name + "\x00" + strconv.Itoa(c.i)
		if l.Offline() == nil {
			delete(b.reopenDelay, k)
		}
		p.reopenAt.Store(b.reopenNext[k])
		delete(b.reopenNext, k)
		b.reopenMu.Unlock()
		p.setLeaderEpoch(c.epoch, c.lead)
		c.tp.parts[c.i] = p
	}
	if len(creates) == 1 {
		run(creates[0])
	} else if len(creates) > 1 {
		sem := make(chan struct{}, createParallelism)
		var wg sync.WaitGroup
		for _, c := range creates {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				run(c)
			}()
		}
		wg.Wait()
	}
	for name, old := range cur {
		if _, ok := out[name]; !ok {
			b.dropTopic(old)
		}
	}
	b.topics.Store(&out)
	for _, p := range moved {
		p.rep.mu.Lock()
		p.rep.tracker = nil // a removed leader's acks=all waiters give up (NOT_LEADER_OR_FOLLOWER)
		p.rep.mu.Unlock()
		p.markDeleted()
		if err := b.logs.Remove(p.topic, p.index); err != nil {
			b.logger.Error("remove the log of a replica reassigned away", "topic", p.topic, "partition", p.index, "err", err)
		} else {
			b.logger.Info("removed the log of a replica reassigned away", "topic", p.topic, "partition", p.index)
		}
	}
	b.updateRoles(out)
	b.metrics.setPartitions(out)

	b.reconMu.Lock()
	if next.Index > b.reconDone {
		b.reconDone = next.Index
	}
	for i := range b.reconPending {
		if i <= b.reconDone {
			delete(b.reconPending, i)
		}
	}
	b.reconCond.Broadcast()
	b.reconMu.Unlock()
}

// hasNil reports whether a partition this broker should keep has no log.
func (b *Broker) hasNil(t *topicParts) bool {
	for i, p := range t.parts {
		if p == nil && b.hosts(t.meta, i) {
			return true
		}
	}
	return false
}

// setAsideStrays runs once at start, after the first reconcile: partition
// directories on disk that no topic of the metadata owns (a topic deleted
// while the broker was down, or before a crash finished removing it), or
// of partitions reassigned away from this broker while it was down, are
// renamed aside, logged, and deleted after StrayGracePeriod.
func (b *Broker) setAsideStrays() {
	strays := map[wlog.TopicPartition]bool{}
	for tp := range b.logs.Logs() {
		strays[tp] = true
	}
	for tp := range b.logs.Failed() {
		strays[tp] = true
	}
	for tp := range strays {
		why := "its topic is not in the metadata"
		if t, ok := b.lookup(tp.Topic); ok && int(tp.Partition) < len(t.parts) {
			if b.hosts(t.meta, int(tp.Partition)) {
				continue
			}
			// Reassigned away while this broker was down.
			why = "this broker is no longer one of its replicas"
		}
		if err := b.logs.SetAside(tp.Topic, tp.Partition, why); err != nil {
			b.logger.Error("set aside stray partition directory", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		}
	}
	b.purgeAside()
}

func (b *Broker) purgeAside() {
	if _, err := b.logs.PurgeAside(b.cfg.StrayGracePeriod); err != nil {
		b.errorLimited("delete set-aside partition directories", "err", err)
	}
}

func (b *Broker) dropTopic(t *topicParts) {
	for i, p := range t.parts {
		if p != nil {
			p.markDeleted()
		}
		if err := b.logs.Remove(t.meta.Name, int32(i)); err != nil {
			b.logger.Error("remove partition log", "topic", t.meta.Name, "partition", i, "err", err)
		}
	}
}
