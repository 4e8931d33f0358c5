#!/usr/bin/env bash
# Apache Kafka 4.x broker (jars from Maven Central), KRaft, single node in
# combined broker+controller mode.
#   test/services/kafka.sh start|stop|status
# Endpoint: 127.0.0.1:${WEIR_KAFKA_PORT:-19092} (controller on ${WEIR_KAFKA_CONTROLLER_PORT:-19093}).
# Data: ${WEIR_KAFKA_DATA_DIR:-$WEIR_SERVICES_DIR/kafka/data} (kept across stop/start;
# put it on the same disk as weir's data when benchmarking side by side).
# Heap: KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m). CLI tools: kafka-cli.sh.
SVC=kafka
SVC_VARS=(WEIR_KAFKA_PORT WEIR_KAFKA_CONTROLLER_PORT WEIR_KAFKA_DATA_DIR KAFKA_HEAP_OPTS)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_started_env
source "$SERVICES_SRC/kafka/kafka-lib.sh"

KAFKA_PORT=${WEIR_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${WEIR_KAFKA_CONTROLLER_PORT:-19093}
KAFKA_DATA=${WEIR_KAFKA_DATA_DIR:-$SVC_DIR/data}
ENDPOINT="127.0.0.1:$KAFKA_PORT"

probe() {
  port_open 127.0.0.1 "$KAFKA_PORT" && grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null
}

write_config() {
  cat >"$SVC_DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
num.network.threads=3
num.io.threads=8
EOF
}

do_start() {
  kafka_install
  fail_if_port_taken 127.0.0.1 "$KAFKA_PORT"
  fail_if_port_taken 127.0.0.1 "$KAFKA_CONTROLLER_PORT"
  write_config
  mkdir -p "$KAFKA_DATA"
  if [[ ! -s $KAFKA_DATA/meta.properties ]]; then
    local id
    id=$( (kafka_java "$SERVICES_SRC/kafka/log4j2-tools.properties" kafka.tools.StorageTool random-uuid))
    log "formatting $KAFKA_DATA (cluster id $id)"
    (kafka_java "$SERVICES_SRC/kafka/log4j2-tools.properties" kafka.tools.StorageTool format \
      -t "$id" -c "$SVC_DIR/server.properties") >&2
  fi
  spawn bash -c "$(declare -f kafka_java); KAFKA_HOME='$KAFKA_HOME' KAFKA_JAVA='$KAFKA_JAVA' \
    kafka_java '$SERVICES_SRC/kafka/log4j2-broker.properties' kafka.Kafka '$SVC_DIR/server.properties'"
  wait_ready 120 probe
  log "up: Apache Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT (data $KAFKA_DATA)"
}

do_stop() { stop_pid 60; }

service_main do_start do_stop probe "$ENDPOINT" "$@"
