package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/group"
	wlog "github.com/weirlog/weir/core/log"
	"github.com/weirlog/weir/core/record"
)

// Group APIs are routed to core/group's Coordinator; the broker only owns
// their registration (what ApiVersions advertises) and the Store over the
// __consumer_offsets partition logs.
//
// JoinGroup and SyncGroup block until a rebalance completes, so they run
// off the connection's read goroutine.
// The versions advertised are the coordinator's own (group.Versions).
func init() {
	route := func(b *Broker, rc *reqCtx, req kmsg.Request) kmsg.Response {
		g := b.groupsLoaded.Load()
		if g == nil {
			// Not loaded yet (Start still loading them, or a fresh
			// node's first group request): wait, or drop the answer if
			// the broker or connection closes first.
			b.wantGroups()
			select {
			case <-b.groupsReady:
				g = b.groupsLoaded.Load()
			case <-b.ctx.Done():
				return nil
			case <-rc.ctx.Done():
				return nil
			}
		}
		ctx := group.WithClient(rc.ctx, group.ClientInfo{ID: rc.p.clientID, Host: "/" + rc.conn.remoteHost})
		return g.Handle(ctx, req)
	}
	for key, v := range group.Versions() {
		if key == kmsg.JoinGroup.Int16() || key == kmsg.SyncGroup.Int16() {
			registerAsync(kmsg.Key(key), v[0], v[1], route)
		} else {
			register(kmsg.Key(key), v[0], v[1], route)
		}
	}
}

// offsetsStore is group.Store over the __consumer_offsets logs.
type offsetsStore struct{ b *Broker }

var _ group.Store = (*offsetsStore)(nil)

func (s *offsetsStore) Partitions() int32 {
	if t, ok := s.b.lookup(OffsetsTopic); ok {
		return int32(len(t.parts))
	}
	return s.b.cfg.OffsetsTopicPartitions
}

// Append writes one batch built by the coordinator and returns once it is
// committed (HW past it) — the acks=all guarantee.
func (s *offsetsStore) Append(ctx context.Context, partition int32, batch []byte) error {
	p, ok := s.b.partition(OffsetsTopic, partition)
	if !ok || p == nil {
		return fmt.Errorf("offsets store: no partition %d", partition)
	}
	res, err := p.log.Append(batch, wlog.AppendOptions{LeaderEpoch: p.epoch(), Origin: wlog.OriginCoordinator})
	if err != nil {
		return fmt.Errorf("offsets store: append to partition %d: %w", partition, err)
	}
	if code := s.b.afterAppend(ctx, p, res.LogEndOffset, true, 30*time.Second); code != 0 {
		return fmt.Errorf("offsets store: partition %d: %w", partition, kerr.ErrorForCode(code))
	}
	return nil
}

// Replay calls fn for every record of a partition, from the log start to
// the high watermark, in offset order. Control batches are skipped.
func (s *offsetsStore) Replay(partition int32, fn func(key, value []byte) error) error {
	if t, ok := s.b.lookup(OffsetsTopic); ok && int(partition) < len(t.parts) && !s.b.leads(t.meta, int(partition)) {
		return nil // another broker coordinates its groups (FindCoordinator)
	}
	p, ok := s.b.partition(OffsetsTopic, partition)
	if !ok || p == nil {
		return fmt.Errorf("offsets store: no partition %d", partition)
	}
	off, end := p.log.StartOffset(), p.highWatermark()
	for off < end {
		rr, err := p.log.Read(off, 1<<20, end)
		if err != nil {
			return fmt.Errorf("offsets store: read partition %d at %d: %w", partition, off, err)
		}
		data, err := rr.Bytes()
		rr.Release()
		if err != nil {
			return fmt.Errorf("offsets store: read partition %d at %d: %w", partition, off, err)
		}
		if len(data) == 0 {
			break
		}
		next := off
		err = record.Split(data, func(batch []byte, h record.Header) error {
			next = h.LastOffset() + 1
			if h.IsControl() {
				return nil
			}
			recs, err := record.RecordsUnchecked(batch)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.Offset < off {
					continue
				}
				if err := fn(r.Key, r.Value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("offsets store: replay partition %d: %w", partition, err)
		}
		if next <= off {
			return errors.New("offsets store: replay made no progress")
		}
		off = next
	}
	return nil
}
