//go:build services

package jdbc

import (
	"context"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
)

const allTypesDDL = `CREATE TYPE %[1]s.mood AS ENUM ('sad', 'happy');
CREATE TABLE %[1]s.types (
  id serial PRIMARY KEY,
  updated timestamptz NOT NULL DEFAULT clock_timestamp(),
  b boolean, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
  n numeric(10,2), nu numeric, t text, vc varchar(20), ch char(3), by bytea,
  d date, tm time, ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb,
  ia integer[], ta text[], e %[1]s.mood, ip inet, cid cidr, m money, nn text NOT NULL)`

const allTypesRow = `INSERT INTO %s.types (b, i2, i4, i8, f4, f8, n, nu, t, vc, ch, by, d, tm, ts, tstz, iv, u, j, jb, ia, ta, e, ip, cid, m, nn)
VALUES (true, -2, 4, 8000000000000, 1.5, 2.25, 12345.67, 3.14159265358979, 'text', 'vc', 'ab', '\x000102',
  '2024-02-29', '13:14:15.5', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+02', '1 year 2 months 3 days 04:05:06.5',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1}', '{"b": [1, 2]}', '{1,NULL,3}', '{x,y}', 'happy', '192.168.0.1', '10.0.0.0/8', 12.34, 'x')`

func allTypesWant() map[string]any {
	return map[string]any{
		"id": int32(1), "b": true, "i2": int16(-2), "i4": int32(4), "i8": int64(8000000000000), "f4": float32(1.5), "f8": 2.25,
		"n": big.NewRat(1234567, 100), "nu": "3.14159265358979", "t": "text", "vc": "vc", "ch": "ab ", "by": []byte{0, 1, 2},
		"d":  time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"tm": time.Date(1970, 1, 1, 13, 14, 15, 500_000_000, time.UTC),
		"ts": time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC), "tstz": time.Date(2024, 1, 2, 1, 4, 5, 0, time.UTC),
		"iv": "P1Y2M3DT4H5M6.5S", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": `{"a": 1}`, "jb": `{"b": [1, 2]}`,
		"ia": []any{int32(1), nil, int32(3)}, "ta": []any{"x", "y"}, "e": "happy", "ip": "192.168.0.1", "cid": "10.0.0.0/8",
		"m": 12.34, "nn": "x",
	}
}

// checkRow compares every field of a record's value with want.
func checkRow(t *testing.T, rec plugins.Record, want map[string]any) {
	t.Helper()
	v, ok := rec.Value.(*plugins.Struct)
	if !ok {
		t.Fatalf("value %T, want *Struct", rec.Value)
	}
	for name, w := range want {
		if !v.Has(name) {
			t.Errorf("no field %q", name)
			continue
		}
		if got := v.Get(name); !plugins.ValuesEqual(got, w) {
			t.Errorf("field %q = %#v (%T), want %#v (%T)", name, got, got, w, w)
		}
	}
}

func TestSourceAllTypesEveryMode(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	mustExec(t, c, fmt.Sprintf(allTypesDDL, schema))
	mustExec(t, c, fmt.Sprintf(allTypesRow, schema))
	mustExec(t, c, "INSERT INTO "+schema+".types (nn) VALUES ('only')")

	wantSchema := map[string]*plugins.Schema{
		"id": plugins.Int32Schema, "n": plugins.DecimalSchema(2).AsOptional(), "nu": plugins.OptionalStringSchema,
		"d": plugins.DateSchema().AsOptional(), "tm": plugins.TimeSchema().AsOptional(), "ts": plugins.TimestampSchema().AsOptional(),
		"ia": {Type: plugins.TypeArray, Optional: true, ValueSchema: plugins.OptionalInt32Schema},
		"m":  plugins.OptionalFloat64Schema, "nn": plugins.StringSchema, "e": plugins.OptionalStringSchema,
	}
	for _, mode := range []string{ModeBulk, ModeIncrementing, ModeTimestamp, ModeTimestampIncrementing, ModeXmin} {
		t.Run(mode, func(t *testing.T) {
			mustExec(t, c, "UPDATE "+schema+".types SET t = 'text' WHERE id = 1")
			cfg := baseSourceConfig(schema, Mode, mode, TimestampColumn, "updated")
			tcs := tasksFor(t, cfg, 4)
			if len(tcs) != 1 {
				t.Fatalf("%d task configs, want 1", len(tcs))
			}
			offs := newMemOffsets()
			task := startSource(t, tcs[0], offs)
			recs := pollUntil(t, task, offs, 10*time.Second, func(r []plugins.Record) bool { return len(r) >= 2 })
			slices.SortFunc(recs, func(a, b plugins.Record) int {
				return int(a.Value.(*plugins.Struct).Get("id").(int32) - b.Value.(*plugins.Struct).Get("id").(int32))
			})
			checkRow(t, recs[0], allTypesWant())
			nulls := map[string]any{"nn": "only"}
			for k := range allTypesWant() {
				if k != "id" && k != "nn" {
					nulls[k] = nil
				}
			}
			checkRow(t, recs[1], nulls)
			r := recs[0]
			if r.Topic != "pg-types" {
				t.Errorf("topic %q", r.Topic)
			}
			if r.ValueSchema.Name != "types" {
				t.Errorf("value schema name %q, want the table name", r.ValueSchema.Name)
			}
			for name, ws := range wantSchema {
				if f := r.ValueSchema.Field(name); f == nil || !f.Schema.Equal(ws) {
					t.Errorf("field %q schema %v, want %v", name, f, ws)
				}
			}
			key, ok := r.Key.(*plugins.Struct)
			if !ok || len(r.KeySchema.Fields) != 1 || key.Get("id") != int32(1) {
				t.Errorf("key %v (%v), want Struct{id=1}", r.Key, r.KeySchema)
			}
			wantPart := map[string]any{"protocol": "1", "table": "weir." + schema + ".types"}
			if pkey(r.SourcePartition) != pkey(wantPart) {
				t.Errorf("partition %v, want %v", r.SourcePartition, wantPart)
			}
			switch mode {
			case ModeBulk:
				if r.SourceOffset != nil {
					t.Errorf("bulk offset %v, want none", r.SourceOffset)
				}
				return
			case ModeIncrementing:
				if pkey(recs[1].SourceOffset) != `{"incrementing":2}` {
					t.Errorf("offset %v", recs[1].SourceOffset)
				}
			case ModeTimestamp:
				if _, ok := recs[1].SourceOffset["timestamp_nanos"]; !ok {
					t.Errorf("offset %v", recs[1].SourceOffset)
				}
			case ModeXmin:
				if _, ok := recs[1].SourceOffset["xmin"].(int64); !ok {
					t.Errorf("offset %v", recs[1].SourceOffset)
				}
			}
			// Only what is new arrives next: an insert, and (except for
			// incrementing) an update.
			mustExec(t, c, "INSERT INTO "+schema+".types (nn) VALUES ('third')")
			wantNew := 1
			if mode != ModeIncrementing {
				mustExec(t, c, "UPDATE "+schema+".types SET t = 'changed', updated = clock_timestamp() WHERE id = 1")
				wantNew = 2
			}
			more := pollUntil(t, task, offs, 10*time.Second, func(r []plugins.Record) bool { return len(r) >= wantNew })
			time.Sleep(200 * time.Millisecond)
			extra, _ := task.Poll(context.Background())
			more = append(more, extra...)
			if len(more) != wantNew {
				t.Fatalf("%d new records, want %d: %v", len(more), wantNew, more)
			}
			seen := map[string]bool{}
			for _, r := range more {
				seen[fmt.Sprint(r.Value.(*plugins.Struct).Get("nn"), "/", r.Value.(*plugins.Struct).Get("t"))] = true
			}
			if !seen["third/<nil>"] || (wantNew == 2 && !seen["x/changed"]) {
				t.Errorf("new records %v", seen)
			}

			// A restarted task resumes from the committed offsets: nothing again.
			task.Stop()
			task2 := startSource(t, tcs[0], offs)
			deadline := time.Now().Add(500 * time.Millisecond)
			for time.Now().Before(deadline) {
				again, err := task2.Poll(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if len(again) > 0 {
					t.Fatalf("restarted task re-read %d rows: %v", len(again), again[0].Value)
				}
			}
		})
	}
}

func TestSourceNullKeysAndQueryMode(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	mustExec(t, c, "CREATE TABLE "+schema+".a (id bigint PRIMARY KEY, v text)")
	mustExec(t, c, "CREATE TABLE "+schema+".nopk (v text)")
	mustExec(t, c, "INSERT INTO "+schema+".a VALUES (1, 'one'), (2, 'two')")
	mustExec(t, c, "INSERT INTO "+schema+".nopk VALUES ('x')")

	cfg := baseSourceConfig(schema, KeyFromPrimaryKey, "false", TableWhitelist, "a")
	offs := newMemOffsets()
	task := startSource(t, tasksFor(t, cfg, 1)[0], offs)
	recs := pollUntil(t, task, offs, 5*time.Second, func(r []plugins.Record) bool { return len(r) >= 2 })
	if recs[0].Key != nil || recs[0].KeySchema != nil {
		t.Errorf("key.from.primary.key=false: key %v", recs[0].Key)
	}

	cfg = baseSourceConfig(schema, TableWhitelist, schema+".nopk")
	task = startSource(t, tasksFor(t, cfg, 1)[0], offs)
	recs = pollUntil(t, task, offs, 5*time.Second, func(r []plugins.Record) bool { return len(r) >= 1 })
	if recs[0].Key != nil {
		t.Errorf("table without primary key: key %v", recs[0].Key)
	}

	cfg = baseSourceConfig(schema, Query, "SELECT id, v || '!' AS shout FROM "+schema+".a", Mode, ModeIncrementing, IncrementingColumn, "id", TopicPrefix, "shouts")
	task = startSource(t, tasksFor(t, cfg, 3)[0], offs)
	recs = pollUntil(t, task, offs, 5*time.Second, func(r []plugins.Record) bool { return len(r) >= 2 })
	if recs[1].Topic != "shouts" || recs[1].Value.(*plugins.Struct).Get("shout") != "two!" || pkey(recs[1].SourcePartition) != `{"query":"query"}` {
		t.Errorf("query record %v %v %v", recs[1].Topic, recs[1].Value, recs[1].SourcePartition)
	}
}

func TestSourceTablesSpreadNewAndDropped(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	for _, n := range []string{"t1", "t2", "t3"} {
		mustExec(t, c, "CREATE TABLE "+schema+"."+n+" (id serial PRIMARY KEY, v text)")
		mustExec(t, c, "INSERT INTO "+schema+"."+n+" (v) VALUES ('"+n+"')")
	}
	cfg := baseSourceConfig(schema, Mode, ModeIncrementing, TablePollInterval, "100")
	tcs := tasksFor(t, cfg, 2)
	if len(tcs) != 2 {
		t.Fatalf("%d task configs, want 2", len(tcs))
	}
	var spread []int
	for _, tc := range tcs {
		ts, _ := decodeTables(tc[tablesConfig])
		spread = append(spread, len(ts))
	}
	if spread[0]+spread[1] != 3 || spread[0] == 0 || spread[1] == 0 {
		t.Errorf("tables per task %v", spread)
	}

	conn := &SourceConnector{}
	cctx := &connCtx{}
	if err := conn.Start(cctx, cfg); err != nil {
		t.Fatal(err)
	}
	defer conn.Stop()
	mustExec(t, c, "CREATE TABLE "+schema+".t4 (id serial PRIMARY KEY, v text)")
	waitFor(t, 5*time.Second, "reconfiguration after CREATE TABLE", func() bool { return cctx.count() >= 1 })
	tcs, _ = conn.TaskConfigs(1)
	if !strings.Contains(tcs[0][tablesConfig], `"t4"`) {
		t.Errorf("new table not in task config: %s", tcs[0][tablesConfig])
	}
	// A task reading a table that is dropped goes on with the others.
	offs := newMemOffsets()
	task := startSource(t, tcs[0], offs)
	pollUntil(t, task, offs, 5*time.Second, func(r []plugins.Record) bool { return len(r) >= 3 })
	mustExec(t, c, "DROP TABLE "+schema+".t2")
	mustExec(t, c, "INSERT INTO "+schema+".t4 (v) VALUES ('after drop')")
	recs := pollUntil(t, task, offs, 5*time.Second, func(r []plugins.Record) bool { return len(r) >= 1 })
	if recs[0].Topic != "pg-t4" {
		t.Errorf("after drop: %v", recs[0].Topic)
	}
	waitFor(t, 5*time.Second, "reconfiguration after DROP TABLE", func() bool { return cctx.count() >= 2 })
	tcs, _ = conn.TaskConfigs(1)
	if strings.Contains(tcs[0][tablesConfig], `"t2"`) {
		t.Errorf("dropped table still in task config: %s", tcs[0][tablesConfig])
	}
}

func waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestXidEpochMapping checks the 32→64-bit xid arithmetic across an epoch
// boundary (wraparound), evaluated by PostgreSQL itself.
func TestXidEpochMapping(t *testing.T) {
	c := pgConn(t)
	const e = int64(1) << 32
	for _, tc := range []struct{ x32, xmax, want int64 }{
		{5, 5*e + 10, 5*e + 5},
		{9, 5*e + 10, 5*e + 9},
		{4294967290, 5*e + 10, 4*e + 4294967290}, // written before the wrap
		{10, 5*e + 10, 4*e + 10},                 // xmax itself is not yet visible
		{100, 100 + 1, 100},                      // epoch 0
		{3, 1000, 3},
	} {
		var got int64
		if err := c.QueryRow(context.Background(), "SELECT "+fullXid("$1::int8", "$2::int8"), tc.x32, tc.xmax).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("x32=%d xmax=%d: %d, want %d", tc.x32, tc.xmax, got, tc.want)
		}
	}
}

// TestSourceStreamsWithBoundedMemory reads a table far larger than the
// memory the task may hold (about 200 MB of rows) a few batches at a time:
// rows stream from the server as Poll asks for them, nothing buffers the
// whole result.
func TestSourceStreamsWithBoundedMemory(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	mustExec(t, c, "CREATE TABLE "+schema+".big (id bigint PRIMARY KEY, payload text)")
	// 2 KB per row on the wire (stored compressed).
	mustExec(t, c, "INSERT INTO "+schema+".big SELECT g, repeat(md5(g::text), 64) FROM generate_series(1, 100000) g")
	cfg := baseSourceConfig(schema, Mode, ModeBulk, BatchMaxRows, "100")
	task := startSource(t, tasksFor(t, cfg, 1)[0], newMemOffsets())
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := uint64(0)
	got := 0
	for i := 0; i < 50; i++ {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got += len(recs)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	if got != 5000 {
		t.Fatalf("%d rows in 50 polls of 100, want 5000", got)
	}
	t.Logf("heap in use: %d MB before, peak %d MB while the 200 MB table streams", before.HeapInuse>>20, peak>>20)
	if peak > before.HeapInuse+64<<20 {
		t.Errorf("heap grew to %d MB reading 100-row batches of a 200 MB table", peak>>20)
	}
}

// TestAllTypesThroughJSONToSink carries the all-types table through the
// whole data path but Kafka: JdbcSource records, JsonConverter bytes (as
// stored in the topic, schemas on) and back, JdbcSink with auto.create into
// a new table; every column of every row must come out equal.
func TestAllTypesThroughJSONToSink(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	mustExec(t, c, fmt.Sprintf(allTypesDDL, schema))
	mustExec(t, c, fmt.Sprintf(allTypesRow, schema))
	mustExec(t, c, "INSERT INTO "+schema+".types (nn) VALUES ('only')")
	cfg := baseSourceConfig(schema, Mode, ModeXmin)
	offs := newMemOffsets()
	recs := pollUntil(t, startSource(t, tasksFor(t, cfg, 1)[0], offs), offs, 10*time.Second, func(r []plugins.Record) bool { return len(r) >= 2 })

	kc, vc := jsonconv.NewJSONConverter(), jsonconv.NewJSONConverter()
	if err := kc.Configure(plugins.Config{}, true); err != nil {
		t.Fatal(err)
	}
	if err := vc.Configure(plugins.Config{}, false); err != nil {
		t.Fatal(err)
	}
	var sunk []plugins.Record
	for i, r := range recs {
		kb, err := kc.FromConnect(r.Topic, r.KeySchema, r.Key)
		if err != nil {
			t.Fatal(err)
		}
		vb, err := vc.FromConnect(r.Topic, r.ValueSchema, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		out := plugins.Record{Topic: r.Topic, Offset: int64(i)}
		if out.KeySchema, out.Key, err = kc.ToConnect(r.Topic, kb); err != nil {
			t.Fatal(err)
		}
		if out.ValueSchema, out.Value, err = vc.ToConnect(r.Topic, vb); err != nil {
			t.Fatal(err)
		}
		sunk = append(sunk, out)
	}
	task := startSink(t, nil, TableNameFormat, schema+".copy", AutoCreate, "true", InsertMode, "upsert", PKMode, "record_key")
	if err := task.Put(context.Background(), sunk); err != nil {
		t.Fatal(err)
	}
	// Read the copy back through the source too and compare field by field.
	cfg = baseSourceConfig(schema, Mode, ModeBulk, TableWhitelist, "copy")
	back := pollUntil(t, startSource(t, tasksFor(t, cfg, 1)[0], offs), offs, 10*time.Second, func(r []plugins.Record) bool { return len(r) >= 2 })
	slices.SortFunc(back, func(a, b plugins.Record) int {
		return int(a.Value.(*plugins.Struct).Get("id").(int32) - b.Value.(*plugins.Struct).Get("id").(int32))
	})
	want := allTypesWant()
	// Connect's Timestamp carries milliseconds: the JSON bytes drop the
	// microseconds. Strings stay strings (uuid, json, enum, inet… come
	// back as text columns), money was FLOAT64 (double precision).
	want["ts"] = time.Date(2024, 1, 2, 3, 4, 5, 123000000, time.UTC)
	checkRow(t, back[0], want)
	if back[0].ValueSchema.Field("n").Schema.Name != plugins.DecimalName {
		t.Errorf("numeric(10,2) came back as %v", back[0].ValueSchema.Field("n").Schema)
	}
}

// TestSourceQueryModeTypes reads the all-types table through a custom
// query: typed from the result alone, every column arrives as in table
// mode, and a type with no kind of its own (enum, inet, cidr, money) in
// PostgreSQL's text form, as table mode's ::text casts give it.
func TestSourceQueryModeTypes(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	mustExec(t, c, fmt.Sprintf(allTypesDDL, schema))
	mustExec(t, c, fmt.Sprintf(allTypesRow, schema))
	cfg := baseSourceConfig(schema, Query, "SELECT * FROM "+schema+".types", Mode, ModeIncrementing, IncrementingColumn, "id", TopicPrefix, "q")
	task := startSource(t, tasksFor(t, cfg, 1)[0], newMemOffsets())
	recs := pollUntil(t, task, newMemOffsets(), 10*time.Second, func(r []plugins.Record) bool { return len(r) >= 1 })
	want := allTypesWant()
	want["m"] = "$12.34" // money has no binary decoder here: its text form (lc_monetary C)
	checkRow(t, recs[0], want)
	for _, f := range recs[0].ValueSchema.Fields {
		if !f.Schema.Optional {
			t.Errorf("query mode field %q is required; nullability is unknown", f.Name)
		}
	}
	if f := recs[0].ValueSchema.Field("n"); f == nil || !f.Schema.Equal(plugins.DecimalSchema(2).AsOptional()) {
		t.Errorf("numeric(10,2) in query mode: %v", f)
	}
}

// TestSourceNumericMappingGranularityTimezone reads one row under each
// numeric.mapping and timestamp.granularity, with db.timezone away from
// UTC, and compares every field's schema type and value.
func TestSourceNumericMappingGranularityTimezone(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	mustExec(t, c, "CREATE TABLE "+schema+".nm (id int PRIMARY KEY, n2 numeric(2,0), n5 numeric(5,0), n10 numeric(10,2), n20 numeric(20,0), nneg numeric(5,-2), nu numeric, ts timestamp, tstz timestamptz)")
	mustExec(t, c, "INSERT INTO "+schema+".nm VALUES (1, -42, 12345, 12345.67, 12345678901234567890, 1234500, 1.5, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+00')")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// ts is a wall clock in db.timezone (Berlin, UTC+1 in January); tstz an instant.
	tsAt := time.Date(2024, 1, 2, 3, 4, 5, 123456000, berlin)
	tstzAt := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	big20, _ := new(big.Int).SetString("12345678901234567890", 10)
	for _, c := range []struct {
		numeric, granularity string
		want                 map[string]any
		types                map[string]plugins.Type
	}{
		{"best_fit", "nanos_long",
			map[string]any{"n2": int8(-42), "n5": int32(12345), "n10": 12345.67, "n20": new(big.Rat).SetInt(big20), "nneg": int32(1234500), "nu": 1.5,
				"ts": tsAt.UnixNano(), "tstz": tstzAt.UnixNano()},
			map[string]plugins.Type{"n2": plugins.TypeInt8, "n5": plugins.TypeInt32, "n10": plugins.TypeFloat64, "n20": plugins.TypeBytes, "nneg": plugins.TypeInt32, "nu": plugins.TypeFloat64, "ts": plugins.TypeInt64}},
		{"precision_only", "nanos_string",
			map[string]any{"n2": int8(-42), "n5": int32(12345), "n10": big.NewRat(1234567, 100), "n20": new(big.Rat).SetInt(big20), "nneg": big.NewRat(1234500, 1), "nu": "1.5",
				"ts": fmt.Sprint(tsAt.UnixNano()), "tstz": fmt.Sprint(tstzAt.UnixNano())},
			map[string]plugins.Type{"n5": plugins.TypeInt32, "n10": plugins.TypeBytes, "nu": plugins.TypeString, "ts": plugins.TypeString}},
		{"best_fit_eager_double", "nanos_iso_datetime_string",
			map[string]any{"n5": int32(12345), "n10": 12345.67, "nu": 1.5,
				"ts": "2024-01-02T03:04:05.123456000", "tstz": "2024-01-02T04:04:05.123456000"},
			map[string]plugins.Type{"n10": plugins.TypeFloat64, "ts": plugins.TypeString}},
		{"none", "connect_logical",
			map[string]any{"n5": big.NewRat(12345, 1), "n10": big.NewRat(1234567, 100), "nu": "1.5", "ts": tsAt, "tstz": tstzAt},
			map[string]plugins.Type{"n5": plugins.TypeBytes, "ts": plugins.TypeInt64}},
	} {
		t.Run(c.numeric+"/"+c.granularity, func(t *testing.T) {
			cfg := baseSourceConfig(schema, Mode, ModeBulk, NumericMapping, c.numeric, TimestampGranularity, c.granularity, DBTimezone, "Europe/Berlin")
			task := startSource(t, tasksFor(t, cfg, 1)[0], newMemOffsets())
			recs := pollUntil(t, task, newMemOffsets(), 10*time.Second, func(r []plugins.Record) bool { return len(r) >= 1 })
			checkRow(t, recs[0], c.want)
			for name, typ := range c.types {
				if f := recs[0].ValueSchema.Field(name); f == nil || f.Schema.Type != typ {
					t.Errorf("field %q schema %v, want type %s", name, f, typ)
				}
			}
		})
	}
}

// TestSourceDecimalUnscaled reads Decimals that table mode selects as
// their unscaled bigint (numeric(p,s), p <= 18, s >= 0) at the edges of
// that range, next to ones it does not (p > 18, s < 0), through every
// mode; and a NaN in such a column fails the scan with a hint, as it
// did through pgx's numeric codec.
func TestSourceDecimalUnscaled(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	mustExec(t, c, "CREATE DOMAIN "+schema+".cents AS numeric(12,2)")
	mustExec(t, c, "CREATE TABLE "+schema+".dec (id int PRIMARY KEY, upd timestamptz NOT NULL DEFAULT clock_timestamp(), a numeric(18,0), b numeric(18,18), c numeric(10,2), d numeric(3,5), e numeric(19,2), f numeric(5,-2), g "+schema+".cents, h numeric(10,2)[])")
	mustExec(t, c, "INSERT INTO "+schema+".dec (id, a, b, c, d, e, f, g, h) VALUES "+
		"(1, 999999999999999999, 0.999999999999999999, -12345678.90, 0.00123, 99999999999999999.99, 1234500, 1234567890.12, '{1.50,NULL,-2.25}'), "+
		"(2, -999999999999999999, -0.000000000000000001, 0, -0.00999, -0.01, -100, -0.10, '{}'), (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
	r := func(s string) *big.Rat {
		x, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("bad rat %q", s)
		}
		return x
	}
	want := map[int32]map[string]any{
		1: {"a": r("999999999999999999"), "b": r("0.999999999999999999"), "c": r("-12345678.90"), "d": r("0.00123"), "e": r("99999999999999999.99"),
			"f": r("1234500"), "g": r("1234567890.12"), "h": []any{r("1.5"), nil, r("-2.25")}},
		2: {"a": r("-999999999999999999"), "b": r("-0.000000000000000001"), "c": r("0"), "d": r("-0.00999"), "e": r("-0.01"), "f": r("-100"), "g": r("-0.1"), "h": []any{}},
		3: {"a": nil, "b": nil, "c": nil, "d": nil, "e": nil, "f": nil, "g": nil, "h": nil},
	}
	for _, mode := range []string{ModeBulk, ModeIncrementing, ModeTimestamp, ModeXmin} {
		t.Run(mode, func(t *testing.T) {
			cfg := baseSourceConfig(schema, Mode, mode, TimestampColumn, "upd", "table.whitelist", schema+".dec")
			task := startSource(t, tasksFor(t, cfg, 1)[0], newMemOffsets())
			recs := pollUntil(t, task, newMemOffsets(), 10*time.Second, func(r []plugins.Record) bool { return len(r) >= 3 })
			for _, rec := range recs {
				id := rec.Value.(*plugins.Struct).Get("id").(int32)
				checkRow(t, rec, want[id])
			}
			if f := recs[0].ValueSchema.Field("b"); f == nil || !f.Schema.Equal(plugins.DecimalSchema(18).AsOptional()) {
				t.Errorf("numeric(18,18) schema %v", f)
			}
		})
	}
	mustExec(t, c, "INSERT INTO "+schema+".dec (id, c) VALUES (4, 'NaN')")
	task := startSource(t, tasksFor(t, baseSourceConfig(schema, Mode, ModeBulk, "table.whitelist", schema+".dec"), 1)[0], newMemOffsets())
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		_, err = task.Poll(context.Background())
	}
	if err == nil || !strings.Contains(err.Error(), "NaN numeric cannot be represented as Decimal") {
		t.Errorf("NaN in numeric(10,2): %v, want the Decimal hint", err)
	}
}
