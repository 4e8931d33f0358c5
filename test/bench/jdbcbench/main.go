// Command jdbcbench measures the JDBC connectors against PostgreSQL's own
// bulk paths on the same table in the same run (test/bench/jdbc.sh runs
// it): source rows/s (mode=bulk and mode=xmin, the task polled in-process,
// records fully built) next to COPY (SELECT …) TO STDOUT read with pgx, and
// sink rows/s (insert mode, records prebuilt) next to COPY … FROM STDIN
// with pgx. It prints one line per figure and, with -json, the results.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirlog/weir/connectors/jdbc"
	"github.com/weirlog/weir/plugins"
)

type result struct {
	Rows           int     `json:"rows"`
	Rounds         int     `json:"rounds"`
	CopyToRowsS    float64 `json:"copy_to_rows_s"`
	BulkRowsS      float64 `json:"source_bulk_rows_s"`
	XminRowsS      float64 `json:"source_xmin_rows_s"`
	CopyFromRowsS  float64 `json:"copy_from_rows_s"`
	SinkRowsS      float64 `json:"sink_insert_rows_s"`
	BulkRatio      float64 `json:"source_bulk_vs_copy"`
	XminRatio      float64 `json:"source_xmin_vs_copy"`
	SinkRatio      float64 `json:"sink_vs_copy"`
	BulkTarget     float64 `json:"source_bulk_target"`
	SinkTarget     float64 `json:"sink_target"`
	PostgresServer string  `json:"postgres"`
}

func main() {
	url := flag.String("url", "postgres://weir:weir@127.0.0.1:5432/weir?sslmode=disable", "PostgreSQL URL")
	rows := flag.Int("rows", 1_000_000, "rows in the benchmark table")
	batch := flag.Int("batch", 10_000, "batch.max.rows of the source, records per Put of the sink")
	rounds := flag.Int("rounds", 3, "runs of every measurement; the median counts (the machine is shared)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the client here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*url, *rows, *batch, max(*rounds, 1), *jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "jdbcbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(url string, n, batch, rounds int, jsonOut string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect (is it running? bash test/services/postgres.sh start): %w", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("jdbcbench_%d", time.Now().Unix())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	res := result{Rows: n, Rounds: rounds, BulkTarget: 0.7, SinkTarget: 0.5}
	_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&res.PostgresServer)

	ddl := " (id bigint PRIMARY KEY, qty integer NOT NULL, item text NOT NULL, price numeric(10,2), at timestamptz NOT NULL)"
	fmt.Fprintf(os.Stderr, "filling %s.src with %d rows\n", schema, n)
	if _, err := conn.Exec(ctx, "CREATE TABLE "+schema+".src"+ddl); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "INSERT INTO "+schema+".src SELECT g, g % 1000, 'item-' || g, (g % 10000) / 100.0, '2024-01-01'::timestamptz + g * interval '1 second' FROM generate_series(1, $1) g", n); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE "+schema+".src"); err != nil {
		return err
	}

	// The physical limit of reading: COPY TO STDOUT, discarded. Each
	// round measures COPY and both source modes back to back.
	var copyTo, bulk, xmin []float64
	for r := 0; r < rounds; r++ {
		start := time.Now()
		if _, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY (SELECT * FROM "+schema+".src) TO STDOUT"); err != nil {
			return err
		}
		copyTo = append(copyTo, float64(n)/time.Since(start).Seconds())
		for _, mode := range []string{"bulk", "xmin"} {
			rate, err := sourceRate(url, schema, mode, n, batch)
			if err != nil {
				return fmt.Errorf("source %s: %w", mode, err)
			}
			if mode == "bulk" {
				bulk = append(bulk, rate)
			} else {
				xmin = append(xmin, rate)
			}
		}
	}
	res.CopyToRowsS, res.BulkRowsS, res.XminRowsS = median(copyTo), median(bulk), median(xmin)

	// The physical limit of writing: COPY FROM STDIN of the same rows,
	// each round into a fresh table, then the sink into another.
	var copyFrom, sink []float64
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for r := 0; r < rounds; r++ {
		tbl := fmt.Sprintf("copied%d", r)
		if _, err := conn.Exec(ctx, "CREATE TABLE "+schema+"."+tbl+ddl); err != nil {
			return err
		}
		start := time.Now()
		i := 0
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{schema, tbl}, []string{"id", "qty", "item", "price", "at"}, pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			i++
			return []any{int64(i), int32(i % 1000), fmt.Sprintf("item-%d", i), float64(i%10000) / 100, base.Add(time.Duration(i) * time.Second)}, nil
		})); err != nil {
			return err
		}
		copyFrom = append(copyFrom, float64(n)/time.Since(start).Seconds())
		// The sink writes into a table like COPY's (same key and types).
		if _, err := conn.Exec(ctx, "CREATE TABLE "+schema+fmt.Sprintf(".sunk%d", r)+ddl); err != nil {
			return err
		}
		rate, err := sinkRate(url, schema, fmt.Sprintf("sunk%d", r), n, batch)
		if err != nil {
			return fmt.Errorf("sink: %w", err)
		}
		sink = append(sink, rate)
		conn.Exec(ctx, "DROP TABLE "+schema+"."+tbl+", "+schema+fmt.Sprintf(".sunk%d", r))
	}
	res.CopyFromRowsS, res.SinkRowsS = median(copyFrom), median(sink)
	res.BulkRatio = res.BulkRowsS / res.CopyToRowsS
	res.XminRatio = res.XminRowsS / res.CopyToRowsS
	res.SinkRatio = res.SinkRowsS / res.CopyFromRowsS

	fmt.Printf("jdbc bench (%d rows, median of %d rounds, PostgreSQL %s):\n", n, rounds, res.PostgresServer)
	fmt.Printf("  COPY TO STDOUT          %10.0f rows/s\n", res.CopyToRowsS)
	fmt.Printf("  JdbcSource mode=bulk    %10.0f rows/s   %.2f of COPY (target >= %.1f)\n", res.BulkRowsS, res.BulkRatio, res.BulkTarget)
	fmt.Printf("  JdbcSource mode=xmin    %10.0f rows/s   %.2f of COPY\n", res.XminRowsS, res.XminRatio)
	fmt.Printf("  COPY FROM STDIN         %10.0f rows/s\n", res.CopyFromRowsS)
	fmt.Printf("  JdbcSink insert         %10.0f rows/s   %.2f of COPY (target >= %.1f)\n", res.SinkRowsS, res.SinkRatio, res.SinkTarget)
	if jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

type noOffsets struct{}

func (noOffsets) Offset(map[string]any) (map[string]any, error) { return nil, nil }

type srcCtx struct{}

func (srcCtx) Offsets() plugins.OffsetReader { return noOffsets{} }

// sourceRate polls one task until it has handed out all n rows once.
func sourceRate(url, schema, mode string, n, batch int) (float64, error) {
	task := &jdbc.SourceTask{}
	cfg := plugins.Config{
		"connection.url": url, "mode": mode, "topic.prefix": "b-", "batch.max.rows": fmt.Sprint(batch),
		"poll.interval.ms": "3600000", "tables": fmt.Sprintf(`[{"schema":%q,"name":"src"}]`, schema),
	}
	if err := task.Start(srcCtx{}, cfg); err != nil {
		return 0, err
	}
	defer task.Stop()
	start := time.Now()
	got := 0
	for got < n {
		recs, err := task.Poll(context.Background())
		if err != nil {
			return 0, err
		}
		got += len(recs)
		if time.Since(start) > 10*time.Minute {
			return 0, fmt.Errorf("only %d of %d rows after 10 minutes", got, n)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// sinkRate Puts n prebuilt records into a fresh table, batch per Put.
func sinkRate(url, schema, topic string, n, batch int) (float64, error) {
	vs := plugins.StructBuilder().Field("id", plugins.Int64Schema).Field("qty", plugins.Int32Schema).Field("item", plugins.StringSchema).
		Field("price", plugins.DecimalSchema(2).AsOptional()).Field("at", plugins.TimestampSchema()).MustBuild()
	recs := make([]plugins.Record, n)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range recs {
		v := plugins.NewStruct(vs).MustPut("id", int64(i+1)).MustPut("qty", int32(i%1000)).MustPut("item", fmt.Sprintf("item-%d", i+1)).
			MustPut("price", big.NewRat(int64(i%10000), 100)).MustPut("at", base.Add(time.Duration(i)*time.Second))
		recs[i] = plugins.Record{Topic: topic, Partition: 0, Offset: int64(i), Value: v, ValueSchema: vs}
	}
	task := &jdbc.SinkTask{}
	cfg := plugins.Config{"connection.url": url, "table.name.format": schema + ".${topic}", "batch.size": fmt.Sprint(batch), "name": "jdbcbench"}
	if err := task.Start(nil, cfg); err != nil {
		return 0, err
	}
	defer task.Stop()
	// Connect and read the table's columns outside the timing.
	if err := task.Put(context.Background(), recs[:1]); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 1; i < n; i += batch {
		if err := task.Put(context.Background(), recs[i:min(i+batch, n)]); err != nil {
			return 0, err
		}
	}
	return float64(n-1) / time.Since(start).Seconds(), nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
