#!/usr/bin/env bash
# test/bench/jdbc.sh: the JDBC connectors vs PostgreSQL's COPY (issue 11),
# for `make bench` or alone. Needs the PostgreSQL of test/services/postgres.sh
# (started here if down).
#
# One table of JDBC_BENCH_ROWS rows (bigint key, int, text, numeric(10,2),
# timestamptz) in a fresh schema (dropped at the end). Measured in one run,
# on the same table: COPY (SELECT …) TO STDOUT read with pgx (the physical
# limit of reading) next to JdbcSource mode=bulk and mode=xmin (one task
# polled in-process until every row is a Connect record; no Kafka in the
# loop), and COPY … FROM STDIN with pgx (the physical limit of writing) next
# to JdbcSink insert mode (prebuilt records, JDBC_BENCH_BATCH per Put).
#
# Every connector run is paired with a COPY run just before it (the machine
# is shared; load moves both alike), and each ratio is the median over the
# JDBC_BENCH_ROUNDS pairs. Per run it prints rows/s, MB/s (the table's size
# as COPY text over the time) and the CPU per row of the client (this
# process) and of the PostgreSQL backend serving it, which do not depend on
# the machine's load; then the medians and the ratios against COPY
# (targets: bulk read >= 0.7, sink >= 0.5) on stdout, and writes everything
# to bench-results/jdbc-<UTC time>.json.
#
# Env: JDBC_BENCH_ROWS (1000000), JDBC_BENCH_BATCH (10000), JDBC_BENCH_ROUNDS (3),
# WEIR_PG_PORT (5432); arguments go to jdbcbench (e.g. -sink=false
# -cpuprofile cpu.prof: the source alone, profiled). About 4 minutes on 2 CPUs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
rows=${JDBC_BENCH_ROWS:-1000000}
batch=${JDBC_BENCH_BATCH:-10000}
rounds=${JDBC_BENCH_ROUNDS:-3}
port=${WEIR_PG_PORT:-5432}
bash test/services/postgres.sh start >&2
mkdir -p bench-results
out=bench-results/jdbc-$(date -u +%Y%m%dT%H%M%SZ).json
go run ./test/bench/jdbcbench -url "postgres://weir:weir@127.0.0.1:$port/weir?sslmode=disable" \
  -rows "$rows" -batch "$batch" -rounds "$rounds" -json "$out" "$@"
echo "results: $out" >&2
