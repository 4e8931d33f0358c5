package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Exactly-once proposals. Propose retries a command whose outcome it could
// not see: the leader lost its leadership after appending it (raft's
// ErrLeadershipLost: the entry may still commit under the next leader), or
// a forwarded proposal's answer was lost (an RPC timeout or a dropped
// connection after the leader applied it). Applied twice, most commands
// answer the second time as if the first had not happened: an ElectLeaders
// that moved the leadership answers ELECTION_NOT_NEEDED, a CreateTopics
// that created the topic TOPIC_ALREADY_EXISTS, a DeleteTopics that deleted
// it UNKNOWN_TOPIC_OR_PARTITION.
//
// So every proposal carries an ID, the same on each retry, and the state
// remembers the IDs of the last recentCommands commands that changed it,
// with their results: a command whose ID is there is not applied again, and
// its first result is returned, with the first one's index (AppliedAt:
// the proposer waits for that state's effects, not the retry's). The list is part of the State, so every
// node (and a node restored from a snapshot) decides alike. A command
// refused without changing the state is not remembered: applying it again
// is a fresh attempt.

// recentCommands bounds State.Recent. A retry comes within its proposer's
// timeout (seconds); this many state changes in between would take a
// cluster-wide burst (a failover moving thousands of partitions).
const recentCommands = 1024

// Applied is one remembered command: its ID and the result it produced.
type Applied struct {
	ID              string `json:"id"`
	Index           uint64 `json:"index"`
	ErrCode         int16  `json:"err,omitempty"`
	FirstProducerID int64  `json:"first_pid,omitempty"`
}

// newCommandID returns a random proposal ID.
func newCommandID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// appliedResult returns the result of the remembered command id, if any.
func (s *State) appliedResult(id string) (Result, bool) {
	if id == "" {
		return Result{}, false
	}
	for i := len(s.Recent) - 1; i >= 0; i-- {
		a := s.Recent[i]
		if a.ID != id {
			continue
		}
		r := Result{FirstProducerID: a.FirstProducerID, AppliedAt: a.Index}
		if a.ErrCode != 0 {
			r.Err = kerr.UnknownServerError
			if ke, ok := kerr.ErrorForCode(a.ErrCode).(*kerr.Error); ok {
				r.Err = ke
			}
		}
		return r, true
	}
	return Result{}, false
}

// remember records the result of command id, applied at index, in s, a
// fresh state that no reader has seen yet; the previous states' Recent is
// left as it was.
func (s *State) remember(id string, index uint64, r Result) {
	if id == "" {
		return
	}
	a := Applied{ID: id, Index: index, FirstProducerID: r.FirstProducerID}
	if r.Err != nil {
		a.ErrCode = r.Err.Code
	}
	keep := s.Recent[max(0, len(s.Recent)-(recentCommands-1)):]
	s.Recent = append(slices.Clone(keep), a)
}
