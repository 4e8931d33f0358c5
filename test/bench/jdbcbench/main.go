// Command jdbcbench measures the JDBC connectors against PostgreSQL's own
// bulk paths on the same table in the same run (test/bench/jdbc.sh runs
// it): source rows/s (mode=bulk and mode=xmin, the task polled in-process,
// records fully built; -convert adds a run with the records through
// JsonConverter) next to COPY (SELECT …) TO STDOUT read with pgx, and
// sink rows/s (insert mode, records prebuilt) next to COPY … FROM STDIN
// with pgx. It prints one line per figure and, with -json, the results.
//
// The machine is shared, so each connector run is paired with a COPY run
// right before it and the ratio is taken per pair; the medians of rows/s
// and of the pair ratios are reported. MB/s is the table's size in COPY's
// text form over the time. CPU per row is counted apart from wall time:
// the client's (this process, getrusage) and the PostgreSQL backend's
// (/proc/<pid>/stat of the connection's server process, when readable),
// which do not depend on what else the machine runs. The process runs with
// weir serve's garbage-collector setting (core/gctune: GOGC=200 unless the
// environment sets GOGC), as the task would inside weir serve.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/weirlog/weir/connectors/jdbc"
	"github.com/weirlog/weir/core/gctune"
	"github.com/weirlog/weir/internal/testutil"
	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
)

var gcSetting string

type result struct {
	Rows           int        `json:"rows"`
	Rounds         int        `json:"rounds"`
	TableMB        float64    `json:"table_mb_copy_text"`
	CopyToRowsS    float64    `json:"copy_to_rows_s"`
	BulkRowsS      float64    `json:"source_bulk_rows_s"`
	XminRowsS      float64    `json:"source_xmin_rows_s"`
	CopyFromRowsS  float64    `json:"copy_from_rows_s"`
	SinkRowsS      float64    `json:"sink_insert_rows_s"`
	BulkRatio      float64    `json:"source_bulk_vs_copy"`
	XminRatio      float64    `json:"source_xmin_vs_copy"`
	BulkJSONRowsS  float64    `json:"source_bulk_json_rows_s,omitempty"`
	BulkJSONRatio  float64    `json:"source_bulk_json_vs_copy,omitempty"`
	SinkRatio      float64    `json:"sink_vs_copy"`
	BulkTarget     float64    `json:"source_bulk_target"`
	SinkTarget     float64    `json:"sink_target"`
	PostgresServer string     `json:"postgres"`
	GC             string     `json:"gc"` // the collector setting, weir serve's (core/gctune) unless GOGC is set
	Runs           []measured `json:"runs"`
}

// measured is one timed run: a COPY or a connector, with its pair's ratio.
type measured struct {
	Round          int     `json:"round"`
	What           string  `json:"what"`
	RowsS          float64 `json:"rows_s"`
	MBs            float64 `json:"mb_s"`
	ClientNsPerRow float64 `json:"client_cpu_ns_per_row"`
	ServerNsPerRow float64 `json:"server_cpu_ns_per_row,omitempty"` // 0: not readable
	AllocsPerRow   float64 `json:"client_allocs_per_row,omitempty"` // heap allocations of this process over the run
	BytesPerRow    float64 `json:"client_alloc_bytes_per_row,omitempty"`
	GCs            uint32  `json:"client_gcs,omitempty"`         // GC cycles of this process during the run
	PeakRSSMB      float64 `json:"client_peak_rss_mb,omitempty"` // VmHWM over the run (reset before it when the kernel allows)
	VsCopy         float64 `json:"vs_copy,omitempty"`            // connector runs: rows/s over the COPY run just before
}

func main() {
	url := flag.String("url", "postgres://weir:weir@127.0.0.1:5432/weir?sslmode=disable", "PostgreSQL URL")
	rows := flag.Int("rows", 1_000_000, "rows in the benchmark table")
	batch := flag.Int("batch", 10_000, "batch.max.rows of the source, records per Put of the sink")
	rounds := flag.Int("rounds", 3, "runs of every measurement; the median counts (the machine is shared)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the client here")
	memProfile := flag.String("memprofile", "", "write an allocation profile of the client here at the end (every allocation sampled)")
	sinkToo := flag.Bool("sink", true, "measure the sink too (false: the source runs alone, e.g. for a profile of them)")
	flag.BoolVar(&convert, "convert", false, "also run mode=bulk with every record's key and value through JsonConverter (its defaults: schemas.enable=true, weir's default converter), as weir's runtime converts them before producing: the converter's share of a source pipeline (the produce into the log is still not in the loop)")
	flag.Parse()
	// The task runs here as it runs in weir serve: with its GC setting.
	gcSetting = gctune.Apply()
	fmt.Fprintf(os.Stderr, "garbage collector: %s\n", gcSetting)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if *memProfile != "" {
		runtime.MemProfileRate = 1
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	if err := run(*url, *rows, *batch, max(*rounds, 1), *jsonOut, *sinkToo); err != nil {
		fmt.Fprintln(os.Stderr, "jdbcbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(url string, n, batch, rounds int, jsonOut string, sinkToo bool) error {
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
	res := result{Rows: n, Rounds: rounds, BulkTarget: 0.7, SinkTarget: 0.5, GC: gcSetting}
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

	var copyBytes int64
	{
		cw := &countWriter{}
		if _, err := conn.PgConn().CopyTo(ctx, cw, "COPY (SELECT * FROM "+schema+".src) TO STDOUT"); err != nil {
			return err
		}
		copyBytes = cw.n
		res.TableMB = float64(copyBytes) / 1e6
	}
	var copyPid int
	_ = conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&copyPid)
	report := func(r measured) {
		res.Runs = append(res.Runs, r)
		line := fmt.Sprintf("  round %d  %-25s %9.0f rows/s %7.1f MB/s  client %5.0f ns/row", r.Round, r.What, r.RowsS, r.MBs, r.ClientNsPerRow)
		if r.AllocsPerRow > 0 {
			line += fmt.Sprintf(" %4.1f allocs %4.0f B/row %3d GCs", r.AllocsPerRow, r.BytesPerRow, r.GCs)
		}
		if r.PeakRSSMB > 0 {
			line += fmt.Sprintf(" RSS %3.0f MB", r.PeakRSSMB)
		}
		if r.ServerNsPerRow > 0 {
			line += fmt.Sprintf("  server %5.0f ns/row", r.ServerNsPerRow)
		}
		if r.VsCopy > 0 {
			line += fmt.Sprintf("  %.2f of COPY", r.VsCopy)
		}
		fmt.Fprintln(os.Stderr, line)
	}
	timed := func(round int, what string, pid func() int, f func() error) (measured, error) {
		c0, s0 := cpuSelf(), -1.0
		if pid != nil {
			s0 = cpuOf(pid())
		}
		hwmReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		start := time.Now()
		if err := f(); err != nil {
			return measured{}, fmt.Errorf("%s: %w", what, err)
		}
		el := time.Since(start).Seconds()
		runtime.ReadMemStats(&m1)
		r := measured{Round: round, What: what, RowsS: float64(n) / el, MBs: float64(copyBytes) / 1e6 / el, ClientNsPerRow: (cpuSelf() - c0) / float64(n) * 1e9,
			AllocsPerRow: float64(m1.Mallocs-m0.Mallocs) / float64(n), BytesPerRow: float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n), GCs: m1.NumGC - m0.NumGC}
		if hwmReset {
			r.PeakRSSMB = peakRSS()
		}
		if pid != nil {
			if s1 := cpuOf(pid()); s1 >= 0 && s0 >= 0 {
				r.ServerNsPerRow = (s1 - s0) / float64(n) * 1e9
			}
		}
		return r, nil
	}
	copyTo := func(round int) (measured, error) {
		return timed(round, "COPY TO STDOUT", func() int { return copyPid }, func() error {
			_, err := conn.PgConn().CopyTo(ctx, io.Discard, "COPY (SELECT * FROM "+schema+".src) TO STDOUT")
			return err
		})
	}

	// The physical limit of reading: COPY TO STDOUT, discarded, right
	// before each source run (a pair; its ratio is the pair's).
	var copyToR, bulk, xmin, bulkVs, xminVs, conv, convVs []float64
	for r := 1; r <= rounds; r++ {
		modes := []string{"bulk", "xmin"}
		if convert {
			modes = append(modes, "bulk+json")
		}
		for _, mode := range modes {
			c, err := copyTo(r)
			if err != nil {
				return err
			}
			report(c)
			copyToR = append(copyToR, c.RowsS)
			app := fmt.Sprintf("jdbcbench-%s-%d", mode, r)
			var srcPid int
			s, err := timed(r, "JdbcSource mode="+mode, nil, func() error {
				var err error
				srcPid, err = sourceRun(url+"&application_name="+app, schema, mode, n, batch, func() int { return backendPid(conn, app) })
				return err
			})
			if err != nil {
				return err
			}
			if srcPid > 0 {
				// The task's backend served only this scan: its whole CPU counts.
				if sc := cpuOf(srcPid); sc >= 0 {
					s.ServerNsPerRow = sc / float64(n) * 1e9
				}
			}
			s.VsCopy = s.RowsS / c.RowsS
			report(s)
			switch mode {
			case "bulk":
				bulk, bulkVs = append(bulk, s.RowsS), append(bulkVs, s.VsCopy)
			case "xmin":
				xmin, xminVs = append(xmin, s.RowsS), append(xminVs, s.VsCopy)
			default:
				conv, convVs = append(conv, s.RowsS), append(convVs, s.VsCopy)
			}
		}
	}
	res.CopyToRowsS, res.BulkRowsS, res.XminRowsS = testutil.Median(copyToR), testutil.Median(bulk), testutil.Median(xmin)
	res.BulkRatio, res.XminRatio = testutil.Median(bulkVs), testutil.Median(xminVs)
	if convert {
		res.BulkJSONRowsS, res.BulkJSONRatio = testutil.Median(conv), testutil.Median(convVs)
	}

	// The physical limit of writing: COPY FROM STDIN of the same rows,
	// each round into a fresh table, then the sink into another.
	var copyFrom, sink, sinkVs []float64
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for r := 1; r <= rounds && sinkToo; r++ {
		tbl := fmt.Sprintf("copied%d", r)
		if _, err := conn.Exec(ctx, "CREATE TABLE "+schema+"."+tbl+ddl); err != nil {
			return err
		}
		c, err := timed(r, "COPY FROM STDIN", func() int { return copyPid }, func() error {
			i := 0
			_, err := conn.CopyFrom(ctx, pgx.Identifier{schema, tbl}, []string{"id", "qty", "item", "price", "at"}, pgx.CopyFromFunc(func() ([]any, error) {
				if i >= n {
					return nil, nil
				}
				i++
				return []any{int64(i), int32(i % 1000), fmt.Sprintf("item-%d", i), float64(i%10000) / 100, base.Add(time.Duration(i) * time.Second)}, nil
			}))
			return err
		})
		if err != nil {
			return err
		}
		report(c)
		copyFrom = append(copyFrom, c.RowsS)
		// The sink writes into a table like COPY's (same key and types).
		if _, err := conn.Exec(ctx, "CREATE TABLE "+schema+fmt.Sprintf(".sunk%d", r)+ddl); err != nil {
			return err
		}
		app := fmt.Sprintf("jdbcbench-sink-%d", r)
		rate, client, server, err := sinkRate(url+"&application_name="+app, schema, fmt.Sprintf("sunk%d", r), n, batch, func() int { return backendPid(conn, app) })
		if err != nil {
			return fmt.Errorf("sink: %w", err)
		}
		s := measured{Round: r, What: "JdbcSink insert", RowsS: rate, MBs: rate / float64(n) * float64(copyBytes) / 1e6,
			ClientNsPerRow: client, ServerNsPerRow: server, VsCopy: rate / c.RowsS}
		report(s)
		sink, sinkVs = append(sink, rate), append(sinkVs, s.VsCopy)
		conn.Exec(ctx, "DROP TABLE "+schema+"."+tbl+", "+schema+fmt.Sprintf(".sunk%d", r))
	}
	if sinkToo {
		res.CopyFromRowsS, res.SinkRowsS, res.SinkRatio = testutil.Median(copyFrom), testutil.Median(sink), testutil.Median(sinkVs)
	}

	mb := func(rowsS float64) float64 { return rowsS * float64(copyBytes) / float64(n) / 1e6 }
	fmt.Printf("jdbc bench (%d rows, %.0f MB as COPY text, median of %d rounds, PostgreSQL %s;\n", n, res.TableMB, rounds, res.PostgresServer)
	fmt.Printf("ratio = median over rounds of connector rows/s / COPY rows/s measured just before it):\n")
	fmt.Printf("  COPY TO STDOUT          %10.0f rows/s %7.1f MB/s\n", res.CopyToRowsS, mb(res.CopyToRowsS))
	fmt.Printf("  JdbcSource mode=bulk    %10.0f rows/s %7.1f MB/s   %.2f of COPY (target >= %.1f)\n", res.BulkRowsS, mb(res.BulkRowsS), res.BulkRatio, res.BulkTarget)
	fmt.Printf("  JdbcSource mode=xmin    %10.0f rows/s %7.1f MB/s   %.2f of COPY\n", res.XminRowsS, mb(res.XminRowsS), res.XminRatio)
	if convert {
		fmt.Printf("  JdbcSource bulk+json    %10.0f rows/s %7.1f MB/s   %.2f of COPY (records through JsonConverter, not produced)\n", res.BulkJSONRowsS, mb(res.BulkJSONRowsS), res.BulkJSONRatio)
	}
	if sinkToo {
		fmt.Printf("  COPY FROM STDIN         %10.0f rows/s %7.1f MB/s\n", res.CopyFromRowsS, mb(res.CopyFromRowsS))
		fmt.Printf("  JdbcSink insert         %10.0f rows/s %7.1f MB/s   %.2f of COPY (target >= %.1f)\n", res.SinkRowsS, mb(res.SinkRowsS), res.SinkRatio, res.SinkTarget)
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// peakRSS is this process's VmHWM in MB (0 when unreadable).
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuSelf is this process's CPU time in seconds.
func cpuSelf() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// cpuOf is the CPU time in seconds of process pid (a PostgreSQL backend on
// this machine), -1 when it cannot be read.
func cpuOf(pid int) float64 {
	if pid <= 0 {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// Fields after the parenthesized command: state is field 3, utime 14, stime 15.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// backendPid finds the server process of the connection named app.
func backendPid(conn *pgx.Conn, app string) int {
	var pid int
	_ = conn.QueryRow(context.Background(), "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app).Scan(&pid)
	return pid
}

var convert bool // -convert

type noOffsets struct{}

func (noOffsets) Offset(map[string]any) (map[string]any, error) { return nil, nil }

type srcCtx struct{}

func (srcCtx) Offsets() plugins.OffsetReader { return noOffsets{} }

// sourceRun polls one task until it has handed out all n rows once and
// returns the pid of its server process (pid is asked before the task stops).
func sourceRun(url, schema, mode string, n, batch int, pid func() int) (int, error) {
	task := &jdbc.SourceTask{}
	var kc, vc *jsonconv.JSONConverter
	if m, ok := strings.CutSuffix(mode, "+json"); ok {
		mode = m
		kc, vc = jsonconv.NewJSONConverter(), jsonconv.NewJSONConverter()
		for i, c := range []*jsonconv.JSONConverter{kc, vc} {
			if err := c.Configure(plugins.Config{}, i == 0); err != nil {
				return 0, err
			}
		}
	}
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
		for i := range recs {
			if kc == nil {
				break
			}
			r := &recs[i]
			if _, err := kc.FromConnect(r.Topic, r.KeySchema, r.Key); err != nil {
				return 0, err
			}
			if _, err := vc.FromConnect(r.Topic, r.ValueSchema, r.Value); err != nil {
				return 0, err
			}
		}
		if time.Since(start) > 10*time.Minute {
			return 0, fmt.Errorf("only %d of %d rows after 10 minutes", got, n)
		}
	}
	return pid(), nil
}

// sinkRate Puts n prebuilt records into a fresh table, batch per Put.
// It returns rows/s, the client's CPU per row and the server backend's
// (0 when unreadable) over the timed part.
func sinkRate(url, schema, topic string, n, batch int, pid func() int) (float64, float64, float64, error) {
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
		return 0, 0, 0, err
	}
	defer task.Stop()
	// Connect and read the table's columns outside the timing.
	if err := task.Put(context.Background(), recs[:1]); err != nil {
		return 0, 0, 0, err
	}
	backend := pid()
	c0, s0 := cpuSelf(), cpuOf(backend)
	start := time.Now()
	for i := 1; i < n; i += batch {
		if err := task.Put(context.Background(), recs[i:min(i+batch, n)]); err != nil {
			return 0, 0, 0, err
		}
	}
	el := time.Since(start).Seconds()
	server := 0.0
	if s1 := cpuOf(backend); s0 >= 0 && s1 >= 0 {
		server = (s1 - s0) / float64(n-1) * 1e9
	}
	return float64(n-1) / el, (cpuSelf() - c0) / float64(n-1) * 1e9, server, nil
}
