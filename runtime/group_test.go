package runtime

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func testMember(delay time.Duration) *member {
	w := &Worker{cfg: Config{ScheduledRebalanceMaxDelay: delay}}
	return newMember(w)
}

func units(n int) []unit {
	var out []unit
	for i := range n {
		out = append(out, unit{"c", i})
	}
	return out
}

func loads(out map[string]memberAssignment) map[string]int {
	l := map[string]int{}
	for id, a := range out {
		l[id] = len(a.Assigned)
	}
	return l
}

func TestAssignBalancesFreshCluster(t *testing.T) {
	m := testMember(time.Second)
	mems := []*groupMember{{id: "a", meta: memberMeta{WorkerID: "A"}}, {id: "b", meta: memberMeta{WorkerID: "B"}}, {id: "c", meta: memberMeta{WorkerID: "C"}}}
	out := m.assign("a", "http://a", mems, units(7), 5, time.Now())
	l := loads(out)
	if l["a"]+l["b"]+l["c"] != 7 || max(l["a"], l["b"], l["c"])-min(l["a"], l["b"], l["c"]) > 1 {
		t.Fatalf("unbalanced: %v", l)
	}
	for _, a := range out {
		if len(a.Revoked) != 0 || a.LeaderURL != "http://a" || a.ConfigOffset != 5 || a.Delay != 0 {
			t.Fatalf("assignment %+v", a)
		}
	}
}

// A joining worker takes nothing from anyone in the first round; only the
// excess of the overloaded is revoked (stopped), and handed out next round.
func TestAssignJoinRevokesOnlyWhatMoves(t *testing.T) {
	m := testMember(time.Second)
	all := units(7)
	a := &groupMember{id: "a", meta: memberMeta{WorkerID: "A", Owned: all[:4]}}
	b := &groupMember{id: "b", meta: memberMeta{WorkerID: "B", Owned: all[4:]}}
	c := &groupMember{id: "c", meta: memberMeta{WorkerID: "C"}}
	out := m.assign("a", "", []*groupMember{a, b, c}, all, 0, time.Now())
	for id, owned := range map[string][]unit{"a": all[:4], "b": all[4:]} {
		for _, u := range out[id].Assigned {
			if !slices.Contains(owned, u) {
				t.Fatalf("%s was given %v it did not run", id, u)
			}
		}
	}
	if len(out["c"].Assigned) != 0 {
		t.Fatalf("new member got work in the revocation round: %v", out["c"].Assigned)
	}
	revoked := len(out["a"].Revoked) + len(out["b"].Revoked)
	if revoked != 2 || len(out["b"].Revoked) != 0 {
		t.Fatalf("revoked a=%v b=%v, want 2 from a", out["a"].Revoked, out["b"].Revoked)
	}
	// Round two: members report what they still run; the revoked go to c.
	a.meta.Owned, b.meta.Owned, c.meta.Owned = out["a"].Assigned, out["b"].Assigned, nil
	a.load, b.load, c.load = 0, 0, 0
	out2 := m.assign("a", "", []*groupMember{a, b, c}, all, 0, time.Now())
	if l := loads(out2); l["a"] != 2 || l["b"] != 3 || l["c"] != 2 {
		t.Fatalf("second round loads %v", l)
	}
	for _, x := range []string{"a", "b"} {
		if !slices.Equal(out2[x].Assigned, out[x].Assigned) {
			t.Fatalf("%s's work moved in round two: %v -> %v", x, out[x].Assigned, out2[x].Assigned)
		}
	}
}

// A vanished worker's work is held for the delay, then handed out; a worker
// that comes back within the delay gets its work back.
func TestAssignHoldsLostWorkForTheDelay(t *testing.T) {
	for _, comesBack := range []bool{false, true} {
		t.Run(fmt.Sprintf("comes back %v", comesBack), func(t *testing.T) {
			m := testMember(3 * time.Second)
			all := units(6)
			now := time.Now()
			mk := func() []*groupMember {
				return []*groupMember{{id: "a", meta: memberMeta{WorkerID: "A"}}, {id: "b", meta: memberMeta{WorkerID: "B"}}, {id: "c", meta: memberMeta{WorkerID: "C"}}}
			}
			out := m.assign("a", "", mk(), all, 0, now)
			lostWork := out["c"].Assigned
			a := &groupMember{id: "a", meta: memberMeta{WorkerID: "A", Owned: out["a"].Assigned}}
			b := &groupMember{id: "b", meta: memberMeta{WorkerID: "B", Owned: out["b"].Assigned}}
			out = m.assign("a", "", []*groupMember{a, b}, all, 0, now.Add(time.Second))
			if len(out["a"].Assigned)+len(out["b"].Assigned) != 4 || out["a"].Delay <= 0 || out["a"].Delay > 3001 {
				t.Fatalf("lost work was not held: %+v", out)
			}
			if comesBack {
				a.load, b.load = 0, 0
				c := &groupMember{id: "c2", meta: memberMeta{WorkerID: "C"}}
				out = m.assign("a", "", []*groupMember{a, b, c}, all, 0, now.Add(2*time.Second))
				if !slices.Equal(out["c2"].Assigned, lostWork) {
					t.Fatalf("returning worker got %v, want its %v", out["c2"].Assigned, lostWork)
				}
				return
			}
			a.load, b.load = 0, 0
			out = m.assign("a", "", []*groupMember{a, b}, all, 0, now.Add(4*time.Second+time.Millisecond))
			if l := loads(out); l["a"] != 3 || l["b"] != 3 || out["a"].Delay != 0 {
				t.Fatalf("after the delay: %v %+v", l, out)
			}
		})
	}
}
