#!/usr/bin/env bash
# HDFS: Hadoop's MiniDFSCluster (hadoop-client-minicluster from Maven Central)
# in the small Java main under test/services/hdfs/, 1 NameNode + 1 DataNode.
#   test/services/hdfs.sh start|stop|status
# Endpoint: hdfs://127.0.0.1:${WEIR_HDFS_PORT:-8020} (NameNode web UI on ${WEIR_HDFS_HTTP_PORT:-9870});
# permissions are off. The DataNode listens on ephemeral loopback ports.
SVC=hdfs
SVC_VARS=(WEIR_HDFS_PORT WEIR_HDFS_HTTP_PORT WEIR_HDFS_HEAP)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_started_env

HDFS_PORT=${WEIR_HDFS_PORT:-8020}
HDFS_HTTP_PORT=${WEIR_HDFS_HTTP_PORT:-9870}
HDFS_HEAP=${WEIR_HDFS_HEAP:--Xms128m -Xmx384m}
ENDPOINT="hdfs://127.0.0.1:$HDFS_PORT"
SRC=$SERVICES_SRC/hdfs
BUILD_ID=$(cat "$SRC/pom.xml" "$SRC"/src/main/java/weir/services/*.java | sha256sum | cut -c1-12)
BUILD=$WEIR_PEERS_CACHE/hdfs-$BUILD_ID
HADOOP_VERSION=$(sed -n 's:.*<hadoop.version>\(.*\)</hadoop.version>.*:\1:p' "$SRC/pom.xml")

# Hadoop on Java 17 needs these (see shared/peers.md).
ADD_OPENS=()
for p in java.io java.lang java.lang.reflect java.math java.net java.text java.util \
  java.util.concurrent java.util.zip sun.security.util sun.security.x509 \
  java.nio sun.nio.ch java.lang.invoke; do
  ADD_OPENS+=("--add-opens=java.base/$p=ALL-UNNAMED")
done

probe() {
  [[ -s $SVC_DIR/ready ]] && port_open 127.0.0.1 "$HDFS_PORT"
}

build() {
  [[ -f $BUILD/ok ]] && return 0
  log "building the MiniDFSCluster main (hadoop-client-minicluster $HADOOP_VERSION) with Maven"
  rm -rf "$BUILD.tmp"
  mkdir -p "$BUILD.tmp"
  cp -r "$SRC/pom.xml" "$SRC/src" "$BUILD.tmp/"
  if ! { mvn_q -f "$BUILD.tmp/pom.xml" package -DskipTests &&
    mvn_q -f "$BUILD.tmp/pom.xml" "$MVN_DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
      -DoutputDirectory="$BUILD.tmp/lib"; } >"$BUILD.tmp/build.log" 2>&1; then
    cat "$BUILD.tmp/build.log" >&2
    die "Maven build of the MiniDFSCluster main failed"
  fi
  touch "$BUILD.tmp/ok"
  rm -rf "$BUILD"
  mv "$BUILD.tmp" "$BUILD"
}

do_start() {
  local java=$JAVA17_HOME/bin/java
  [[ -x $java ]] || java=java
  with_lock hdfs build
  fail_if_port_taken 127.0.0.1 "$HDFS_PORT"
  rm -rf "$SVC_DIR/data" "$SVC_DIR/ready" # MiniDFSCluster formats on every start
  mkdir -p "$SVC_DIR/data"
  # shellcheck disable=SC2086
  spawn "$java" $HDFS_HEAP -XX:+IgnoreUnrecognizedVMOptions "${ADD_OPENS[@]}" \
    -Djava.net.preferIPv4Stack=true -Dlog4j.configuration=file:/dev/null \
    -cp "$BUILD/target/classes:$BUILD/lib/*" weir.services.MiniHdfs \
    "$SVC_DIR/data" "$HDFS_PORT" "$HDFS_HTTP_PORT" "$SVC_DIR/ready"
  wait_ready 180 probe
  log "up: MiniDFSCluster (Hadoop $HADOOP_VERSION) at hdfs://127.0.0.1:$HDFS_PORT (data $SVC_DIR/data)"
}

do_stop() { stop_pid 30; rm -f "$SVC_DIR/ready"; }

service_main do_start do_stop probe "$ENDPOINT" "$@"
