#!/usr/bin/env bash
# Storage sinks (S3 into versitygw, HDFS into the MiniDFSCluster): MB/s of
# 1 KiB JSON records end to end through weir serve (Kafka, converter,
# task), and of the sink's task alone (records already converted), next
# to the raw limit of the same servers measured in the same run
# (PutObject of 5 MB objects with aws-sdk-go-v2; colinmarc/hdfs
# sequential writes). Prints the ratios.
#   bash test/bench/storage.sh        (WEIR_BENCH_RECORDS=50000 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/services/all.sh start >/dev/null
make -s build
out=$(WEIR_BIN=$PWD/bin/weir go test -tags services -count=1 -run '^$' \
  -bench 'SinkKit$|SinkTaskKit$|RawUploadKit$|RawWriteKit$' -benchtime 1x ./connectors/s3 ./connectors/hdfs)
echo "$out" | grep -E '^Benchmark'
echo "$out" | awk '
  /^Benchmark/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") mb[$1] = $i }
  END {
    for (k in mb) { if (k ~ /S3SinkKit/) s3 = mb[k]; if (k ~ /S3RawUpload/) s3raw = mb[k]; if (k ~ /S3SinkTaskKit/) s3t = mb[k]
                    if (k ~ /HdfsSinkKit/) h = mb[k]; if (k ~ /HdfsRawWrite/) hraw = mb[k]; if (k ~ /HdfsSinkTaskKit/) ht = mb[k] }
    if (s3raw > 0) printf "S3 JSON 1KiB: end to end %.1f MB/s, task alone %.1f MB/s vs raw upload %.1f MB/s: ratios %.2f, %.2f\n", s3, s3t, s3raw, s3 / s3raw, s3t / s3raw
    if (hraw > 0) printf "HDFS JSON 1KiB: end to end %.1f MB/s, task alone %.1f MB/s vs raw write %.1f MB/s: ratios %.2f, %.2f\n", h, ht, hraw, h / hraw, ht / hraw
  }'
