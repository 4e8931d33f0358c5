#!/usr/bin/env bash
# test/bench/image.sh: how fast the weir container image serves its first
# produce, next to Apache Kafka's cold start on this machine (issue 15).
#
#   weir image: container start (Docker's State.StartedAt) -> first acked
#               produce, and `docker run` -> first ack (test/image, 3 runs)
#   Kafka:      process start (test/services/kafka.sh, data dir already
#               formatted, JVM cold) -> first acked produce, 3 runs
#
# Builds the image (make image, which installs and starts Docker when
# missing). Its Kafka uses a private services dir and ports 24292/24293, so
# the shared Kafka on 19092 keeps running. Not part of `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS=${BENCH_IMAGE_RUNS:-3}

make -s image >&2
make -s build >&2
echo "== weir image ($RUNS runs)"
for ((i = 1; i <= RUNS; i++)); do
  go test -tags image -count=1 -run TestImageServesKafkaWithHostNetwork -v ./test/image/ | grep '^weir image:' || { echo "image run $i failed" >&2; exit 1; }
done

export WEIR_SERVICES_DIR=/tmp/weir-bench-image-kafka WEIR_KAFKA_PORT=24292 WEIR_KAFKA_CONTROLLER_PORT=24293
rm -rf "$WEIR_SERVICES_DIR"
trap 'bash test/services/kafka.sh stop >/dev/null 2>&1 || true' EXIT
bash test/services/kafka.sh start >/dev/null 2>&1 # formats the data dir
bash test/services/kafka.sh stop >/dev/null 2>&1
echo "== Apache Kafka cold start ($RUNS runs)"
for ((i = 1; i <= RUNS; i++)); do
  t0=$(date +%s%N)
  bash test/services/kafka.sh start >/dev/null 2>&1 &
  until echo first | timeout 5 bin/weir produce bench-cold-start --bootstrap-server 127.0.0.1:$WEIR_KAFKA_PORT >/dev/null 2>&1; do
    sleep 0.05
    (($(date +%s%N) - t0 > 120000000000)) && { echo "Kafka did not ack within 120 s" >&2; exit 1; }
  done
  t1=$(date +%s%N)
  wait
  echo "Apache Kafka: process start -> first ack $(((t1 - t0) / 1000000))ms"
  bash test/services/kafka.sh stop >/dev/null 2>&1
done
