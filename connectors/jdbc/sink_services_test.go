//go:build services

package jdbc

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirlog/weir/plugins"
)

type sinkCtx struct {
	errant []*plugins.Record
	dlq    bool
}

func (c *sinkCtx) Assignment() []plugins.TopicPartition    { return nil }
func (c *sinkCtx) Pause(...plugins.TopicPartition)         {}
func (c *sinkCtx) Resume(...plugins.TopicPartition)        {}
func (c *sinkCtx) RequestCommit()                          {}
func (c *sinkCtx) Offset(map[plugins.TopicPartition]int64) {}
func (c *sinkCtx) ErrantRecordReporter() func(*plugins.Record, error) {
	if !c.dlq {
		return nil
	}
	return func(r *plugins.Record, _ error) { c.errant = append(c.errant, r) }
}

func startSink(t testing.TB, tctx plugins.SinkTaskContext, kv ...string) *SinkTask {
	t.Helper()
	cfg := plugins.Config{ConnectionURL: jdbcURL(), connectorNameConfig: "sink-test", MaxRetries: "1", RetryBackoff: "10"}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i]] = kv[i+1]
	}
	task := &SinkTask{}
	if tctx == nil {
		tctx = &sinkCtx{}
	}
	if err := task.Start(tctx, cfg); err != nil {
		t.Fatalf("start sink: %v", err)
	}
	if err := task.Open([]plugins.TopicPartition{{Topic: "orders", Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

var (
	orderKey   = plugins.StructBuilder().Field("id", plugins.Int64Schema).MustBuild()
	orderValue = plugins.StructBuilder().Name("orders").Field("id", plugins.Int64Schema).Field("item", plugins.StringSchema).
			Field("qty", plugins.OptionalInt32Schema).Field("price", plugins.DecimalSchema(2).AsOptional()).
			Field("at", plugins.TimestampSchema().AsOptional()).MustBuild()
	orderValue2 = plugins.BuilderFrom(orderValue).Field("note", plugins.OptionalStringSchema).MustBuild()
)

func order(off int64, id int64, item string, qty int32) plugins.Record {
	k := plugins.NewStruct(orderKey).MustPut("id", id)
	v := plugins.NewStruct(orderValue).MustPut("id", id).MustPut("item", item).MustPut("qty", qty).
		MustPut("price", big.NewRat(int64(qty)*150, 100)).MustPut("at", time.UnixMilli(1700000000000+off).UTC())
	return plugins.Record{Topic: "orders", Partition: 0, Offset: off, Key: k, KeySchema: orderKey, Value: v, ValueSchema: orderValue}
}

func tombstone(off, id int64) plugins.Record {
	return plugins.Record{Topic: "orders", Partition: 0, Offset: off, Key: plugins.NewStruct(orderKey).MustPut("id", id), KeySchema: orderKey}
}

// tableRows renders a table sorted by its first column, for comparisons.
func tableRows(t testing.TB, c *pgx.Conn, sql string) []string {
	t.Helper()
	rows, err := c.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		strs := make([]string, len(vals))
		for i, v := range vals {
			strs[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(strs, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSinkUpsertIdempotentDeletesEvolve(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	task := startSink(t, nil, TableNameFormat, schema+".${topic}", InsertMode, "upsert", PKMode, "record_key",
		DeleteEnabled, "true", AutoCreate, "true", AutoEvolve, "true", BatchSize, "7")
	ctx := context.Background()
	var recs []plugins.Record
	for i := int64(0); i < 100; i++ {
		recs = append(recs, order(i, i%40, fmt.Sprintf("item-%d", i), int32(i)))
	}
	// delete then re-insert of 5 in one batch ends inserted; 6 ends
	// deleted; a tombstone for a key never written is a no-op.
	recs = append(recs, tombstone(100, 5), order(101, 5, "again", 1), tombstone(102, 6), tombstone(103, 999))
	if err := task.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	q := "SELECT id, item, qty, price, at FROM " + schema + ".orders ORDER BY id"
	first := tableRows(t, c, q)
	if len(first) != 39 {
		t.Fatalf("%d rows, want 39 (40 keys, one deleted)", len(first))
	}
	if !strings.HasPrefix(first[5], "5 again 1") {
		t.Errorf("row 5 = %s, want re-inserted", first[5])
	}
	// Replaying the topic (twice) leaves the same table.
	for range 2 {
		if err := task.Put(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if again := tableRows(t, c, q); strings.Join(again, "\n") != strings.Join(first, "\n") {
			t.Fatalf("replay changed the table:\n%v\nvs\n%v", again, first)
		}
	}
	// auto.evolve: a new optional field becomes a column.
	v := plugins.NewStruct(orderValue2).MustPut("id", int64(1)).MustPut("item", "evolved").MustPut("note", "hello")
	if err := task.Put(ctx, []plugins.Record{{Topic: "orders", Offset: 200, Key: plugins.NewStruct(orderKey).MustPut("id", int64(1)), KeySchema: orderKey, Value: v, ValueSchema: orderValue2}}); err != nil {
		t.Fatal(err)
	}
	got := tableRows(t, c, "SELECT item, note FROM "+schema+".orders WHERE id = 1")
	if len(got) != 1 || got[0] != "evolved hello" {
		t.Errorf("after auto.evolve: %v", got)
	}
	// A required field without default cannot be added.
	bad := plugins.BuilderFrom(orderValue).Field("must", plugins.StringSchema).MustBuild()
	bv := plugins.NewStruct(bad).MustPut("id", int64(2)).MustPut("item", "x").MustPut("must", "m")
	err := task.Put(ctx, []plugins.Record{{Topic: "orders", Offset: 201, Key: plugins.NewStruct(orderKey).MustPut("id", int64(2)), KeySchema: orderKey, Value: bv, ValueSchema: bad}})
	if err == nil || !strings.Contains(err.Error(), "required") {
		t.Errorf("required new field: %v", err)
	}
}

func TestSinkModes(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	ctx := context.Background()

	// pk.mode=kafka, insert: one row per record, keyed by coordinates.
	task := startSink(t, nil, TableNameFormat, schema+".k_${topic}", PKMode, "kafka", AutoCreate, "true", FieldsWhitelist, "item")
	if err := task.Put(ctx, []plugins.Record{order(0, 1, "a", 1), order(1, 1, "b", 2)}); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, c, "SELECT * FROM "+schema+".k_orders ORDER BY 3"); strings.Join(got, ";") != "orders 0 0 a;orders 0 1 b" {
		t.Errorf("pk.mode=kafka: %v", got)
	}

	// pk.mode=record_value with pk.fields, upsert.
	task = startSink(t, nil, TableNameFormat, schema+".v_${topic}", PKMode, "record_value", PKFields, "item", InsertMode, "upsert", AutoCreate, "true")
	if err := task.Put(ctx, []plugins.Record{order(0, 1, "a", 1), order(1, 2, "a", 7), order(2, 3, "b", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, c, "SELECT item, id, qty FROM "+schema+".v_orders ORDER BY 1"); strings.Join(got, ";") != "a 2 7;b 3 1" {
		t.Errorf("pk.mode=record_value: %v", got)
	}

	// A primitive key names its column with pk.fields; schemaless maps.
	task = startSink(t, nil, TableNameFormat, schema+".p_${topic}", PKMode, "record_key", PKFields, "sku", InsertMode, "upsert", AutoCreate, "true")
	recs := []plugins.Record{
		{Topic: "orders", Offset: 0, Key: "A-1", KeySchema: plugins.StringSchema, Value: map[string]any{"name": "mug", "qty": int64(3), "tags": []any{"x"}}},
		{Topic: "orders", Offset: 1, Key: "B-2", KeySchema: plugins.StringSchema, Value: map[string]any{"name": "cup", "qty": int64(4), "tags": []any{}}},
	}
	if err := task.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, c, "SELECT sku, name, qty, tags::text FROM "+schema+".p_orders ORDER BY 1"); strings.Join(got, ";") != `A-1 mug 3 ["x"];B-2 cup 4 []` {
		t.Errorf("primitive key, schemaless: %v", got)
	}

	// update mode changes existing rows only.
	task = startSink(t, nil, TableNameFormat, schema+".v_${topic}", PKMode, "record_value", PKFields, "item", InsertMode, "update")
	if err := task.Put(ctx, []plugins.Record{order(5, 9, "a", 100), order(6, 9, "zzz", 100)}); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, c, "SELECT item, id, qty FROM "+schema+".v_orders ORDER BY 1"); strings.Join(got, ";") != "a 9 100;b 3 1" {
		t.Errorf("update mode: %v", got)
	}

	// A missing table without auto.create is a clear error.
	task = startSink(t, nil, TableNameFormat, schema+".nope")
	if err := task.Put(ctx, []plugins.Record{order(0, 1, "a", 1)}); err == nil || !strings.Contains(err.Error(), "auto.create") {
		t.Errorf("missing table: %v", err)
	}

	// A record the database refuses goes to the DLQ; the others are written.
	mustExec(t, c, "CREATE TABLE "+schema+".strict (id bigint PRIMARY KEY, item text CHECK (item <> 'bad'), qty int, price numeric, at timestamp)")
	dlq := &sinkCtx{dlq: true}
	task = startSink(t, dlq, TableNameFormat, schema+".strict", PKMode, "record_key", InsertMode, "upsert")
	if err := task.Put(ctx, []plugins.Record{order(0, 1, "ok", 1), order(1, 2, "bad", 1), order(2, 3, "fine", 1)}); err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, c, "SELECT id FROM "+schema+".strict ORDER BY 1"); strings.Join(got, ";") != "1;3" || len(dlq.errant) != 1 || dlq.errant[0].Offset != 1 {
		t.Errorf("poison record: rows %v, errant %d", got, len(dlq.errant))
	}
}

// TestSinkExactlyOnceResumesFromDatabase: a task that crashed after
// writing (before the group commit) is handed the records again; with
// exactly.once the offsets table makes it skip what it already wrote.
func TestSinkExactlyOnceResumesFromDatabase(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	ctx := context.Background()
	kv := []string{TableNameFormat, schema + ".eos", AutoCreate, "true", ExactlyOnce, "true", ExactlyOnceTable, schema + ".offsets"}
	task := startSink(t, nil, kv...)
	batch := func(from, to int64) []plugins.Record {
		var out []plugins.Record
		for i := from; i < to; i++ {
			out = append(out, order(i, i, "x", 1))
		}
		return out
	}
	if err := task.Put(ctx, batch(0, 1000)); err != nil {
		t.Fatal(err)
	}
	task.Stop() // crash: the group never saw a commit

	task = startSink(t, nil, kv...)
	if err := task.Put(ctx, batch(0, 1500)); err != nil {
		t.Fatal(err)
	}
	var n, distinct int
	if err := c.QueryRow(ctx, "SELECT count(*), count(DISTINCT id) FROM "+schema+".eos").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != 1500 || distinct != 1500 {
		t.Errorf("rows %d (distinct %d), want 1500", n, distinct)
	}
	var next int64
	if err := c.QueryRow(ctx, "SELECT next_offset FROM "+schema+".offsets WHERE connector = 'sink-test' AND topic = 'orders' AND kafka_partition = 0").Scan(&next); err != nil || next != 1500 {
		t.Errorf("stored offset %d, %v; want 1500", next, err)
	}
}

// TestSinkExactlyOnceCleanStopLetsGroupOffsetsWin: after a clean stop
// (final PreCommit, Close, Stop) the group holds the table's offsets, so
// offsets moved while stopped (KIP-875 PATCH) take effect: the records
// from there are written again.
func TestSinkExactlyOnceCleanStopLetsGroupOffsetsWin(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	ctx := context.Background()
	kv := []string{TableNameFormat, schema + ".eos", AutoCreate, "true", ExactlyOnce, "true", ExactlyOnceTable, schema + ".offsets"}
	tp := plugins.TopicPartition{Topic: "orders", Partition: 0}
	batch := func(from, to int64) []plugins.Record {
		var out []plugins.Record
		for i := from; i < to; i++ {
			out = append(out, order(i, i, "x", 1))
		}
		return out
	}
	task := startSink(t, nil, kv...)
	if err := task.Put(ctx, batch(0, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := task.PreCommit(ctx, map[plugins.TopicPartition]int64{tp: 1000}); err != nil {
		t.Fatal(err)
	}
	task.Close([]plugins.TopicPartition{tp})
	task.Stop()

	task = startSink(t, nil, kv...) // the group was moved back to 500 meanwhile
	if err := task.Put(ctx, batch(500, 1000)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM "+schema+".eos").Scan(&n); err != nil || n != 1500 {
		t.Errorf("rows %d, %v; want 1500 (500 written again after the offsets moved)", n, err)
	}
	// A crash now (no PreCommit after the write) keeps the table in charge.
	task.Close([]plugins.TopicPartition{tp})
	task.Stop()
	task = startSink(t, nil, kv...)
	if err := task.Put(ctx, batch(900, 1000)); err != nil {
		t.Fatal(err)
	}
	if err := c.QueryRow(ctx, "SELECT count(*) FROM "+schema+".eos").Scan(&n); err != nil || n != 1500 {
		t.Errorf("after a crash: rows %d, %v; want 1500", n, err)
	}
}
