#!/usr/bin/env bash
# Storage sinks (S3 into versitygw, HDFS into the MiniDFSCluster): MB/s of
# 1 KiB JSON records end to end through weir serve, next to the raw
# limit of the same servers measured in the same run (the SDK's upload
# manager; colinmarc/hdfs sequential writes). Prints the ratios.
#   bash test/bench/storage.sh        (WEIR_BENCH_RECORDS=50000 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash test/services/all.sh start >/dev/null
make -s build
out=$(WEIR_BIN=$PWD/bin/weir go test -tags services -count=1 -run '^$' \
  -bench 'SinkKit$|RawUploadKit$|RawWriteKit$' -benchtime 1x ./connectors/s3 ./connectors/hdfs)
echo "$out" | grep -E '^Benchmark'
echo "$out" | awk '
  /^Benchmark/ { for (i = 1; i <= NF; i++) if ($(i+1) == "MB/s") mb[$1] = $i }
  END {
    for (k in mb) { if (k ~ /S3SinkKit/) s3 = mb[k]; if (k ~ /S3RawUpload/) s3raw = mb[k]
                    if (k ~ /HdfsSinkKit/) h = mb[k]; if (k ~ /HdfsRawWrite/) hraw = mb[k] }
    if (s3raw > 0) printf "S3 JSON 1KiB: %.1f MB/s vs raw upload %.1f MB/s: ratio %.2f\n", s3, s3raw, s3 / s3raw
    if (hraw > 0) printf "HDFS JSON 1KiB: %.1f MB/s vs raw write %.1f MB/s: ratio %.2f\n", h, hraw, h / hraw
  }'
