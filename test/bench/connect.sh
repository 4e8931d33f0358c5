#!/usr/bin/env bash
# test/bench/connect.sh: weir's connector runtime vs Kafka Connect (issue 5),
# run by `make bench` after test/bench/run.sh, or alone.
#
# One `weir serve` (fresh data dir, loopback ports) is the broker for both
# sides; its embedded connector runtime is weir's side. Apache Kafka's
# connect-standalone (test/services/kafka-cli.sh: the Maven Central jars and
# its FileStream connectors on plugin.path) points at the same broker. Both
# processes run for the whole benchmark; a warm-up run per side (not
# recorded) comes first.
#
# Workload per run: an input file of CONNECT_BENCH_LINES lines of ~100 bytes,
# FileStreamSource (batch.size CONNECT_BENCH_BATCH) → a fresh 1-partition
# topic → FileStreamSink to a fresh output file, tasks.max 1, StringConverter
# for keys and values, the same connector configs on both sides, created over
# the Kafka Connect REST API (POST /connectors) by test/bench/connectbench,
# which times from the first POST until the output file has all lines
# (records/s = lines / elapsed), and also reports when the topic's end offset
# reached the line count (source only) and when the file had 99% of the lines.
# Sides alternate (ABBA order across rounds); CONNECT_BENCH_ROUNDS rounds
# each. Prints medians, the ratio weir/Kafka Connect and the target (≥ 2), and
# writes bench-results/connect-<UTC time>.json.
#
# Env: CONNECT_BENCH_ROUNDS (3), CONNECT_BENCH_LINES (500000),
# CONNECT_BENCH_BATCH (2000), CONNECT_BENCH_WARMUP_LINES (= LINES, so the JVM is
# JIT-warm; 0 skips the warm-up), CONNECT_BENCH_TIMEOUT seconds per run (600),
# CONNECT_BENCH_PORT_BASE (41000: weir Kafka +92, weir HTTP +83, Connect REST
# +183), CONNECT_BENCH_WORKDIR parent of the scratch dir (/tmp),
# KAFKA_HEAP_OPTS for the Connect worker (kafka-cli.sh's default).
# Only 127.0.0.1 is used; every wait is bounded; every process and the scratch
# dir are removed on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$PWD

rounds=${CONNECT_BENCH_ROUNDS:-3}
lines=${CONNECT_BENCH_LINES:-500000}
batch=${CONNECT_BENCH_BATCH:-2000}
warm_lines=${CONNECT_BENCH_WARMUP_LINES:-$lines}
run_timeout=${CONNECT_BENCH_TIMEOUT:-600}
base=${CONNECT_BENCH_PORT_BASE:-41000}
weir_kafka=127.0.0.1:$((base + 92))
weir_http=127.0.0.1:$((base + 83))
connect_rest=127.0.0.1:$((base + 183))
outdir=$repo/bench-results

ts() { date +%H:%M:%S; }
say() { echo "$(ts)  $*" >&2; }
die() { say "connect-bench: ERROR: $*"; exit 1; }

[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "CONNECT_BENCH_ROUNDS must be a positive integer"
[[ $lines =~ ^[1-9][0-9]*$ ]] || die "CONNECT_BENCH_LINES must be a positive integer"
[[ $warm_lines =~ ^[0-9]+$ ]] || die "CONNECT_BENCH_WARMUP_LINES must be an integer"
command -v jq >/dev/null || die "jq is required (apt-get install jq)"
command -v curl >/dev/null || die "curl is required"

port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }
for a in "$weir_kafka" "$weir_http" "$connect_rest"; do
  port_open "$a" && die "$a is already in use; set CONNECT_BENCH_PORT_BASE to a free range"
done

work=$(mktemp -d "${CONNECT_BENCH_WORKDIR:-/tmp}/weir-connect-bench.XXXXXX")
weir_pid='' connect_pid=''
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in $connect_pid $weir_pid; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $connect_pid $weir_pid; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if ((rc != 0)); then
    for f in weir.log connect.log; do
      [[ -s $work/$f ]] && { say "last lines of $f:"; tail -n 30 "$work/$f" >&2; }
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "connect-bench: building bin/weir and test/bench/connectbench"
mkdir -p bin "$outdir"
go build -o bin/weir ./cmd/weir
go build -o bin/weir-connectbench ./test/bench/connectbench

# Input: line i is "<i padded to 10> " + 89 filler characters (100 bytes with \n).
gen_input() { # file n
  awk -v n="$2" 'BEGIN {
    f = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz";
    for (i = 1; i <= n; i++) printf "%010d %s\n", i, f }' >"$1"
}
say "connect-bench: writing $lines input lines (+ $warm_lines warm-up) under $work"
gen_input "$work/input.txt" "$lines"
((warm_lines > 0)) && gen_input "$work/warm.txt" "$warm_lines"

wait_until() { # timeout_s description command...
  local t=$1 what=$2 start=$SECONDS; shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS - start < t)) || die "$what not ready after ${t}s"
    sleep 0.2
  done
}
alive() { kill -0 "$1" 2>/dev/null; }

say "connect-bench: starting weir serve (broker + connector runtime) on $weir_kafka, HTTP $weir_http"
bin/weir serve --data-dir "$work/weir-data" --kafka-addr "$weir_kafka" --http-addr "$weir_http" --connect-file-allowed-dirs "$work" \
  --log-level warn >"$work/weir.log" 2>&1 &
weir_pid=$!
wait_until 60 "weir" bash -c "kill -0 $weir_pid && curl -sf --max-time 2 http://$weir_http/connectors"

# kafka-cli.sh's jars (installed here when missing; first run: minutes).
kafka_home=$(SVC=kafka-cli bash -c 'source test/services/lib.sh; source test/services/kafka/kafka-lib.sh
  mkdir -p "$WEIR_PEERS_CACHE"; kafka_install >&2; echo "$KAFKA_HOME"') ||
  die "could not install Apache Kafka's jars"
cat >"$work/worker.properties" <<EOF
bootstrap.servers=$weir_kafka
offset.storage.file.filename=$work/connect.offsets
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
listeners=http://$connect_rest
plugin.path=$kafka_home/plugins
EOF
say "connect-bench: starting Kafka Connect (connect-standalone) on REST $connect_rest"
bash test/services/kafka-cli.sh connect-standalone "$work/worker.properties" >"$work/connect.log" 2>&1 &
connect_pid=$! # kafka-cli.sh execs java: this is the JVM
wait_until 180 "Kafka Connect" bash -c "kill -0 $connect_pid && curl -sf --max-time 2 http://$connect_rest/connectors"

side_rest() { [[ $1 == weir ]] && echo "http://$weir_http" || echo "http://$connect_rest"; }

# one_run SIDE ROUND INPUT LINES: prints connectbench's JSON (plus loadavg) on stdout.
one_run() {
  local side=$1 round=$2 in=$3 n=$4 name topic load json
  name=bench-$side-r$round
  topic=$name
  alive "$weir_pid" || die "weir serve exited"
  alive "$connect_pid" || die "Kafka Connect exited"
  bin/weir topic create "$topic" --partitions 1 -b "$weir_kafka" >/dev/null
  load=$(cut -d' ' -f1 /proc/loadavg)
  json=$(bin/weir-connectbench -rest "$(side_rest "$side")" -bootstrap "$weir_kafka" -name "$name" \
    -label "$side r$round" -in "$in" -out "$work/$name.out" -topic "$topic" -lines "$n" \
    -batch-size "$batch" -timeout "${run_timeout}s") || die "$side round $round failed"
  rm -f "$work/$name.out"
  bin/weir topic delete "$topic" -b "$weir_kafka" >/dev/null 2>&1 || true
  jq -c --arg side "$side" --argjson round "$round" --argjson load "$load" \
    '. + {side: $side, round: $round, loadavg_1m_at_start: $load}' <<<"$json"
}

fmt_run() { # json
  jq -r '"\(.label): \(.records_per_sec | floor) rec/s end to end (\(.sink_ms / 1000 * 100 | floor / 100)s), source \(.source_records_per_sec | floor) rec/s, 99% of file \(.sink99_records_per_sec | floor) rec/s, load \(.loadavg_1m_at_start)"' <<<"$1"
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if ((warm_lines > 0)); then
  for side in weir kafka-connect; do
    say "connect-bench: warm-up $side ($warm_lines lines, not recorded)"
    j=$(one_run "$side" 0 "$work/warm.txt" "$warm_lines")
    say "  $(fmt_run "$j")"
  done
fi

: >"$work/runs.jsonl"
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order="weir kafka-connect"; else order="kafka-connect weir"; fi
  for side in $order; do
    say "connect-bench: round $r/$rounds $side ($lines lines)"
    j=$(one_run "$side" "$r" "$work/input.txt" "$lines")
    echo "$j" >>"$work/runs.jsonl"
    say "  $(fmt_run "$j")"
  done
done

stamp=$(date -u +%Y%m%d-%H%M%S)
out=$outdir/connect-$stamp.json
jq -s --arg started "$started" --arg finished "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --argjson rounds "$rounds" --argjson lines "$lines" --argjson batch "$batch" \
  --argjson warm "$warm_lines" --arg broker "weir serve $weir_kafka" \
  --arg host "$(uname -srm), $(nproc) cores, go $(go env GOVERSION)" '
  def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def med(side; k): map(select(.side == side) | .[k]) | median;
  . as $runs
  | {started: $started, finished: $finished, host: $host,
     config: {rounds: $rounds, lines: $lines, line_bytes: 100, batch_size: $batch, tasks_max: 1,
              warmup_lines: $warm, converter: "StringConverter", broker: $broker,
              kafka_connect: "Apache Kafka connect-standalone (test/services/kafka-cli.sh)",
              order: "ABBA: odd rounds weir first, even rounds Kafka Connect first"},
     runs: $runs,
     medians: ([["weir", "kafka-connect"][] as $s | {key: $s, value: {
                records_per_sec: ($runs | med($s; "records_per_sec")),
                source_records_per_sec: ($runs | med($s; "source_records_per_sec")),
                sink99_records_per_sec: ($runs | med($s; "sink99_records_per_sec")),
                sink_ms: ($runs | med($s; "sink_ms")),
                last_1pct_ms: ($runs | map(select(.side == $s) | .sink_ms - .sink99_ms) | median)}}] | from_entries)}
  | .ratios_weir_over_kafka_connect = {
      records_per_sec: (.medians.weir.records_per_sec / .medians["kafka-connect"].records_per_sec),
      source_records_per_sec: (.medians.weir.source_records_per_sec / .medians["kafka-connect"].source_records_per_sec),
      sink99_records_per_sec: (.medians.weir.sink99_records_per_sec / .medians["kafka-connect"].sink99_records_per_sec)}
  | .targets = {records_per_sec: ">= 2"}
  | .target_met = (.ratios_weir_over_kafka_connect.records_per_sec >= 2)
  ' "$work/runs.jsonl" >"$out"

echo
jq -r '"connector runtime, FileStreamSource -> topic -> FileStreamSink: \(.config.lines) lines x 100 B, batch.size \(.config.batch_size), medians of \(.config.rounds) rounds each, alternating"' "$out"
jq -r '
  def f: if . == null then "-" else (. | round | tostring) end;
  def r: if . == null then "-" else (. * 100 | round / 100 | tostring) + "x" end;
  (["metric", "weir", "Kafka Connect", "weir/KC", "target"] | @tsv),
  (["end-to-end rec/s", (.medians.weir.records_per_sec | f), (.medians["kafka-connect"].records_per_sec | f),
    (.ratios_weir_over_kafka_connect.records_per_sec | r),
    ">= 2x " + (if .target_met then "MET" else "NOT MET" end)] | @tsv),
  (["source-only rec/s", (.medians.weir.source_records_per_sec | f), (.medians["kafka-connect"].source_records_per_sec | f),
    (.ratios_weir_over_kafka_connect.source_records_per_sec | r), ""] | @tsv),
  (["99%-of-file rec/s", (.medians.weir.sink99_records_per_sec | f), (.medians["kafka-connect"].sink99_records_per_sec | f),
    (.ratios_weir_over_kafka_connect.sink99_records_per_sec | r), ""] | @tsv),
  (["last 1% of file, ms", (.medians.weir.last_1pct_ms | f), (.medians["kafka-connect"].last_1pct_ms | f), "", ""] | @tsv)
  ' "$out" | column -t -s $'\t'
echo "(end to end: first POST /connectors until the output file has every line; a FileStreamSink that"
echo " buffers writes shows its last lines only at its next flush, i.e. offset commit: offset.flush.interval.ms)"
echo
say "connect-bench: results in ${out#"$repo"/}"
