# shellcheck shell=bash
# Apache Kafka jars from Maven Central, shared by kafka.sh and kafka-cli.sh.
# Sourced after lib.sh.
#   $KAFKA_HOME/lib/*.jar                      broker, tools, clients, connect-runtime (+ deps)
#   $KAFKA_HOME/plugins/connect-file/*.jar     FileStream connectors (Connect plugin.path)
KAFKA_POM=$SERVICES_SRC/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")
KAFKA_HOME=$WEIR_PEERS_CACHE/kafka-$KAFKA_VERSION-$(sha256sum "$KAFKA_POM" | cut -c1-8)
KAFKA_JAVA=${WEIR_KAFKA_JAVA_HOME:-$JAVA17_HOME}/bin/java
[[ -x $KAFKA_JAVA ]] || KAFKA_JAVA=java

_kafka_fetch() {
  [[ -f $KAFKA_HOME/ok ]] && return 0
  echo "[kafka] fetching Apache Kafka $KAFKA_VERSION jars from Maven Central" >&2
  local tmp=$KAFKA_HOME.tmp mlog=$WEIR_PEERS_CACHE/kafka-fetch.log
  rm -rf "$tmp"
  mkdir -p "$tmp/lib" "$tmp/plugins/connect-file"
  if ! { mvn_q -f "$KAFKA_POM" "$MVN_DEP_PLUGIN:copy-dependencies" -DincludeScope=runtime \
      -DexcludeArtifactIds=connect-file -DoutputDirectory="$tmp/lib" &&
    mvn_q "$MVN_DEP_PLUGIN:copy" -Dartifact="org.apache.kafka:connect-file:$KAFKA_VERSION" \
      -DoutputDirectory="$tmp/plugins/connect-file"; } >"$mlog" 2>&1; then
    cat "$mlog" >&2
    echo "[kafka] ERROR: could not fetch the Kafka jars" >&2
    return 1
  fi
  touch "$tmp/ok"
  rm -rf "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
}

kafka_install() {
  [[ -f $KAFKA_HOME/ok ]] && return 0
  with_lock kafka _kafka_fetch
}

# kafka_java LOG4J2_CONFIG MAIN_CLASS ARGS...: runs (exec) a Kafka main class.
# Honors KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS and KAFKA_OPTS like kafka-run-class.sh.
kafka_java() {
  local log4j=$1; shift
  # shellcheck disable=SC2086
  exec "$KAFKA_JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent} \
    -Djava.awt.headless=true -Dlog4j2.configurationFile="$log4j" ${KAFKA_OPTS:-} \
    -cp "$KAFKA_HOME/lib/*" "$@"
}
