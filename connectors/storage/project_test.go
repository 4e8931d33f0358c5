package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/weirlog/weir/plugins"
)

// Three versions of one value schema, as a producer evolving it under
// BACKWARD rules registers them: v2 widens qty and adds email with a
// default, v3 adds an optional phone.
func orderSchema(version int) *plugins.Schema {
	b := plugins.StructBuilder().Name("com.example.Order").Version(version).Field("id", plugins.Int64Schema)
	if version == 1 {
		return b.Field("qty", plugins.Int32Schema).MustBuild()
	}
	b.Field("qty", plugins.Int64Schema).
		Field("email", plugins.NewSchemaBuilder(plugins.TypeString).Default("none").MustBuild())
	if version >= 3 {
		b.Field("phone", plugins.OptionalStringSchema)
	}
	return b.MustBuild()
}

// orderRecs makes one record per version given, offset i holding id i.
func orderRecs(t *testing.T, versions ...int) []plugins.Record {
	t.Helper()
	var out []plugins.Record
	for i, v := range versions {
		s := orderSchema(v) // a schema of its own per record, as a converter may hand them out
		st := plugins.NewStruct(s).MustPut("id", int64(i))
		if v == 1 {
			st.MustPut("qty", int32(10+i))
		} else {
			st.MustPut("qty", int64(10+i)).MustPut("email", fmt.Sprintf("u%d@x", i))
		}
		if v >= 3 {
			st.MustPut("phone", fmt.Sprintf("+47-%d", i))
		}
		out = append(out, plugins.Record{Topic: "t", Partition: 0, Offset: int64(i), ValueSchema: s, Value: st})
	}
	return out
}

// closeAll commits every open file, as a rotation would.
func closeAll(t *testing.T, task *Task, next int64) {
	t.Helper()
	task.mu.Lock()
	for _, f := range task.parts[tp0].open {
		f.due = true
	}
	task.mu.Unlock()
	if _, err := task.PreCommit(context.Background(), map[plugins.TopicPartition]int64{tp0: next}); err != nil {
		t.Fatal(err)
	}
}

// A record that joins a file of another schema version is written in the
// file's schema: a missing field gets its default, a field the file's
// schema lacks is dropped, numbers widen (Confluent's projection). The
// file's schema is its first record's.
func TestSchemaProjectionIntoFile(t *testing.T) {
	// One JSON object per record: the projected value, as it was written.
	type line = map[string]any
	for _, tc := range []struct {
		compat   string
		versions []int
		files    map[string][]line // start+end → lines
	}{
		{"BACKWARD", []int{2, 1, 2, 1, 3, 2}, map[string][]line{
			// v2 file: the v1 records get email's default and an int64 qty.
			"0+3": {{"id": 0., "qty": 10., "email": "u0@x"}, {"id": 1., "qty": 11., "email": "none"},
				{"id": 2., "qty": 12., "email": "u2@x"}, {"id": 3., "qty": 13., "email": "none"}},
			// v3 rolls; the older v2 record joins without a phone.
			"4+5": {{"id": 4., "qty": 14., "email": "u4@x", "phone": "+47-4"}, {"id": 5., "qty": 15., "email": "u5@x", "phone": nil}},
		}},
		{"FULL", []int{2, 1, 3}, map[string][]line{
			"0+1": {{"id": 0., "qty": 10., "email": "u0@x"}, {"id": 1., "qty": 11., "email": "none"}},
			"2+2": {{"id": 2., "qty": 12., "email": "u2@x", "phone": "+47-2"}},
		}},
		// The mirror: a newer record joins the older file, losing the
		// field that file does not have; an older one rolls.
		{"FORWARD", []int{2, 3, 3, 1}, map[string][]line{
			"0+2": {{"id": 0., "qty": 10., "email": "u0@x"}, {"id": 1., "qty": 11., "email": "u1@x"}, {"id": 2., "qty": 12., "email": "u2@x"}},
			"3+3": {{"id": 3., "qty": 13.}},
		}},
		// NONE never projects: every change is a new file.
		{"NONE", []int{2, 1, 2, 3}, map[string][]line{
			"0+0": {{"id": 0., "qty": 10., "email": "u0@x"}},
			"1+1": {{"id": 1., "qty": 11.}},
			"2+2": {{"id": 2., "qty": 12., "email": "u2@x"}},
			"3+3": {{"id": 3., "qty": 13., "email": "u3@x", "phone": "+47-3"}},
		}},
	} {
		t.Run(tc.compat, func(t *testing.T) {
			st := newMem()
			task := newTask(t, st, plugins.Config{"flush.size": "100", "schema.compatibility": tc.compat})
			defer task.Stop()
			task.Open([]plugins.TopicPartition{tp0})
			in := orderRecs(t, tc.versions...)
			if err := task.Put(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			closeAll(t, task, int64(len(in)))
			got := map[string][]line{}
			for _, n := range names(st) {
				b := strings.TrimSuffix(n[strings.LastIndex(n, "/")+1:], ".json")
				var s, e int64
				if _, err := fmt.Sscanf(b, "t+0+%d+%d", &s, &e); err != nil {
					t.Fatalf("file %s: %v", n, err)
				}
				key := fmt.Sprintf("%d+%d", s, e)
				for l := range strings.SplitSeq(strings.TrimSpace(string(st.files[n])), "\n") {
					var m line
					if err := json.Unmarshal([]byte(l), &m); err != nil {
						t.Fatalf("file %s line %q: %v", n, l, err)
					}
					got[key] = append(got[key], m)
				}
			}
			if !reflect.DeepEqual(got, tc.files) {
				t.Errorf("versions %v under %s:\n got %v\nwant %v", tc.versions, tc.compat, got, tc.files)
			}
			// The records handed to Put are left as they came.
			for i, r := range in {
				if r.ValueSchema.Version != tc.versions[i] || r.Value.(*plugins.Struct).Schema() != r.ValueSchema {
					t.Errorf("record %d changed: schema version %d", i, r.ValueSchema.Version)
				}
			}
		})
	}
}

type dlqCtx struct {
	fakeCtx
	mu   sync.Mutex
	recs []*plugins.Record
	errs []error
}

func (c *dlqCtx) ErrantRecordReporter() func(*plugins.Record, error) {
	return func(r *plugins.Record, err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.recs, c.errs = append(c.recs, r), append(c.errs, err)
	}
}

// A record that cannot be projected to the file's schema goes through the
// error policy, as a record the format cannot write does: to the DLQ as it
// came (its own schema), or it fails the task; the file goes on.
func TestSchemaProjectionErrorIsErrant(t *testing.T) {
	strict := plugins.StructBuilder().Name("com.example.Order").Version(2).
		Field("id", plugins.Int64Schema).Field("qty", plugins.Int64Schema).
		Field("country", plugins.StringSchema).MustBuild() // required, no default
	in := orderRecs(t, 1, 1, 1)
	in[0].ValueSchema = strict
	in[0].Value = plugins.NewStruct(strict).MustPut("id", int64(0)).MustPut("qty", int64(1)).MustPut("country", "NO")

	st := newMem()
	ctx := &dlqCtx{}
	task := &Task{NewBackend: testBackend("test", st, true), syncCommits: true}
	if err := task.Start(ctx, plugins.Config{"flush.size": "2", "schema.compatibility": "BACKWARD"}); err != nil {
		t.Fatal(err)
	}
	defer task.Stop()
	task.Open([]plugins.TopicPartition{tp0})
	if err := task.Put(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(ctx.errs) != 2 {
		t.Fatalf("DLQ got %v, want records 1 and 2", ctx.errs)
	}
	for i, err := range ctx.errs {
		if r := ctx.recs[i]; r.Offset != int64(i+1) || r.ValueSchema.Version != 1 {
			t.Errorf("DLQ record %d: offset %d version %d, want the record as it came", i, r.Offset, r.ValueSchema.Version)
		}
		for _, w := range []string{"t-0@", "BACKWARD", "version 1", "version 2", `country: required field "country"`} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("DLQ error %q does not say %q", err, w)
			}
		}
	}
	// The v2 file stays open with its one record.
	if n := len(names(st)); n != 0 {
		t.Errorf("%d files committed, want none yet", n)
	}
	open := task.parts[tp0].open
	if len(open) != 1 {
		t.Fatalf("%d open files, want the v2 file", len(open))
	}
	for _, f := range open {
		if f.n != 1 || f.schema != strict {
			t.Errorf("open file of %d records, schema %v; want the v2 file with one record", f.n, f.schema)
		}
	}

	// Without a DLQ the task fails with the same error.
	task2 := newTask(t, newMem(), plugins.Config{"schema.compatibility": "BACKWARD"})
	defer task2.Stop()
	task2.Open([]plugins.TopicPartition{tp0})
	if err := task2.Put(context.Background(), in); err == nil || !strings.Contains(err.Error(), `required field "country"`) {
		t.Fatalf("Put without a DLQ = %v, want the projection error", err)
	}
}

// Avro and Parquet files hold one schema: the projected record is written
// in it, with the default filled in, instead of rolling the file or
// failing on a schema the file cannot hold.
func TestSchemaProjectionAvroParquet(t *testing.T) {
	for _, format := range []struct {
		name string
		mk   func(*plugins.ParsedConfig, bool) (Format, error)
		ext  string
	}{{"AvroFormat", AvroFormat, ".avro"}, {"ParquetFormat", ParquetFormat, ".snappy.parquet"}} {
		t.Run(format.name, func(t *testing.T) {
			st := newMem()
			task := &Task{NewBackend: func(c plugins.Config) (*Backend, error) {
				p, err := ConfigDef([]string{format.name}, format.name).Parse(c)
				if err != nil {
					return nil, err
				}
				s, err := Parse(p, map[string]func(*plugins.ParsedConfig, bool) (Format, error){format.name: format.mk}, false)
				if err != nil {
					return nil, err
				}
				return &Backend{Name: "test", Store: st, Settings: s, Naming: Naming{TopicsDir: s.TopicsDir, DirDelim: "/", FileDelim: "+", WithEnd: true}}, nil
			}, syncCommits: true}
			if err := task.Start(&fakeCtx{}, plugins.Config{"flush.size": "100", "schema.compatibility": "BACKWARD"}); err != nil {
				t.Fatal(err)
			}
			defer task.Stop()
			task.Open([]plugins.TopicPartition{tp0})
			if err := task.Put(context.Background(), orderRecs(t, 2, 1, 2, 3)); err != nil {
				t.Fatal(err)
			}
			path := "topics/t/partition=0/t+0+0000000000+0000000002" + format.ext
			if got := names(st); len(got) != 1 || got[0] != path {
				t.Fatalf("files %v, want only %s (v3 rolled it, still open)", got, path)
			}
			var rows []map[string]any
			if format.ext == ".avro" {
				_, rows = decodeAvro(t, st.files[path])
			} else {
				_, rows = readParquet(t, st.files[path])
			}
			want := []map[string]any{
				{"id": int64(0), "qty": int64(10), "email": "u0@x"},
				{"id": int64(1), "qty": int64(11), "email": "none"},
				{"id": int64(2), "qty": int64(12), "email": "u2@x"},
			}
			if !reflect.DeepEqual(rows, want) {
				t.Errorf("rows %v, want %v", rows, want)
			}
		})
	}
}
