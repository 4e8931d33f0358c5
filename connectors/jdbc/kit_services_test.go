//go:build services

package jdbc_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirlog/weir/connectors/conformance"
	"github.com/weirlog/weir/connectors/jdbc"
	"github.com/weirlog/weir/plugins"
)

// The acceptance kit against JdbcSource and JdbcSink on the real
// PostgreSQL. Each stream gets its own PostgreSQL schema (one table, the
// same name in every schema, so the records' schemas do not depend on the
// stream) and its own loopback TCP proxy in front of PostgreSQL: the
// external system going down is the proxy refusing and cutting every
// connection of that stream, the server itself stays up for everyone else.

func TestMain(m *testing.M) { os.Exit(conformance.Main(m)) }

func kitOptions() conformance.Options {
	return conformance.Options{Records: 4000, Outage: 3 * time.Second}
}

// The two kits and the row-skipping test run in parallel: each starts its
// own weir serve processes and PostgreSQL schemas, and most of their time
// is waiting (restarts, outages, poll intervals), which keeps the
// package's test time under three minutes.
func TestJdbcSourceKit(t *testing.T) {
	t.Parallel()
	h := &pgHarness{source: true}
	t.Cleanup(h.cleanup)
	conformance.Run(t, pgSource{h}, kitOptions())
}

func TestJdbcSinkKit(t *testing.T) {
	t.Parallel()
	h := &pgHarness{}
	t.Cleanup(h.cleanup)
	conformance.Run(t, pgSink{h}, kitOptions())
}

func pgAddr() string {
	port := os.Getenv("WEIR_PG_PORT")
	if port == "" {
		port = "5432"
	}
	return "127.0.0.1:" + port
}

func pgAdmin(ctx context.Context) (*pgx.Conn, error) {
	c, err := pgx.Connect(ctx, "postgres://weir:weir@"+pgAddr()+"/weir?sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL at %s (is it running? bash test/services/postgres.sh start): %w", pgAddr(), err)
	}
	return c, nil
}

const (
	kitTable = "kit_rows"
	idBase   = 100_000_000
)

var (
	keySchema   = plugins.StructBuilder().Field("id", plugins.Int64Schema).MustBuild()
	valueSchema = plugins.StructBuilder().Name(kitTable).Field("id", plugins.Int64Schema).Field("payload", plugins.OptionalStringSchema).MustBuild()
	sinkValue   = plugins.StructBuilder().Field("id", plugins.Int64Schema).Field("payload", plugins.OptionalStringSchema).MustBuild()
	unsafeChars = regexp.MustCompile(`[^a-z0-9_]`)
)

// pgSource and pgSink are the two harnesses (a harness is a source or a
// sink by the methods it has); pgHarness holds what they share.
type pgSource struct{ *pgHarness }
type pgSink struct{ *pgHarness }

// pgHarness is the source or the sink harness.
type pgHarness struct {
	source bool

	mu      sync.Mutex
	streams map[string]*pgStream
}

type pgStream struct {
	schema string
	proxy  *jdbc.TestProxy
}

func (h *pgHarness) Class() string {
	if h.source {
		return "io.confluent.connect.jdbc.JdbcSourceConnector"
	}
	return "io.confluent.connect.jdbc.JdbcSinkConnector"
}

// The source delivers at least once (offsets commit after the log has the
// records); the sink with exactly.once=true writes its offsets with the
// rows, so a crash neither loses nor duplicates a row.
func (h *pgHarness) Guarantee() conformance.Guarantee {
	if h.source {
		return conformance.AtLeastOnce
	}
	return conformance.ExactlyOnce
}

func (h *pgHarness) Carries() conformance.Fields {
	if h.source {
		return conformance.Keys | conformance.Values | conformance.Schemas
	}
	return conformance.Values
}

// stream returns (creating) the PostgreSQL schema and proxy of s.
func (h *pgHarness) stream(s *conformance.Stream) *pgStream {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streams == nil {
		h.streams = map[string]*pgStream{}
	}
	if ps := h.streams[s.Name]; ps != nil {
		return ps
	}
	ps := &pgStream{schema: fmt.Sprintf("kit_%s_%d", unsafeChars.ReplaceAllString(strings.ToLower(s.Name), "_"), time.Now().UnixNano())}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgAdmin(ctx)
	if err != nil {
		panic(err)
	}
	defer c.Close(ctx)
	ddl := "CREATE SCHEMA " + ps.schema
	if h.source {
		ddl += "; CREATE TABLE " + ps.schema + "." + kitTable + " (id bigint PRIMARY KEY, payload text)"
	}
	if _, err := c.Exec(ctx, ddl); err != nil {
		panic(fmt.Sprintf("%s: %v", ddl, err))
	}
	if ps.proxy, err = jdbc.NewTestProxy(pgAddr()); err != nil {
		panic(err)
	}
	h.streams[s.Name] = ps
	return ps
}

func (h *pgHarness) cleanup() {
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgAdmin(ctx)
	for _, ps := range h.streams {
		ps.proxy.Close()
		if err == nil {
			c.Exec(ctx, "DROP SCHEMA IF EXISTS "+ps.schema+" CASCADE")
		}
	}
	if err == nil {
		c.Close(ctx)
	}
}

func (h *pgHarness) Config(s *conformance.Stream) map[string]string {
	ps := h.stream(s)
	cfg := map[string]string{
		"connection.url":        "jdbc:postgresql://" + ps.proxy.Addr() + "/weir?sslmode=disable",
		"connection.user":       "weir",
		"connection.password":   "weir",
		"connection.attempts":   "1",
		"connection.backoff.ms": "200",
	}
	if h.source {
		// The connector names the topic: prefix + table.
		prefix := s.Topic + "."
		s.Topic = prefix + kitTable
		cfg["mode"] = "xmin"
		cfg["schema.pattern"] = ps.schema
		cfg["table.whitelist"] = kitTable
		cfg["topic.prefix"] = prefix
		cfg["poll.interval.ms"] = "100"
		cfg["batch.max.rows"] = "500"
		cfg["table.poll.interval.ms"] = "1000"
		return cfg
	}
	cfg["table.name.format"] = ps.schema + "." + kitTable
	cfg["insert.mode"] = "insert"
	cfg["pk.mode"] = "none"
	cfg["auto.create"] = "true"
	cfg["exactly.once"] = "true"
	cfg["exactly.once.offsets.table"] = ps.schema + ".offsets"
	cfg["retry.backoff.ms"] = "200"
	cfg["max.retries"] = "100"
	return cfg
}

func (h *pgHarness) Record(i int) plugins.Record {
	payload := strconv.Itoa(idBase + i)
	if h.source {
		return plugins.Record{
			Key: plugins.NewStruct(keySchema).MustPut("id", int64(i)), KeySchema: keySchema,
			Value: plugins.NewStruct(valueSchema).MustPut("id", int64(i)).MustPut("payload", payload), ValueSchema: valueSchema,
		}
	}
	return plugins.Record{
		Key: plugins.NewStruct(keySchema).MustPut("id", int64(i)), KeySchema: keySchema,
		Value: plugins.NewStruct(sinkValue).MustPut("id", int64(i)).MustPut("payload", payload), ValueSchema: sinkValue,
	}
}

func (h *pgHarness) ID(r plugins.Record) (int, bool) {
	v, ok := r.Value.(*plugins.Struct)
	if !ok || !v.Has("id") {
		return 0, false
	}
	id, ok := v.Get("id").(int64)
	return int(id), ok && id >= 0
}

// Write inserts rows [from, to) in one transaction.
func (h pgSource) Write(ctx context.Context, s *conformance.Stream, from, to int) error {
	ps := h.stream(s)
	c, err := pgAdmin(ctx)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	ids := make([]int64, 0, to-from)
	for i := from; i < to; i++ {
		ids = append(ids, int64(i))
	}
	_, err = c.Exec(ctx, "INSERT INTO "+ps.schema+"."+kitTable+" SELECT i, ($2::int8 + i)::text FROM unnest($1::int8[]) AS i", ids, idBase)
	return err
}

// Poison inserts a row whose payload is no number: PoisonConfig casts the
// payload to int64, which it cannot survive.
func (h pgSource) Poison(ctx context.Context, s *conformance.Stream) error {
	ps := h.stream(s)
	c, err := pgAdmin(ctx)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "INSERT INTO "+ps.schema+"."+kitTable+" VALUES (-1, 'poison: not a number')")
	return err
}

func (h pgSource) PoisonConfig() map[string]string {
	return map[string]string{
		"transforms":          "num",
		"transforms.num.type": "org.apache.kafka.connect.transforms.Cast$Value",
		"transforms.num.spec": "payload:int64",
	}
}

// Read returns the rows the sink wrote, in the order the table holds them.
func (h pgSink) Read(ctx context.Context, s *conformance.Stream) ([]plugins.Record, error) {
	ps := h.stream(s)
	c, err := pgAdmin(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT id, payload FROM "+ps.schema+"."+kitTable+" ORDER BY ctid")
	if err != nil {
		if strings.Contains(err.Error(), "42P01") {
			return nil, nil // not created yet
		}
		return nil, err
	}
	var out []plugins.Record
	var id int64
	var payload *string
	_, err = pgx.ForEachRow(rows, []any{&id, &payload}, func() error {
		v := plugins.NewStruct(sinkValue).MustPut("id", id)
		if payload != nil {
			v.MustPut("payload", *payload)
		}
		out = append(out, plugins.Record{Value: v, ValueSchema: sinkValue})
		return nil
	})
	return out, err
}

func (h *pgHarness) Down(_ context.Context, s *conformance.Stream) error {
	return h.stream(s).proxy.Down()
}
func (h *pgHarness) Up(_ context.Context, s *conformance.Stream) error { return h.stream(s).proxy.Up() }

// BadValues adds the connectors' own keys to the Config scenario.
func (h pgSource) BadValues() map[string]string {
	return map[string]string{"mode": "sometimes", "batch.max.rows": "0", "db.timezone": "Mars/Olympus",
		"numeric.mapping": "wild", "poll.interval.ms": "-5", "table.types": "SEQUENCE"}
}

func (h pgSink) BadValues() map[string]string {
	return map[string]string{"insert.mode": "merge", "pk.mode": "everything", "batch.size": "0",
		"quote.sql.identifiers": "sometimes", "max.retries": "-1"}
}
