//go:build services

package hdfs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/hdfs"
	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/connectors/storage/storagetest"
	"github.com/weirlog/weir/plugins"
)

// TestDailyPartitionsReadThroughWebHDFS: records whose timestamps span
// three days land under the day of each, and the files are listed and
// read through WebHDFS with curl and parsed by Python's json module.
func TestDailyPartitionsReadThroughWebHDFS(t *testing.T) {
	client(t)
	dir := fmt.Sprintf("webhdfs-%d", time.Now().UnixNano())
	task := &storage.Task{NewBackend: hdfs.NewBackendForTest}
	if err := task.Start(storagetest.TaskCtx{}, plugins.Config{
		"hdfs.url": nameNode(), "topics.dir": dir, "flush.size": "1000", "rotate.schedule.interval.ms": "200",
		"partitioner.class":   "io.confluent.connect.storage.partitioner.DailyPartitioner",
		"timestamp.extractor": "Record", "timezone": "UTC", "locale": "en-US",
	}); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	tp := plugins.TopicPartition{Topic: "days", Partition: 0}
	task.Open([]plugins.TopicPartition{tp})
	base := time.Date(2026, 2, 27, 20, 0, 0, 0, time.UTC)
	var recs []plugins.Record
	for i := range 60 { // one record an hour: Feb 27 20:00 .. Mar 2 07:00
		recs = append(recs, plugins.Record{Topic: "days", Partition: 0, Offset: int64(i), Timestamp: base.Add(time.Duration(i) * time.Hour),
			Value: map[string]any{"n": int64(i)}})
	}
	ctx := context.Background()
	if err := task.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // past the wall-clock schedule
	safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: 60})
	if err != nil || safe[tp] != 60 {
		t.Fatalf("PreCommit = %v, %v; want every file committed", safe, err)
	}
	want := map[string][2]int{ // day directory → first and last record
		"year=2026/month=02/day=27": {0, 3}, "year=2026/month=02/day=28": {4, 27},
		"year=2026/month=03/day=01": {28, 51}, "year=2026/month=03/day=02": {52, 59},
	}
	for day, r := range want {
		d := "/" + dir + "/days/" + day
		out, err := exec.Command("curl", "-sf", webHDFS()+"/webhdfs/v1"+d+"?op=LISTSTATUS").Output()
		if err != nil {
			t.Fatalf("WebHDFS LISTSTATUS %s: %v", d, err)
		}
		var ls struct {
			FileStatuses struct {
				FileStatus []struct{ PathSuffix string }
			}
		}
		if err := json.Unmarshal(out, &ls); err != nil || len(ls.FileStatuses.FileStatus) != 1 {
			t.Fatalf("LISTSTATUS %s = %s (%v), want one file", d, out, err)
		}
		name := ls.FileStatuses.FileStatus[0].PathSuffix
		if wantName := fmt.Sprintf("days+0+%010d+%010d.json", r[0], r[1]); name != wantName {
			t.Errorf("%s holds %s, want %s", day, name, wantName)
		}
		// Read through WebHDFS (redirected to the DataNode) and parse
		// with Python's json module.
		py := exec.Command("sh", "-c", "curl -sfL '"+webHDFS()+"/webhdfs/v1"+d+"/"+name+"?op=OPEN' | "+
			`python3 -c 'import sys, json; print(",".join(str(json.loads(l)["n"]) for l in sys.stdin))'`)
		got, err := py.Output()
		if err != nil {
			t.Fatalf("read %s through WebHDFS and python: %v", name, err)
		}
		var wantNs []string
		for n := r[0]; n <= r[1]; n++ {
			wantNs = append(wantNs, fmt.Sprint(n))
		}
		if strings.TrimSpace(string(got)) != strings.Join(wantNs, ",") {
			t.Errorf("%s read back as %s, want %s", name, got, strings.Join(wantNs, ","))
		}
	}
}
