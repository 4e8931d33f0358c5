package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Several voters share one TCP address per node (--raft-addr) between raft
// and weir's own controller RPCs: proposals forwarded from followers to the
// leader, broker heartbeats and non-voter joins. raft's network transport
// opens every connection with a one-byte RPC type (0..3); weir's RPCs open
// with rpcMagic instead, so the listener tells them apart from the first
// byte and hands raft's connections on untouched.
const rpcMagic byte = 'W'

// maxRPCBytes bounds one controller RPC frame (a CreateTopics of thousands
// of partitions fits easily).
const maxRPCBytes = 64 << 20

type rpcKind string

const (
	rpcPropose   rpcKind = "propose"
	rpcHeartbeat rpcKind = "heartbeat"
	rpcJoin      rpcKind = "join"
	// rpcReadIndex asks the leader for the index it has applied, once it
	// verified that it still leads (ReadBarrier).
	rpcReadIndex rpcKind = "read_index"
)

type rpcRequest struct {
	Kind     rpcKind  `json:"kind"`
	Command  *Command `json:"command,omitempty"`
	NodeID   int32    `json:"node_id,omitempty"`
	RaftAddr string   `json:"raft_addr,omitempty"`
}

type rpcResponse struct {
	NotLeader bool   `json:"not_leader,omitempty"`
	Leader    string `json:"leader,omitempty"` // raft address of the leader as this node knows it
	Index     uint64 `json:"index,omitempty"`
	ErrCode   int16  `json:"err_code,omitempty"` // Result.Err
	FirstPID  int64  `json:"first_pid,omitempty"`
	NoLease   bool   `json:"no_lease,omitempty"` // heartbeat: a fence of the broker is in flight
	Error     string `json:"error,omitempty"`    // the command could not be applied at all
}

// muxLayer is a raft.StreamLayer over one listener that also serves weir's
// controller RPCs.
type muxLayer struct {
	ln     net.Listener
	handle func(req *rpcRequest) rpcResponse
	raftc  chan net.Conn
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

func newMuxLayer(addr string, handle func(*rpcRequest) rpcResponse) (*muxLayer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on raft address %s: %w", addr, err)
	}
	m := &muxLayer{ln: ln, handle: handle, raftc: make(chan net.Conn), done: make(chan struct{})}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

func (m *muxLayer) acceptLoop() {
	defer m.wg.Done()
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		m.wg.Add(1)
		go m.route(nc)
	}
}

func (m *muxLayer) route(nc net.Conn) {
	defer m.wg.Done()
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, err := br.Peek(1)
	if err != nil {
		nc.Close()
		return
	}
	nc.SetReadDeadline(time.Time{})
	if first[0] != rpcMagic {
		select {
		case m.raftc <- &peekedConn{Conn: nc, r: br}:
		case <-m.done:
			nc.Close()
		}
		return
	}
	br.ReadByte()
	defer nc.Close()
	for {
		var req rpcRequest
		if err := readFrame(br, &req); err != nil {
			return
		}
		resp := m.handle(&req)
		if err := writeFrame(nc, &resp); err != nil {
			return
		}
	}
}

func (m *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftc:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *muxLayer) Close() error {
	m.once.Do(func() {
		close(m.done)
		m.ln.Close()
	})
	return nil
}

func (m *muxLayer) Addr() net.Addr { return m.ln.Addr() }

func (m *muxLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxRPCBytes {
		return fmt.Errorf("controller rpc frame of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// call sends one RPC to addr and waits for its answer.
func callRPC(ctx context.Context, addr string, req *rpcRequest) (rpcResponse, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return rpcResponse{}, fmt.Errorf("dial controller %s: %w", addr, err)
	}
	defer nc.Close()
	dl := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	nc.SetDeadline(dl)
	if _, err := nc.Write([]byte{rpcMagic}); err != nil {
		return rpcResponse{}, fmt.Errorf("controller rpc to %s: %w", addr, err)
	}
	if err := writeFrame(nc, req); err != nil {
		return rpcResponse{}, fmt.Errorf("controller rpc to %s: %w", addr, err)
	}
	var resp rpcResponse
	if err := readFrame(bufio.NewReader(nc), &resp); err != nil {
		return rpcResponse{}, fmt.Errorf("controller rpc to %s: %w", addr, err)
	}
	return resp, nil
}

// handleRPC serves a controller RPC on this node.
func (c *Controller) handleRPC(req *rpcRequest) rpcResponse {
	if !c.running.Load() {
		return rpcResponse{NotLeader: true} // raft not started yet
	}
	if c.raft.State() != raft.Leader {
		addr, _ := c.raft.LeaderWithID()
		return rpcResponse{NotLeader: true, Leader: string(addr)}
	}
	switch req.Kind {
	case rpcPropose:
		if req.Command == nil {
			return rpcResponse{Error: "propose without a command"}
		}
		idx, res, err := c.applyLocal(req.Command, 10*time.Second)
		if errors.Is(err, ErrNotLeader) {
			return rpcResponse{NotLeader: true}
		}
		if err != nil {
			return rpcResponse{Error: err.Error()}
		}
		out := rpcResponse{Index: idx, FirstPID: res.FirstProducerID}
		if res.Err != nil {
			out.ErrCode = res.Err.Code
		}
		return out
	case rpcHeartbeat:
		return c.heartbeat(req.NodeID)
	case rpcReadIndex:
		if err := c.raft.VerifyLeader().Error(); err != nil {
			addr, _ := c.raft.LeaderWithID()
			return rpcResponse{NotLeader: true, Leader: string(addr)}
		}
		return rpcResponse{Index: c.fsm.applied.Load()}
	case rpcJoin:
		if err := c.addNonvoter(req.NodeID, req.RaftAddr); err != nil {
			return rpcResponse{Error: err.Error()}
		}
		return rpcResponse{}
	}
	return rpcResponse{Error: fmt.Sprintf("unknown controller rpc %q", req.Kind)}
}

// forward sends req to the leader, following redirects and waiting out
// elections until ctx ends.
func (c *Controller) forward(ctx context.Context, req *rpcRequest) (rpcResponse, error) {
	var last error
	hint := ""
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				if last == nil {
					last = ErrNotLeader
				}
				return rpcResponse{}, fmt.Errorf("%w (%v)", ctx.Err(), last)
			case <-time.After(min(time.Duration(attempt)*20*time.Millisecond, 250*time.Millisecond)):
			}
		}
		if c.raft.State() == raft.Leader {
			return c.handleRPC(req), nil
		}
		addr := hint
		hint = ""
		if addr == "" {
			a, _ := c.raft.LeaderWithID()
			addr = string(a)
		}
		if addr == "" && len(c.cfg.Voters) > 0 {
			// No leader known yet (a joining non-voter): ask the voters.
			addr = c.cfg.Voters[attempt%len(c.cfg.Voters)].Addr
		}
		if addr == "" || addr == c.localAddr {
			last = ErrNotLeader
			continue
		}
		resp, err := callRPC(ctx, addr, req)
		if err != nil {
			last = err
			continue
		}
		if resp.NotLeader {
			last = ErrNotLeader
			hint = resp.Leader
			continue
		}
		return resp, nil
	}
}

func resultOf(resp rpcResponse) (Result, error) {
	if resp.Error != "" {
		return Result{}, errors.New(resp.Error)
	}
	r := Result{FirstProducerID: resp.FirstPID}
	if resp.ErrCode != 0 {
		var ke *kerr.Error
		if errors.As(kerr.ErrorForCode(resp.ErrCode), &ke) {
			r.Err = ke
		} else {
			r.Err = kerr.UnknownServerError
		}
	}
	return r, nil
}
