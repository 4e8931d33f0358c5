#!/usr/bin/env bash
# Storage sinks (S3 into versitygw, HDFS into the MiniDFSCluster): MB/s of
# 1 KiB records, JSON and Parquet, end to end through weir serve (Kafka,
# converter, task), and of the sink's task alone (JSON records already
# converted), next to the raw limit of the same servers measured in the
# same run. Prints the medians of the rounds and their ratios.
#
# What is measured (connectors/storage/storagetest):
# - end to end: WEIR_BENCH_RECORDS (50,000, rounded up to whole files of
#   every partition: 60,000) records over 4 partitions, from the first
#   produce until the last record is readable in the store; MB/s of the
#   records' Kafka keys and values. The sink is configured as a user who
#   wants throughput and exactly-once would: flush.size=5000 (~5 MB
#   files), rotate.interval.ms=600000 (record time, and the idle close),
#   no wall-clock rotate.schedule.interval.ms (not exactly-once; its
#   boundary made the last files wait inside the measured window).
# - raw: 20 files of the same bytes the JSON rows store (the JSON lines of
#   5000 such records, ~5 MB) written from memory with aws-sdk-go-v2
#   PutObject (the sink's client) / colinmarc/hdfs, once one at a time and
#   once 4 at a time (the task stores up to 4 files at once); the faster
#   is the limit.
# Parquet files are smaller than the JSON they come from (snappy); their
# ratio is still taken against the same raw limit.
#   bash test/bench/storage.sh        (WEIR_BENCH_RECORDS=50000 by default;
#                                      WEIR_BENCH_ROUNDS=3 rounds of each)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/services/all.sh start >/dev/null
make -s build
rounds=${WEIR_BENCH_ROUNDS:-3}
out=$(WEIR_BIN=$PWD/bin/weir go test -tags services -count="$rounds" -run '^$' \
  -bench 'SinkKit$|SinkTaskKit$|RawUploadKit$|RawWriteKit$' -benchtime 1x ./connectors/s3 ./connectors/hdfs)
echo "$out" | grep -E '^Benchmark|ns/op|raw: |task alone: '
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
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
  END {
    s3 = median(v["BenchmarkS3SinkKit"]); s3p = median(v["BenchmarkS3ParquetSinkKit"]); s3t = median(v["BenchmarkS3SinkTaskKit"]); s3raw = median(v["BenchmarkS3RawUploadKit"])
    h = median(v["BenchmarkHdfsSinkKit"]); hp = median(v["BenchmarkHdfsParquetSinkKit"]); ht = median(v["BenchmarkHdfsSinkTaskKit"]); hraw = median(v["BenchmarkHdfsRawWriteKit"])
    if (s3raw > 0) printf "S3 1KiB (medians of %d): end to end JSON %.1f MB/s, Parquet %.1f MB/s, task alone (JSON) %.1f MB/s vs raw upload %.1f MB/s: ratios %.2f, %.2f, %.2f\n", rounds, s3, s3p, s3t, s3raw, s3 / s3raw, s3p / s3raw, s3t / s3raw
    if (hraw > 0) printf "HDFS 1KiB (medians of %d): end to end JSON %.1f MB/s, Parquet %.1f MB/s, task alone (JSON) %.1f MB/s vs raw write %.1f MB/s: ratios %.2f, %.2f, %.2f\n", rounds, h, hp, ht, hraw, h / hraw, hp / hraw, ht / hraw
  }'
