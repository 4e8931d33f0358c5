package runtime

// The three state topics, in Kafka Connect's own record formats so a weir
// worker can take over a cluster's topics and Kafka's tools can read ours:
//
//	connect-configs (1 partition, compacted)
//	  connector-<c>           {"properties":{...}}        tombstone = deleted
//	  task-<c>-<n>            {"properties":{...}}        not live until the commit
//	  commit-<c>              {"tasks":N}                 tasks 0..N-1 become live
//	  target-state-<c>        {"state":"STARTED|PAUSED|STOPPED"}
//	  restart-connector-<c>   {"include-tasks":b,"only-failed":b}  (an event)
//	connect-offsets (compacted)
//	  key ["<c>",{partition}] value {offset}                tombstone = reset
//	connect-status (compacted)
//	  status-connector-<c>    {"state","trace","worker_id","generation"}
//	  status-task-<c>-<n>     same
//	  status-topic-<t>:connector-<c>  {"topic":{"name","connector","task","discoverTimestamp"}}

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TargetState is what the user asked a connector to be.
type TargetState string

// Target states, as stored in the config topic.
const (
	TargetStarted TargetState = "STARTED"
	TargetPaused  TargetState = "PAUSED"
	TargetStopped TargetState = "STOPPED"
)

// restartRequest is an event read from the config topic.
type restartRequest struct {
	Connector    string `json:"-"`
	IncludeTasks bool   `json:"include-tasks"`
	OnlyFailed   bool   `json:"only-failed"`
	// Task, when set, restarts just that task (a weir extension; Kafka
	// forwards single-task restarts over REST instead).
	Task *int `json:"task,omitempty"`
}

// configSnapshot is an immutable view of the config topic.
type configSnapshot struct {
	connectors map[string]map[string]string // raw configs, secrets unresolved
	targets    map[string]TargetState
	tasks      map[string][]map[string]string // committed task configs
	order      []string                       // connector names in creation order
	// born is, per connector, the config-topic offset of the record that
	// created it: a connector deleted and created again with the same
	// config between two herder passes is a new connector all the same.
	born   map[string]int64
	offset int64 // next config-topic offset
}

func (s *configSnapshot) target(c string) TargetState {
	if t, ok := s.targets[c]; ok {
		return t
	}
	return TargetStarted
}

// names lists the connectors in the order they were created (a connector
// deleted and created again counts as new), as GET /connectors shows them.
func (s *configSnapshot) names() []string {
	return append([]string{}, s.order...)
}

// configStore folds the config topic into snapshots.
type configStore struct {
	mu       sync.Mutex
	cur      configSnapshot
	pending  map[string]map[int]map[string]string
	onChange func(restart *restartRequest)
	// onMalformed hears about every record that is skipped because it
	// cannot be understood (Kafka's KafkaConfigBackingStore logs and
	// ignores them too); it is called without mu held.
	onMalformed func(key string, offset int64, reason string)
}

func newConfigStore() *configStore {
	return &configStore{
		cur:     configSnapshot{connectors: map[string]map[string]string{}, targets: map[string]TargetState{}, tasks: map[string][]map[string]string{}},
		pending: map[string]map[int]map[string]string{},
	}
}

// snapshot returns the current state; callers must not modify it.
func (s *configStore) snapshot() *configSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cur
	return &c
}

// configValue is the union of the config topic's value shapes.
type configValue struct {
	Properties map[string]string `json:"properties"`
	Tasks      *int              `json:"tasks"`
	State      string            `json:"state"`
	StateV2    string            `json:"state.v2"`
}

// Keys Kafka Connect writes to the config topic that weir does not use;
// they are skipped silently (a weir worker may share a Kafka Connect
// cluster's topic).
var ignoredConfigKeys = []string{"session-key", "logger-cluster-"}

// apply folds one record. It copies on write so snapshots stay immutable.
// A record it cannot understand (undecodable JSON, a connector or task
// without properties, a commit without a task count) changes nothing: it
// must never turn into an empty or nil config.
func (s *configStore) apply(r *kgo.Record) {
	key := string(r.Key)
	var restart *restartRequest
	malformed := ""
	s.mu.Lock()
	next := s.cur
	next.offset = r.Offset + 1
	var props configValue
	if r.Value != nil {
		if err := json.Unmarshal(r.Value, &props); err != nil {
			malformed = "undecodable value: " + err.Error()
		}
	}
	switch {
	case malformed != "":
	case strings.HasPrefix(key, "connector-"):
		c := strings.TrimPrefix(key, "connector-")
		next.connectors = maps.Clone(next.connectors)
		switch {
		case r.Value == nil:
			delete(next.connectors, c)
			next.targets = maps.Clone(next.targets)
			delete(next.targets, c)
			next.tasks = maps.Clone(next.tasks)
			delete(next.tasks, c)
			delete(s.pending, c)
		case props.Properties == nil:
			malformed = `connector config without "properties"`
		default:
			next.connectors[c] = props.Properties
		}
		if _, had := s.cur.connectors[c]; had != (next.connectors[c] != nil) {
			next.order = slices.DeleteFunc(slices.Clone(next.order), func(n string) bool { return n == c })
			next.born = maps.Clone(next.born)
			if next.born == nil {
				next.born = map[string]int64{}
			}
			delete(next.born, c)
			if !had {
				next.order = append(next.order, c)
				next.born[c] = r.Offset
			}
		}
	case strings.HasPrefix(key, "target-state-"):
		c := strings.TrimPrefix(key, "target-state-")
		st := props.StateV2
		if st == "" {
			st = props.State
		}
		switch TargetState(st) {
		case TargetStarted, TargetPaused, TargetStopped:
			next.targets = maps.Clone(next.targets)
			next.targets[c] = TargetState(st)
		default:
			if r.Value != nil {
				malformed = fmt.Sprintf("unknown target state %q", st)
				break
			}
			next.targets = maps.Clone(next.targets)
			delete(next.targets, c)
		}
	case strings.HasPrefix(key, "task-"):
		rest := strings.TrimPrefix(key, "task-")
		i := strings.LastIndexByte(rest, '-')
		if r.Value == nil {
			break // Kafka never writes task tombstones; nothing to undo
		}
		n, err := -1, error(nil)
		if i >= 0 {
			n, err = strconv.Atoi(rest[i+1:])
		}
		switch {
		case i < 0 || err != nil || n < 0:
			malformed = "task key without a task number"
		case props.Properties == nil:
			malformed = `task config without "properties"`
		default:
			c := rest[:i]
			if s.pending[c] == nil {
				s.pending[c] = map[int]map[string]string{}
			}
			s.pending[c][n] = props.Properties
		}
	case strings.HasPrefix(key, "commit-"):
		c := strings.TrimPrefix(key, "commit-")
		if r.Value == nil {
			break
		}
		if props.Tasks == nil || *props.Tasks < 0 {
			malformed = `task commit without a non-negative "tasks" count`
			break
		}
		tasks := make([]map[string]string, *props.Tasks)
		complete := true
		for n := range tasks {
			t, ok := s.pending[c][n]
			if !ok {
				if old := s.cur.tasks[c]; n < len(old) {
					t, ok = old[n], true
				}
			}
			if !ok {
				complete = false
				break
			}
			tasks[n] = t
		}
		if !complete {
			break // Kafka marks this "inconsistent" and waits for a new commit
		}
		next.tasks = maps.Clone(next.tasks)
		next.tasks[c] = tasks
		delete(s.pending, c)
	case strings.HasPrefix(key, "restart-connector-"):
		if r.Value == nil {
			break
		}
		restart = &restartRequest{Connector: strings.TrimPrefix(key, "restart-connector-")}
		if err := json.Unmarshal(r.Value, restart); err != nil {
			restart, malformed = nil, "undecodable restart request: "+err.Error()
		}
	default:
		known := false
		for _, p := range ignoredConfigKeys {
			known = known || strings.HasPrefix(key, p)
		}
		if !known {
			malformed = "unknown key"
		}
	}
	if malformed != "" {
		next = s.cur // nothing of this record takes effect
		next.offset = r.Offset + 1
	}
	s.cur = next
	cb, bad := s.onChange, s.onMalformed
	s.mu.Unlock()
	if malformed != "" && bad != nil {
		bad(key, r.Offset, malformed)
	}
	if cb != nil {
		cb(restart)
	}
}

// ConnectorStatus / TaskStatus are the status topic's values.
type stateRecord struct {
	State      string  `json:"state"`
	Trace      *string `json:"trace"`
	WorkerID   string  `json:"worker_id"`
	Generation int64   `json:"generation"`
	Version    string  `json:"version,omitempty"`
}

type topicStatus struct {
	Topic struct {
		Name      string `json:"name"`
		Connector string `json:"connector"`
		Task      int    `json:"task"`
		Discover  int64  `json:"discoverTimestamp"`
	} `json:"topic"`
}

// statusStore folds the status topic.
type statusStore struct {
	mu         sync.Mutex
	connectors map[string]stateRecord
	tasks      map[string]map[int]stateRecord
	topics     map[string]map[string]bool // connector -> active topics
}

func newStatusStore() *statusStore {
	return &statusStore{connectors: map[string]stateRecord{}, tasks: map[string]map[int]stateRecord{}, topics: map[string]map[string]bool{}}
}

func (s *statusStore) apply(r *kgo.Record) {
	key := string(r.Key)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case strings.HasPrefix(key, "status-connector-"):
		c := strings.TrimPrefix(key, "status-connector-")
		if r.Value == nil {
			delete(s.connectors, c)
			return
		}
		var st stateRecord
		if json.Unmarshal(r.Value, &st) == nil {
			if prev, ok := s.connectors[c]; ok && prev.Generation > st.Generation && prev.WorkerID != st.WorkerID {
				return
			}
			s.connectors[c] = st
		}
	case strings.HasPrefix(key, "status-task-"):
		rest := strings.TrimPrefix(key, "status-task-")
		i := strings.LastIndexByte(rest, '-')
		if i < 0 {
			return
		}
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil {
			return
		}
		c := rest[:i]
		if r.Value == nil {
			delete(s.tasks[c], n)
			return
		}
		var st stateRecord
		if json.Unmarshal(r.Value, &st) == nil {
			if s.tasks[c] == nil {
				s.tasks[c] = map[int]stateRecord{}
			}
			if prev, ok := s.tasks[c][n]; ok && prev.Generation > st.Generation && prev.WorkerID != st.WorkerID {
				return // a stale report from a worker that no longer owns the task
			}
			s.tasks[c][n] = st
		}
	case strings.HasPrefix(key, "status-topic-"):
		rest := strings.TrimPrefix(key, "status-topic-")
		i := strings.LastIndex(rest, ":connector-")
		if i < 0 {
			return
		}
		t, c := rest[:i], rest[i+len(":connector-"):]
		if r.Value == nil {
			delete(s.topics[c], t)
			return
		}
		if s.topics[c] == nil {
			s.topics[c] = map[string]bool{}
		}
		s.topics[c][t] = true
	}
}

func (s *statusStore) connector(c string) (stateRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.connectors[c]
	return st, ok
}

func (s *statusStore) task(c string, n int) (stateRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.tasks[c][n]
	return st, ok
}

func (s *statusStore) activeTopics(c string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.topics[c]))
}

// sourceOffset is one entry of the offsets topic.
type sourceOffset struct {
	Partition map[string]any `json:"partition"`
	Offset    map[string]any `json:"offset"`
}

// offsetStore folds the offsets topic: connector -> partition key -> offset.
type offsetStore struct {
	mu sync.Mutex
	m  map[string]map[string]sourceOffset
}

func newOffsetStore() *offsetStore { return &offsetStore{m: map[string]map[string]sourceOffset{}} }

// offsetKey is Kafka Connect's key: the JSON array [connector, partition],
// written by a schemaless JsonConverter. encoding/json sorts map keys, so
// equal partitions always give equal keys.
func offsetKey(connector string, partition map[string]any) ([]byte, error) {
	return json.Marshal([]any{connector, partition})
}

func (s *offsetStore) apply(r *kgo.Record) {
	var key []json.RawMessage
	if json.Unmarshal(r.Key, &key) != nil || len(key) != 2 {
		return
	}
	var c string
	var part map[string]any
	if json.Unmarshal(key[0], &c) != nil || decodeJSON(key[1], &part) != nil {
		return
	}
	canon, err := offsetKey(c, part)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Value == nil {
		delete(s.m[c], string(canon))
		return
	}
	var off map[string]any
	if decodeJSON(r.Value, &off) != nil {
		return
	}
	if s.m[c] == nil {
		s.m[c] = map[string]sourceOffset{}
	}
	s.m[c][string(canon)] = sourceOffset{Partition: part, Offset: off}
}

func (s *offsetStore) get(c string, partition map[string]any) (map[string]any, bool) {
	k, err := offsetKey(c, partition)
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.m[c][string(k)]
	return o.Offset, ok
}

func (s *offsetStore) all(c string) []sourceOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(s.m[c]))
	out := make([]sourceOffset, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.m[c][k])
	}
	return out
}

// decodeJSON decodes numbers as json.Number-free Go values but keeps
// integers integral (int64) so offsets round-trip exactly.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	fixNumbers(v)
	return nil
}

func fixNumbers(v any) {
	switch x := v.(type) {
	case *map[string]any:
		if *x != nil {
			for k, e := range *x {
				(*x)[k] = normNumber(e)
			}
		}
	case *[]any:
		for i, e := range *x {
			(*x)[i] = normNumber(e)
		}
	}
}

func normNumber(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = normNumber(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normNumber(e)
		}
		return x
	}
	return v
}
