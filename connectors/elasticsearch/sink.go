package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
)

// SinkConnector is the ElasticsearchSink connector.
type SinkConnector struct{ cfg plugins.Config }

var _ plugins.SinkConnector = (*SinkConnector)(nil)

func (c *SinkConnector) ConfigDef() *plugins.ConfigDef { return configDef }
func (c *SinkConnector) Version() string               { return plugins.Version }
func (c *SinkConnector) Stop() error                   { return nil }
func (c *SinkConnector) NewTask() plugins.SinkTask     { return &SinkTask{} }

// Start validates the configuration.
func (c *SinkConnector) Start(_ plugins.ConnectorContext, cfg plugins.Config) error {
	if _, err := parse(cfg); err != nil {
		return fmt.Errorf("ElasticsearchSink: %w", err)
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs gives every task the same configuration: the consumer group
// spreads the partitions.
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]plugins.Config, error) {
	return plugins.SinkTaskConfigs(c.cfg, maxTasks), nil
}

// SinkTask buffers what Put hands it and writes it in background bulk
// requests (see pipeline); PreCommit reports per partition only offsets
// whose documents are all acknowledged. Put, PreCommit, Open, Close and
// Stop run on the task goroutine.
type SinkTask struct {
	s        *settings
	tctx     plugins.SinkTaskContext
	log      *slog.Logger
	client   *es.BaseClient
	conv     *jsonconv.JSONConverter
	keyConv  *jsonconv.JSONConverter
	tolerate bool
	indices  map[string]bool // indices and data streams known to exist
	ctx      context.Context // the task's life: bulk requests in the background end with it
	cancel   context.CancelFunc
	p        pipeline
}

var _ plugins.SinkTask = (*SinkTask)(nil)

// Start reads the configuration and builds the client (no request yet:
// Elasticsearch being down is a retriable Put, not a failed start).
func (t *SinkTask) Start(tctx plugins.SinkTaskContext, cfg plugins.Config) error {
	s, err := parse(cfg)
	if err != nil {
		return fmt.Errorf("ElasticsearchSink task: %w", err)
	}
	t.s, t.tctx = s, tctx
	t.log = slog.With("connector", cfg["name"])
	t.tolerate = strings.EqualFold(strings.TrimSpace(cfg["errors.tolerance"]), "all")
	if t.client, err = newClient(s); err != nil {
		return fmt.Errorf("ElasticsearchSink task: client: %w", err)
	}
	t.conv = jsonconv.NewJSONConverter()
	if err := t.conv.Configure(plugins.Config{"schemas.enable": "false", "decimal.format": "NUMERIC"}, false); err != nil {
		return err
	}
	t.keyConv = jsonconv.NewJSONConverter()
	if err := t.keyConv.Configure(plugins.Config{"schemas.enable": "false", "decimal.format": "NUMERIC"}, true); err != nil {
		return err
	}
	t.indices = map[string]bool{}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.initPipeline()
	return nil
}

func (t *SinkTask) Open([]plugins.TopicPartition) error { return nil }

// Close: documents of the revoked partitions still buffered or in flight
// are written anyway (harmless: every write is idempotent); the runtime
// committed only what PreCommit called safe.
func (t *SinkTask) Close([]plugins.TopicPartition) error { return nil }

// PreCommit handles finished bulk requests, resends those that failed
// transiently, and caps every offset at its partition's lowest document
// not yet acknowledged. It first waits for every buffered document with
// flush.synchronously=true, and when a document's topic is not among
// cur's: a transform renamed it (RegexRouter choosing the index), which
// hides the partition it was read from, so no cap could be computed.
func (t *SinkTask) PreCommit(ctx context.Context, cur map[plugins.TopicPartition]int64) (map[plugins.TopicPartition]int64, error) {
	if err := t.process(); err != nil {
		return nil, err
	}
	if t.s.flushSync || t.foreignPending(cur) {
		if err := t.drain(ctx); err != nil {
			return nil, err
		}
	} else if err := t.resend(ctx); err != nil {
		return nil, err
	}
	return t.safeOffsets(cur), nil
}

func (t *SinkTask) Stop() error {
	if t.cancel != nil {
		t.cancel()
	}
	if t.p.sem != nil {
		t.p.mu.Lock()
		if t.p.linger != nil {
			t.p.linger.Stop()
			t.p.linger = nil
		}
		t.p.mu.Unlock()
	}
	return nil
}

// doc is one bulk item: its action line, source line (nil for deletes) and
// the record it came from.
type doc struct {
	rec    plugins.Record // a shallow copy: the runtime's batch is not ours after Put
	index  string
	id     string
	action []byte
	source []byte
}

// Put turns recs into bulk items and buffers them; full batches go out
// in the background. It first handles finished requests (a fatal outcome
// fails Put) and resends those that failed transiently: if they still
// fail, Put returns Retriable without taking recs, so the runtime's
// redelivery of the same batch is exact. It blocks while more than
// max.buffered.records documents are unacknowledged (backpressure).
func (t *SinkTask) Put(ctx context.Context, recs []plugins.Record) error {
	if err := t.process(); err != nil {
		return err
	}
	if err := t.resend(ctx); err != nil {
		return err
	}
	// One slab of items per batch rather than an allocation per record.
	slab := make([]doc, len(recs))
	docs := make([]*doc, 0, len(recs))
	for i := range recs {
		d := &slab[i]
		ok, err := t.fillDoc(d, &recs[i])
		if err != nil {
			return err
		}
		if ok {
			docs = append(docs, d)
		}
	}
	if len(docs) > 0 {
		ictx, cancel := context.WithTimeout(ctx, t.s.flushTimeout)
		err := t.ensureIndices(ictx, docs)
		cancel()
		if err != nil {
			return err
		}
	}
	t.enqueue(recs, docs)
	if t.s.upsert || len(recs) < t.s.maxPoll {
		// Partial updates carry no version: their order is the
		// partition's, so they are written before Put returns. A poll
		// shorter than max.poll.records means the backlog is consumed:
		// the next Put may be far off (the runtime calls Put only with
		// records), and an outcome that fails the task (a malformed
		// document with behavior.on.malformed.documents=fail) must not
		// wait for it. A Retriable here makes the runtime redeliver recs,
		// which are written twice: harmless, every write is idempotent.
		return t.drain(ctx)
	}
	if err := t.wait(ctx, func(p *pipeline) bool {
		return p.fatal != nil || len(p.finished) > 0 || p.pendingLocked() <= t.s.maxBuffered
	}); err != nil {
		return &plugins.Retriable{Err: fmt.Errorf("waiting for Elasticsearch to acknowledge buffered documents: %w", err)}
	}
	return t.process()
}

// indexName is the topic lower-cased, or the data stream
// <type>-<dataset>-<namespace> (data.stream.namespace, ${topic} the
// topic lower-cased).
func (t *SinkTask) indexName(topic string) string {
	if t.s.dsType != "" {
		return t.s.dsType + "-" + t.s.dsDataset + "-" + strings.ReplaceAll(t.s.dsNamespace, "${topic}", strings.ToLower(topic))
	}
	return strings.ToLower(topic)
}

// keyIgnored: key.ignore, or the topic is in topic.key.ignore.
func (t *SinkTask) keyIgnored(topic string) bool { return t.s.keyIgnore || t.s.keyIgnoreTopics[topic] }

// schemaIgnored: schema.ignore, or the topic is in topic.schema.ignore.
func (t *SinkTask) schemaIgnored(topic string) bool {
	return t.s.schemaIgnore || t.s.schemaIgnoreTopics[topic]
}

// version is rec's external version: its offset, or the number in
// external.version.header.
func (t *SinkTask) version(rec *plugins.Record) (int64, error) {
	if t.s.versionHeader == "" {
		return rec.Offset, nil
	}
	for i := len(rec.Headers) - 1; i >= 0; i-- {
		h := rec.Headers[i]
		if h.Key != t.s.versionHeader {
			continue
		}
		switch v := h.Value.(type) {
		case int8, int16, int32, int64, int:
			return strconv.ParseInt(fmt.Sprint(v), 10, 64)
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				return n, nil
			}
		case []byte:
			if n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64); err == nil {
				return n, nil
			}
		}
		return 0, fmt.Errorf("record %s-%d@%d: header %s=%v is not a number (%s)", rec.Topic, rec.Partition, rec.Offset, h.Key, h.Value, ExternalVersionHeader)
	}
	return 0, fmt.Errorf("record %s-%d@%d has no header %s (%s)", rec.Topic, rec.Partition, rec.Offset, t.s.versionHeader, ExternalVersionHeader)
}

// fillDoc makes *d the bulk item of rec (Put fills one slab of docs per
// batch); false: nothing to write.
func (t *SinkTask) fillDoc(d *doc, rec *plugins.Record) (bool, error) {
	*d = doc{rec: *rec, index: t.indexName(rec.Topic)}
	versioned := false
	var ver int64
	noKey := t.keyIgnored(rec.Topic) || t.s.autoIDs
	if noKey || t.s.dsType != "" {
		if !t.s.autoIDs {
			d.id = rec.Topic + "+" + strconv.Itoa(int(rec.Partition)) + "+" + strconv.FormatInt(rec.Offset, 10)
		}
	} else {
		if rec.Key == nil {
			if t.s.dropInvalid {
				t.log.Warn("elasticsearch sink: dropping a record with a null key (key.ignore=false)", "topic", rec.Topic, "partition", rec.Partition, "offset", rec.Offset)
				return false, nil
			}
			return false, fmt.Errorf("record %s-%d@%d has a null key, which key.ignore=false needs as the document id (set key.ignore=true or drop.invalid.message=true)",
				rec.Topic, rec.Partition, rec.Offset)
		}
		id, err := t.keyID(rec)
		if err != nil {
			return false, err
		}
		d.id = id
		if versioned = !t.s.upsert; versioned {
			if ver, err = t.version(rec); err != nil {
				if t.s.dropInvalid {
					t.log.Warn("elasticsearch sink: dropping a record without a usable external version", "err", err)
					return false, nil
				}
				return false, err
			}
		}
	}
	if rec.Value == nil {
		switch t.s.onNull {
		case "ignore":
			return false, nil
		case "fail":
			return false, fmt.Errorf("record %s-%d@%d has a null value and %s=fail", rec.Topic, rec.Partition, rec.Offset, BehaviorOnNull)
		}
		if noKey {
			// No key, no document to delete: Confluent ignores these too.
			return false, nil
		}
		d.action = t.actionLine("delete", d, versioned, ver)
		return true, nil
	}
	src, err := t.source(rec)
	if err != nil {
		return false, err
	}
	op := "index"
	switch {
	case t.s.dsType != "":
		op = "create"
	case t.s.upsert:
		op = "update"
		src = append(append([]byte(`{"doc":`), src...), `,"doc_as_upsert":true}`...)
	}
	d.action = t.actionLine(op, d, versioned, ver)
	d.source = append(src, '\n')
	return true, nil
}

// actionLine is d's bulk action line, {"<op>":{"_index":…}}\n, in one
// allocation of the size it needs for plain ids (the bench profile had
// the bytes.Buffer growing twice and the version's string per document).
func (t *SinkTask) actionLine(op string, d *doc, versioned bool, version int64) []byte {
	b := make([]byte, 0, len(op)+len(d.index)+len(d.id)+len(`{"":{"_index":"","_id":"","version":,"version_type":"external"}}`)+21)
	b = append(b, `{"`...)
	b = append(b, op...)
	b = append(b, `":{"_index":`...)
	b = appendJSONString(b, d.index)
	if d.id != "" {
		b = append(b, `,"_id":`...)
		b = appendJSONString(b, d.id)
	}
	if versioned {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, version, 10)
		b = append(b, `,"version_type":"external"`...)
	}
	return append(b, "}}\n"...)
}

// appendJSONString appends s as a JSON string: printable ASCII without
// quotes or backslashes as it is (every index name and most ids),
// anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// keyID renders the key as Confluent does: strings as they are, other
// primitives in their text form; structs and maps (which Confluent
// refuses) as their JSON.
func (t *SinkTask) keyID(rec *plugins.Record) (string, error) {
	switch k := rec.Key.(type) {
	case string:
		return k, nil
	case bool:
		return strconv.FormatBool(k), nil
	case int8, int16, int32, int64, int:
		return fmt.Sprint(k), nil
	case float32:
		return strconv.FormatFloat(float64(k), 'g', -1, 32), nil
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), nil
	}
	b, err := t.keyConv.FromConnect(rec.Topic, rec.KeySchema, rec.Key)
	if err != nil {
		return "", fmt.Errorf("record %s-%d@%d: key as a document id: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	return string(b), nil
}

// source is the document JSON of rec's value; data streams get @timestamp.
func (t *SinkTask) source(rec *plugins.Record) ([]byte, error) {
	schema := rec.ValueSchema
	if t.schemaIgnored(rec.Topic) {
		schema = nil
	}
	b, err := t.conv.FromConnect(rec.Topic, schema, rec.Value)
	if err != nil && schema == nil && rec.ValueSchema != nil {
		// schema.ignore=true with a struct: it needs its schema to become JSON.
		b, err = t.conv.FromConnect(rec.Topic, rec.ValueSchema, rec.Value)
	}
	if err != nil {
		return nil, fmt.Errorf("record %s-%d@%d: value to JSON: %w", rec.Topic, rec.Partition, rec.Offset, err)
	}
	if t.s.dsType == "" {
		return b, nil
	}
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("record %s-%d@%d: a data stream document must be a JSON object, got %.40s", rec.Topic, rec.Partition, rec.Offset, b)
	}
	ts := ""
	for _, f := range t.s.dsTimestamp {
		if v := field(rec.Value, f); v != nil {
			j, err := t.conv.FromConnect(rec.Topic, nil, v)
			if err == nil {
				ts = string(j)
				break
			}
		}
	}
	if ts == "" {
		if field(rec.Value, "@timestamp") != nil {
			return b, nil
		}
		at := rec.Timestamp
		if at.IsZero() {
			at = time.Now()
		}
		ts = strconv.FormatInt(at.UnixMilli(), 10)
	}
	out := make([]byte, 0, len(b)+len(ts)+16)
	out = append(out, `{"@timestamp":`...)
	out = append(out, ts...)
	if len(b) > 2 {
		out = append(out, ',')
	}
	return append(out, b[1:]...), nil
}

func field(v any, name string) any {
	switch x := v.(type) {
	case *plugins.Struct:
		if x.Schema().Field(name) == nil {
			return nil
		}
		return x.Get(name)
	case map[string]any:
		return x[name]
	}
	return nil
}

// ensureIndices creates missing indices with mappings from the value
// schema (schema.ignore=false) and missing data streams.
func (t *SinkTask) ensureIndices(ctx context.Context, docs []*doc) error {
	for _, d := range docs {
		if t.indices[d.index] {
			continue
		}
		var err error
		if t.s.dsType != "" {
			err = t.ensureDataStream(ctx, d.index)
		} else if !t.schemaIgnored(d.rec.Topic) && d.rec.ValueSchema != nil && d.rec.ValueSchema.Type == plugins.TypeStruct {
			err = t.createIndex(ctx, d.index, d.rec.ValueSchema)
		} else {
			t.indices[d.index] = true
			continue
		}
		if err != nil {
			if transient(err) {
				return &plugins.Retriable{Err: err}
			}
			return err
		}
		t.indices[d.index] = true
	}
	return nil
}

func (t *SinkTask) createIndex(ctx context.Context, index string, s *plugins.Schema) error {
	m, err := mapping(s)
	if err != nil {
		return fmt.Errorf("mapping of index %s from the value schema: %w", index, err)
	}
	body, _ := json.Marshal(map[string]any{"mappings": m})
	ctx, cancel := t.reqCtx(ctx)
	defer cancel()
	res, err := esapi.IndicesCreateRequest{Index: index, Body: bytes.NewReader(body)}.Do(ctx, t.client)
	if err != nil {
		return fmt.Errorf("create index %s: %w", index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		he := readError(res.StatusCode, res.Header, res.Body)
		if strings.Contains(he.body, "resource_already_exists_exception") {
			return nil
		}
		return fmt.Errorf("create index %s: %w", index, he)
	}
	t.log.Info("elasticsearch sink: created index with a mapping from the value schema", "index", index)
	return nil
}

// ensureDataStream creates the data stream, and an index template for it
// when none matches (a bare Elasticsearch has no logs-*-* template).
func (t *SinkTask) ensureDataStream(ctx context.Context, name string) error {
	create := func() (*httpError, error) {
		ctx, cancel := t.reqCtx(ctx)
		defer cancel()
		res, err := esapi.IndicesCreateDataStreamRequest{Name: name}.Do(ctx, t.client)
		if err != nil {
			return nil, fmt.Errorf("create data stream %s: %w", name, err)
		}
		defer res.Body.Close()
		if res.IsError() {
			return readError(res.StatusCode, res.Header, res.Body), nil
		}
		return nil, nil
	}
	he, err := create()
	if err != nil || he == nil || strings.Contains(he.body, "resource_already_exists_exception") {
		return err
	}
	if strings.Contains(he.body, "no handler found") {
		// No data-streams REST module (Elasticsearch's integ-test-zip):
		// a matching template makes the first write create the stream.
		return t.putStreamTemplate(ctx, name)
	}
	if !strings.Contains(he.body, "index template") {
		return fmt.Errorf("create data stream %s: %w", name, he)
	}
	if err := t.putStreamTemplate(ctx, name); err != nil {
		return err
	}
	if he, err = create(); err != nil {
		return err
	}
	if he != nil && !strings.Contains(he.body, "resource_already_exists_exception") {
		return fmt.Errorf("create data stream %s: %w", name, he)
	}
	t.log.Info("elasticsearch sink: created data stream", "name", name)
	return nil
}

// putStreamTemplate creates the index template weir-<name> making name a
// data stream (kept when it exists).
func (t *SinkTask) putStreamTemplate(ctx context.Context, name string) error {
	tmpl, _ := json.Marshal(map[string]any{
		"index_patterns": []string{name}, "data_stream": map[string]any{}, "priority": 200,
		"template": map[string]any{"mappings": map[string]any{"properties": map[string]any{"@timestamp": map[string]any{"type": "date"}}}},
	})
	create := true
	ctx, cancel := t.reqCtx(ctx)
	defer cancel()
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: "weir-" + name, Body: bytes.NewReader(tmpl), Create: &create}.Do(ctx, t.client)
	if err != nil {
		return fmt.Errorf("index template for data stream %s: %w", name, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		he := readError(res.StatusCode, res.Header, res.Body)
		if strings.Contains(he.body, "already exists") {
			return nil
		}
		return fmt.Errorf("index template for data stream %s: %w", name, he)
	}
	t.log.Info("elasticsearch sink: created an index template for the data stream", "name", name, "template", "weir-"+name)
	return nil
}
