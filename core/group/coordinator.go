package group

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator is the group coordinator of one broker for every partition of
// __consumer_offsets (weir's single-node coordinator owns them all).
//
// Locking: c.mu guards the groups map and the lifecycle flags; each
// group's mu guards that group. c.mu may be taken while a group's mu is
// held, never the reverse. A group's mu is held across Store.Append so
// that the order of records in the log is the order of changes in memory.
type Coordinator struct {
	cfg   Config
	store Store
	log   *slog.Logger
	clock clock

	ctx    context.Context // cancelled by Close; used for writes no request owns
	cancel context.CancelFunc

	mu      sync.Mutex
	groups  map[string]*group
	loading bool
	closed  bool
	expiry  timer
}

// New returns a coordinator serving groups whose state lives in store. A
// nil logger means slog.Default(). Call Load before serving to rebuild the
// groups of a store that already holds records.
func New(cfg Config, store Store, logger *slog.Logger) *Coordinator {
	return newCoordinator(cfg, store, logger, wallClock{})
}

func newCoordinator(cfg Config, store Store, logger *slog.Logger, clk clock) *Coordinator {
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg:    cfg.withDefaults(),
		store:  store,
		log:    logger.With("component", "group"),
		clock:  clk,
		ctx:    ctx,
		cancel: cancel,
		groups: make(map[string]*group),
	}
	c.scheduleExpiry()
	return c
}

// Versions returns, per API key, the [min, max] versions Handle serves.
// The broker advertises these in ApiVersions.
//
// OffsetCommit and OffsetFetch stop at v9: v10 names topics by id, which
// the coordinator cannot resolve.
func Versions() map[int16][2]int16 {
	return map[int16][2]int16{
		kmsg.OffsetCommit.Int16():   {0, 9},
		kmsg.OffsetFetch.Int16():    {0, 9},
		kmsg.JoinGroup.Int16():      {0, 9},
		kmsg.Heartbeat.Int16():      {0, 4},
		kmsg.LeaveGroup.Int16():     {0, 5},
		kmsg.SyncGroup.Int16():      {0, 5},
		kmsg.DescribeGroups.Int16(): {0, 6},
		kmsg.ListGroups.Int16():     {0, 5},
		kmsg.DeleteGroups.Int16():   {0, 3},
		kmsg.OffsetDelete.Int16():   {0, 0},
	}
}

// PartitionFor is the __consumer_offsets partition holding groupID's
// records, computed as Kafka does (Utils.abs(groupId.hashCode()) % n, with
// Java's String.hashCode over UTF-16 code units) so that a data directory
// and client expectations agree with Apache Kafka's.
func PartitionFor(groupID string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	var h int32
	for _, r := range groupID {
		if r >= 0x10000 { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	// Kafka's Utils.abs maps MinInt32 to 0 rather than overflowing.
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % n
}

// ClientInfo identifies the connection a request came from; member ids and
// DescribeGroups report it.
type ClientInfo struct {
	ID   string // the request header's client id
	Host string // the peer's address, as Kafka shows it ("/127.0.0.1")
}

type clientKey struct{}

// WithClient returns a context carrying the requesting client's identity,
// for the broker to pass to Handle.
func WithClient(ctx context.Context, ci ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, ci)
}

func clientFrom(ctx context.Context) ClientInfo {
	ci, _ := ctx.Value(clientKey{}).(ClientInfo)
	return ci
}

// Handle serves one group API request and returns its response with the
// request's version set. It returns nil for a request kind the coordinator
// does not serve; the broker checks versions against Versions first.
//
// JoinGroup and SyncGroup block until the group's join or sync barrier
// completes (bounded by the members' rebalance timeouts), or ctx is done.
// Handle is safe to call from many goroutines.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request) kmsg.Response {
	var resp kmsg.Response
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		resp = c.joinGroup(ctx, r)
	case *kmsg.SyncGroupRequest:
		resp = c.syncGroup(ctx, r)
	case *kmsg.HeartbeatRequest:
		resp = c.heartbeat(r)
	case *kmsg.LeaveGroupRequest:
		resp = c.leaveGroup(r)
	case *kmsg.OffsetCommitRequest:
		resp = c.offsetCommit(ctx, r)
	case *kmsg.OffsetFetchRequest:
		resp = c.offsetFetch(r)
	case *kmsg.OffsetDeleteRequest:
		resp = c.offsetDelete(ctx, r)
	case *kmsg.DescribeGroupsRequest:
		resp = c.describeGroups(r)
	case *kmsg.ListGroupsRequest:
		resp = c.listGroups(r)
	case *kmsg.DeleteGroupsRequest:
		resp = c.deleteGroups(ctx, r)
	default:
		return nil
	}
	resp.SetVersion(req.GetVersion())
	return resp
}

// Close stops every timer and answers blocked JoinGroup and SyncGroup
// requests with COORDINATOR_NOT_AVAILABLE (clients then look the
// coordinator up again). Later requests get the same error.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if c.expiry != nil {
		c.expiry.Stop()
	}
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	c.mu.Unlock()
	c.cancel()
	for _, g := range gs {
		g.mu.Lock()
		g.shutdown()
		g.mu.Unlock()
	}
}

// availability is the error every request gets while the coordinator is
// loading or closed, or 0.
func (c *Coordinator) availability() int16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return kerr.CoordinatorNotAvailable.Code
	case c.loading:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

// lockGroup returns the named group locked, creating it (Empty) if create
// is set, or nil. A group deleted while we waited for its lock is looked
// up again.
func (c *Coordinator) lockGroup(id string, create bool) *group {
	for {
		c.mu.Lock()
		g := c.groups[id]
		if g == nil {
			if !create {
				c.mu.Unlock()
				return nil
			}
			g = newGroup(c, id)
			c.groups[id] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state != stateDead {
			return g
		}
		g.mu.Unlock()
	}
}

// snapshot returns the current groups, for requests spanning all of them.
func (c *Coordinator) snapshot() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	return gs
}

// forget removes a group that went Dead. Called with g.mu held.
func (c *Coordinator) forget(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
}

// newMemberID is Kafka's prefix + "-" + random UUID, the prefix being the
// instance id for static members and the client id otherwise.
func newMemberID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func millis(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
