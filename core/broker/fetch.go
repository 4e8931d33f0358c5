package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	wlog "github.com/weirlog/weir/core/log"
)

// Fetch: v4-16
//
// Behavior:
// * Reads whole batches from core/log bounded by the high watermark
//   (read_uncommitted) or the last stable offset (read_committed).
// * Long polling: waits up to MaxWaitMillis until MinBytes are available,
//   woken by the partitions' high-watermark moves (no polling loop).
// * Response MaxBytes and per-partition PartitionMaxBytes are honoured,
//   except that the first batch is returned even if larger, as Kafka does.
// * Fetch sessions (KIP-227), see fetch_session.go.
// * Record bytes go from the log files to the socket with sendfile when a
//   response carries at least Config.ZeroCopyMinBytes (zerocopy.go).
// * CurrentLeaderEpoch (v9+) is checked: FENCED_LEADER_EPOCH /
//   UNKNOWN_LEADER_EPOCH.
// * v13+ names topics by ID (UNKNOWN_TOPIC_ID).
// * Follower fetches (ReplicaID >= 0, or ReplicaState v15+) are served
//   in a cluster: they read up to the log end, not the HW, and report the
//   follower's LEO to the partition's replica.Tracker (replication.go).
//   A single node refuses them (UNKNOWN_SERVER_ERROR).
// * Fetch from the closest replica (KIP-392, v11+; follower_fetch.go): a
//   leader names a follower in the client's rack as PreferredReadReplica;
//   a follower serves consumers up to its own HW.
//
// Version notes: v4 isolation level, LSO, aborted txns; v5 log start
// offset; v7 sessions; v9 current leader epoch; v11 rack / preferred read
// replica; v12 flexible, diverging epoch; v13 topic IDs; v15 replica state;
// v16 node endpoints.

func init() { registerAsync(kmsg.Fetch, 4, 16, handleFetch) }

type fetchRead struct {
	sp    *sessPart
	p     *partition
	code  int16
	hw    int64
	lso   int64
	start int64
	rr    wlog.ReadResult
	// preferred is the replica a consumer in another rack should fetch
	// from instead (KIP-392, follower_fetch.go), -1 for none.
	preferred int32
	follower  bool // served by a follower replica to a consumer
}

func handleFetch(b *Broker, rc *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if fetchReplicaID(req) >= 0 && !b.multi() {
		resp.ErrorCode = kerr.UnknownServerError.Code // no followers on a single node
		return resp
	}
	fs, parts, incremental, code := b.openSession(req)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	if fs != nil {
		defer fs.mu.Unlock()
		resp.SessionID = fs.id
	}

	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	wake := make(chan struct{}, 1)
	var registered []*partition
	defer func() {
		for _, p := range registered {
			p.removeWaiter(wake)
		}
	}()
	var timer *time.Timer
	reads := make([]fetchRead, len(parts))
	for {
		var total int64
		hasErr := false
		firstPass := registered == nil
		used := int64(0)
		respMax := int64(req.MaxBytes)
		if respMax <= 0 {
			respMax = 1 << 62
		}
		for i, sp := range parts {
			r := &reads[i]
			*r = fetchRead{sp: sp, hw: -1, lso: -1, start: -1, preferred: -1}
			b.readPartition(req, r, respMax-used, total == 0)
			if r.code != 0 {
				hasErr = true
			}
			if r.rr != nil {
				n := r.rr.Size()
				used += n
				total += n
			}
			if registered == nil && r.p != nil {
				r.p.addWaiter(wake)
			}
		}
		if registered == nil {
			registered = make([]*partition, 0, len(parts))
			for i := range reads {
				if reads[i].p != nil {
					registered = append(registered, reads[i].p)
				}
			}
		}
		if hasErr || total >= int64(req.MinBytes) || !time.Now().Before(deadline) || len(parts) == 0 {
			b.buildFetchResponse(rc, req, resp, reads, incremental)
			return resp
		}
		releaseReads(reads)
		if firstPass {
			// The first pass read each partition before registering
			// for its wake-ups: an append in between woke no one, and
			// the fetch (a follower's, holding an acks=all produce)
			// would sleep until MaxWait. Read once more, registered.
			continue
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
			defer timer.Stop()
		}
		select {
		case <-wake:
		case <-timer.C:
		case <-rc.ctx.Done():
			resp.ErrorCode = kerr.RequestTimedOut.Code
			return resp
		}
	}
}

func releaseReads(reads []fetchRead) {
	for i := range reads {
		if reads[i].rr != nil {
			reads[i].rr.Release()
			reads[i].rr = nil
		}
	}
}

// readPartition fills r for one partition: errors, offsets, and a read of
// up to budget bytes (the first partition with data may exceed it by one
// batch, as the log returns at least one batch).
func (b *Broker) readPartition(req *kmsg.FetchRequest, r *fetchRead, budget int64, first bool) {
	sp := r.sp
	name := sp.key.topic
	if req.Version >= 13 {
		t, ok := b.ctl.State().TopicByID(sp.key.id)
		if !ok {
			r.code = kerr.UnknownTopicID.Code
			return
		}
		name = t.Name
	}
	p, follower, ok := b.fetchPartition(req, name, sp.key.partition)
	if !ok || p == nil {
		r.code = b.partitionCode(name, sp.key.partition)
		if req.Version >= 13 && r.code == kerr.UnknownTopicOrPartition.Code {
			r.code = kerr.UnknownTopicID.Code
		}
		return
	}
	r.p, r.follower = p, follower
	if cle := sp.currentLeaderEpoch; cle >= 0 {
		if e := p.epoch(); cle < e {
			r.code = kerr.FencedLeaderEpoch.Code
			return
		} else if cle > e {
			r.code = kerr.UnknownLeaderEpoch.Code
			return
		}
	}
	replicaID := fetchReplicaID(req)
	if replicaID >= 0 {
		// A follower fetching at fetchOffset holds everything before it.
		b.followerFetched(p, replicaID, sp.fetchOffset)
	}
	r.hw = p.highWatermark()
	r.lso = p.log.LastStableOffset(r.hw)
	r.start = p.log.StartOffset()
	if !follower {
		if r.preferred = b.preferredReadReplica(req, p, name, sp.key.partition, sp.fetchOffset); r.preferred >= 0 {
			b.metrics.preferredRedirects.Inc()
			return // the client fetches from there next; no records
		}
	}
	limit := r.hw // on a follower, its own HW
	if req.IsolationLevel == 1 {
		limit = r.lso
	}
	if replicaID >= 0 {
		limit = p.log.EndOffset() // followers copy past the HW
	}
	off := sp.fetchOffset
	switch {
	case off < r.start || off > p.log.EndOffset():
		r.code = kerr.OffsetOutOfRange.Code
		return
	case off >= limit:
		return
	case budget <= 0 && !first:
		return
	}
	max := int64(sp.maxBytes)
	if budget < max && !first {
		max = budget
	}
	if max <= 0 {
		max = 1
	}
	rr, err := p.log.Read(off, int(min(max, 1<<31-1)), limit)
	if err != nil {
		r.code = errCode(err)
		return
	}
	if rr.Size() == 0 {
		rr.Release()
		return
	}
	r.rr = rr
}

// buildFetchResponse turns reads into the response, deciding per partition
// whether an incremental session response includes it, and attaches the
// record bytes (copied, or as zero-copy ranges for the writer).
func (b *Broker) buildFetchResponse(rc *reqCtx, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, reads []fetchRead, incremental bool) {
	var total int64
	for i := range reads {
		if reads[i].rr != nil {
			total += reads[i].rr.Size()
		}
	}
	var zc *zeroCopy
	if total >= int64(b.cfg.ZeroCopyMinBytes) {
		zc = newZeroCopy()
	}
	var cur *kmsg.FetchResponseTopic
	for i := range reads {
		r := &reads[i]
		sp := r.sp
		if incremental && r.rr == nil && r.code == 0 && r.preferred < 0 && r.hw == sp.sentHW && r.lso == sp.sentLSO && r.start == sp.sentStart {
			continue
		}
		sp.sentHW, sp.sentLSO, sp.sentStart = r.hw, r.lso, r.start
		if cur == nil || cur.Topic != sp.key.topic || cur.TopicID != sp.key.id {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			cur = &resp.Topics[len(resp.Topics)-1]
			cur.Topic, cur.TopicID = sp.key.topic, sp.key.id
		}
		fp := kmsg.NewFetchResponseTopicPartition()
		fp.Partition = sp.key.partition
		fp.ErrorCode = r.code
		fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = r.hw, r.lso, r.start
		fp.PreferredReadReplica = r.preferred
		fp.RecordBatches = []byte{} // empty, not null: librdkafka rejects a null record set
		if r.rr != nil {
			b.metrics.fetched.Add(float64(r.rr.Size()))
			if r.follower {
				b.metrics.followerFetched.Add(float64(r.rr.Size()))
			}
			if zc != nil {
				fp.RecordBatches = zc.add(r.rr)
				r.rr = nil
			} else {
				bs, err := r.rr.Bytes()
				r.rr.Release()
				r.rr = nil
				if err != nil {
					fp.ErrorCode = errCode(err)
				} else {
					fp.RecordBatches = bs
				}
			}
		}
		cur.Partitions = append(cur.Partitions, fp)
	}
	releaseReads(reads)
	if zc != nil && len(zc.results) > 0 {
		rc.p.zc = zc
	}
}

// fetchReplicaID is the follower's broker ID of a replica fetch, -1 for a
// consumer.
func fetchReplicaID(req *kmsg.FetchRequest) int32 {
	if req.Version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}
