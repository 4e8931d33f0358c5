#!/usr/bin/env bash
# Storage sinks (S3 into versitygw, HDFS into the MiniDFSCluster): MB/s of
# 1 KiB records, JSON and Parquet, end to end through weir serve (Kafka
# fetch, converter, the sink's task, the store), and of the sink's task
# alone (JSON records already converted), next to the raw limit of the
# same servers measured in the same run. Prints the medians of the rounds
# and their ratios to the raw limit.
#
# What is measured (connectors/storage/storagetest, conformance.Throughput):
# - end to end: WEIR_BENCH_RECORDS (1,000,000, rounded up to whole files of
#   every partition; about 1.1 GB of Kafka keys and values: the fixed
#   costs of a row, connector start, group join, the first files filling
#   and the last ones uploading, are then a few percent of it, as they are
#   of the raw passes; see storagetest.BenchRecords) records over
#   4 partitions into one weir serve (broker and Connect worker in one
#   process), one task. MB/s of the records' Kafka keys and values.
#   The clock stops when the stream's last file is listed in the store:
#   every file holds flush.size records, so the count of files says how
#   many records landed, and nothing is read back while the clock runs.
#   After it stopped every file is read and every record checked (all
#   there, intact, none twice: exactly-once); a row that fails fails.
#   Two rows each for JSON and Parquet:
#   - live: the connector is RUNNING when the clock starts; the bench
#     process then produces the records (acks=all, 10,000 at a time)
#     while the sink consumes them, on the same cores as weir serve.
#   - preloaded: the records are in the topic before the connector is
#     created; the clock starts at its creation (connector start and
#     group join inside it) and the sink drains the backlog with nothing
#     else running: the usual measure of a sink.
#   The sink is configured as a user who wants throughput and
#   exactly-once would: flush.size=5000 (~5 MB files),
#   rotate.interval.ms=600000 (record time, and the idle close), no
#   wall-clock rotate.schedule.interval.ms (not exactly-once).
# - task alone (storagetest.TaskBench): the sink's task in the bench
#   process writing 100,000 records that are already Connect records (no
#   Kafka, no converter), MB/s of stored files.
# - raw: 40 files of the same bytes the JSON rows store (the JSON lines of
#   5000 such records, ~5 MB; ~200 MB in all) written from memory with
#   aws-sdk-go-v2 PutObject (the sink's client) / colinmarc/hdfs, one at a
#   time and 4 at a time (the task stores up to 4 files at once): after a
#   warm-up, 3 passes of each, alternating; the faster mode's median is
#   the limit. Every file is new (a name of its own), deleted when the
#   row ends, as the sink's are (BenchmarkS3RawUploadKit says why).
# Parquet files are smaller than the JSON they come from (snappy); their
# ratio is still taken against the same raw limit, of Kafka bytes.
# Rounds run one after another, each row once per round; the ratios of
# each round (a row over the raw limit of the same round) are printed,
# then the medians of the rows and their ratios.
#   bash test/bench/storage.sh        (WEIR_BENCH_RECORDS=1000000 by default;
#                                      WEIR_BENCH_ROUNDS=3 rounds;
#                                      WEIR_BENCH_TASKS: tasks.max; unset, the
#                                      rows run with 1 (Confluent's default)
#                                      and then with 4, one task a partition)
set -euo pipefail
if [ -z "${WEIR_BENCH_TASKS:-}" ]; then
  for n in 1 4; do
    echo "== storage sinks with tasks.max=$n"
    WEIR_BENCH_TASKS=$n bash "$0"
  done
  exit 0
fi
cd "$(dirname "$0")/../.."
bash test/services/all.sh start >/dev/null
make -s build
rounds=${WEIR_BENCH_ROUNDS:-3}
# Round by round, every row once per round: a row and the raw limit it is
# divided by are measured minutes, not a quarter of an hour, apart (the
# machine is shared; its load moves).
out=""
for r in $(seq 1 "$rounds"); do
  echo "round $r: load before $(cut -d' ' -f1-3 /proc/loadavg)"
  o=$(WEIR_BIN=$PWD/bin/weir go test -tags services -count=1 -run '^$' \
    -bench 'SinkKit$|SinkTaskKit$|RawUploadKit$|RawWriteKit$' -benchtime 1x ./connectors/s3 ./connectors/hdfs)
  echo "$o" | grep -E '^Benchmark|ns/op|raw: |task alone: |kit.go'
  out="$out"$'\n'"$o"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$out" | awk -v rounds="$rounds" '
  # A task bench'"'"'s log lines may come between its name and its figures.
  /^Benchmark/ { k = $1; sub(/-[0-9]+$/, "", k) }
  /ns\/op/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") v[k] = v[k] " " $i }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    if (n == 0) return 0
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  # The ratios of round r: each row over the raw limit of the same round.
  function rr(row, raws, r,   a, b) {
    split(row, a, " "); split(raws, b, " ")
    return b[r] > 0 ? a[r] / b[r] : 0
  }
  END {
    for (st = 1; st <= 2; st++) {
      if (st == 1) { p = "BenchmarkS3"; name = "S3"; rawk = p "RawUploadKit"; rawn = "raw upload" }
      else { p = "BenchmarkHdfs"; name = "HDFS"; rawk = p "RawWriteKit"; rawn = "raw write" }
      raw = median(v[rawk])
      if (raw == 0) continue
      for (r = 1; r <= rounds; r++)
        printf "%s round %d ratios: JSON preloaded %.2f, live %.2f; Parquet preloaded %.2f, live %.2f; task alone %.2f\n", name, r,
          rr(v[p "PreloadedSinkKit"], v[rawk], r), rr(v[p "SinkKit"], v[rawk], r),
          rr(v[p "ParquetPreloadedSinkKit"], v[rawk], r), rr(v[p "ParquetSinkKit"], v[rawk], r), rr(v[p "SinkTaskKit"], v[rawk], r)
      j = median(v[p "SinkKit"]); jp = median(v[p "PreloadedSinkKit"])
      q = median(v[p "ParquetSinkKit"]); qp = median(v[p "ParquetPreloadedSinkKit"])
      t = median(v[p "SinkTaskKit"])
      printf "%s 1KiB (medians of %d) vs %s %.1f MB/s: JSON preloaded %.1f MB/s (%.2f), live %.1f (%.2f); Parquet preloaded %.1f (%.2f), live %.1f (%.2f); task alone (JSON) %.1f (%.2f)\n", name, rounds, rawn, raw, jp, jp / raw, j, j / raw, qp, qp / raw, q, q / raw, t, t / raw
    }
  }'
