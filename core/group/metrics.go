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
