package storage

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
)

func TestAcceptsRawJSON(t *testing.T) {
	for _, tc := range []struct {
		cfg  plugins.Config
		want bool
	}{
		{plugins.Config{}, true},
		{plugins.Config{"partitioner.class": "TimeBasedPartitioner", "path.format": "'d'=dd", "partition.duration.ms": "1000", "timezone": "UTC", "timestamp.extractor": "Record"}, true},
		{plugins.Config{"partitioner.class": "HourlyPartitioner", "timezone": "UTC"}, true}, // Wallclock
		{plugins.Config{"partitioner.class": "TimeBasedPartitioner", "path.format": "'d'=dd", "partition.duration.ms": "1000", "timezone": "UTC", "timestamp.extractor": "RecordField"}, false},
		{plugins.Config{"partitioner.class": "FieldPartitioner", "partition.field.name": "a"}, false},
		{plugins.Config{"schema.compatibility": "BACKWARD"}, false},
		{plugins.Config{"format.class": "StringFormat"}, false},
		{plugins.Config{"format.class": "AvroFormat"}, false},
		{plugins.Config{"format.class": "ParquetFormat"}, false},
	} {
		cfg := maps.Clone(tc.cfg)
		cfg["flush.size"] = "3"
		task := &Task{NewBackend: func(c plugins.Config) (*Backend, error) {
			return rawBackend(newMem(), false)(c)
		}}
		if task.AcceptsRawJSON() {
			t.Fatal("a task that did not start accepts RawJSON")
		}
		if err := task.Start(&fakeCtx{}, cfg); err != nil {
			t.Fatal(err)
		}
		if got := task.AcceptsRawJSON(); got != tc.want {
			t.Errorf("%v: AcceptsRawJSON %v, want %v", tc.cfg, got, tc.want)
		}
		task.Stop()
	}
}

var rawDef = ConfigDef([]string{"JsonFormat", "StringFormat", "AvroFormat", "ParquetFormat"}, "JsonFormat")

// rawBackend is testBackend with the format's gzip chosen, and the
// formats that refuse RawJSON.
func rawBackend(st Store, gz bool) func(plugins.Config) (*Backend, error) {
	return func(c plugins.Config) (*Backend, error) {
		p, err := rawDef.Parse(c)
		if err != nil {
			return nil, err
		}
		s, err := Parse(p, map[string]func(*plugins.ParsedConfig, bool) (Format, error){
			"JsonFormat": JSONFormat, "StringFormat": StringFormat, "AvroFormat": AvroFormat, "ParquetFormat": ParquetFormatPlain}, gz)
		if err != nil {
			return nil, err
		}
		return &Backend{Name: "test", Store: st, Settings: s, Naming: Naming{TopicsDir: s.TopicsDir, DirDelim: "/", FileDelim: "+", WithEnd: true}}, nil
	}
}

// rawStream is Kafka values as converters write them, with schema
// changes (files roll) and payloads the pass-through declines.
func rawStream() [][]byte {
	const a = `{"type":"struct","name":"a","version":1,"fields":[{"field":"id","type":"int64"},{"field":"s","type":"string","optional":true},` +
		`{"field":"d","type":"double","optional":true},{"field":"m","type":"map","keys":{"type":"string"},"values":{"type":"boolean"},"optional":true}]}`
	const b = `{"type":"string","optional":true}`
	env := func(schema, payload string) []byte {
		return []byte(`{"schema":` + schema + `,"payload":` + payload + `}`)
	}
	var out [][]byte
	for i := range 40 {
		switch {
		case i == 13: // whitespace, a newline included
			out = append(out, env(a, fmt.Sprintf("{\"id\":%d,\n \"s\":\"x\" , \"d\":1.5,\"m\":null}", i)))
		case i == 14: // another order of fields and keys, other spellings
			out = append(out, env(a, fmt.Sprintf(`{"s":"\u00fc\/","m":{"z":true,"a":false},"d":1e3,"id":%d.0}`, i)))
		case i == 15: // a missing field, an extra one
			out = append(out, env(a, fmt.Sprintf(`{"id":%d,"x":[1,2],"s":null}`, i)))
		case i >= 20 && i < 25: // another schema: the file rolls
			out = append(out, env(b, fmt.Sprintf(`"b%d \"q\" ünï\t✓"`, i)))
		case i == 30: // a null: behavior.on.null.values=ignore
			out = append(out, env(b, `null`))
		default:
			out = append(out, env(a, fmt.Sprintf(`{"id":%d,"s":"text %d \\ \"q\" ünï ✓","d":%s,"m":{"a":true,"b":false}}`, i, i, []string{"1.5", "-1.0E-4", "0.0", "1.0E10"}[i%4])))
		}
	}
	return out
}

// TestRawJSONFilesIdentical: the same Kafka values written by a task fed
// as the runtime feeds it with the pass-through (RawJSON where the
// converter gives it) and without it (ToConnect only) give byte-identical
// files, plain and gzip; declined payloads are written as one line of
// JSON each.
func TestRawJSONFilesIdentical(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", gz), func(t *testing.T) {
			var files [2]map[string][]byte
			raws := 0
			for pass := range 2 {
				st := newMem()
				task := &Task{NewBackend: rawBackend(st, gz), syncCommits: true}
				if err := task.Start(&fakeCtx{}, plugins.Config{"flush.size": "7", "behavior.on.null.values": "ignore"}); err != nil {
					t.Fatal(err)
				}
				if !task.AcceptsRawJSON() {
					t.Fatal("the JSON task does not accept RawJSON")
				}
				task.Open([]plugins.TopicPartition{tp0})
				conv := jsonconv.NewJSONConverter()
				if err := conv.Configure(plugins.Config{}, false); err != nil {
					t.Fatal(err)
				}
				var batch []plugins.Record
				for i, data := range rawStream() {
					rec := plugins.Record{Topic: "t", Partition: 0, Offset: int64(i), Timestamp: time.UnixMilli(int64(i))}
					ok := false
					if pass == 0 {
						rec.ValueSchema, rec.Value, ok = conv.ToConnectRawJSON("t", data)
					}
					if ok {
						raws++
					} else {
						var err error
						if rec.ValueSchema, rec.Value, err = conv.ToConnect("t", data); err != nil {
							t.Fatalf("record %d: %v", i, err)
						}
					}
					batch = append(batch, rec)
				}
				ctx := context.Background()
				if err := task.Put(ctx, batch); err != nil {
					t.Fatal(err)
				}
				if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp0: 40}); err != nil {
					t.Fatal(err)
				}
				if err := task.Close([]plugins.TopicPartition{tp0}); err != nil {
					t.Fatal(err)
				}
				task.Stop()
				files[pass] = map[string][]byte{}
				for _, p := range names(st) {
					files[pass][p] = st.files[p]
				}
			}
			// 40 records: one null, three declined, and the first after
			// each change of schema (0, 20, 25, 31: the converter
			// recognises the last schema's bytes) decoded.
			if raws != 40-1-3-4 {
				t.Errorf("%d records passed through", raws)
			}
			if len(files[0]) < 5 {
				t.Fatalf("files %v", files[0])
			}
			lines := 0
			for p, b := range files[1] {
				if !bytes.Equal(files[0][p], b) {
					t.Errorf("%s: with the pass-through %q, without %q", p, files[0][p], b)
				}
				if gz {
					zr, err := gzip.NewReader(bytes.NewReader(b))
					if err != nil {
						t.Fatal(err)
					}
					if b, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				}
				sc := bufio.NewScanner(bytes.NewReader(b))
				for sc.Scan() {
					lines++
					if !json.Valid(sc.Bytes()) {
						t.Errorf("%s: line %q is not JSON", p, sc.Bytes())
					}
				}
				if strings.Contains(string(b), `"s":"x"`) && !strings.Contains(string(b), `{"id":13,"s":"x","d":1.5,"m":null}`+"\n") {
					t.Errorf("%s: the payload with whitespace is not written compact: %q", p, b)
				}
			}
			if len(files[0]) != len(files[1]) || lines != 39 {
				t.Errorf("%d and %d files, %d lines; want 39 lines", len(files[0]), len(files[1]), lines)
			}
		})
	}
}
