package cluster

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Leader elections an operator asks for (Kafka's ElectLeaders, KIP-460)
// and partition reassignment (AlterPartitionReassignments, KIP-455), as
// state-machine commands like every other metadata change.
//
// A reassignment to target replicas T of a partition whose replicas are O
// goes through the states Kafka's KRaft controller uses:
//
//	Replicas = T ++ (O − T)   Adding = T − O   Removing = O − T
//
// The adding replicas are ordinary followers meanwhile: they create the
// log, fetch from the leader and join the ISR through the leader's
// OpAlterPartition once caught up. As soon as every member of T is in the
// ISR the reassignment completes in the same apply: Replicas = T, the ISR
// loses the removing replicas (which then drop their logs), and if the
// leader was one of them leadership moves to the first member of T in the
// ISR and not fenced, with a new leader epoch. Cancelling (null replicas)
// puts Replicas back to O, with the ISR cut to O.

const (
	// OpElectLeader elects Topic/Partition's leader: Election is 0
	// (preferred: the first replica, if it is in the ISR and not fenced)
	// or 1 (unclean: only a leaderless partition; an ISR member if one is
	// alive, else, when Unclean is set, any live replica).
	OpElectLeader Op = "elect_leader"
	// OpReassign starts, replaces or (Cancel) cancels the reassignment of
	// Topic/Partition to Replicas.
	OpReassign Op = "reassign"
)

// Election types, as ElectLeadersRequest's ElectionType.
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// Reassigning reports whether a reassignment of p is in progress.
func (p *Partition) Reassigning() bool { return len(p.Adding) > 0 || len(p.Removing) > 0 }

// Original is the replica set before the reassignment in progress (the
// replica set itself when there is none).
func (p *Partition) Original() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Adding, r) })
}

// Target is the replica set the reassignment in progress moves to.
func (p *Partition) Target() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Removing, r) })
}

// partitionOf returns a copy of topic's partition i (and the topic copy
// that holds it), or an error.
func partitionOf(s *State, topic string, i int32) (*Topic, *Partition, *kerr.Error) {
	t, ok := s.Topics[topic]
	if !ok || i < 0 || int(i) >= len(t.Partitions) {
		return nil, nil, kerr.UnknownTopicOrPartition
	}
	t = t.clone()
	return t, &t.Partitions[i], nil
}

func live(s *State, node int32) bool {
	br, ok := s.Brokers[node]
	return ok && !br.Fenced
}

func applyElect(s *State, c *Command) (*State, Result) {
	t, q, err := partitionOf(s, c.Topic, c.Partition)
	if err != nil {
		return s, Result{Err: err}
	}
	switch c.Election {
	case ElectPreferred:
		if len(q.Replicas) == 0 {
			return s, Result{Err: kerr.PreferredLeaderNotAvailable}
		}
		pref := q.Replicas[0]
		if q.Leader == pref {
			return s, Result{Err: kerr.ElectionNotNeeded}
		}
		if !slices.Contains(q.ISR, pref) || !live(s, pref) {
			return s, Result{Err: kerr.PreferredLeaderNotAvailable}
		}
		q.Leader = pref
	case ElectUnclean:
		if q.Leader >= 0 && live(s, q.Leader) {
			return s, Result{Err: kerr.ElectionNotNeeded}
		}
		leader := int32(-1)
		for _, r := range q.Replicas {
			if slices.Contains(q.ISR, r) && live(s, r) {
				leader = r
				break
			}
		}
		if leader < 0 && c.Unclean {
			// unclean.leader.election.enable=true: the operator accepts
			// losing what the ISR held and only it.
			for _, r := range q.Replicas {
				if live(s, r) {
					leader = r
					q.ISR = []int32{r}
					break
				}
			}
		}
		if leader < 0 {
			return s, Result{Err: kerr.EligibleLeadersNotAvailable}
		}
		q.Leader = leader
	default:
		return s, Result{Err: kerr.InvalidRequest}
	}
	q.LeaderEpoch++
	q.PartitionEpoch++
	n := s.clone()
	n.Topics[t.Name] = t
	return n, Result{}
}

func applyReassign(s *State, c *Command) (*State, Result) {
	t, q, err := partitionOf(s, c.Topic, c.Partition)
	if err != nil {
		return s, Result{Err: err}
	}
	orig := q.Original()
	if c.Cancel {
		if !q.Reassigning() {
			return s, Result{Err: kerr.NoReassignmentInProgress}
		}
		if !slices.ContainsFunc(q.ISR, func(r int32) bool { return slices.Contains(orig, r) }) {
			// No original replica is in sync any more: going back would
			// need an unclean election.
			return s, Result{Err: kerr.InvalidReplicaAssignment}
		}
		setReplicas(s, q, orig)
	} else {
		target := c.Replicas
		if len(target) == 0 {
			return s, Result{Err: kerr.InvalidReplicaAssignment}
		}
		for i, r := range target {
			if _, ok := s.Brokers[r]; !ok || slices.Contains(target[:i], r) {
				return s, Result{Err: kerr.InvalidReplicaAssignment}
			}
		}
		merged := slices.Clone(target)
		var adding, removing []int32
		for _, r := range orig {
			if !slices.Contains(target, r) {
				merged = append(merged, r)
				removing = append(removing, r)
			}
		}
		for _, r := range target {
			if !slices.Contains(orig, r) {
				adding = append(adding, r)
			}
		}
		if len(adding) == 0 && len(removing) == 0 {
			// Same set, maybe another order (a new preferred leader): no
			// data moves.
			q.Replicas, q.Adding, q.Removing = merged, nil, nil
		} else {
			q.Replicas, q.Adding, q.Removing = merged, adding, removing
			// Replicas dropped from a reassignment that is replaced leave
			// the ISR: they are no longer replicas at all.
			q.ISR = slices.DeleteFunc(slices.Clone(q.ISR), func(r int32) bool { return !slices.Contains(merged, r) })
			completeReassignment(s, q)
		}
	}
	q.PartitionEpoch++
	n := s.clone()
	n.Topics[t.Name] = t
	return n, Result{}
}

// completeReassignment finishes q's reassignment once every target replica
// is in the ISR. s is the state before the command (for fencing).
func completeReassignment(s *State, q *Partition) {
	if !q.Reassigning() {
		return
	}
	target := q.Target()
	for _, r := range target {
		if !slices.Contains(q.ISR, r) {
			return
		}
	}
	setReplicas(s, q, target)
}

// setReplicas ends q's reassignment with replicas rs: the ISR keeps only
// members of rs, and a leader outside rs hands over to the first member
// of rs in the ISR and alive (or the partition is leaderless until one
// is).
func setReplicas(s *State, q *Partition, rs []int32) {
	q.Replicas = slices.Clone(rs)
	q.Adding, q.Removing = nil, nil
	// Never empty: callers check that a member of rs is in the ISR.
	isr := slices.DeleteFunc(slices.Clone(q.ISR), func(r int32) bool { return !slices.Contains(rs, r) })
	q.ISR = isr
	if slices.Contains(rs, q.Leader) {
		return
	}
	q.Leader = -1
	for _, r := range rs {
		if slices.Contains(isr, r) && live(s, r) {
			q.Leader = r
			break
		}
	}
	q.LeaderEpoch++
}
