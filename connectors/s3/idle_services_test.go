//go:build services

package s3_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/test/weirtest"
)

// TestIdleFileCommittedEndToEnd: through a running worker, the open file
// of a topic that goes quiet is committed within rotate.interval.ms + 1 s
// of its last record (storage-common #275: Confluent's sink waits for the
// next record), and the consumer offsets then cover it.
func TestIdleFileCommittedEndToEnd(t *testing.T) {
	client(t) // the bucket exists, versitygw is up
	w := weirtest.Start(t, weirtest.WithTopics("quiet:1"))
	dir := fmt.Sprintf("idle-%d", time.Now().UnixNano())
	const interval = 2 * time.Second
	cfg := baseConfig()
	for k, v := range map[string]string{
		"connector.class": "io.confluent.connect.s3.S3SinkConnector", "topics": "quiet", "tasks.max": "1",
		"topics.dir": dir, "flush.size": "1000", "rotate.interval.ms": fmt.Sprint(interval.Milliseconds()),
		"key.converter": "org.apache.kafka.connect.storage.StringConverter", "value.converter": "org.apache.kafka.connect.storage.StringConverter",
	} {
		cfg[k] = v
	}
	body, _ := json.Marshal(cfg)
	req, _ := http.NewRequest(http.MethodPut, w.ConnectURL()+"/connectors/idle/config", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode/100 != 2 {
		t.Fatalf("create connector: %s %s", resp.Status, b)
	}
	resp.Body.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Records reach the task once it runs; the clock starts at the last.
	for i := range 3 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "quiet", Value: []byte(fmt.Sprintf("r%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	last := time.Now()
	cl := client(t)
	key := dir + "/quiet/partition=0/quiet+0+0000000000.json"
	var committed time.Duration
	for {
		if objs, err := listObjects(ctx, cl, dir+"/"); err == nil && len(objs) > 0 {
			committed = time.Since(last)
			if objs[0].key != key || len(objs) != 1 {
				t.Fatalf("objects %v, want only %s", objs, key)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the quiet topic's file was never committed (rotate.interval.ms %s)", interval)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("idle file committed %s after the last record (rotate.interval.ms %s)", committed.Round(time.Millisecond), interval)
	if committed > interval+time.Second {
		t.Errorf("idle file committed %s after the last record, want within rotate.interval.ms + 1 s = %s", committed, interval+time.Second)
	}
	b, err := getObject(ctx, cl, key)
	if err != nil || string(b) != "\"r0\"\n\"r1\"\n\"r2\"\n" {
		t.Errorf("object %s = %q, %v", key, b, err)
	}
	// The group's offset follows the committed file.
	for {
		resp, err := http.Get(w.ConnectURL() + "/connectors/idle/offsets")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `"kafka_offset":3`) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("offsets never reached 3 after the idle commit: %s", b)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
