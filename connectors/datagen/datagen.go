package datagen

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Configuration keys.
const (
	TopicConfig      = "topic"
	KafkaTopicConfig = "kafka.topic" // kafka-connect-datagen's spelling
	QuickstartConfig = "quickstart"
	MaxRecordsConfig = "max.records"
	IterationsConfig = "iterations" // kafka-connect-datagen's spelling
	IntervalConfig   = "interval.ms"
	MaxIntervalCfg   = "max.interval" // kafka-connect-datagen's spelling
	BatchSizeConfig  = "batch.size"
	SeedConfig       = "random.seed"
	TaskIDConfig     = "task.id" // set by TaskConfigs

	TaskField      = "task"
	IterationField = "iteration"
)

var configDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: TopicConfig, Type: plugins.ConfigString, Importance: plugins.High, Group: "Datagen", OrderInGroup: 1,
		Documentation: "Topic to write to (kafka.topic is accepted too)."}).
	Define(plugins.ConfigKey{Name: KafkaTopicConfig, Type: plugins.ConfigString, Importance: plugins.Low, Group: "Datagen", OrderInGroup: 2,
		Documentation: "Alias of topic, for kafka-connect-datagen configs."}).
	Define(plugins.ConfigKey{Name: QuickstartConfig, Type: plugins.ConfigString, Default: "users", Validator: plugins.OneOf(quickstartNames()...),
		Importance: plugins.High, Group: "Datagen", OrderInGroup: 3, Documentation: "Which built-in schema to generate: users, pageviews or orders."}).
	Define(plugins.ConfigKey{Name: MaxRecordsConfig, Type: plugins.ConfigLong, Default: int64(-1), Validator: plugins.AtLeast(-1),
		Importance: plugins.Medium, Group: "Datagen", OrderInGroup: 4, Documentation: "Total number of records to generate across all tasks; -1 for no limit."}).
	Define(plugins.ConfigKey{Name: IterationsConfig, Type: plugins.ConfigLong, Validator: plugins.AtLeast(-1),
		Importance: plugins.Low, Group: "Datagen", OrderInGroup: 5, Documentation: "Alias of max.records, for kafka-connect-datagen configs."}).
	Define(plugins.ConfigKey{Name: IntervalConfig, Type: plugins.ConfigLong, Default: int64(500), Validator: plugins.AtLeast(0),
		Importance: plugins.Medium, Group: "Datagen", OrderInGroup: 6, Documentation: "Milliseconds between records; 0 generates batch.size records per poll."}).
	Define(plugins.ConfigKey{Name: MaxIntervalCfg, Type: plugins.ConfigLong, Validator: plugins.AtLeast(0),
		Importance: plugins.Low, Group: "Datagen", OrderInGroup: 7, Documentation: "Alias of interval.ms, for kafka-connect-datagen configs."}).
	Define(plugins.ConfigKey{Name: BatchSizeConfig, Type: plugins.ConfigInt, Default: 1000, Validator: plugins.Between(1, 1e6),
		Importance: plugins.Low, Group: "Datagen", OrderInGroup: 8, Documentation: "Records per poll when interval.ms is 0."}).
	Define(plugins.ConfigKey{Name: SeedConfig, Type: plugins.ConfigLong, Default: int64(0),
		Importance: plugins.Low, Group: "Datagen", OrderInGroup: 9, Documentation: "Seed of the random generator; 0 seeds from the clock."}).
	Define(plugins.ConfigKey{Name: TaskIDConfig, Type: plugins.ConfigInt, Default: 0, Internal: true,
		Importance: plugins.Low, Documentation: "Set by the connector for each task."})

type settings struct {
	topic      string
	quickstart *quickstart
	maxRecords int64
	interval   time.Duration
	batchSize  int
	seed       uint64
	taskID     int
}

func parse(cfg plugins.Config) (settings, error) {
	p, err := configDef.Parse(cfg)
	if err != nil {
		return settings{}, err
	}
	s := settings{
		topic: p.String(TopicConfig), quickstart: quickstarts[p.String(QuickstartConfig)],
		maxRecords: p.Long(MaxRecordsConfig), interval: time.Duration(p.Long(IntervalConfig)) * time.Millisecond,
		batchSize: p.Int(BatchSizeConfig), seed: uint64(p.Long(SeedConfig)), taskID: p.Int(TaskIDConfig),
	}
	if s.topic == "" {
		s.topic = p.String(KafkaTopicConfig)
	}
	if s.topic == "" {
		return s, fmt.Errorf("Missing required configuration %q which has no default value.", TopicConfig)
	}
	if _, ok := cfg[MaxRecordsConfig]; !ok && cfg[IterationsConfig] != "" {
		s.maxRecords = p.Long(IterationsConfig)
	}
	if _, ok := cfg[IntervalConfig]; !ok && cfg[MaxIntervalCfg] != "" {
		s.interval = time.Duration(p.Long(MaxIntervalCfg)) * time.Millisecond
	}
	return s, nil
}

// Connector generates mock data.
type Connector struct {
	cfg plugins.Config
	s   settings
}

var _ plugins.SourceConnector = (*Connector)(nil)

func (c *Connector) ConfigDef() *plugins.ConfigDef { return configDef }
func (c *Connector) Version() string               { return plugins.Version }
func (c *Connector) Stop() error                   { return nil }
func (c *Connector) NewTask() plugins.SourceTask   { return &Task{} }

// Start validates the configuration.
func (c *Connector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	s, err := parse(cfg)
	if err != nil {
		return fmt.Errorf("datagen: %w", err)
	}
	c.cfg, c.s = maps.Clone(cfg), s
	return nil
}

// TaskConfigs splits max.records over maxTasks tasks, each with its id.
func (c *Connector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	n := max(maxTasks, 1)
	if c.s.maxRecords >= 0 && int64(n) > c.s.maxRecords {
		n = int(max(c.s.maxRecords, 1))
	}
	out := make([]plugins.Config, n)
	for i := range out {
		cfg := maps.Clone(c.cfg)
		cfg[TaskIDConfig] = strconv.Itoa(i)
		delete(cfg, IterationsConfig)
		if c.s.maxRecords >= 0 {
			share := c.s.maxRecords / int64(n)
			if int64(i) < c.s.maxRecords%int64(n) {
				share++
			}
			cfg[MaxRecordsConfig] = strconv.FormatInt(share, 10)
		} else {
			cfg[MaxRecordsConfig] = "-1"
		}
		out[i] = cfg
	}
	return out, nil
}

// idleWait is how long Poll waits when the task has generated
// max.records (or was stopped) before returning nil.
var idleWait = time.Second

// Task generates records. Poll runs on the task goroutine; Stop may come
// from another and wakes a waiting Poll.
type Task struct {
	s         settings
	iteration int64
	next      time.Time
	stopOnce  sync.Once
	stop      chan struct{}
}

// Start resumes the iteration count from the stored offset.
func (t *Task) Start(tctx plugins.SourceTaskContext, cfg plugins.Config) error {
	s, err := parse(cfg)
	if err != nil {
		return fmt.Errorf("datagen task: %w", err)
	}
	t.s, t.stop = s, make(chan struct{})
	if s.seed == 0 {
		t.s.seed = uint64(time.Now().UnixNano())
	}
	if tctx != nil && tctx.Offsets() != nil {
		off, err := tctx.Offsets().Offset(t.partition())
		if err != nil {
			return &plugins.Retriable{Err: fmt.Errorf("datagen: read offset: %w", err)}
		}
		if v, ok := off[IterationField]; ok && v != nil {
			n, err := toInt64(v)
			if err != nil {
				return fmt.Errorf("datagen: offset: %w", err)
			}
			t.iteration = n
		}
	}
	return nil
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) {
			return 0, fmt.Errorf("%v is not an integer", x)
		}
		return int64(x), nil
	case json.Number:
		return x.Int64()
	case string:
		return strconv.ParseInt(x, 10, 64)
	}
	return 0, fmt.Errorf("unexpected type %T", v)
}

func (t *Task) partition() map[string]any { return map[string]any{TaskField: int64(t.s.taskID)} }

func (t *Task) wait(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-t.stop:
	case <-timer.C:
	}
}

func (t *Task) done() bool {
	select {
	case <-t.stop:
		return true
	default:
	}
	return t.s.maxRecords >= 0 && t.iteration >= t.s.maxRecords
}

// Poll returns the next record(s): one per interval.ms, or batch.size at
// once when interval.ms is 0. After max.records it idles.
func (t *Task) Poll(ctx context.Context) ([]plugins.Record, error) {
	if t.done() {
		t.wait(ctx, idleWait)
		return nil, nil
	}
	n := t.s.batchSize
	if t.s.interval > 0 {
		n = 1
		if now := time.Now(); t.next.After(now) {
			t.wait(ctx, t.next.Sub(now))
			if ctx.Err() != nil || t.done() {
				return nil, nil
			}
		}
		t.next = time.Now().Add(t.s.interval)
	}
	if t.s.maxRecords >= 0 {
		n = int(min(int64(n), t.s.maxRecords-t.iteration))
	}
	recs := make([]plugins.Record, 0, n)
	now := time.Now()
	for range n {
		rng := rand.New(rand.NewPCG(t.s.seed, uint64(t.s.taskID)<<48^uint64(t.iteration)))
		key, value := t.s.quickstart.gen(rng, t.iteration, now)
		t.iteration++
		recs = append(recs, plugins.Record{
			Topic: t.s.topic, Partition: -1,
			Key: key, KeySchema: plugins.StringSchema,
			Value: value, ValueSchema: t.s.quickstart.schema,
			Timestamp:       now,
			SourcePartition: t.partition(),
			SourceOffset:    map[string]any{IterationField: t.iteration},
		})
	}
	return recs, nil
}

func (t *Task) CommitRecord(*plugins.Record) error { return nil }
func (t *Task) Commit() error                      { return nil }

// Stop wakes a waiting Poll.
func (t *Task) Stop() error {
	if t.stop != nil {
		t.stopOnce.Do(func() { close(t.stop) })
	}
	return nil
}

func init() {
	plugins.Register(plugins.Registration{
		Class: "io.weir.connect.datagen.DatagenConnector", Type: plugins.PluginSource,
		Aliases: []string{"datagen"}, Doc: "Generate mock records (users, pageviews, orders)",
		New: func() any { return &Connector{} },
	})
}
