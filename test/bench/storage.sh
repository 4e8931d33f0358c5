#!/usr/bin/env bash
# Storage sinks (S3 into versitygw, HDFS into the MiniDFSCluster): MB/s of
# 1 KiB JSON records end to end through weir serve (Kafka, converter,
# task), and of the sink's task alone (records already converted), next
# to the raw limit of the same servers measured in the same run
# (PutObject of 5 MB objects with aws-sdk-go-v2; colinmarc/hdfs
# sequential writes). Prints the medians of the rounds and their ratios.
#   bash test/bench/storage.sh        (WEIR_BENCH_RECORDS=50000 by default;
#                                      WEIR_BENCH_ROUNDS=3 rounds of each)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/services/all.sh start >/dev/null
make -s build
rounds=${WEIR_BENCH_ROUNDS:-3}
out=$(WEIR_BIN=$PWD/bin/weir go test -tags services -count="$rounds" -run '^$' \
  -bench 'SinkKit$|SinkTaskKit$|RawUploadKit$|RawWriteKit$' -benchtime 1x ./connectors/s3 ./connectors/hdfs)
echo "$out" | grep -E '^Benchmark|ns/op'
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
    s3 = median(v["BenchmarkS3SinkKit"]); s3t = median(v["BenchmarkS3SinkTaskKit"]); s3raw = median(v["BenchmarkS3RawUploadKit"])
    h = median(v["BenchmarkHdfsSinkKit"]); ht = median(v["BenchmarkHdfsSinkTaskKit"]); hraw = median(v["BenchmarkHdfsRawWriteKit"])
    if (s3raw > 0) printf "S3 JSON 1KiB (medians of %d): end to end %.1f MB/s, task alone %.1f MB/s vs raw upload %.1f MB/s: ratios %.2f, %.2f\n", rounds, s3, s3t, s3raw, s3 / s3raw, s3t / s3raw
    if (hraw > 0) printf "HDFS JSON 1KiB (medians of %d): end to end %.1f MB/s, task alone %.1f MB/s vs raw write %.1f MB/s: ratios %.2f, %.2f\n", rounds, h, ht, hraw, h / hraw, ht / hraw
  }'
