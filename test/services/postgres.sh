#!/usr/bin/env bash
# PostgreSQL 15 (Debian package), a private cluster with wal_level=logical.
#   test/services/postgres.sh start|stop|status
# Endpoint: 127.0.0.1:${WEIR_PG_PORT:-5432}, user weir / password weir, database weir;
# the role has LOGIN REPLICATION and owns database weir (not SUPERUSER).
# Password auth (scram-sha-256) over TCP; the OS user postgres has trust on the
# private unix socket in $WEIR_SERVICES_DIR/postgres.
SVC=postgres
SVC_VARS=(WEIR_PG_PORT)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
load_started_env

PG_PORT=${WEIR_PG_PORT:-5432}
PG_BIN=/usr/lib/postgresql/15/bin
PG_DATA=$SVC_DIR/data
ENDPOINT="postgres://weir:weir@127.0.0.1:$PG_PORT/weir"

as_pg() { runuser -u postgres -- "$@"; }

probe() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d weir -U weir; }

do_start() {
  [[ -x $PG_BIN/initdb ]] || apt_install postgresql-15
  id -u postgres >/dev/null 2>&1 || die "no OS user 'postgres' after installing postgresql-15"
  fail_if_port_taken 127.0.0.1 "$PG_PORT"
  chown postgres: "$SVC_DIR"
  chmod 700 "$SVC_DIR"
  require_access postgres "$SVC_DIR"
  if [[ ! -s $PG_DATA/PG_VERSION ]]; then
    rm -rf "$PG_DATA"
    log "initdb $PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$SVC_DIR/initdb.log" 2>&1 ||
      { cat "$SVC_DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  : >"$LOG_FILE"
  chown postgres: "$LOG_FILE"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOG_FILE" -w -t 60 start -o \
    "-p $PG_PORT -k $SVC_DIR -c listen_addresses=127.0.0.1 -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 -c fsync=off -c full_page_writes=off -c shared_buffers=64MB" >&2 ||
    { tail -n 30 "$LOG_FILE" >&2; die "pg_ctl start failed"; }
  head -n1 "$PG_DATA/postmaster.pid" >"$PID_FILE"
  local psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SVC_DIR" -p "$PG_PORT" -U postgres -d postgres)
  as_pg "${psql[@]}" -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'weir') THEN
        CREATE ROLE weir LOGIN REPLICATION CREATEDB PASSWORD 'weir';
      END IF; END \$\$;"
  if [[ -z $(as_pg "${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'weir'") ]]; then
    as_pg "${psql[@]}" -c "CREATE DATABASE weir OWNER weir"
  fi
  wait_ready 30 probe
  log "up: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (data $PG_DATA)"
}

do_stop() {
  if pid_alive; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >&2 || stop_pid 30
    rm -f "$PID_FILE"
    log "stopped"
  else
    rm -f "$PID_FILE"
    log "not running"
  fi
}

service_main do_start do_stop probe "$ENDPOINT" "$@"
