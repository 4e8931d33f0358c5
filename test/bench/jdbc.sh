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
# Prints rows/s and the ratios (targets: bulk read >= 0.7 of COPY, sink >=
# 0.5 of COPY) and writes bench-results/jdbc-<UTC time>.json.
#
# Every measurement runs JDBC_BENCH_ROUNDS times; medians are reported.
# Env: JDBC_BENCH_ROWS (1000000), JDBC_BENCH_BATCH (10000), JDBC_BENCH_ROUNDS (3),
# WEIR_PG_PORT (5432).
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
  -rows "$rows" -batch "$batch" -rounds "$rounds" -json "$out"
echo "results: $out" >&2
