#!/usr/bin/env bash
# Runs Apache Kafka's Java tools from the cached Maven Central jars (fetched if
# missing); no broker needs to run here. Point them at any broker, e.g. weir's:
#   test/services/kafka-cli.sh kafka-topics --bootstrap-server 127.0.0.1:9092 --list
#   test/services/kafka-cli.sh kafka-producer-perf-test --topic t --num-records 100000 \
#       --record-size 1000 --throughput -1 --producer-props bootstrap.servers=127.0.0.1:9092
#   test/services/kafka-cli.sh connect-standalone worker.properties connector.properties
# TOOL is one of the names below (the same as Kafka's bin/*.sh without .sh), or
# `kafka-run-class CLASS ARGS...`. Env: KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m),
# KAFKA_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, as Kafka's own scripts.
# connect-standalone: Kafka's FileStream connectors (org.apache.kafka:connect-file)
# are on the plugin path; when the worker properties set no plugin.path (or no
# listeners), a copy with plugin.path=<connect-file dir> (and
# listeners=http://127.0.0.1:${WEIR_CONNECT_REST_PORT:-18083}, not weir's 8083) is used.
SVC=kafka-cli
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$SERVICES_SRC/kafka/kafka-lib.sh"

usage() {
  cat >&2 <<EOF
usage: $0 TOOL [ARGS...]
TOOL: kafka-topics kafka-console-producer kafka-console-consumer kafka-consumer-groups
      kafka-producer-perf-test kafka-consumer-perf-test kafka-configs connect-standalone
      kafka-get-offsets kafka-metadata-quorum kafka-storage kafka-run-class CLASS
EOF
  exit 2
}

(($#)) || usage
tool=$1; shift
case "$tool" in
  kafka-topics) main=org.apache.kafka.tools.TopicCommand ;;
  kafka-console-producer) main=org.apache.kafka.tools.ConsoleProducer ;;
  kafka-console-consumer) main=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  kafka-consumer-groups) main=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  kafka-producer-perf-test) main=org.apache.kafka.tools.ProducerPerformance ;;
  kafka-consumer-perf-test) main=org.apache.kafka.tools.ConsumerPerformance ;;
  kafka-configs) main=kafka.admin.ConfigCommand ;;
  kafka-get-offsets) main=org.apache.kafka.tools.GetOffsetShell ;;
  kafka-metadata-quorum) main=org.apache.kafka.tools.MetadataQuorumCommand ;;
  kafka-storage) main=kafka.tools.StorageTool ;;
  connect-standalone) main=org.apache.kafka.connect.cli.ConnectStandalone ;;
  kafka-run-class) (($#)) || usage; main=$1; shift ;;
  -h | --help | help) usage ;;
  *) echo "unknown tool: $tool" >&2; usage ;;
esac

mkdir -p "$WEIR_PEERS_CACHE"
kafka_install

log4j=$SERVICES_SRC/kafka/log4j2-tools.properties
if [[ $tool == connect-standalone ]]; then
  log4j=$SERVICES_SRC/kafka/log4j2-connect.properties
  if (($#)) && [[ -f $1 && $1 != -* ]]; then
    worker=$1; shift
    if ! grep -Eq '^[[:space:]]*plugin\.path[[:space:]]*[=:]' "$worker" ||
      ! grep -Eq '^[[:space:]]*listeners[[:space:]]*[=:]' "$worker"; then
      tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/weir-connect.XXXXXX")
      cp "$worker" "$tmpdir/worker.properties"
      grep -Eq '^[[:space:]]*plugin\.path[[:space:]]*[=:]' "$worker" ||
        printf '\nplugin.path=%s\n' "$KAFKA_HOME/plugins" >>"$tmpdir/worker.properties"
      grep -Eq '^[[:space:]]*listeners[[:space:]]*[=:]' "$worker" ||
        printf 'listeners=http://127.0.0.1:%s\n' "${WEIR_CONNECT_REST_PORT:-18083}" >>"$tmpdir/worker.properties"
      worker=$tmpdir/worker.properties
    fi
    set -- "$worker" "$@"
  fi
fi

kafka_java "$log4j" "$main" "$@"
