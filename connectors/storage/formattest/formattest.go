// Package formattest is the one test body of the Avro and Parquet formats
// that the S3 and HDFS sinks run against their real systems (versitygw,
// MiniDFSCluster): records with a Connect schema, as the JSON converter
// with schemas.enable makes them, go through the sink's Task; the files
// are read back by fastavro and pyarrow (test/services/pyreaders).
package formattest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
	"github.com/weirlog/weir/test/services/pyreaders"
)

// Sink is what Run needs of a backend.
type Sink struct {
	NewBackend func(plugins.Config) (*storage.Backend, error)
	Config     plugins.Config // connection keys
	// AvroClass and ParquetClass are the backend's Confluent class names.
	AvroClass, ParquetClass string
	// Files returns every file under topicsDir, path → content.
	Files func(t *testing.T, topicsDir string) map[string][]byte
	// Codecs limits the cases run (nil: all).
	Codecs []string
	// PlainParquetExt: Parquet files are named .parquet whatever the
	// codec (HDFS), not .snappy.parquet (S3).
	PlainParquetExt bool
}

// Case is one format and codec.
type Case struct {
	Name      string // "avro-snappy"
	Class     func(Sink) string
	Key, Val  string // codec key and value
	Ext       string
	ReadCodec string // what the Python reader reports
}

// Cases are every format and codec weir writes.
var Cases = []Case{
	{"avro-null", avroClass, "avro.codec", "null", ".avro", "null"},
	{"avro-deflate", avroClass, "avro.codec", "deflate", ".avro", "deflate"},
	{"avro-snappy", avroClass, "avro.codec", "snappy", ".avro", "snappy"},
	{"avro-zstandard", avroClass, "avro.codec", "zstandard", ".avro", "zstandard"},
	{"parquet-none", parquetClass, "parquet.codec", "none", ".parquet", "UNCOMPRESSED"},
	{"parquet-snappy", parquetClass, "parquet.codec", "snappy", ".snappy.parquet", "SNAPPY"},
	{"parquet-gzip", parquetClass, "parquet.codec", "gzip", ".gz.parquet", "GZIP"},
	{"parquet-zstd", parquetClass, "parquet.codec", "zstd", ".zstd.parquet", "ZSTD"},
}

func avroClass(s Sink) string    { return s.AvroClass }
func parquetClass(s Sink) string { return s.ParquetClass }

type dlqCtx struct {
	mu   sync.Mutex
	errs []error
}

func (*dlqCtx) Assignment() []plugins.TopicPartition    { return nil }
func (*dlqCtx) Pause(...plugins.TopicPartition)         {}
func (*dlqCtx) Resume(...plugins.TopicPartition)        {}
func (*dlqCtx) RequestCommit()                          {}
func (*dlqCtx) Offset(map[plugins.TopicPartition]int64) {}
func (c *dlqCtx) ErrantRecordReporter() func(*plugins.Record, error) {
	return func(_ *plugins.Record, err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.errs = append(c.errs, err)
	}
}

// The value schema, in the JSON converter's form; v2 adds an optional
// field (a schema change).
func schemaJSON(v2 bool) map[string]any {
	fields := []any{
		map[string]any{"field": "id", "type": "int64"},
		map[string]any{"field": "name", "type": "string"},
		map[string]any{"field": "tiny", "type": "int8"},
		map[string]any{"field": "price", "type": "bytes", "name": plugins.DecimalName, "version": 1,
			"parameters": map[string]any{"scale": "2", "connect.decimal.precision": "10"}},
		map[string]any{"field": "day", "type": "int32", "name": plugins.DateName, "version": 1},
		map[string]any{"field": "ts", "type": "int64", "name": plugins.TimestampName, "version": 1},
		map[string]any{"field": "tags", "type": "array", "items": map[string]any{"type": "string"}},
		map[string]any{"field": "note", "type": "string", "optional": true},
		map[string]any{"field": "addr", "type": "struct", "name": "com.example.Address", "fields": []any{
			map[string]any{"field": "city", "type": "string"}}},
	}
	if v2 {
		fields = append(fields, map[string]any{"field": "email", "type": "string", "optional": true})
	}
	return map[string]any{"type": "struct", "name": "com.example.Order", "version": map[bool]int{false: 1, true: 2}[v2], "fields": fields}
}

const day0 = 20400 // 2025-11-08

func payload(i int, v2 bool) map[string]any {
	p := map[string]any{
		"id": i, "name": fmt.Sprintf("user-%d", i), "tiny": -i,
		"price": base64.StdEncoding.EncodeToString(big.NewInt(int64(1000 + i)).Bytes()),
		"day":   day0 + i, "ts": 1_764_547_200_000 + int64(i), "tags": []any{"a", strconv.Itoa(i)},
		"note": nil, "addr": map[string]any{"city": "Oslo"},
	}
	if i%2 == 0 {
		p["note"] = "even"
	}
	if v2 {
		p["email"] = fmt.Sprintf("u%d@example.com", i)
	}
	return p
}

// Run writes 10 records of schema v1 and 4 of v2 (flush.size 4) and one
// without a schema, per case, and reads the files back with Python:
// files 0-3, 4-7, 8-9 (rolled by the schema change) and 10-13; the
// schemaless record goes to the DLQ with a clear error.
func Run(t *testing.T, s Sink) {
	conv := jsonconv.NewJSONConverter()
	if err := conv.Configure(plugins.Config{"schemas.enable": "true"}, false); err != nil {
		t.Fatal(err)
	}
	var recs []plugins.Record
	for i := range 14 {
		env, _ := json.Marshal(map[string]any{"schema": schemaJSON(i >= 10), "payload": payload(i, i >= 10)})
		sch, val, err := conv.ToConnect("orders", env)
		if err != nil {
			t.Fatalf("JSON converter: %v", err)
		}
		recs = append(recs, plugins.Record{Topic: "orders", Partition: 0, Offset: int64(i), ValueSchema: sch, Value: val})
	}
	recs = append(recs, plugins.Record{Topic: "orders", Partition: 0, Offset: 14, Value: map[string]any{"id": int64(14)}})
	run := time.Now().UnixNano()
	for _, c := range Cases {
		if s.Codecs != nil && !slices.Contains(s.Codecs, c.Name) {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			dir := fmt.Sprintf("formats-%d-%s", run, c.Name)
			cfg := plugins.Config{"topics.dir": dir, "flush.size": "4", "format.class": c.Class(s), c.Key: c.Val}
			for k, v := range s.Config {
				cfg[k] = v
			}
			tctx := &dlqCtx{}
			task := &storage.Task{NewBackend: s.NewBackend}
			if err := task.Start(tctx, cfg); err != nil {
				t.Fatal(err)
			}
			defer task.Stop()
			tp := plugins.TopicPartition{Topic: "orders", Partition: 0}
			task.Open([]plugins.TopicPartition{tp})
			ctx := context.Background()
			if err := task.Put(ctx, slices.Clone(recs)); err != nil {
				t.Fatal(err)
			}
			safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: 15})
			if err != nil || safe[tp] != 15 {
				t.Fatalf("PreCommit = %v, %v; want 15 (every record written or sent to the DLQ)", safe, err)
			}
			if len(tctx.errs) != 1 || !strings.Contains(tctx.errs[0].Error(), "needs a Connect schema") {
				t.Fatalf("DLQ got %v, want the schemaless record's error", tctx.errs)
			}
			if s.PlainParquetExt && strings.HasSuffix(c.Ext, ".parquet") {
				c.Ext = ".parquet"
			}
			check(t, c, s.Files(t, dir))
		})
	}
}

func check(t *testing.T, c Case, files map[string][]byte) {
	t.Helper()
	var paths []string
	for p := range files {
		if !strings.Contains(p, "/+") { // +tmp, +clean: the core's own
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	// <topic>+<partition>+<start>[+<end>]<ext>: the extension exactly.
	nameRE := regexp.MustCompile(`/orders/partition=0/orders\+0\+(\d{10})(\+\d{10})?` + regexp.QuoteMeta(c.Ext) + `$`)
	var starts []string
	var datas [][]byte
	for _, p := range paths {
		m := nameRE.FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("unexpected file %s (want .../orders/partition=0/orders+0+<start>...%s)", p, c.Ext)
		}
		starts = append(starts, m[1])
		datas = append(datas, files[p])
	}
	if want := []string{"0000000000", "0000000004", "0000000008", "0000000010"}; !slices.Equal(starts, want) {
		t.Fatalf("files start at %v, want %v (flush.size 4, a new file at the schema change)", starts, want)
	}
	read, err := pyreaders.Read(datas...)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for fi, f := range read {
		v2 := fi == 3
		if f.Format != strings.SplitN(c.Name, "-", 2)[0] || f.Codec != c.ReadCodec {
			t.Errorf("%s: format %s codec %s, want %s", paths[fi], f.Format, f.Codec, c.ReadCodec)
		}
		checkSchema(t, paths[fi], f, v2)
		for _, r := range f.Records {
			checkRecord(t, paths[fi], f.Format, r, next, v2)
			next++
		}
	}
	if next != 14 {
		t.Errorf("%d records read back, want 14", next)
	}
}

func checkSchema(t *testing.T, path string, f *pyreaders.File, v2 bool) {
	want := []string{"id", "name", "tiny", "price", "day", "ts", "tags", "note", "addr"}
	if v2 {
		want = append(want, "email")
	}
	var names []string
	switch f.Format {
	case "avro":
		var s struct {
			Name   string `json:"name"`
			Fields []struct {
				Name string `json:"name"`
				Type any    `json:"type"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(f.Schema, &s); err != nil {
			t.Fatalf("%s: schema %s: %v", path, f.Schema, err)
		}
		if s.Name != "com.example.Order" {
			t.Errorf("%s: record name %q, want com.example.Order", path, s.Name)
		}
		for _, fl := range s.Fields {
			names = append(names, fl.Name)
			ty, _ := json.Marshal(fl.Type)
			exp := map[string]string{
				"tiny":  `{"connect.type":"int8","type":"int"}`,
				"price": `{"connect.name":"org.apache.kafka.connect.data.Decimal","connect.parameters":{"connect.decimal.precision":"10","scale":"2"},"connect.version":1,"logicalType":"decimal","precision":10,"scale":2,"type":"bytes"}`,
				"day":   `{"connect.name":"org.apache.kafka.connect.data.Date","connect.version":1,"logicalType":"date","type":"int"}`,
				"note":  `["null","string"]`,
			}[fl.Name]
			if exp != "" && string(ty) != exp {
				t.Errorf("%s: field %s has type %s, want %s", path, fl.Name, ty, exp)
			}
		}
	case "parquet":
		var cols [][]any
		if err := json.Unmarshal(f.Schema, &cols); err != nil {
			t.Fatalf("%s: schema %s: %v", path, f.Schema, err)
		}
		types := map[string]string{}
		for _, c := range cols {
			names = append(names, c[0].(string))
			types[c[0].(string)] = fmt.Sprint(c[1], " nullable=", c[2])
		}
		for k, v := range map[string]string{
			"id": "int64 nullable=false", "tiny": "int32 nullable=false", "price": "decimal128(10, 2) nullable=false",
			"day": "date32[day] nullable=false", "ts": "timestamp[ms, tz=UTC] nullable=false",
			"note": "string nullable=true", "tags": "list<element: string not null> nullable=false",
			"addr": "struct<city: string not null> nullable=false",
		} {
			if types[k] != v {
				t.Errorf("%s: column %s is %s, want %s", path, k, types[k], v)
			}
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("%s: fields %v, want %v (in the Connect order)", path, names, want)
	}
}

func checkRecord(t *testing.T, path, format string, r map[string]any, i int, v2 bool) {
	t.Helper()
	str := func(k string) string { return fmt.Sprint(r[k]) }
	wantDay := time.Unix(int64(day0+i)*86400, 0).UTC().Format("2006-01-02")
	// Python's isoformat leaves out a zero fraction.
	wantTS := time.UnixMilli(1_764_547_200_000 + int64(i)).UTC().Format("2006-01-02T15:04:05.000000+00:00")
	if i == 0 {
		wantTS = time.UnixMilli(1_764_547_200_000).UTC().Format("2006-01-02T15:04:05+00:00")
	}
	wantNote := "<nil>"
	if i%2 == 0 {
		wantNote = "even"
	}
	got := fmt.Sprintf("id=%s name=%s tiny=%s price=%s day=%s ts=%s tags=%v note=%s addr=%v",
		str("id"), str("name"), str("tiny"), str("price"), str("day"), str("ts"), r["tags"], str("note"), r["addr"])
	want := fmt.Sprintf("id=%d name=user-%d tiny=%d price=%d.%02d day=%s ts=%s tags=[a %d] note=%s addr=map[city:Oslo]",
		i, i, -i, (1000+i)/100, (1000+i)%100, wantDay, wantTS, i, wantNote)
	if got != want {
		t.Errorf("%s (%s) record %d:\n got %s\nwant %s", path, format, i, got, want)
	}
	if v2 && str("email") != fmt.Sprintf("u%d@example.com", i) {
		t.Errorf("%s record %d: email %v", path, i, r["email"])
	}
}
