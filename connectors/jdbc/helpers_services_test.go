//go:build services

package jdbc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirlog/weir/plugins"
)

// pgURL is the PostgreSQL of test/services/postgres.sh.
func pgURL() string {
	port := os.Getenv("WEIR_PG_PORT")
	if port == "" {
		port = "5432"
	}
	return "postgres://weir:weir@127.0.0.1:" + port + "/weir?sslmode=disable"
}

func jdbcURL() string {
	return strings.Replace(strings.Replace(pgURL(), "postgres://weir:weir@", "jdbc:postgresql://", 1), "sslmode=disable", "user=weir&password=weir&sslmode=disable", 1)
}

// pgConn connects or fails the test loudly: these tests need the real
// PostgreSQL.
func pgConn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, pgURL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v\n(is it running? bash test/services/postgres.sh start)", pgURL(), err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// testSchema creates a fresh schema, dropped when the test ends.
func testSchema(t testing.TB, c *pgx.Conn) string {
	t.Helper()
	name := fmt.Sprintf("jt_%d", time.Now().UnixNano())
	mustExec(t, c, "CREATE SCHEMA "+name)
	t.Cleanup(func() {
		cc, err := pgx.Connect(context.Background(), pgURL())
		if err == nil {
			cc.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
			cc.Close(context.Background())
		}
	})
	return name
}

func mustExec(t testing.TB, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// memOffsets stands in for the runtime's offset store: it keeps the
// offset of every record handed back by Poll (as if acknowledged).
type memOffsets struct {
	mu sync.Mutex
	m  map[string]map[string]any
}

func newMemOffsets() *memOffsets { return &memOffsets{m: map[string]map[string]any{}} }

func pkey(p map[string]any) string { b, _ := json.Marshal(p); return string(b) }

func (o *memOffsets) Offset(p map[string]any) (map[string]any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.m[pkey(p)], nil
}

// commit stores offsets as the runtime does: through JSON, so numbers
// come back as the store decodes them.
func (o *memOffsets) commit(recs []plugins.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range recs {
		if r.SourcePartition == nil || r.SourceOffset == nil {
			continue
		}
		b, _ := json.Marshal(r.SourceOffset)
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		d.Decode(&m)
		o.m[pkey(r.SourcePartition)] = m
	}
}

type srcCtx struct{ o *memOffsets }

func (c srcCtx) Offsets() plugins.OffsetReader { return c.o }

// startSource starts a source task in-process over cfg.
func startSource(t testing.TB, cfg plugins.Config, offs *memOffsets) *SourceTask {
	t.Helper()
	task := &SourceTask{}
	if err := task.Start(srcCtx{offs}, cfg); err != nil {
		t.Fatalf("start source task: %v", err)
	}
	t.Cleanup(func() { task.Stop() })
	return task
}

// pollUntil polls until done says so or the deadline passes; every batch
// is committed to offs.
func pollUntil(t testing.TB, task *SourceTask, offs *memOffsets, timeout time.Duration, done func([]plugins.Record) bool) []plugins.Record {
	t.Helper()
	var all []plugins.Record
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		offs.commit(recs)
		all = append(all, recs...)
		if done(all) {
			return all
		}
	}
	t.Fatalf("timed out after %d records", len(all))
	return nil
}

func baseSourceConfig(schema string, extra ...string) plugins.Config {
	cfg := plugins.Config{
		ConnectionURL: jdbcURL(), SchemaPattern: schema, TopicPrefix: "pg-", PollInterval: "50",
		BatchMaxRows: "500", connectorNameConfig: "test",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	return cfg
}

// tasksFor runs the connector's TaskConfigs over the tables it lists.
func tasksFor(t testing.TB, cfg plugins.Config, max int) []plugins.Config {
	t.Helper()
	c := &SourceConnector{}
	if err := c.Start(&connCtx{}, cfg); err != nil {
		t.Fatalf("start source connector: %v", err)
	}
	defer c.Stop()
	tcs, err := c.TaskConfigs(max)
	if err != nil {
		t.Fatal(err)
	}
	return tcs
}

type connCtx struct {
	mu       sync.Mutex
	reconfig int
	err      error
}

func (c *connCtx) RequestTaskReconfiguration() { c.mu.Lock(); c.reconfig++; c.mu.Unlock() }
func (c *connCtx) RaiseError(err error)        { c.mu.Lock(); c.err = err; c.mu.Unlock() }
func (c *connCtx) count() int                  { c.mu.Lock(); defer c.mu.Unlock(); return c.reconfig }
