package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzLoad replays arbitrary __consumer_offsets records: Load must never
// panic, and whatever it loads must serve requests.
func FuzzLoad(f *testing.F) {
	ok := kmsg.OffsetCommitKey{Version: 1, Group: "g", Topic: "t", Partition: 0}
	ov := kmsg.OffsetCommitValue{Version: 3, Offset: 1, LeaderEpoch: -1, Metadata: "m"}
	gk := kmsg.GroupMetadataKey{Version: 2, Group: "g"}
	p, l := "range", "m1"
	gv := kmsg.GroupMetadataValue{Version: 3, ProtocolType: "consumer", Generation: 1, Protocol: &p, Leader: &l,
		Members: []kmsg.GroupMetadataValueMember{{MemberID: "m1", SessionTimeoutMillis: 6000, RebalanceTimeoutMillis: 6000}}}
	f.Add(ok.AppendTo(nil), ov.AppendTo(nil))
	f.Add(gk.AppendTo(nil), gv.AppendTo(nil))
	f.Add(gk.AppendTo(nil), []byte(nil))
	f.Add([]byte{0, 2}, []byte{0, 3, 0})
	f.Fuzz(func(t *testing.T, key, value []byte) {
		store := newMemStore(1)
		store.parts[0] = []kv{{key, value}, {gk.AppendTo(nil), gv.AppendTo(nil)}, {key, value}}
		c := testCoordinator(t, Config{}, store, newManualClock())
		if err := c.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		describe := kmsg.NewPtrDescribeGroupsRequest()
		describe.Version = 5
		describe.Groups = []string{"g"}
		c.Handle(context.Background(), describe)
		list := kmsg.NewPtrListGroupsRequest()
		list.Version = 4
		for _, g := range c.Handle(context.Background(), list).(*kmsg.ListGroupsResponse).Groups {
			fetch := kmsg.NewPtrOffsetFetchRequest()
			fetch.Version = 7
			fetch.Group = g.Group
			c.Handle(context.Background(), fetch)
			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Version = 4
			hb.Group, hb.MemberID, hb.Generation = g.Group, "m1", 1
			c.Handle(context.Background(), hb)
		}
	})
}
