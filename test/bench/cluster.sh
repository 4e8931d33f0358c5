#!/usr/bin/env bash
# test/bench/cluster.sh: the replicated row of `make bench` (issue 10):
# 3 weir nodes vs 3 Apache Kafka nodes (KRaft, combined broker+controller,
# the version test/services/kafka/pom.xml names) on this machine, same disk,
# same run, systems alternating (ABBA across rounds), fresh data dirs each.
#
# Per system and round, on topics with RF=3 and min.insync.replicas=2:
#   (warm-up)   CLUSTER_BENCH_WARMUP_MB MB produced first, not measured
#   throughput  weir bench produce, acks=all, 1 KiB records, 3 partitions,
#               CLUSTER_BENCH_MB MB, franz-go defaults otherwise (MB/s)
#   latency     the same client at CLUSTER_BENCH_RATE records/s (at its
#               defaults, and with linger 0: the target is judged on that) for
#               CLUSTER_BENCH_SECONDS s (first 2 s left out): p99 ack latency
#   failover    test/bench/clusterbench: acks=all to a 1-partition topic, kill -9
#               the partition leader's process, time to the first acks=all
#               acknowledgement after the kill (ms)
# Prints the medians, the ratios weir/Kafka and the issue's targets
# (throughput ≥ 1.5×, p99 ≤ 0.5×, failover ≤ 0.5×), and writes
# bench-results/cluster-<UTC time>.json. A system that fails a step gets
# "fail" in its cell and the reason below the table; the script then exits 1.
#
# Env: CLUSTER_BENCH_ROUNDS (2), CLUSTER_BENCH_MB (300), CLUSTER_BENCH_RATE
# (1000), CLUSTER_BENCH_WARMUP_MB (50), CLUSTER_BENCH_SECONDS (20), CLUSTER_BENCH_PORT_BASE (26000: weir
# Kafka +1..3, Raft +11..13, HTTP +21..23; Kafka +101..103, controllers
# +111..113), BENCH_WORKDIR (/tmp/weir-bench; the scratch dir is cluster/
# under it), KAFKA_HEAP_OPTS per Kafka node (-Xms512m -Xmx1g), WEIR_BIN.
# Only 127.0.0.1; the shared Kafka on 19092 and make bench's ports are left
# alone; every process it starts is stopped on exit. Not part of make test.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SVC=cluster-bench
source test/services/lib.sh
source test/services/kafka/kafka-lib.sh
set +e

ROUNDS=${CLUSTER_BENCH_ROUNDS:-2}
MB=${CLUSTER_BENCH_MB:-300}
WARM=${CLUSTER_BENCH_WARMUP_MB:-50}
RATE=${CLUSTER_BENCH_RATE:-1000}
SECS=${CLUSTER_BENCH_SECONDS:-20}
BASE=${CLUSTER_BENCH_PORT_BASE:-26000}
WORK=${BENCH_WORKDIR:-/tmp/weir-bench}/cluster
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}
RECORDS=$((MB * 1024))

say() { echo "cluster-bench: $*" >&2; }

mkdir -p bin bench-results "$WORK"
if [[ -z ${WEIR_BIN:-} ]]; then
  say "building bin/weir and bin/clusterbench"
  go build -o bin/weir ./cmd/weir || exit 1
  WEIR_BIN=$ROOT/bin/weir
fi
go build -o bin/clusterbench ./test/bench/clusterbench || exit 1
kafka_install || exit 1

declare -A PID
SEEDS=""
stop_all() {
  local k
  for k in "${!PID[@]}"; do kill -TERM "${PID[$k]}" 2>/dev/null; done
  for k in "${!PID[@]}"; do
    for _ in $(seq 1 100); do kill -0 "${PID[$k]}" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "${PID[$k]}" 2>/dev/null
    wait "${PID[$k]}" 2>/dev/null
  done
  PID=()
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 5; i++)); do port_open 127.0.0.1 "$1" && return 0; sleep 0.2; done
  return 1
}

# wait_node: node k's own process listens on port. A port open while the
# process has exited is someone else's (a node that failed to bind would
# otherwise be measured as a 2-node cluster).
wait_node() { # k port seconds
  wait_port "$2" "$3" && kill -0 "${PID[$1]}" 2>/dev/null
}

# ports_free: none of the ports is taken before a system starts on them.
ports_free() { # port...
  local p
  for p in "$@"; do
    if port_open 127.0.0.1 "$p"; then
      say "port $p is taken by another process ($(ss -Hltnp "sport = :$p" 2>/dev/null | head -1)); set CLUSTER_BENCH_PORT_BASE to a free range"
      return 1
    fi
  done
}

# ---- weir: 3 voters ----------------------------------------------------------
weir_voters() { echo "1@127.0.0.1:$((BASE + 11)),2@127.0.0.1:$((BASE + 12)),3@127.0.0.1:$((BASE + 13))"; }
weir_node() { # k
  local k=$1
  "$WEIR_BIN" serve --node-id "$k" --data-dir "$DIR/n$k" \
    --kafka-addr "127.0.0.1:$((BASE + k))" --advertised-kafka-addr "127.0.0.1:$((BASE + k))" \
    --raft-addr "127.0.0.1:$((BASE + 10 + k))" --controller-voters "$(weir_voters)" \
    --http-addr "127.0.0.1:$((BASE + 20 + k))" >>"$DIR/n$k.log" 2>&1 &
  PID[$k]=$!
}
start_weir() {
  local k
  SEEDS="127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2)),127.0.0.1:$((BASE + 3))"
  ports_free $((BASE + 1)) $((BASE + 2)) $((BASE + 3)) $((BASE + 11)) $((BASE + 12)) $((BASE + 13)) $((BASE + 21)) $((BASE + 22)) $((BASE + 23)) || return 1
  for k in 1 2 3; do weir_node "$k"; done
  for k in 1 2 3; do
    wait_node "$k" $((BASE + k)) 60 || { say "weir node $k not listening; log:"; tail -5 "$DIR/n$k.log" >&2; return 1; }
  done
}
restart_weir() { weir_node "$1"; wait_node "$1" $((BASE + $1)) 60; }

# ---- Apache Kafka: 3 combined KRaft nodes -------------------------------------
kafka_props() { # k
  local k=$1
  cat <<P
process.roles=broker,controller
node.id=$k
controller.quorum.voters=1@127.0.0.1:$((BASE + 111)),2@127.0.0.1:$((BASE + 112)),3@127.0.0.1:$((BASE + 113))
listeners=PLAINTEXT://127.0.0.1:$((BASE + 100 + k)),CONTROLLER://127.0.0.1:$((BASE + 110 + k))
advertised.listeners=PLAINTEXT://127.0.0.1:$((BASE + 100 + k))
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/n$k
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
P
}
kafka_node() {
  local k=$1
  (kafka_java "$SERVICES_SRC/kafka/log4j2-broker.properties" kafka.Kafka "$DIR/n$k.properties") >>"$DIR/n$k.log" 2>&1 &
  PID[$k]=$!
}
start_kafka() {
  local k id
  SEEDS="127.0.0.1:$((BASE + 101)),127.0.0.1:$((BASE + 102)),127.0.0.1:$((BASE + 103))"
  id=$( (kafka_java "$SERVICES_SRC/kafka/log4j2-tools.properties" kafka.tools.StorageTool random-uuid)) || return 1
  for k in 1 2 3; do
    kafka_props "$k" >"$DIR/n$k.properties"
    (kafka_java "$SERVICES_SRC/kafka/log4j2-tools.properties" kafka.tools.StorageTool format \
      -t "$id" -c "$DIR/n$k.properties") >>"$DIR/n$k.log" 2>&1 || { say "kafka format n$k failed"; return 1; }
  done
  ports_free $((BASE + 101)) $((BASE + 102)) $((BASE + 103)) $((BASE + 111)) $((BASE + 112)) $((BASE + 113)) || return 1
  for k in 1 2 3; do kafka_node "$k"; done
  for k in 1 2 3; do
    wait_node "$k" $((BASE + 100 + k)) 120 || { say "kafka node $k not listening; log:"; tail -5 "$DIR/n$k.log" >&2; return 1; }
  done
}
restart_kafka() { kafka_node "$1"; wait_node "$1" $((BASE + 100 + $1)) 120; }

create_topic() { # name partitions
  local i
  for i in $(seq 1 60); do # a fresh cluster may still be electing
    "$WEIR_BIN" topic create "$1" -b "$SEEDS" -p "$2" -r 3 -c min.insync.replicas=2 --if-not-exists >/dev/null 2>&1 && return 0
    sleep 1
  done
  "$WEIR_BIN" topic create "$1" -b "$SEEDS" -p "$2" -r 3 -c min.insync.replicas=2 --if-not-exists
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
FAILS=$WORK/fails.txt
: >"$FAILS"
record() { echo "{\"system\":\"$1\",\"round\":$2,\"step\":\"$3\",\"result\":$4}" >>"$RESULTS"; }
fail() { say "$1 round $2 $3: $4"; echo "$1 round $2 $3: $4" >>"$FAILS"; }

one_round() { # system round
  local sys=$1 r=$2 out pids k
  DIR=$WORK/$sys-$r
  rm -rf "$DIR"; mkdir -p "$DIR"
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
  say "$sys round $r: starting 3 nodes"
  if ! "start_$sys"; then fail "$sys" "$r" start "cluster did not start (logs in $DIR)"; stop_all; return; fi
  for t in "warm:3" "tp:3" "lat:3" "fo:1"; do
    create_topic "bench-${t%%:*}" "${t##*:}" || { fail "$sys" "$r" topics "cannot create RF=3 topics"; stop_all; return; }
  done
  if ((WARM > 0)); then # JIT and page cache warm, connections made: not measured
    say "$sys round $r: warm-up, $WARM MB (not measured)"
    "$WEIR_BIN" bench produce -b "$SEEDS" --topic bench-warm --records $((WARM * 1024)) --record-size 1024 \
      --partitions 3 --acks all --json --progress-interval 0 >/dev/null 2>"$DIR/warm.err" ||
      fail "$sys" "$r" warm-up "$(tail -1 "$DIR/warm.err")"
  fi
  say "$sys round $r: throughput, $MB MB acks=all"
  if out=$("$WEIR_BIN" bench produce -b "$SEEDS" --topic bench-tp --records "$RECORDS" --record-size 1024 \
    --partitions 3 --acks all --json --progress-interval 0 2>"$DIR/tp.err"); then
    record "$sys" "$r" throughput "$out"
  else fail "$sys" "$r" throughput "$(tail -1 "$DIR/tp.err")"; fi
  say "$sys round $r: latency at $RATE records/s for $SECS s"
  if out=$("$WEIR_BIN" bench produce -b "$SEEDS" --topic bench-lat --records $((RATE * SECS)) --record-size 1024 \
    --partitions 3 --acks all --throughput "$RATE" --warmup 2s --json --progress-interval 0 2>"$DIR/lat.err"); then
    record "$sys" "$r" latency "$out"
  else fail "$sys" "$r" latency "$(tail -1 "$DIR/lat.err")"; fi
  # The same with linger 0, the one non-default (as make bench's single-node
  # row): at 1000 rec/s franz-go's 10 ms linger is most of either system's
  # p99, so only this run shows what the brokers and replication add.
  say "$sys round $r: latency at $RATE records/s for $SECS s, linger 0"
  if out=$("$WEIR_BIN" bench produce -b "$SEEDS" --topic bench-lat --records $((RATE * SECS)) --record-size 1024 \
    --partitions 3 --acks all --linger 0 --throughput "$RATE" --warmup 2s --json --progress-interval 0 2>"$DIR/lat0.err"); then
    record "$sys" "$r" latency0 "$out"
  else fail "$sys" "$r" latency0 "$(tail -1 "$DIR/lat0.err")"; fi
  say "$sys round $r: failover (kill -9 of the leader of bench-fo/0)"
  pids="1=${PID[1]},2=${PID[2]},3=${PID[3]}"
  if out=$(bin/clusterbench -b "$SEEDS" -topic bench-fo -pids "$pids" 2>"$DIR/fo.err"); then
    record "$sys" "$r" failover "$out"
    k=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["leader"])' "$out")
    wait "${PID[$k]}" 2>/dev/null
    "restart_$sys" "$k" || say "$sys: node $k did not come back (not measured)"
  else fail "$sys" "$r" failover "$(tail -1 "$DIR/fo.err")"; fi
  stop_all
}

for r in $(seq 1 "$ROUNDS"); do
  if ((r % 2)); then order="weir kafka"; else order="kafka weir"; fi
  for sys in $order; do one_round "$sys" "$r"; done
done

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
python3 - "$RESULTS" "$FAILS" "bench-results/cluster-$STAMP.json" "$KAFKA_VERSION" "$MB" "$RATE" <<'PY'
import json, statistics, sys
res, fails, out, kver, mb, rate = sys.argv[1:]
rows = [json.loads(l) for l in open(res) if l.strip()]
def med(sys_, step, f):
    xs = [f(r["result"]) for r in rows if r["system"] == sys_ and r["step"] == step]
    return statistics.median(xs) if xs else None
m = {}
for s in ("weir", "kafka"):
    m[s] = {
        "throughput_mbs": med(s, "throughput", lambda x: x["mb_per_sec"]),
        "p99_ms": med(s, "latency", lambda x: x["latency_ms"]["p99"]),
        "p99_linger0_ms": med(s, "latency0", lambda x: x["latency_ms"]["p99"]),
        "failover_ms": med(s, "failover", lambda x: x["failover_ms"]),
    }
def ratio(k):
    a, b = m["weir"][k], m["kafka"][k]
    return a / b if a is not None and b else None
lines = [("throughput, acks=all RF=3 1 KiB (MB/s)", "throughput_mbs", ">= 1.5", lambda x: x >= 1.5),
         (f"p99 ack latency at {rate} rec/s, linger 0 (ms)", "p99_linger0_ms", "<= 0.5", lambda x: x <= 0.5),
         (f"p99 ack latency at {rate} rec/s, franz-go defaults (ms)", "p99_ms", "-", lambda x: True),
         ("failover: leader kill -9 -> first acks=all ack (ms)", "failover_ms", "<= 0.5", lambda x: x <= 0.5)]
fmt = lambda v: "fail" if v is None else f"{v:.1f}"
print("\nper round (system round: throughput MB/s; p99 ms at defaults, at linger 0; failover ms):")
for s_ in ("weir", "kafka"):
    for rn in sorted({r["round"] for r in rows if r["system"] == s_}):
        got = {r["step"]: r["result"] for r in rows if r["system"] == s_ and r["round"] == rn}
        cell = lambda st, f: f"{f(got[st]):.1f}" if st in got else "fail"
        print(f"  {s_:5} {rn}: {cell('throughput', lambda x: x['mb_per_sec'])}; {cell('latency', lambda x: x['latency_ms']['p99'])}, "
              f"{cell('latency0', lambda x: x['latency_ms']['p99'])}; {cell('failover', lambda x: x['failover_ms'])}")
print(f"\nreplicated row: 3 weir nodes vs 3 Apache Kafka {kver} nodes (KRaft), RF=3 min.insync.replicas=2, medians")
print(f"{'':52} {'weir':>9} {'kafka':>9} {'weir/kafka':>10}  target")
summary = {}
for name, k, tgt, ok in lines:
    r = ratio(k)
    verdict = "" if r is None or tgt == "-" else ("met" if ok(r) else "NOT met")
    print(f"{name:52} {fmt(m['weir'][k]):>9} {fmt(m['kafka'][k]):>9} {('-' if r is None else f'{r:.2f}x'):>10}  {tgt} {verdict}")
    summary[k] = {"weir": m["weir"][k], "kafka": m["kafka"][k], "ratio": r, "target": tgt}
fl = [l.strip() for l in open(fails) if l.strip()]
for l in fl:
    print("  failed:", l)
json.dump({"kafka_version": kver, "mb": int(mb), "rate": int(rate), "summary": summary, "runs": rows, "failures": fl}, open(out, "w"), indent=1)
print(f"written {out}")
PY
[[ -s $FAILS ]] && exit 1
exit 0
