//go:build services

package jdbc

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weirlog/weir/plugins"
)

// proxied returns a JDBC URL through a TestProxy to the test PostgreSQL.
func proxied(t *testing.T) (*TestProxy, string) {
	t.Helper()
	addr := strings.TrimPrefix(strings.SplitN(pgURL(), "/weir?", 2)[0], "postgres://weir:weir@")
	p, err := NewTestProxy(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, "jdbc:postgresql://" + p.Addr() + "/weir?user=weir&password=weir&sslmode=disable"
}

// TestSourceRetriesThroughOutage: while PostgreSQL is unreachable (mid
// scan) Poll returns retriable errors; afterwards every row arrives once.
func TestSourceRetriesThroughOutage(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	mustExec(t, c, "CREATE TABLE "+schema+".o (id bigint PRIMARY KEY, v text)")
	// Ten transactions of 100 rows: an offset names a transaction, so a
	// scan cut at a transaction boundary resumes without duplicates (cut
	// inside one, that transaction's rows come again).
	for i := 0; i < 10; i++ {
		mustExec(t, c, "INSERT INTO "+schema+".o SELECT g, 'v' FROM generate_series($1::int8, $1::int8 + 99) g", i*100+1)
	}
	p, url := proxied(t)
	cfg := baseSourceConfig(schema, Mode, ModeXmin, BatchMaxRows, "100", ConnectionURL, url, ConnectionAttempts, "1", ConnectionBackoff, "10")
	offs := newMemOffsets()
	task := startSource(t, tasksFor(t, cfg, 1)[0], offs)
	seen := map[int64]int{}
	count := func(recs []plugins.Record) {
		offs.commit(recs)
		for _, r := range recs {
			seen[r.Value.(*plugins.Struct).Get("id").(int64)]++
		}
	}
	for len(seen) < 200 {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		count(recs)
	}
	if err := p.Down(); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "INSERT INTO "+schema+".o SELECT g, 'during' FROM generate_series(1001, 1500) g")
	// The scan's rows may already sit in the client's buffer when the
	// proxy cuts the connection, so polls can go on serving them: poll
	// until the task has to reach the database (at most the 10 polls the
	// first scan's 1,000 rows take, then the next scan's connect).
	retriable := 0
	for i := 0; i < 15 && retriable == 0; i++ {
		recs, err := task.Poll(context.Background())
		var re *plugins.Retriable
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("poll while down: %v is not retriable", err)
		}
		if err != nil {
			retriable++
		}
		count(recs)
	}
	if retriable == 0 {
		t.Fatal("no retriable error while PostgreSQL was unreachable")
	}
	if err := p.Up(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 1500 && time.Now().Before(deadline) {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatalf("poll after the outage: %v", err)
		}
		count(recs)
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if len(seen) != 1500 || dups != 0 {
		var missing []int64
		for id := int64(1); id <= 1500; id++ {
			if seen[id] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) > 10 {
			missing = append(missing[:5], missing[len(missing)-5:]...)
		}
		t.Errorf("after the outage: %d of 1500 rows, %d duplicates; missing (first and last) %v", len(seen), dups, missing)
	}
}

// TestSinkRetriesThroughOutage: a Put while PostgreSQL is unreachable is
// retriable; redelivered afterwards, the rows are written once.
func TestSinkRetriesThroughOutage(t *testing.T) {
	c := pgConn(t)
	schema := testSchema(t, c)
	p, url := proxied(t)
	task := startSink(t, nil, ConnectionURL, url, ConnectionAttempts, "1", ConnectionBackoff, "10", TableNameFormat, schema+".o",
		AutoCreate, "true", ExactlyOnce, "true", ExactlyOnceTable, schema+".offs", MaxRetries, "5")
	ctx := context.Background()
	var recs []plugins.Record
	for i := int64(0); i < 300; i++ {
		recs = append(recs, order(i, i, "x", 1))
	}
	if err := task.Put(ctx, recs[:100]); err != nil {
		t.Fatal(err)
	}
	p.Down()
	err := task.Put(ctx, recs[100:200])
	var re *plugins.Retriable
	if !errors.As(err, &re) {
		t.Fatalf("put while down: %v, want a retriable error", err)
	}
	p.Up()
	if err := task.Put(ctx, recs[100:200]); err != nil {
		t.Fatalf("redelivery after the outage: %v", err)
	}
	if err := task.Put(ctx, recs[100:300]); err != nil {
		t.Fatal(err)
	}
	var n, distinct int
	if err := c.QueryRow(ctx, "SELECT count(*), count(DISTINCT id) FROM "+schema+".o").Scan(&n, &distinct); err != nil || n != 300 || distinct != 300 {
		t.Errorf("rows %d (distinct %d), %v; want 300", n, distinct, err)
	}
}
