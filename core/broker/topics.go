package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirlog/weir/core/cluster"
)

// Topic administration shared by CreateTopics, Metadata auto-creation,
// CreatePartitions and the offsets topic: everything goes through the
// metadata state machine.

const maxTopicNameLen = 249

func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("illegal topic name %q", name)
	}
	if len(name) > maxTopicNameLen {
		return fmt.Errorf("topic name longer than %d characters", maxTopicNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q has an illegal character %q", name, c)
		}
	}
	return nil
}

// assignment places n new partitions on this node (the only broker);
// replication will spread replicas over the live brokers.
func (b *Broker) assignment(n int32) [][]int32 {
	a := make([][]int32, n)
	for i := range a {
		a[i] = []int32{b.cfg.NodeID}
	}
	return a
}

// createTopic proposes a topic; the error is a *kerr.Error when the client
// should see it as such.
func (b *Broker) createTopic(ctx context.Context, name string, partitions int32, configs map[string]string, internal bool) error {
	res, err := b.ctl.Propose(ctx, &cluster.Command{
		Op: cluster.OpCreateTopic, Topic: name, TopicID: cluster.NewTopicID(), Internal: internal,
		Assignment: b.assignment(partitions), Configs: configs,
	})
	if err != nil {
		return proposeErr(err)
	}
	if res.Err != nil {
		return res.Err
	}
	return nil
}

// proposeErr maps a controller failure to the Kafka error a client sees.
func proposeErr(err error) error {
	if errors.Is(err, cluster.ErrNotLeader) {
		return kerr.NotController
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return kerr.RequestTimedOut
	}
	return fmt.Errorf("%w: %v", kerr.UnknownServerError, err)
}

// collidingTopic returns an existing topic whose name equals name once '.'
// and '_' are treated alike, or "".
func (b *Broker) collidingTopic(name string) string {
	norm := strings.ReplaceAll(name, ".", "_")
	for other := range b.ctl.State().Topics {
		if other != name && strings.ReplaceAll(other, ".", "_") == norm {
			return other
		}
	}
	return ""
}
