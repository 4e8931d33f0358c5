#!/usr/bin/env bash
# test/bench/run.sh: weir vs Apache Kafka, side by side (`make bench`).
#
# Builds bin/weir, then runs test/bench/harness, which for each of
# BENCH_ROUNDS rounds starts a fresh `weir serve` and a fresh Apache Kafka
# (test/services/kafka.sh) with empty data dirs under BENCH_WORKDIR (same
# disk), and measures with the same client (`weir bench`, franz-go):
#   produce throughput (1 KiB, acks=all, unlimited rate), p99 latency at a
#   fixed rate, consume throughput, cold start to first ack, peak RSS;
#   plus kafka-producer-perf-test (the Java client) when kafka-cli.sh exists.
# Prints medians, ratios weir/Kafka and the targets; writes
# bench-results/bench-<UTC time>.json. Extra arguments go to the harness
# (e.g. -rounds 1 -records 100000 -targets weir; see -h).
#
# Not part of `make test`: it takes several minutes and wants a quiet machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

rounds=${BENCH_ROUNDS:-3}
records=${BENCH_RECORDS:-300000}
workdir=${BENCH_WORKDIR:-/tmp/weir-bench}

echo "bench: building bin/weir and the harness" >&2
mkdir -p bin
go build -o bin/weir ./cmd/weir
go build -o bin/weir-bench-harness ./test/bench/harness

exec bin/weir-bench-harness -repo . -weir bin/weir -workdir "$workdir" \
  -rounds "$rounds" -records "$records" -out bench-results "$@"
