package runtime

import (
	"strings"
	"testing"
	"time"
)

// TestRetriableErrorShowsInTrace: while a task keeps retrying a retriable
// error it stays RUNNING and its status trace says why; once it recovers
// the trace clears.
func TestRetriableErrorShowsInTrace(t *testing.T) {
	c := startCluster(t)
	w := c.startWorker(t, nil)
	name := "retrying"
	r := call(t, "PUT", w.url+"/connectors/"+name+"/config", map[string]string{
		"connector.class": "io.weir.test.TestSourceConnector", "topic": c.topic("retry"),
		"count": "5", "retriable.polls": "3", "errors.retry.max.delay.ms": "400",
	})
	expectCode(t, r, 201, "create")
	eventually(t, 20*time.Second, "a RUNNING task with the retriable cause in its trace", func() (bool, string) {
		st := connectorStatus(t, w.url, name)
		if len(st.Tasks) == 1 && st.Tasks[0].State == stateRunning && st.Tasks[0].Trace != nil &&
			strings.Contains(*st.Tasks[0].Trace, "retrying poll") && strings.Contains(*st.Tasks[0].Trace, "not yet") {
			return true, ""
		}
		return false, statusString(st)
	})
	eventually(t, 20*time.Second, "the trace to clear after the task recovered", func() (bool, string) {
		st := connectorStatus(t, w.url, name)
		return len(st.Tasks) == 1 && st.Tasks[0].State == stateRunning && st.Tasks[0].Trace == nil, statusString(st)
	})
	if got := len(consumeAll(t, c.addr, c.topic("retry"), 5, 10*time.Second)); got != 5 {
		t.Fatalf("%d records after recovery, want 5", got)
	}
}

func statusString(st connectorStateInfo) string {
	var b strings.Builder
	b.WriteString(st.Connector.State)
	for _, ts := range st.Tasks {
		b.WriteString(" task " + ts.State)
		if ts.Trace != nil {
			b.WriteString(" trace=" + *ts.Trace)
		}
	}
	return b.String()
}
