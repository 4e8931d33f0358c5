#!/usr/bin/env bash
# Apache ActiveMQ 5.17 (Debian package 'activemq'), a private persistent
# broker (KahaDB under $WEIR_SERVICES_DIR/activemq/data/kahadb, kept across
# restarts) with STOMP and openwire on loopback. connectors/stomp's tests
# stop and restart it to prove that nothing queued is lost.
#   test/services/activemq.sh start|stop|restart|status
# Endpoints: STOMP 127.0.0.1:${WEIR_STOMP_PORT:-61613}, openwire 127.0.0.1:${WEIR_OPENWIRE_PORT:-61616}
SVC=activemq
SVC_VARS=(WEIR_STOMP_PORT WEIR_OPENWIRE_PORT WEIR_ACTIVEMQ_HEAP)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_started_env

STOMP_PORT=${WEIR_STOMP_PORT:-61613}
OPENWIRE_PORT=${WEIR_OPENWIRE_PORT:-61616}
AMQ_HOME=/usr/share/activemq
AMQ_HEAP=${WEIR_ACTIVEMQ_HEAP:--Xms128m -Xmx256m}
ENDPOINT="stomp://127.0.0.1:$STOMP_PORT tcp://127.0.0.1:$OPENWIRE_PORT"

# A full STOMP handshake, not just an open port.
probe() {
  local reply
  reply=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "CONNECT\naccept-version:1.2\nhost:localhost\n\n\0" >&3
    head -c 9 <&3' _ "$STOMP_PORT" 2>/dev/null) || return 1
  [[ $reply == CONNECTED ]]
}

write_config() {
  mkdir -p "$SVC_DIR/conf" "$SVC_DIR/data"
  cat >"$SVC_DIR/conf/log4j.properties" <<'LOG4J'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=%d | %-5p | %m | %c%n
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
log4j.logger.org.apache.activemq.spring=WARN
LOG4J
  cat >"$SVC_DIR/conf/activemq.xml" <<EOF
<beans
  xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="weir-test"
          persistent="true" useJmx="false" schedulerSupport="false"
          dataDirectory="$SVC_DIR/data">
    <!-- Persistent so that a broker restart (even kill -9 of the broker)
         loses nothing it acknowledged: a RECEIPT for a persistent SEND means
         "written to the journal". The journal is fsynced once a second
         (journalDiskSyncStrategy periodic) rather than per message: on this
         disk a per-message fsync costs ~25 ms, so one connection could store
         only ~40 messages/s; only an OS crash can lose the last second. -->
    <persistenceAdapter>
      <kahaDB directory="$SVC_DIR/data/kahadb" journalMaxFileLength="64mb" journalDiskSyncStrategy="periodic" journalDiskSyncInterval="1000"/>
    </persistenceAdapter>
    <systemUsage>
      <systemUsage>
        <memoryUsage><memoryUsage percentOfJvmHeap="60"/></memoryUsage>
        <storeUsage><storeUsage limit="4 gb"/></storeUsage>
        <tempUsage><tempUsage limit="1 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="openwire" uri="tcp://127.0.0.1:$OPENWIRE_PORT"/>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:$STOMP_PORT"/>
    </transportConnectors>
  </broker>
</beans>
EOF
}

do_start() {
  [[ -f $AMQ_HOME/bin/activemq.jar ]] || apt_install activemq
  fail_if_port_taken 127.0.0.1 "$STOMP_PORT"
  fail_if_port_taken 127.0.0.1 "$OPENWIRE_PORT"
  write_config
  local java=$JAVA17_HOME/bin/java
  [[ -x $java ]] || java=java
  # shellcheck disable=SC2086
  spawn "$java" $AMQ_HEAP -Djava.awt.headless=true \
    -Dorg.apache.activemq.UseDedicatedTaskRunner=true \
    -Dactivemq.classpath="$SVC_DIR/conf" -Dactivemq.home="$AMQ_HOME" \
    -Dactivemq.base="$SVC_DIR" -Dactivemq.conf="$SVC_DIR/conf" -Dactivemq.data="$SVC_DIR/data" \
    -jar "$AMQ_HOME/bin/activemq.jar" start "xbean:file:$SVC_DIR/conf/activemq.xml"
  wait_ready 90 probe
  log "up: ActiveMQ $(dpkg-query -W -f='${Version}' activemq) STOMP 127.0.0.1:$STOMP_PORT openwire 127.0.0.1:$OPENWIRE_PORT"
}

do_stop() { stop_pid 30; }

if [[ ${1:-} == restart ]]; then
  "$0" stop && exec "$0" start
fi
service_main do_start do_stop probe "$ENDPOINT" "$@"
