package broker

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirlog/weir/core/cluster"
)

// Fetch sessions (KIP-227): a client that opens a session (SessionID 0,
// epoch 0) then sends only the partitions whose fetch position changed, and
// the broker answers only partitions with news: records, an error, or a
// moved high watermark / last stable offset / log start offset.
//
// Sessions are broker-wide (a client may reconnect), bounded in number;
// when full the least recently used one is evicted (its client gets
// FETCH_SESSION_ID_NOT_FOUND and starts over).

const (
	finalEpoch = -1
)

type sessKey struct {
	id        cluster.UUID // v13+
	topic     string       // before v13
	partition int32
}

type sessPart struct {
	key                sessKey
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32
	// last values sent, so incremental responses can skip quiet partitions
	sentHW, sentLSO, sentStart int64
}

type fetchSession struct {
	mu       sync.Mutex // held for a whole fetch, long poll included
	id       int32
	epoch    int32 // next expected epoch
	parts    []*sessPart
	index    map[sessKey]int
	lastUsed atomic.Int64 // unix nanoseconds; read by eviction without mu
}

type fetchSessions struct {
	mu  sync.Mutex
	m   map[int32]*fetchSession
	max int
}

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{m: map[int32]*fetchSession{}, max: max}
}

func (s *fetchSessions) closeAll() {
	s.mu.Lock()
	clear(s.m)
	s.mu.Unlock()
}

func (s *fetchSessions) remove(id int32) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

func (s *fetchSessions) get(id int32) *fetchSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

// create makes a new session (nil if none can be had).
func (s *fetchSessions) create() *fetchSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		var oldest *fetchSession
		for _, fs := range s.m {
			if oldest == nil || fs.lastUsed.Load() < oldest.lastUsed.Load() {
				oldest = fs
			}
		}
		if oldest == nil || time.Since(time.Unix(0, oldest.lastUsed.Load())) < time.Second {
			return nil // every session is in use: the client goes sessionless
		}
		delete(s.m, oldest.id)
	}
	for {
		id := rand.Int32()
		if _, taken := s.m[id]; id != 0 && !taken {
			fs := &fetchSession{id: id, epoch: 1, index: map[sessKey]int{}}
			fs.lastUsed.Store(time.Now().UnixNano())
			s.m[id] = fs
			return fs
		}
	}
}

func requestKey(v int16, t *kmsg.FetchRequestTopic, partition int32) sessKey {
	if v >= 13 {
		return sessKey{id: t.TopicID, partition: partition}
	}
	return sessKey{topic: t.Topic, partition: partition}
}

func (fs *fetchSession) upsert(v int16, req *kmsg.FetchRequest) {
	for i := range req.Topics {
		t := &req.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			k := requestKey(v, t, rp.Partition)
			sp := &sessPart{key: k, sentHW: -1, sentLSO: -1, sentStart: -1}
			if at, ok := fs.index[k]; ok {
				sp = fs.parts[at]
			} else {
				fs.index[k] = len(fs.parts)
				fs.parts = append(fs.parts, sp)
			}
			sp.fetchOffset, sp.maxBytes, sp.currentLeaderEpoch = rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch
		}
	}
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := sessKey{topic: ft.Topic, partition: p}
			if v >= 13 {
				k = sessKey{id: ft.TopicID, partition: p}
			}
			fs.forget(k)
		}
	}
}

func (fs *fetchSession) forget(k sessKey) {
	at, ok := fs.index[k]
	if !ok {
		return
	}
	fs.parts = append(fs.parts[:at], fs.parts[at+1:]...)
	delete(fs.index, k)
	for i := at; i < len(fs.parts); i++ {
		fs.index[fs.parts[i].key] = i
	}
}

// openSession resolves a request to the partitions to fetch. It returns the
// session to use (locked; the caller unlocks), whether the response is
// incremental, and a top-level error code.
func (b *Broker) openSession(req *kmsg.FetchRequest) (fs *fetchSession, parts []*sessPart, incremental bool, code int16) {
	sessionless := func() []*sessPart {
		tmp := &fetchSession{index: map[sessKey]int{}}
		tmp.upsert(req.Version, req)
		return tmp.parts
	}
	if req.Version < 7 {
		return nil, sessionless(), false, 0
	}
	id, epoch := req.SessionID, req.SessionEpoch
	switch {
	case id == 0 && epoch == finalEpoch:
		return nil, sessionless(), false, 0
	case epoch == finalEpoch:
		b.sessions.remove(id)
		return nil, sessionless(), false, 0
	case epoch == 0:
		if id != 0 {
			b.sessions.remove(id)
		}
		fs = b.sessions.create()
		if fs == nil {
			return nil, sessionless(), false, 0
		}
		fs.mu.Lock()
		fs.upsert(req.Version, req)
		return fs, fs.parts, false, 0
	}
	fs = b.sessions.get(id)
	if fs == nil {
		return nil, nil, false, kerr.FetchSessionIDNotFound.Code
	}
	fs.mu.Lock()
	if fs.epoch != epoch {
		fs.mu.Unlock()
		return nil, nil, false, kerr.InvalidFetchSessionEpoch.Code
	}
	fs.epoch++
	if fs.epoch <= 0 {
		fs.epoch = 1
	}
	fs.lastUsed.Store(time.Now().UnixNano())
	fs.upsert(req.Version, req)
	return fs, fs.parts, true, 0
}
