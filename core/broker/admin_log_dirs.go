package broker

import (
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs: v0-4
//
// Behavior:
// * One log directory, the data directory, holding every partition
//   replica this broker keeps (null topics: all of them); a partition it
//   does not keep is left out, as Kafka does.
// * Size is the log's bytes on disk; OffsetLag is max(0, HW − LEO), 0 on
//   a replica in sync (Kafka's definition); never a future replica (weir
//   has one log directory, so AlterReplicaLogDirs has nothing to move).
// * TotalBytes and UsableBytes (v4) are -1, unknown.
// kafka-reassign-partitions asks for it to print where replicas live.

func init() { register(kmsg.DescribeLogDirs, 0, 4, handleDescribeLogDirs) }

func handleDescribeLogDirs(b *Broker, _ *reqCtx, kreq kmsg.Request) kmsg.Response {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.DataDir
	if abs, err := filepath.Abs(b.cfg.DataDir); err == nil {
		dir.Dir = abs
	}
	dir.TotalBytes, dir.UsableBytes = -1, -1
	topics := *b.topics.Load()
	add := func(name string, parts []int32) {
		tp, ok := topics[name]
		if !ok {
			return
		}
		out := kmsg.NewDescribeLogDirsResponseDirTopic()
		out.Topic = name
		for i, p := range tp.parts {
			if p == nil || (parts != nil && !slices.Contains(parts, int32(i))) {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = int32(i)
			dp.Size = p.log.Size()
			dp.OffsetLag = max(0, p.highWatermark()-p.log.EndOffset())
			out.Partitions = append(out.Partitions, dp)
		}
		if len(out.Partitions) > 0 {
			dir.Topics = append(dir.Topics, out)
		}
	}
	if req.Topics == nil {
		names := make([]string, 0, len(topics))
		for name := range topics {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			add(name, nil)
		}
	} else {
		for _, rt := range req.Topics {
			add(rt.Topic, rt.Partitions)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp
}
