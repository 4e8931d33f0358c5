package formattest

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/connectors/storage"
	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
	"github.com/weirlog/weir/test/services/pyreaders"
)

// customerSchema is version v of an evolving value schema in the JSON
// converter's form: v2 widens qty and adds email (with a default) and an
// optional note; v3 adds an optional phone.
func customerSchema(v int) map[string]any {
	qty := "int32"
	if v >= 2 {
		qty = "int64"
	}
	fields := []any{
		map[string]any{"field": "id", "type": "int64"},
		map[string]any{"field": "qty", "type": qty},
		map[string]any{"field": "name", "type": "string"},
	}
	if v >= 2 {
		fields = append(fields,
			map[string]any{"field": "email", "type": "string", "default": "none@example.com"},
			map[string]any{"field": "note", "type": "string", "optional": true})
	}
	if v >= 3 {
		fields = append(fields, map[string]any{"field": "phone", "type": "string", "optional": true})
	}
	return map[string]any{"type": "struct", "name": "com.example.Customer", "version": v, "fields": fields}
}

func customerPayload(i, v int) map[string]any {
	p := map[string]any{"id": i, "qty": 10 + i, "name": fmt.Sprintf("user-%d", i)}
	if v >= 2 {
		p["email"], p["note"] = fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("n%d", i)
	}
	if v >= 3 {
		p["phone"] = fmt.Sprintf("+47-%d", i)
	}
	return p
}

// ProjectionVersions are the schema versions of the records RunProjection
// writes, offset by offset.
var ProjectionVersions = []int{2, 1, 3, 2, 1, 3}

// RunProjection writes records of schema versions 2, 1, 3, 2, 1, 3 under
// schema.compatibility=BACKWARD (flush.size 4) per format and reads the
// files back with Python: a v2 file of offsets 0-1, where the v1 record
// was projected (email's default, no note, a widened qty), rolled by the
// v3 record; then a v3 file of offsets 2-5 holding the older records
// projected to v3 (phone null).
func RunProjection(t *testing.T, s Sink) {
	conv := jsonconv.NewJSONConverter()
	if err := conv.Configure(plugins.Config{"schemas.enable": "true"}, false); err != nil {
		t.Fatal(err)
	}
	var recs []plugins.Record
	for i, v := range ProjectionVersions {
		env, _ := json.Marshal(map[string]any{"schema": customerSchema(v), "payload": customerPayload(i, v)})
		sch, val, err := conv.ToConnect("customers", env)
		if err != nil {
			t.Fatalf("JSON converter: %v", err)
		}
		recs = append(recs, plugins.Record{Topic: "customers", Partition: 0, Offset: int64(i), ValueSchema: sch, Value: val})
	}
	run := time.Now().UnixNano()
	for _, c := range []Case{Cases[2], Cases[4]} { // avro-snappy, parquet-snappy
		t.Run(c.Name, func(t *testing.T) {
			dir := fmt.Sprintf("projection-%d-%s", run, c.Name)
			cfg := plugins.Config{"topics.dir": dir, "flush.size": "4", "format.class": c.Class(s), c.Key: c.Val,
				"schema.compatibility": "BACKWARD"}
			for k, v := range s.Config {
				cfg[k] = v
			}
			tctx := &dlqCtx{}
			task := &storage.Task{NewBackend: s.NewBackend}
			if err := task.Start(tctx, cfg); err != nil {
				t.Fatal(err)
			}
			defer task.Stop()
			tp := plugins.TopicPartition{Topic: "customers", Partition: 0}
			task.Open([]plugins.TopicPartition{tp})
			ctx := context.Background()
			if err := task.Put(ctx, slices.Clone(recs)); err != nil {
				t.Fatal(err)
			}
			n := int64(len(recs))
			safe, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: n})
			if err != nil || safe[tp] != n || len(tctx.errs) != 0 {
				t.Fatalf("PreCommit = %v, %v (DLQ %v); want %d, every record written", safe, err, tctx.errs, n)
			}
			if s.PlainParquetExt && strings.HasSuffix(c.Ext, ".parquet") {
				c.Ext = ".parquet"
			}
			checkProjection(t, c, s.Files(t, dir))
		})
	}
}

func checkProjection(t *testing.T, c Case, files map[string][]byte) {
	t.Helper()
	var paths []string
	for p := range files {
		if !strings.Contains(p, "/+") {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	nameRE := regexp.MustCompile(`/customers/partition=0/customers\+0\+(\d{10})(\+\d{10})?` + regexp.QuoteMeta(c.Ext) + `$`)
	var starts []string
	var datas [][]byte
	for _, p := range paths {
		m := nameRE.FindStringSubmatch(p)
		if m == nil {
			t.Fatalf("unexpected file %s", p)
		}
		starts, datas = append(starts, m[1]), append(datas, files[p])
	}
	if want := []string{"0000000000", "0000000002"}; !slices.Equal(starts, want) {
		t.Fatalf("files start at %v, want %v (v3 rolls the v2 file; older records join)", starts, want)
	}
	read, err := pyreaders.Read(datas...)
	if err != nil {
		t.Fatal(err)
	}
	fileVersion := []int{2, 3}
	next := 0
	for fi, f := range read {
		fv := fileVersion[fi]
		want := []string{"id", "qty", "name", "email", "note"}
		if fv == 3 {
			want = append(want, "phone")
		}
		if names := schemaFields(t, paths[fi], f); !slices.Equal(names, want) {
			t.Errorf("%s: fields %v, want %v (the v%d schema of its first record)", paths[fi], names, want, fv)
		}
		for _, r := range f.Records {
			v := ProjectionVersions[next]
			email, note, phone := "none@example.com", "<nil>", "<nil>"
			if v >= 2 {
				email, note = fmt.Sprintf("u%d@example.com", next), fmt.Sprintf("n%d", next)
			}
			if v >= 3 {
				phone = fmt.Sprintf("+47-%d", next)
			}
			wantRec := fmt.Sprintf("id=%d qty=%d name=user-%d email=%s note=%s", next, 10+next, next, email, note)
			if fv == 3 {
				wantRec += " phone=" + phone
			}
			got := fmt.Sprintf("id=%v qty=%v name=%v email=%v note=%v", r["id"], r["qty"], r["name"], r["email"], r["note"])
			if fv == 3 {
				got += fmt.Sprintf(" phone=%v", r["phone"])
			}
			if got != wantRec {
				t.Errorf("%s record %d (schema v%d in a v%d file):\n got %s\nwant %s", paths[fi], next, v, fv, got, wantRec)
			}
			next++
		}
	}
	if next != len(ProjectionVersions) {
		t.Errorf("%d records read back, want %d", next, len(ProjectionVersions))
	}
}

// schemaFields returns the field names of the file's schema as the Python
// reader saw it; for Avro it also checks that qty is a long (widened) and
// that email carries its Connect default.
func schemaFields(t *testing.T, path string, f *pyreaders.File) []string {
	t.Helper()
	var names []string
	switch f.Format {
	case "avro":
		var s struct {
			Fields []struct {
				Name    string `json:"name"`
				Type    any    `json:"type"`
				Default any    `json:"default"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(f.Schema, &s); err != nil {
			t.Fatalf("%s: schema %s: %v", path, f.Schema, err)
		}
		for _, fl := range s.Fields {
			names = append(names, fl.Name)
			switch fl.Name {
			case "qty":
				if fl.Type != "long" {
					t.Errorf("%s: qty is %v, want long", path, fl.Type)
				}
			case "email":
				if fl.Default != "none@example.com" {
					t.Errorf("%s: email's default is %v, want none@example.com", path, fl.Default)
				}
			}
		}
	case "parquet":
		var cols [][]any
		if err := json.Unmarshal(f.Schema, &cols); err != nil {
			t.Fatalf("%s: schema %s: %v", path, f.Schema, err)
		}
		for _, c := range cols {
			names = append(names, c[0].(string))
			if c[0] == "qty" && c[1] != "int64" {
				t.Errorf("%s: qty is %v, want int64", path, c[1])
			}
		}
	default:
		t.Fatalf("%s: format %s", path, f.Format)
	}
	return names
}
