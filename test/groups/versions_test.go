package groups

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/weirlog/weir/core/broker/brokertest"
)

// TestOlderClientVersions runs consumer groups of clients that speak only
// what older Kafka releases did: before MEMBER_ID_REQUIRED and flexible
// versions (Kafka 1.0: JoinGroup v2, OffsetFetch v3), and before
// SkipAssignment (Kafka 2.4: JoinGroup v6, static membership).
func TestOlderClientVersions(t *testing.T) {
	b := brokertest.Start(t)
	adm := admin(t, b)
	for i, tc := range []struct {
		name     string
		versions *kversion.Versions
		static   bool
	}{
		{"kafka-1.0", kversion.V1_0_0(), false},
		{"kafka-2.4-static", kversion.V2_4_0(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, group := fmt.Sprintf("old-%d", i), fmt.Sprintf("g-old-%d", i)
			createTopic(t, adm, topic, 2)
			opts := func(name string) []kgo.Opt {
				o := []kgo.Opt{kgo.MaxVersions(tc.versions), kgo.DisableAutoCommit()}
				if tc.static {
					o = append(o, kgo.InstanceID(name))
				}
				return o
			}
			c1 := startMember(t, b, "o1", group, topic, opts("o1")...)
			c2 := startMember(t, b, "o2", group, topic, opts("o2")...)
			waitOwned(t, 2, map[*member]int{c1: 1, c2: 1})
			// Produce once the partitions are shared out, so that each
			// member consumes (and commits) its own.
			produce(t, b, topic, 2, 5)
			waitSeen(t, 5, c1)
			waitSeen(t, 5, c2)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, m := range []*member{c1, c2} {
				if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
					t.Fatalf("%s commit: %v", m.name, err)
				}
			}
			offs, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			for p := range int32(2) {
				if o, ok := offs.Lookup(topic, p); !ok || o.At != 5 {
					t.Fatalf("partition %d committed %+v", p, o)
				}
			}
			d := waitState(t, adm, group, "Stable", 2)
			for _, m := range d.Members {
				if tc.static != (m.InstanceID != nil) {
					t.Fatalf("member %s instance id %v", m.MemberID, m.InstanceID)
				}
			}
		})
	}
}
