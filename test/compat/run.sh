#!/usr/bin/env bash
# run.sh: the client-compatibility and crash suites in one go (make test-compat).
#
#   1. install kcat (Debian package) if missing
#   2. go build -o bin/weir ./cmd/weir
#   3. go test ./test/compat/... (kcat, Apache Kafka's Java tools via
#      test/services/kafka-cli.sh), each test against its own `weir serve`
#   4. go test ./test/crash/... (kill -9 under load, restart, verify)
#   5. test/compat/franz-suite.sh (franz-go's own kgo integration tests)
#
# Every step runs even when an earlier one failed; the exit status is 1 if
# any failed. Set WEIR_TEST_BROKER=host:port to point steps 3 and 5 at a
# running broker (e.g. Apache Kafka) instead; the crash test always starts
# and kills its own weir. Extra `go test` flags: GO_TEST_FLAGS (e.g. -run Kcat).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

failed=()
step() {
	local name="$1"; shift
	echo "=== $name: $*"
	local start=$SECONDS
	if "$@"; then
		echo "=== $name: ok ($((SECONDS - start)) s)"
	else
		echo "=== $name: FAILED ($((SECONDS - start)) s)"
		failed+=("$name")
	fi
}

step install-kcat test/compat/install-kcat.sh
step build go build -o bin/weir ./cmd/weir
export WEIR_BIN="$ROOT/bin/weir"
if [ ! -x "$WEIR_BIN" ]; then
	echo "run.sh: no weir binary; the suites below will fail"
fi

# shellcheck disable=SC2086
step compat go test -count=1 -timeout 20m ${GO_TEST_FLAGS:-} ./test/compat/...
# shellcheck disable=SC2086
step crash env -u WEIR_TEST_BROKER go test -count=1 -timeout 10m ${GO_TEST_FLAGS:-} ./test/crash/...
step franz-suite test/compat/franz-suite.sh

if [ ${#failed[@]} -gt 0 ]; then
	echo "run.sh: FAILED: ${failed[*]}"
	exit 1
fi
echo "run.sh: all passed"
