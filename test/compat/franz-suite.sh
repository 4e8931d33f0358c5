#!/usr/bin/env bash
# franz-suite.sh: run franz-go's own kgo integration tests (from the module
# cache, at the franz-go version go.mod requires) against `weir serve`, or
# against a broker that is already running.
#
# Usage:
#   test/compat/franz-suite.sh                        # build + start weir on free ports
#   test/compat/franz-suite.sh --broker 127.0.0.1:19092   # e.g. Apache Kafka (test/services/kafka.sh)
#   test/compat/franz-suite.sh --only 'TestGroupSimple|TestIssue325'
#
# Environment:
#   WEIR_TEST_BROKER       same as --broker
#   WEIR_BIN               prebuilt weir binary (default: go build -o bin/weir ./cmd/weir)
#   FRANZ_SUITE_TIMEOUT    per-test timeout in seconds (default 300)
#   FRANZ_SUITE_JOBS       tests run at once (default 1); they start in list
#                          order, but never two of FRANZ_SUITE_HEAVY at once:
#                          with 2, TestGroupETL (first, and by far the longest
#                          against a replicated cluster) runs beside the light
#                          tests in turn
#   FRANZ_SUITE_HEAVY      default "TestGroupETL TestClient_Produce TestTxnEtl"
#   FRANZ_SUITE_EXTRAS=0   run only the required list (default 1: required + extras)
#   FRANZ_SUITE_STRICT=0   report failing extra tests without failing the script
#                          (default 1: every extra passes today, so a regression
#                          in one fails make test like a required one)
#   FRANZ_SUITE_KGO_TEST   a prebuilt kgo test binary (default: compile it; the
#                          script's own test passes a fake one)
#   FRANZ_SUITE_TXN=1      also run TestTxnEtl (transactions) as an extra
#   FRANZ_SUITE_OUT        directory for logs and summary (default: a new dir under /tmp)
#   FRANZ_SUITE_KEEP=1     also keep the compiled test binary and weir's data dir
#   KGO_TEST_RECORDS       passed through: records per ETL test (franz default 500000)
#   KGO_LOG_LEVEL          passed through (info|debug|none)
#   KGO_TEST_RF            replication factor of the suite's topics (default 1)
#
# Each test runs in its own process of one compiled test binary, with its own
# timeout, so a hang or panic in one does not hide the others (one at a time
# unless FRANZ_SUITE_JOBS says more; each creates its own topics and groups).
# The summary lists PASS/FAIL/SKIP per test with its duration. Exit status:
# 0 when every required and (unless FRANZ_SUITE_STRICT=0) every extra test
# passed, 1 otherwise. A SKIP is a failure — nothing is allowed to skip
# silently — except for the tests in EXPECTED_SKIP, which skip by design on
# a modern broker (their FAIL still counts).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

# Required by issue 3: the tests peers.md lists minus TestTxnEtl (weir has no
# transactions yet), plus the issue regressions that exercise consumer paths.
REQUIRED=(
	TestGroupETL TestGroupSimple TestClient_Produce TestConsumeRegex
	TestAddRemovePartitions TestIssue325 TestIssue337 TestPauseIssue489
	TestDirectPartitionPurge
)
# Every other integration test of pkg/kgo v1.22.3 (it talks to KGO_SEEDS via
# newTestClient/adm/tmpTopic) that needs neither transactions, KIP-848, share
# groups, SASL nor TLS. Found by reading pkg/kgo/*_test.go in the module cache:
#   excluded: TestTxnEtl (transactions); TestShareGroup, TestShareGroupETL,
#   TestShareGroupAckOnClose, TestShareGroupOffsetsAdmin,
#   TestConsumeRegexShareSkipsInternal (share groups, Kafka 4.2+);
#   Test848RegexBrokerResolves (KIP-848 ConsumerGroupHeartbeat); the SCRAM /
#   OAUTH tests (need KGO_TEST_SCRAM*/KGO_TEST_OAUTH_SEEDS). Those skip
#   themselves on a broker without the feature; they are not run here.
EXTRAS=(
	TestPing TestUnknownGroupOffsetFetchPinned TestIssue1034
	TestConsumeTopicRetrieval TestConsumeTopicRetrieval_Many
	TestIssue434 TestPauseIssueOct2023 TestIssue523 TestIssue648 TestIssue810
	TestIssue865 TestIssueFetchLargerThanBrokerMaxReadBytes TestPooling
	TestHookPollStart TestConsumeMaxDecompressBatchBytes
	TestIssue769 TestIssueProduceBrokerTooOldFailsRecords
	TestIssueProduceSyncManualPartitionNegativeDoesNotPanic TestIssue831
	TestClient_ProduceLargeMessages
)
# Extras that skip themselves on any broker weir is meant to be: the test
# only means something against a broker too old for produce v3+ ("broker
# still takes produce v2").
EXPECTED_SKIP=(TestIssueProduceBrokerTooOldFailsRecords)

BROKER="${WEIR_TEST_BROKER:-}"
ONLY=""
while [ $# -gt 0 ]; do
	case "$1" in
	--broker) BROKER="$2"; shift 2 ;;
	--only) ONLY="$2"; shift 2 ;;
	-h|--help) sed -n '2,41p' "$0"; exit 0 ;;
	*) echo "franz-suite.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

TIMEOUT="${FRANZ_SUITE_TIMEOUT:-300}"
JOBS="${FRANZ_SUITE_JOBS:-1}"
# Tests that load the broker with acks=all traffic: with FRANZ_SUITE_JOBS > 1
# never two of them at once (against 3 replicas TestClient_Produce's 20,000
# one-record round trips took 317 s beside TestGroupETL, 6 s alone).
HEAVY="${FRANZ_SUITE_HEAVY-TestGroupETL TestClient_Produce TestTxnEtl}"
case "$JOBS" in '' | *[!0-9]* | 0) echo "franz-suite.sh: FRANZ_SUITE_JOBS must be a positive number, not '$JOBS'" >&2; exit 2 ;; esac
OUT="${FRANZ_SUITE_OUT:-$(mktemp -d /tmp/franz-suite.XXXXXX)}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

TESTS=()
if [ -n "$ONLY" ]; then
	IFS='|' read -r -a TESTS <<<"$ONLY"
else
	TESTS=("${REQUIRED[@]}")
	if [ "${FRANZ_SUITE_EXTRAS:-1}" = 1 ]; then
		TESTS+=("${EXTRAS[@]}")
	fi
	if [ "${FRANZ_SUITE_TXN:-0}" = 1 ]; then
		TESTS+=(TestTxnEtl) # transactions: reported as an extra, once weir has them
	fi
fi

expected_skip() {
	local t
	for t in "${EXPECTED_SKIP[@]}"; do [ "$t" = "$1" ] && return 0; done
	return 1
}

is_required() {
	local t
	for t in "${REQUIRED[@]}"; do [ "$t" = "$1" ] && return 0; done
	[ -n "$ONLY" ] # with --only, everything asked for is required
}

# Compile franz-go's kgo tests once, inside this module (which requires
# franz-go, so the version and go.sum are ours).
FRANZ_VERSION="$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)" || {
	echo "franz-suite.sh: go.mod does not require github.com/twmb/franz-go" >&2; exit 1; }
KGO_TEST="$OUT/kgo.test"
if [ -n "${FRANZ_SUITE_KGO_TEST:-}" ]; then
	KGO_TEST="$FRANZ_SUITE_KGO_TEST"
else
	echo "franz-suite.sh: compiling github.com/twmb/franz-go/pkg/kgo@$FRANZ_VERSION tests"
	if ! go test -c -o "$KGO_TEST" github.com/twmb/franz-go/pkg/kgo >"$OUT/compile.log" 2>&1; then
		cat "$OUT/compile.log" >&2
		echo "franz-suite.sh: cannot compile the kgo tests" >&2
		exit 1
	fi
fi

WEIR_PID=""
DATA=""
declare -A RUNNING=() # pid of a run_one in the background -> its test
stop_weir() {
	if [ -n "$WEIR_PID" ] && kill -0 "$WEIR_PID" 2>/dev/null; then
		kill -TERM "$WEIR_PID" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$WEIR_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$WEIR_PID" 2>/dev/null
		wait "$WEIR_PID" 2>/dev/null
	fi
	WEIR_PID=""
}
cleanup() {
	local pid
	for pid in "${!RUNNING[@]}"; do pkill -TERM -P "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null; done
	stop_weir
	# Keep the per-test logs and the summary; drop the bulky parts.
	if [ "${FRANZ_SUITE_KEEP:-0}" != 1 ]; then rm -rf "$OUT/kgo.test" "$OUT/data"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000)) # below the ephemeral range
		if [ -z "$(ss -ltnH "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
	done
	return 1
}

start_weir() {
	echo "===== start $(date -u +%FT%TZ) =====" >>"$OUT/weir.log"
	"$WEIR_BIN" serve --data-dir "$DATA" --kafka-addr "$BROKER" --http-addr "$HTTP_ADDR" >>"$OUT/weir.log" 2>&1 &
	WEIR_PID=$!
	for _ in $(seq 1 300); do
		if ! kill -0 "$WEIR_PID" 2>/dev/null; then
			echo "franz-suite.sh: weir serve exited during startup; log tail:" >&2
			tail -30 "$OUT/weir.log" >&2
			return 1
		fi
		if curl -fsS -o /dev/null "http://$HTTP_ADDR/health" 2>/dev/null &&
			(exec 3<>"/dev/tcp/${BROKER%:*}/${BROKER##*:}") 2>/dev/null; then
			return 0
		fi
		sleep 0.2
	done
	echo "franz-suite.sh: weir serve not ready after 60 s (kafka $BROKER, http $HTTP_ADDR); log tail:" >&2
	tail -30 "$OUT/weir.log" >&2
	return 1
}

MANAGED=0
if [ -z "$BROKER" ]; then
	MANAGED=1
	if [ -z "${WEIR_BIN:-}" ]; then
		echo "franz-suite.sh: go build -o bin/weir ./cmd/weir"
		go build -o bin/weir ./cmd/weir || { echo "franz-suite.sh: weir does not build" >&2; exit 1; }
		WEIR_BIN="$ROOT/bin/weir"
	fi
	DATA="$OUT/data"
	BROKER="127.0.0.1:$(free_port)"
	HTTP_ADDR="127.0.0.1:$(free_port)"
	start_weir || exit 1
	echo "franz-suite.sh: weir serve (pid $WEIR_PID) on $BROKER, data $DATA"
else
	echo "franz-suite.sh: using broker $BROKER"
fi

export KGO_SEEDS="$BROKER"
export KGO_TEST_RF="${KGO_TEST_RF:-1}" # 3 against a 3-node cluster (test/cluster)

# run_one runs test $1 and leaves its summary line in $OUT/$1.line and
# "STATUS KIND" in $OUT/$1.result (it may run in the background).
run_one() {
	local t="$1" log="$OUT/$1.log" start rc ms secs status why nskip kind
	start=$(date +%s%3N)
	timeout --kill-after=10 "$((TIMEOUT + 15))" "$KGO_TEST" -test.run "^${t}\$" -test.count=1 -test.v \
		-test.timeout "${TIMEOUT}s" >"$log" 2>&1
	rc=$?
	ms=$(($(date +%s%3N) - start))
	secs="$((ms / 1000)).$(((ms % 1000) / 100))"
	if [ $rc -eq 0 ] && grep -q -- "^--- PASS: ${t} " "$log"; then
		status=PASS
	elif [ $rc -eq 0 ] && grep -q -- "^--- SKIP: ${t} " "$log"; then
		status=SKIP
	elif [ $rc -eq 0 ]; then
		status=NOTRUN # no such test in this franz-go version
	elif [ $rc -ge 124 ] || grep -q "panic: test timed out" "$log"; then
		status=TIMEOUT
	else
		status=FAIL
	fi
	why=""
	if [ $status = SKIP ] && expected_skip "$t"; then
		status=SKIP-OK # by design on this broker; see EXPECTED_SKIP
	fi
	if [ $status != PASS ] && [ $status != SKIP-OK ]; then
		# The first failure message, not the skip notes of KIP-848 subtests.
		why=$(grep -E '^\s+[a-z_0-9]+_test\.go:[0-9]+:|^panic:|^--- (FAIL|SKIP)' "$log" |
			grep -v -E 'does not support|completed in' | head -1 | sed 's/^[[:space:]]*//' | cut -c1-200)
	fi
	# Subtests that skipped themselves (KIP-848 variants, …) are worth seeing.
	nskip=$(grep -c -- "--- SKIP: ${t}/" "$log")
	if [ "$nskip" -gt 0 ]; then
		why="$why ($nskip subtest(s) skipped: $(grep -o -- "--- SKIP: ${t}/[^ ]*" "$log" | sed "s|--- SKIP: ${t}/||" | tr '\n' ' '))"
	fi
	kind=extra
	is_required "$t" && kind=required
	printf '%-8s %-8s %-58s %7ss  %s\n' "$status" "$kind" "$t" "$secs" "$why" >"$OUT/$t.line"
	echo "$status $kind" >"$OUT/$t.result"
}

required_failed=0
extra_failed=0
# reap waits for one running test, prints its line and counts it.
reap() {
	local pid t status kind
	wait -n -p pid "${!RUNNING[@]}"
	t="${RUNNING[$pid]}"
	unset "RUNNING[$pid]"
	if [ -s "$OUT/$t.result" ]; then
		read -r status kind <"$OUT/$t.result"
		tee -a "$SUMMARY" <"$OUT/$t.line"
	else # the runner itself died: the test counts as failed
		status=FAIL kind=extra
		is_required "$t" && kind=required
		printf '%-8s %-8s %-58s %7s   %s\n' FAIL "$kind" "$t" "?" "no result (runner died)" | tee -a "$SUMMARY"
	fi
	if [ "$status" != PASS ] && [ "$status" != SKIP-OK ]; then
		if [ "$kind" = required ]; then required_failed=$((required_failed + 1)); else extra_failed=$((extra_failed + 1)); fi
	fi
	if [ $MANAGED = 1 ] && ! kill -0 "$WEIR_PID" 2>/dev/null; then
		echo "CRASH    weir serve died during $t${RUNNING[*]:+ (also running: ${RUNNING[*]})}; log tail:" | tee -a "$SUMMARY"
		tail -20 "$OUT/weir.log" | tee -a "$SUMMARY"
		wait "$WEIR_PID" 2>/dev/null
		start_weir || { echo "franz-suite.sh: cannot restart weir" >&2; exit 1; }
	fi
}
is_heavy() {
	local h
	for h in $HEAVY; do [ "$h" = "$1" ] && return 0; done
	return 1
}
heavy_running() {
	local t
	for t in "${RUNNING[@]}"; do is_heavy "$t" && return 0; done
	return 1
}
# Start the tests in list order, JOBS at a time, a heavy one only while
# no other heavy one runs (a light one further down the list goes first).
QUEUE=("${TESTS[@]}")
while [ ${#QUEUE[@]} -gt 0 ]; do
	while [ ${#RUNNING[@]} -ge "$JOBS" ]; do reap; done
	next=-1
	for i in "${!QUEUE[@]}"; do
		if ! is_heavy "${QUEUE[$i]}" || ! heavy_running; then next=$i; break; fi
	done
	if [ $next -lt 0 ]; then reap; continue; fi
	t="${QUEUE[$next]}"
	unset "QUEUE[$next]"
	QUEUE=("${QUEUE[@]}")
	rm -f "$OUT/$t.result" "$OUT/$t.line"
	run_one "$t" &
	RUNNING[$!]="$t"
done
while [ ${#RUNNING[@]} -gt 0 ]; do reap; done

echo "franz-suite.sh: franz-go $FRANZ_VERSION against $BROKER: $required_failed required and $extra_failed extra test(s) not passing; logs in $OUT"
if [ $required_failed -gt 0 ]; then exit 1; fi
if [ "${FRANZ_SUITE_STRICT:-1}" != 0 ] && [ $extra_failed -gt 0 ]; then
	echo "franz-suite.sh: an extra test that passed before no longer does (FRANZ_SUITE_STRICT=0 reports it without failing)" >&2
	exit 1
fi
exit 0
