package cluster

import (
	"cmp"
	"slices"
)

// Place assigns the replicas of n new partitions over the live (unfenced)
// brokers of s, rf replicas each, as Kafka's rack-aware assignor does in
// spirit: the brokers are ordered alternating between racks, partition i's
// first replica (its preferred leader) is broker (start+i) of that order
// and the others follow it, so leaders and replicas spread evenly and the
// replicas of a partition land on different racks while racks last. rf is
// capped at the number of live brokers; start lets successive topics begin
// on different brokers. With no live broker it returns nil.
func Place(s *State, n int32, rf int, start int) [][]int32 {
	var live []Broker
	for _, b := range s.Brokers {
		if !b.Fenced {
			live = append(live, b)
		}
	}
	if len(live) == 0 || n <= 0 {
		return nil
	}
	slices.SortFunc(live, func(a, b Broker) int { return cmp.Compare(a.NodeID, b.NodeID) })
	order := rackAlternating(live)
	rf = max(1, min(rf, len(order)))
	out := make([][]int32, n)
	for i := range out {
		first := (start + i) % len(order)
		// Followers are shifted by a per-round step, so two partitions with
		// the same leader do not always share the same followers.
		step := 1 + (i/len(order))%max(1, len(order)-1)
		r := make([]int32, 0, rf)
		r = append(r, order[first])
		for j := 1; len(r) < rf; j++ {
			c := order[(first+j*step)%len(order)]
			if slices.Contains(r, c) {
				c = next(order, r, first+j)
			}
			r = append(r, c)
		}
		out[i] = r
	}
	return out
}

// next returns the first broker of order from position at on not in r.
func next(order, r []int32, at int) int32 {
	for k := range order {
		c := order[(at+k)%len(order)]
		if !slices.Contains(r, c) {
			return c
		}
	}
	return order[0]
}

// rackAlternating orders brokers rack by rack in turn (brokers without a
// rack form one rack of their own), e.g. racks a:{1,2} b:{3} c:{4} give
// 1,3,4,2.
func rackAlternating(bs []Broker) []int32 {
	byRack := map[string][]int32{}
	var racks []string
	for _, b := range bs {
		r := ""
		if b.Rack != nil {
			r = *b.Rack
		}
		if _, ok := byRack[r]; !ok {
			racks = append(racks, r)
		}
		byRack[r] = append(byRack[r], b.NodeID)
	}
	slices.Sort(racks)
	var out []int32
	for k := 0; len(out) < len(bs); k++ {
		for _, r := range racks {
			if k < len(byRack[r]) {
				out = append(out, byRack[r][k])
			}
		}
	}
	return out
}
