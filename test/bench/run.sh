#!/usr/bin/env bash
# test/bench/run.sh: weir vs Apache Kafka, side by side (`make bench`).
#
# Builds bin/weir and test/bench/harness, which measures both brokers the
# way a sceptic would (see the harness's package doc and the README's
# "Benchmarks" section): Kafka's own kafka-producer-perf-test and
# kafka-consumer-perf-test and franz-go, all at their default client
# settings, 1 KiB records, acks=all, 500 MB per run, fresh data dirs on one
# disk, page cache dropped before every broker start, 3 interleaved rounds
# in alternating order; per-round figures, medians and ratios weir/Kafka,
# with broker CPU-seconds per GB and peak RSS next to MB/s and latency; and
# weir serve --fsync under 16 producers against dd conv=fdatasync (500 MB each). Writes
# bench-results/bench-<UTC time>.json. About 15 minutes on 2 CPUs, after up
# to 2 minutes of waiting for the load of the build to settle (-settle).
#
# Env: BENCH_QUICK=1 (100 MB, 1 round: for development, ~3 minutes),
# BENCH_ROUNDS, BENCH_MB, BENCH_WORKDIR (/tmp/weir-bench; put it on the disk
# you mean to measure). Extra arguments go to the harness (-h lists them).
# Dropping the page cache needs root; without it the rounds start warm and
# the header says so.
#
# Its weir listens on 127.0.0.1:24092/24083 and its Kafka on 24192/24193, so
# the shared services (Kafka on 19092) keep running. Not part of `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

args=()
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
  args+=(-rounds 1 -mb 100 -warmup-mb 50 -latency-seconds 6 -fsync-mb 50)
fi
[[ -n ${BENCH_ROUNDS:-} ]] && args+=(-rounds "$BENCH_ROUNDS")
[[ -n ${BENCH_MB:-} ]] && args+=(-mb "$BENCH_MB")
workdir=${BENCH_WORKDIR:-/tmp/weir-bench}

echo "bench: building bin/weir and the harness" >&2
mkdir -p bin
go build -o bin/weir ./cmd/weir
go build -o bin/weir-bench-harness ./test/bench/harness

exec bin/weir-bench-harness -repo . -weir bin/weir -workdir "$workdir" -out bench-results "${args[@]}" "$@"
