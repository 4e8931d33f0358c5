#!/usr/bin/env bash
# Elasticsearch (real), the integ-test-zip distribution from Maven Central,
# single node, security off, run as the unprivileged OS user weir-es.
#   test/services/elasticsearch.sh start|stop|status
# Endpoint: http://127.0.0.1:${WEIR_ES_PORT:-9200}
#
# Which version runs here (checked 2026-11-25): 9.2.0. The newer 9.x versions
# tried (9.3.0, 9.3.3, 9.4.9, 9.5.6) are refused by the Maven Central served to
# this machine: "Could not find artifact
# org.elasticsearch.distribution.integ-test-zip:elasticsearch:zip:9.3.0 in central".
# Versions are tried in order (WEIR_ES_VERSIONS); the first that downloads is used.
# Notes: this distribution has only the modules transport-netty4, x-pack-core,
# x-pack-security and apm, so `GET /` answers 405 (no rest-root module); the
# document, bulk, search, index and cluster APIs all work, and every response
# carries X-Elastic-Product: Elasticsearch (go-elasticsearch's product check).
# Elasticsearch 9 needs Java 21+: Temurin 25 from the image is used.
SVC=elasticsearch
SVC_VARS=(WEIR_ES_PORT WEIR_ES_TRANSPORT_PORT WEIR_ES_VERSIONS WEIR_ES_HEAP WEIR_ES_JAVA_HOME)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_started_env

ES_PORT=${WEIR_ES_PORT:-9200}
ES_TRANSPORT_PORT=${WEIR_ES_TRANSPORT_PORT:-9300}
ES_VERSIONS=${WEIR_ES_VERSIONS:-9.2.0 8.19.7}
ES_HEAP=${WEIR_ES_HEAP:--Xms512m -Xmx512m}
ES_JAVA=${WEIR_ES_JAVA_HOME:-$JAVA25_HOME}
ES_USER=weir-es
ENDPOINT="http://127.0.0.1:$ES_PORT"

probe() {
  curl -s -m 3 "http://127.0.0.1:$ES_PORT/_cluster/health" 2>/dev/null | grep -Eq '"status":"(green|yellow)"'
}

# fetch: sets ES_VERSION and ES_CACHED (the unpacked distribution in the cache).
fetch() {
  local v zipdir=$WEIR_PEERS_CACHE/elasticsearch
  mkdir -p "$zipdir"
  for v in $ES_VERSIONS; do
    if [[ -x $WEIR_PEERS_CACHE/elasticsearch-$v/bin/elasticsearch ]]; then
      ES_VERSION=$v; break
    fi
    if [[ ! -s $zipdir/elasticsearch-$v.zip ]]; then
      log "fetching org.elasticsearch.distribution.integ-test-zip:elasticsearch:$v:zip from Maven Central"
      if ! mvn_q -U "$MVN_DEP_PLUGIN:copy" \
        -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$v:zip" \
        -DoutputDirectory="$zipdir" >"$zipdir/fetch-$v.log" 2>&1; then
        log "Elasticsearch $v not available: $(grep -m1 -o 'Could not [^>]*' "$zipdir/fetch-$v.log" || tail -n1 "$zipdir/fetch-$v.log")"
        continue
      fi
    fi
    rm -rf "$WEIR_PEERS_CACHE/elasticsearch-$v.tmp"
    mkdir -p "$WEIR_PEERS_CACHE/elasticsearch-$v.tmp"
    unzip -q "$zipdir/elasticsearch-$v.zip" -d "$WEIR_PEERS_CACHE/elasticsearch-$v.tmp"
    chmod -R a+rX "$WEIR_PEERS_CACHE/elasticsearch-$v.tmp"
    mv "$WEIR_PEERS_CACHE/elasticsearch-$v.tmp/elasticsearch-$v" "$WEIR_PEERS_CACHE/elasticsearch-$v"
    rm -rf "$WEIR_PEERS_CACHE/elasticsearch-$v.tmp"
    ES_VERSION=$v
    break
  done
  [[ -n ${ES_VERSION:-} ]] || die "no Elasticsearch distribution could be fetched (tried: $ES_VERSIONS); see $zipdir/fetch-*.log"
}

do_start() {
  command -v curl >/dev/null || apt_install curl
  [[ -x $ES_JAVA/bin/java ]] || die "Elasticsearch 9 needs Java 21+; not found at $ES_JAVA (set WEIR_ES_JAVA_HOME)"
  command -v unzip >/dev/null || apt_install unzip
  ES_VERSION=
  with_lock elasticsearch fetch
  [[ -n $ES_VERSION ]] || for v in $ES_VERSIONS; do
    [[ -x $WEIR_PEERS_CACHE/elasticsearch-$v/bin/elasticsearch ]] && { ES_VERSION=$v; break; }
  done
  fail_if_port_taken 127.0.0.1 "$ES_PORT"
  ensure_system_user "$ES_USER"

  # The cache may sit under /root (mode 700), so the node runs from a copy
  # (hard links where possible) inside the scratch dir.
  local home=$SVC_DIR/home-$ES_VERSION
  if [[ ! -x $home/bin/elasticsearch ]]; then
    rm -rf "$SVC_DIR"/home-*
    cp -al "$WEIR_PEERS_CACHE/elasticsearch-$ES_VERSION" "$home" 2>/dev/null ||
      cp -a "$WEIR_PEERS_CACHE/elasticsearch-$ES_VERSION" "$home"
  fi
  mkdir -p "$SVC_DIR/data" "$SVC_DIR/logs" "$SVC_DIR/tmp" "$SVC_DIR/run"
  [[ -d $SVC_DIR/config ]] || cp -a "$home/config" "$SVC_DIR/config"
  chown -R "$ES_USER:" "$SVC_DIR/config" "$SVC_DIR/data" "$SVC_DIR/logs" "$SVC_DIR/tmp" "$SVC_DIR/run"
  require_access "$ES_USER" "$SVC_DIR/run"
  ln -sfn "$SVC_DIR/logs/weir.log" "$LOG_FILE"
  rm -f "$SVC_DIR/run/es.pid"

  # -d: daemonise and return once the node has started (or failed).
  # shellcheck disable=SC2086
  if ! (cd "$SVC_DIR/run" && runuser -u "$ES_USER" -- env -i PATH=/usr/bin:/bin \
    ES_JAVA_HOME="$ES_JAVA" ES_PATH_CONF="$SVC_DIR/config" ES_TMPDIR="$SVC_DIR/tmp" \
    ES_JAVA_OPTS="$ES_HEAP" \
    "$home/bin/elasticsearch" -d -p "$SVC_DIR/run/es.pid" \
    -E cluster.name=weir -E node.name=weir-es \
    -E discovery.type=single-node -E xpack.security.enabled=false \
    -E network.host=127.0.0.1 -E http.port="$ES_PORT" -E transport.port="$ES_TRANSPORT_PORT" \
    -E path.data="$SVC_DIR/data" -E path.logs="$SVC_DIR/logs" \
    -E cluster.routing.allocation.disk.threshold_enabled=false \
    -E action.destructive_requires_name=false \
    >"$SVC_DIR/run/start.out" 2>&1); then
    tail -n 30 "$SVC_DIR/run/start.out" >&2
    die "Elasticsearch $ES_VERSION failed to start"
  fi
  cp "$SVC_DIR/run/es.pid" "$PID_FILE"
  wait_ready 120 probe
  log "up: Elasticsearch $ES_VERSION (integ-test-zip) on http://127.0.0.1:$ES_PORT (data $SVC_DIR/data)"
}

do_stop() { stop_pid 60; }

service_main do_start do_stop probe "$ENDPOINT" "$@"
