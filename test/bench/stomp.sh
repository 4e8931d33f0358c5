#!/usr/bin/env bash
# test/bench/stomp.sh: StompSource (queue → topic) and StompSink (topic →
# queue) against ActiveMQ from test/services, each next to the physical
# limit measured in the same run (a tight go-stomp consumer / producer, same
# ack mode, prefetch and persistence): issue 12's ratio target is ≥ 0.7.
# Run by `make bench` after the other benches, or alone.
#
# Env: STOMP_BENCH_N messages per run (30000), STOMP_BENCH_SIZE body bytes
# (1024), WEIR_BIN (default: bin/weir, built by make bench), WEIR_STOMP_PORT.
# Writes bench-results/stomp-<UTC time>.json. Loopback only; the weir serve
# it starts and its scratch dir are removed on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bin=${WEIR_BIN:-bin/weir}
[[ -x $bin ]] || go build -o "$bin" ./cmd/weir
bash test/services/activemq.sh start >/dev/null
mkdir -p bench-results
out=bench-results/stomp-$(date -u +%Y%m%dT%H%M%SZ).json
go run ./test/bench/stompbench -weir "$bin" -stomp "127.0.0.1:${WEIR_STOMP_PORT:-61613}" \
  -n "${STOMP_BENCH_N:-30000}" -size "${STOMP_BENCH_SIZE:-1024}" -out "$out"
echo "results: $out" >&2
