package group

// CommittedOffset is one group's committed offset for one partition.
type CommittedOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
}

// CommittedOffsets returns every committed offset the coordinator holds,
// for metrics (consumer-group lag). Each group is locked in turn, never
// two at once, so a scrape never blocks a rebalance for long.
func (c *Coordinator) CommittedOffsets() []CommittedOffset {
	var out []CommittedOffset
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if !g.closed {
			for tp, o := range g.offsets {
				out = append(out, CommittedOffset{Group: g.id, Topic: tp.topic, Partition: tp.partition, Offset: o.offset})
			}
		}
		g.mu.Unlock()
	}
	return out
}

// GroupSummary is one group's state and size, for metrics.
type GroupSummary struct {
	Group   string
	State   string // Kafka's names: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead
	Members int
}

// Summaries returns every group's state and member count.
func (c *Coordinator) Summaries() []GroupSummary {
	var out []GroupSummary
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if !g.closed {
			out = append(out, GroupSummary{Group: g.id, State: g.state.String(), Members: len(g.members)})
		}
		g.mu.Unlock()
	}
	return out
}
