package cluster

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Voter is one controller voter, as in --controller-voters 1@host:port.
type Voter struct {
	NodeID int32
	Addr   string
}

// ParseVoters parses "1@host:port,2@host:port".
func ParseVoters(s string) ([]Voter, error) {
	var vs []Voter
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || addr == "" {
			return nil, fmt.Errorf("controller voter %q: want id@host:port", part)
		}
		vs = append(vs, Voter{NodeID: int32(n), Addr: addr})
	}
	return vs, nil
}

// Config configures a Controller.
type Config struct {
	NodeID int32
	// Dir holds raft's bolt store and snapshots; empty means in memory
	// (tests that need no restart).
	Dir string
	// RaftAddr is this node's raft TCP address; used only with Voters.
	RaftAddr string
	// Voters lists the controller quorum. Empty means this node alone,
	// with an in-process transport.
	Voters []Voter
	Logger *slog.Logger
	// OnChange, if set, is called after every state change, on raft's
	// apply goroutine and before Propose returns to the proposer on the
	// leader; c is nil after a snapshot restore. It must not call Propose
	// and must be quick (no file I/O): every later command waits for it.
	OnChange func(prev, next *State, c *Command)
	// Registerer receives the metadata metrics (apply failures and
	// refusals); nil means none are registered.
	Registerer prometheus.Registerer
	// Settle, if set, is called by Propose once its command is applied,
	// with the command's raft index, and Propose returns only after it
	// does (its error is Propose's). The broker waits there for its
	// reconciler, which applies state changes to the partition logs off
	// the apply goroutine, so that a proposal's effects are servable when
	// it returns without file I/O stalling the state machine.
	Settle func(ctx context.Context, index uint64) error

	// HeartbeatInterval is how often a node of a multi-node cluster
	// heartbeats the metadata leader (broker.heartbeat.interval.ms);
	// default 200 ms. SessionTimeout is how long the leader waits without
	// one before fencing the broker (broker.session.timeout.ms); default
	// 1 s, so that leadership moves within 2 s of a broker's death
	// (Kafka's 9 s is sized for JVM pauses and WAN links; membership.go
	// says what bounds the move and what the lease derived from it
	// guarantees).
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
}

// DefaultHeartbeatInterval and DefaultSessionTimeout are the broker
// liveness defaults of a multi-node cluster (Config).
const (
	DefaultHeartbeatInterval = 200 * time.Millisecond
	DefaultSessionTimeout    = 1000 * time.Millisecond
)

// Controller owns the raft group and the metadata state machine.
type Controller struct {
	cfg    Config
	fsm    *fsm
	raft   *raft.Raft
	closer []io.Closer

	// Multi-node only (see forward.go and membership.go).
	multi     bool
	localAddr string
	seenMu    sync.Mutex
	lastSeen  map[int32]time.Time
	fenced    map[int32]time.Time
	fencing   map[int32]bool // a fence proposal is in flight (seenMu)
	// raftHeartbeatTimeout: how long raft's followers wait for the leader
	// before an election (membership.go starts the old leader's session
	// clock that far back).
	raftHeartbeatTimeout time.Duration
	// The lease (membership.go), guarded by leaseMu: leaseFrom is when the
	// last heartbeat that renewed it was sent; pendSent/pendIndex an
	// answered heartbeat waiting for this node to apply pendIndex.
	leaseMu   sync.Mutex
	leaseFrom time.Time
	pendSent  time.Time
	pendIndex uint64
	stopBeats atomic.Bool
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	started   atomic.Bool
	running   atomic.Bool // raft is set (the mux may serve RPCs before)

	closeOnce sync.Once
}

// Open starts raft (bootstrapping a new cluster if there is no state) and
// returns without waiting for leadership; call WaitReady.
func Open(cfg Config) (*Controller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	c := &Controller{cfg: cfg, fsm: newFSM(cfg.OnChange), lastSeen: map[int32]time.Time{}, fenced: map[int32]time.Time{}, fencing: map[int32]bool{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.fsm.logger = cfg.Logger
	if cfg.Registerer != nil {
		for _, m := range []prometheus.Collector{c.fsm.failed, c.fsm.rejected} {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("register metadata metrics: %w", err)
			}
		}
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(strconv.Itoa(int(cfg.NodeID)))
	rc.Logger = hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Error, // elections and leadership changes are routine here
		Output: &slogWriter{l: cfg.Logger.With("component", "raft")},
	})
	// A node whose id is not among several voters (or not the one voter)
	// is a broker that joins as a non-voter.
	single := len(cfg.Voters) == 0 || (len(cfg.Voters) == 1 && cfg.Voters[0].NodeID == cfg.NodeID)
	c.multi = !single
	if single {
		tuneSingleVoter(rc)
	} else {
		tuneVoters(rc)
	}
	rc.SnapshotThreshold = 1024
	c.raftHeartbeatTimeout = rc.HeartbeatTimeout

	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
		trans  raft.Transport
		addr   raft.ServerAddress
	)
	if cfg.Dir == "" {
		mem := raft.NewInmemStore()
		logs, stable, snaps = mem, mem, raft.NewInmemSnapshotStore()
	} else {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("create raft dir: %w", err)
		}
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
		if err != nil {
			return nil, fmt.Errorf("open raft store: %w", err)
		}
		c.closer = append(c.closer, bolt)
		logs, stable = bolt, bolt
		fs, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, rc.Logger)
		if err != nil {
			c.closeStores()
			return nil, fmt.Errorf("open raft snapshots: %w", err)
		}
		snaps = fs
	}
	if single {
		addr, trans = raft.NewInmemTransport(raft.ServerAddress("node-" + strconv.Itoa(int(cfg.NodeID))))
	} else {
		if cfg.RaftAddr == "" {
			c.closeStores()
			return nil, errors.New("a node of a multi-node cluster needs a raft address (--raft-addr)")
		}
		mux, err := newMuxLayer(cfg.RaftAddr, c.handleRPC)
		if err != nil {
			c.closeStores()
			return nil, fmt.Errorf("raft transport: %w", err)
		}
		tt := raft.NewNetworkTransportWithLogger(mux, 3, 10*time.Second, rc.Logger)
		c.closer = append(c.closer, tt)
		trans, addr = tt, tt.LocalAddr()
		c.localAddr = string(addr)
	}

	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		c.closeStores()
		return nil, fmt.Errorf("inspect raft state: %w", err)
	}
	if !existing && (single || c.isVoter(cfg.NodeID)) {
		var servers []raft.Server
		if single {
			servers = []raft.Server{{Suffrage: raft.Voter, ID: rc.LocalID, Address: addr}}
		} else {
			for _, v := range cfg.Voters {
				servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(v.NodeID))), Address: raft.ServerAddress(v.Addr)})
			}
		}
		if err := raft.BootstrapCluster(rc, logs, stable, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			c.closeStores()
			return nil, fmt.Errorf("bootstrap raft: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, c.fsm, logs, stable, snaps, trans)
	if err != nil {
		c.closeStores()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	c.raft = r
	c.running.Store(true)
	if single {
		if err := electAlone(r); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// electAlone makes a lone voter stand for election now instead of after
// one to two heartbeat timeouts of silence (100–200 ms of every start,
// most of an embedded start; issue 15). A follower waits out the timeout
// because a leader might be talking; with no other voter none can be, and
// its own vote is the quorum, so the wait is pure delay. raft re-arms a
// follower's timer when the heartbeat timeout shrinks (ReloadConfig): a
// timeout 1 ms shorter than the tuned one lets the idle leader keep the
// slow lease check TestSingleVoterLeaderIdlesQuietly guards, which a small
// timeout from the start would not (LeaderLeaseTimeout must not exceed it
// and cannot be reloaded).
func electAlone(r *raft.Raft) error {
	rc := r.ReloadableConfig()
	rc.HeartbeatTimeout -= time.Millisecond
	if err := r.ReloadConfig(rc); err != nil {
		return fmt.Errorf("start the first election: %w", err)
	}
	return nil
}

// WaitReady waits until this node's raft is leader and has applied every
// committed command (single node), or until a leader is known (several
// voters). Then, if the cluster has no ID yet, it proposes one.
func (c *Controller) WaitReady(ctx context.Context) error {
	if c.multi {
		return c.waitReadyMulti(ctx)
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if c.raft.State() == raft.Leader {
			break
		}
		if len(c.cfg.Voters) > 1 {
			if addr, _ := c.raft.LeaderWithID(); addr != "" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for metadata leader: %w", ctx.Err())
		case <-t.C:
		}
	}
	if err := c.raft.Barrier(timeoutOf(ctx)).Error(); err != nil {
		return fmt.Errorf("metadata barrier: %w", err)
	}
	if c.State().ClusterID == "" {
		if _, err := c.Propose(ctx, &Command{Op: OpInit, ClusterID: NewClusterID()}); err != nil {
			return err
		}
	}
	return nil
}

// ErrNotLeader is returned by Propose on a node that is not the metadata
// leader (it maps to kerr.NotController for clients).
var ErrNotLeader = errors.New("not the metadata leader")

// Propose replicates c and applies it; it returns when applied on this
// (leader) node.
//
// On a node that is not the leader of a multi-node cluster the command is
// forwarded to the leader; Propose returns once this node has applied it
// too, so the proposer reads its own write in State().
func (c *Controller) Propose(ctx context.Context, cmd *Command) (Result, error) {
	idx, res, err := c.applyOrForward(ctx, cmd)
	if err != nil {
		return res, err
	}
	if c.cfg.Settle != nil {
		if err := c.cfg.Settle(ctx, idx); err != nil {
			return res, fmt.Errorf("metadata command %s applied; waiting for its effects: %w", cmd.Op, err)
		}
	}
	return res, nil
}

// applyOrForward applies cmd on the leader, locally or through forward,
// and waits until this node has applied it. The retries inside carry one
// proposal ID, so cmd is applied at most once (dedup.go).
func (c *Controller) applyOrForward(ctx context.Context, cmd *Command) (uint64, Result, error) {
	if cmd.ID == "" {
		cp := *cmd // the caller's command stays as it was: reusing it is a new proposal
		cp.ID = newCommandID()
		cmd = &cp
	}
	if !c.multi || c.raft.State() == raft.Leader {
		idx, res, err := c.applyLocal(cmd, timeoutOf(ctx))
		if err == nil || !c.multi || !errors.Is(err, ErrNotLeader) {
			return idx, res, err
		}
	}
	resp, err := c.forward(ctx, &rpcRequest{Kind: rpcPropose, Command: cmd})
	if err != nil {
		return 0, Result{}, fmt.Errorf("forward metadata command %s to the leader: %w", cmd.Op, err)
	}
	res, err := resultOf(resp)
	if err != nil {
		return 0, Result{}, fmt.Errorf("apply metadata command %s on the leader: %w", cmd.Op, err)
	}
	if err := c.waitApplied(ctx, resp.Index); err != nil {
		return resp.Index, res, err
	}
	return resp.Index, res, nil
}

// applyLocal replicates cmd through this (leader) node's raft.
func (c *Controller) applyLocal(cmd *Command, timeout time.Duration) (uint64, Result, error) {
	b, err := encodeCommand(cmd)
	if err != nil {
		return 0, Result{}, fmt.Errorf("encode metadata command: %w", err)
	}
	if cmd.Op == OpFenceBroker {
		// Heartbeats in flight from before the fencing must not unfence
		// the broker again (membership.go).
		c.seenMu.Lock()
		c.fenced[cmd.BrokerID] = time.Now()
		c.seenMu.Unlock()
	}
	f := c.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return 0, Result{}, ErrNotLeader
		}
		return 0, Result{}, fmt.Errorf("apply metadata command %s: %w", cmd.Op, err)
	}
	switch r := f.Response().(type) {
	case Result:
		if r.AppliedAt != 0 {
			return r.AppliedAt, r, nil // a retry: the state it made is the first application's
		}
		return f.Index(), r, nil
	case error:
		return f.Index(), Result{}, r
	}
	return f.Index(), Result{}, nil
}

// waitApplied waits until this node's state machine has applied index.
func (c *Controller) waitApplied(ctx context.Context, index uint64) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	// raft's own applied index runs ahead of the state machine (it counts
	// entries handed to it, and configuration entries the FSM never sees);
	// it is only the fallback when an index never reaches the FSM.
	var raftAt time.Time
	for c.fsm.applied.Load() < index {
		if c.raft.AppliedIndex() >= index {
			if raftAt.IsZero() {
				raftAt = time.Now()
			} else if time.Since(raftAt) > time.Second {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait to apply metadata index %d: %w", index, ctx.Err())
		case <-c.ctx.Done():
			return errors.New("metadata controller closed")
		case <-t.C:
		}
	}
	return nil
}

// waitReadyMulti joins (a non-voter), waits for a leader and for this node
// to have caught up with it, sets the cluster ID if none is set and starts
// the heartbeats.
func (c *Controller) waitReadyMulti(ctx context.Context) error {
	if !c.isVoter(c.cfg.NodeID) {
		if _, err := c.forward(ctx, &rpcRequest{Kind: rpcJoin, NodeID: c.cfg.NodeID, RaftAddr: c.localAddr}); err != nil {
			return fmt.Errorf("join the metadata quorum: %w", err)
		}
	}
	sent := time.Now()
	resp, err := c.forward(ctx, &rpcRequest{Kind: rpcHeartbeat, NodeID: c.cfg.NodeID})
	if err != nil {
		return fmt.Errorf("wait for metadata leader: %w", err)
	}
	if err := c.waitApplied(ctx, resp.Index); err != nil {
		return err
	}
	if !resp.NoLease {
		c.leaseMu.Lock()
		c.leaseFrom = sent
		c.leaseMu.Unlock()
	}
	if c.State().ClusterID == "" {
		if _, _, err := c.applyOrForward(ctx, &Command{Op: OpInit, ClusterID: NewClusterID()}); err != nil {
			return err
		}
	}
	if c.started.CompareAndSwap(false, true) {
		c.wg.Add(1)
		go c.liveness(c.ctx)
	}
	return nil
}

// Multi reports whether this node is part of a multi-node cluster.
func (c *Controller) Multi() bool { return c.multi }

// LeaderID is the node ID of the metadata leader, -1 if none is known.
func (c *Controller) LeaderID() int32 {
	if c.raft.State() == raft.Leader {
		return c.cfg.NodeID
	}
	_, id := c.raft.LeaderWithID()
	n, err := strconv.ParseInt(string(id), 10, 32)
	if id == "" || err != nil {
		return -1
	}
	return int32(n)
}

// ReadBarrier returns once this node has applied the metadata the leader
// had applied when asked (a read index), so that State() read after it is
// no older than the leader's. Kafka serves its controller reads
// (ListPartitionReassignments, the checks of ElectLeaders and
// AlterPartitionReassignments) at the active controller; a follower's
// copy may lag the leader's by a heartbeat or, around an election, more,
// and a client that saw a change in one broker's Metadata must not see it
// undone by the broker it asks next. A single node returns at once.
func (c *Controller) ReadBarrier(ctx context.Context) error {
	if !c.multi {
		return nil
	}
	resp, err := c.forward(ctx, &rpcRequest{Kind: rpcReadIndex})
	if err != nil {
		return fmt.Errorf("metadata read barrier: %w", err)
	}
	if resp.Error != "" {
		return fmt.Errorf("metadata read barrier: %s", resp.Error)
	}
	return c.waitApplied(ctx, resp.Index)
}

// State returns the current immutable metadata.
func (c *Controller) State() *State { return c.fsm.state.Load() }

// IsLeader reports whether this node is the metadata leader.
func (c *Controller) IsLeader() bool { return c.raft.State() == raft.Leader }

// Close stops raft and closes its stores.
func (c *Controller) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
		if c.raft != nil {
			err = c.raft.Shutdown().Error()
		}
		if e := c.closeStores(); err == nil {
			err = e
		}
	})
	return err
}

func (c *Controller) closeStores() error {
	var err error
	for _, cl := range c.closer {
		if e := cl.Close(); e != nil && err == nil {
			err = e
		}
	}
	c.closer = nil
	return err
}

// NewClusterID returns a random Kafka-style cluster ID (22 chars base64url).
func NewClusterID() string {
	for {
		var b [16]byte
		rand.Read(b[:])
		// Kafka never hands out an ID starting with '-': command-line
		// tools would read it as a flag.
		if id := base64.RawURLEncoding.EncodeToString(b[:]); id[0] != '-' {
			return id
		}
	}
}

// NewTopicID returns a random non-zero topic ID.
func NewTopicID() UUID {
	var u UUID
	for u == (UUID{}) {
		rand.Read(u[:])
	}
	return u
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		if t := time.Until(d); t > 0 {
			return t
		}
		return time.Millisecond
	}
	return 10 * time.Second
}

// slogWriter turns hclog's lines into slog records.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		w.l.Warn(sc.Text())
	}
	return len(p), nil
}

// singleVoterTimeout is the heartbeat, election and leader-lease timeout of
// a single-voter group. A follower stands for election after one to two
// heartbeat timeouts, so it bounds how soon a lone node leads; the leader
// checks its lease every LeaderLeaseTimeout even with no peers to hear from,
// and every check wakes the process. At 20 ms that was 50 wake-ups a second
// and ~5 ms of CPU per second on an idle 2-CPU machine (issue 16); 100 ms
// costs a fifth of that and at most ~0.2 s more before the first election.
const singleVoterTimeout = 100 * time.Millisecond

// tuneVoters sets the timeouts of a multi-node group: a leader that stops
// hearing a quorum steps down after the lease, and a follower stands for
// election after one to two heartbeat timeouts, so metadata leadership
// moves within about a second on loopback or a LAN.
func tuneVoters(rc *raft.Config) {
	rc.HeartbeatTimeout = 400 * time.Millisecond
	rc.ElectionTimeout = 400 * time.Millisecond
	rc.LeaderLeaseTimeout = 200 * time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
}

// tuneSingleVoter sets the timeouts of a group of one: no one to wait for,
// so elect fast; the lease and election timeouts only matter with peers.
func tuneSingleVoter(rc *raft.Config) {
	rc.HeartbeatTimeout = singleVoterTimeout
	rc.ElectionTimeout = singleVoterTimeout
	// The lease may not exceed the heartbeat timeout, which electAlone
	// shortens by a millisecond.
	rc.LeaderLeaseTimeout = singleVoterTimeout - time.Millisecond
	rc.CommitTimeout = 5 * time.Millisecond
}
