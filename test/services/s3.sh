#!/usr/bin/env bash
# S3: Versity S3 Gateway (versitygw, Apache-2.0) built from the Go module proxy,
# posix backend, SigV4 signatures checked (a wrong secret gets 403).
#   test/services/s3.sh start|stop|status
# Endpoint: http://127.0.0.1:${WEIR_S3_PORT:-9000}, access key weir, secret weirsecret,
# region us-east-1, path-style addressing. Health: GET /health.
# (MinIO is AGPL-3.0 and takes ~3.5 min to build; versitygw does the same job here.)
SVC=s3
SVC_VARS=(WEIR_S3_PORT WEIR_VERSITYGW_VERSION)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_started_env

S3_PORT=${WEIR_S3_PORT:-9000}
VGW_VERSION=${WEIR_VERSITYGW_VERSION:-v1.8.0}
VGW_BIN=$WEIR_PEERS_CACHE/bin/versitygw-$VGW_VERSION/versitygw
ENDPOINT="http://127.0.0.1:$S3_PORT"

probe() {
  [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$S3_PORT/health") == 200 ]]
}

build() {
  [[ -x $VGW_BIN ]] && return 0
  log "building versitygw $VGW_VERSION with go install (about 1-2 min)"
  (cd / && GOBIN=$(dirname "$VGW_BIN").tmp go install "github.com/versity/versitygw/cmd/versitygw@$VGW_VERSION") >&2
  rm -rf "$(dirname "$VGW_BIN")"
  mv "$(dirname "$VGW_BIN").tmp" "$(dirname "$VGW_BIN")"
}

do_start() {
  command -v curl >/dev/null || apt_install curl
  command -v go >/dev/null || die "go is not on PATH"
  with_lock versitygw build
  fail_if_port_taken 127.0.0.1 "$S3_PORT"
  mkdir -p "$SVC_DIR/data" "$SVC_DIR/sidecar"
  spawn "$VGW_BIN" --access weir --secret weirsecret --region us-east-1 \
    --port "127.0.0.1:$S3_PORT" --health /health --quiet \
    posix --sidecar "$SVC_DIR/sidecar" "$SVC_DIR/data"
  wait_ready 60 probe
  log "up: versitygw $VGW_VERSION on http://127.0.0.1:$S3_PORT (data $SVC_DIR/data)"
}

do_stop() { stop_pid 15; }

service_main do_start do_stop probe "$ENDPOINT" "$@"
