package runtime

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSinkTopicRenamedByTransform: a transform that renames the topic
// (RegexRouter, as sinks use to pick their index or table) must not make
// the runtime drop the records as "of a partition not assigned" (the
// assignment is of the partitions read, before transforms). Before the
// fix every record was dropped and its offset committed.
func TestSinkTopicRenamedByTransform(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	in := c.topic("rename-in")
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := w.ensureDataTopic(context.Background(), in, -1); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Topic: in, Value: fmt.Appendf(nil, "line-%d", i)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.txt")
	r := call(t, "PUT", w.url+"/connectors/rename-sink/config", map[string]any{
		"connector.class": "FileStreamSink", "file": out, "topics": in, "consumer.override.auto.offset.reset": "earliest",
		"value.converter": "org.apache.kafka.connect.storage.StringConverter",
		"transforms":      "route", "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex": "(.*)", "transforms.route.replacement": "renamed-$1",
	})
	expectCode(t, r, http.StatusCreated, "create sink")
	expectLines(t, out, 20)
}
