#!/usr/bin/env bash
# test/bench/image.sh: how fast weir serves its first produce, embedded and
# as a container, next to Apache Kafka's cold start on this machine, all in
# one run (issue 15). Medians of BENCH_IMAGE_RUNS runs (default 5):
#
#   embedded:   weirtest.Start -> first acked produce (BenchmarkStartToFirstAck,
#               test/weirtest; target < 100 ms)
#   image:      size (target < 40 MB); container start (Docker's
#               State.StartedAt) -> first ack (target < 200 ms) and
#               `docker run` -> first ack (target < 1.5 s) (test/image)
#   Kafka:      process start (test/services/kafka.sh, data dir already
#               formatted, JVM cold) -> first acked produce
#
# Builds the image (make image, which installs and starts Docker when
# missing). Its Kafka uses a private services dir and ports 24292/24293, so
# the shared Kafka on 19092 keeps running. Not part of `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS=${BENCH_IMAGE_RUNS:-5}

median() { sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "?"; else print v[int((NR + 1) / 2)]}'; }

make -s image >&2
make -s build >&2

echo "== weir embedded: weirtest.Start -> first ack ($RUNS starts, medians)"
go test -run '^$' -bench 'StartToFirstAck/broker\+connect' -benchtime "${RUNS}x" -count=1 ./test/weirtest/ | tee /tmp/weir-bench-embedded.txt | grep '^Benchmark'
embedded=$(awk '/^BenchmarkStartToFirstAck/ {for (i = 1; i < NF; i++) if ($(i + 1) == "ms-to-first-ack") print $i}' /tmp/weir-bench-embedded.txt)
connect=$(awk '/^BenchmarkStartToFirstAck/ {for (i = 1; i < NF; i++) if ($(i + 1) == "ms-connect-ready") print $i}' /tmp/weir-bench-embedded.txt)

echo "== weir image ($RUNS runs)"
: >/tmp/weir-bench-image.txt
for ((i = 1; i <= RUNS; i++)); do
  # The figures count even when the test fails on a target (image size):
  # only a run that printed none is a failed run.
  out=$(TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 go test -tags image -count=1 -run TestImageServesKafkaWithHostNetwork -v ./test/image/ 2>&1 || true)
  grep '^weir image:' <<<"$out" | tee -a /tmp/weir-bench-image.txt || { echo "image run $i failed:" >&2; tail -20 <<<"$out" >&2; exit 1; }
  grep -E '^\s+image_test.go:[0-9]+: ' <<<"$out" | grep -v 'image weir' >&2 || true
done
size=$(sed -E 's/^weir image: ([0-9.]+) MB.*/\1/' /tmp/weir-bench-image.txt | median)
from_start=$(sed -E 's/.*StartedAt\) -> first ack ([0-9]+) ms.*/\1/' /tmp/weir-bench-image.txt | median)
from_run=$(sed -E 's/.*docker run -> first ack ([0-9]+) ms.*/\1/' /tmp/weir-bench-image.txt | median)
run_itself=$(sed -E 's/.*docker run itself ([0-9]+) ms.*/\1/' /tmp/weir-bench-image.txt | median)

export WEIR_SERVICES_DIR=/tmp/weir-bench-image-kafka WEIR_KAFKA_PORT=24292 WEIR_KAFKA_CONTROLLER_PORT=24293
rm -rf "$WEIR_SERVICES_DIR"
trap 'bash test/services/kafka.sh stop >/dev/null 2>&1 || true' EXIT
bash test/services/kafka.sh start >/dev/null 2>&1 # formats the data dir
bash test/services/kafka.sh stop >/dev/null 2>&1
echo "== Apache Kafka cold start ($RUNS runs)"
kafka_ms=()
for ((i = 1; i <= RUNS; i++)); do
  t0=$(date +%s%N)
  bash test/services/kafka.sh start >/dev/null 2>&1 &
  until echo first | timeout 5 bin/weir produce bench-cold-start --bootstrap-server 127.0.0.1:$WEIR_KAFKA_PORT >/dev/null 2>&1; do
    sleep 0.05
    (($(date +%s%N) - t0 > 120000000000)) && { echo "Kafka did not ack within 120 s" >&2; exit 1; }
  done
  t1=$(date +%s%N)
  wait
  kafka_ms+=($(((t1 - t0) / 1000000)))
  echo "Apache Kafka: process start -> first ack ${kafka_ms[-1]} ms"
  bash test/services/kafka.sh stop >/dev/null 2>&1
done
kafka=$(printf '%s\n' "${kafka_ms[@]}" | median)

echo "== start -> first acknowledged produce, medians of $RUNS runs (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-52s %8s ms   (target < 100 ms; Connect up at %s ms)\n' "weir embedded (weirtest.Start)" "$embedded" "$connect"
printf '%-52s %8s ms   (target < 200 ms)\n' "weir container (State.StartedAt)" "$from_start"
printf '%-52s %8s ms   (target < 1500 ms; docker run itself %s ms)\n' "weir container (docker run)" "$from_run" "$run_itself"
printf '%-52s %8s ms\n' "Apache Kafka (process start, JVM cold)" "$kafka"
printf '%-52s %8s MB   (target < 40 MB)\n' "weir image size" "$size"
