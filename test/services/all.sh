#!/usr/bin/env bash
# Starts, stops or reports every real system the tests need, in parallel.
#   test/services/all.sh start|stop|status [NAME...]
# NAMEs default to: postgres activemq s3 elasticsearch hdfs kafka.
# `start` prints the time each system took and exits non-zero if any failed
# (its output is then shown). Per-system output: $WEIR_SERVICES_DIR/<name>.start.out
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WEIR_SERVICES_DIR=${WEIR_SERVICES_DIR:-/tmp/weir-services}
ALL=(postgres activemq s3 elasticsearch hdfs kafka)

cmd=${1:-}
shift || true
names=("$@")
((${#names[@]})) || names=("${ALL[@]}")
for n in "${names[@]}"; do
  [[ -x $HERE/$n.sh ]] || { echo "unknown system: $n (known: ${ALL[*]})" >&2; exit 2; }
done
mkdir -p "$WEIR_SERVICES_DIR"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

case "$cmd" in
  start)
    t0=$(now)
    declare -A pids
    for n in "${names[@]}"; do
      (
        s=$(now)
        "$HERE/$n.sh" start >"$WEIR_SERVICES_DIR/$n.start.out" 2>&1
        rc=$?
        printf '%s %s\n' "$rc" "$(since "$s")" >"$WEIR_SERVICES_DIR/$n.start.rc"
        exit $rc
      ) &
      pids[$n]=$!
    done
    failed=()
    for n in "${names[@]}"; do
      wait "${pids[$n]}" || failed+=("$n")
    done
    printf '%-14s %-5s %8s  %s\n' SYSTEM STATE SECONDS ENDPOINT
    for n in "${names[@]}"; do
      read -r rc secs <"$WEIR_SERVICES_DIR/$n.start.rc" || { rc=1; secs=0; }
      if [[ $rc == 0 ]]; then
        printf '%-14s %-5s %8.1f  %s\n' "$n" up "$secs" "$(tail -n1 "$WEIR_SERVICES_DIR/$n.start.out")"
      else
        printf '%-14s %-5s %8.1f  %s\n' "$n" FAIL "$secs" "see $WEIR_SERVICES_DIR/$n.start.out"
      fi
    done
    printf 'all.sh start: %.1f s wall\n' "$(since "$t0")"
    # the 'up: <system> <version> ...' lines, for the record
    for n in "${names[@]}"; do
      [[ -f $WEIR_SERVICES_DIR/$n.start.out ]] && grep -h '\] up: ' "$WEIR_SERVICES_DIR/$n.start.out" || true
    done
    if ((${#failed[@]})); then
      for n in "${failed[@]}"; do
        echo "=== $n failed to start; its output:" >&2
        tail -n 60 "$WEIR_SERVICES_DIR/$n.start.out" >&2
      done
      exit 1
    fi
    ;;
  stop)
    for n in "${names[@]}"; do "$HERE/$n.sh" stop & done
    wait
    ;;
  status)
    rc=0
    for n in "${names[@]}"; do "$HERE/$n.sh" status || rc=1; done
    exit $rc
    ;;
  *)
    echo "usage: $0 start|stop|status [NAME...]" >&2
    exit 2
    ;;
esac
