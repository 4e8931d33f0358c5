# shellcheck shell=bash disable=SC2034
# Common helpers for test/services/<name>.sh. Sourced, never run.
#
# Layout:
#   ${WEIR_SERVICES_DIR:-/tmp/weir-services}/<name>/   data, config, logs of one system
#   ${WEIR_SERVICES_DIR}/<name>.pid, <name>.log        PID file and main log
#   ${WEIR_PEERS_CACHE:-~/.cache/weir-peers}/          downloads and builds, re-used when present
set -euo pipefail

WEIR_SERVICES_DIR=${WEIR_SERVICES_DIR:-/tmp/weir-services}
WEIR_PEERS_CACHE=${WEIR_PEERS_CACHE:-$HOME/.cache/weir-peers}
SERVICES_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
JAVA17_HOME=${WEIR_JAVA17_HOME:-/usr/lib/jvm/java-17-openjdk-amd64}
JAVA25_HOME=${WEIR_JAVA25_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
MVN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

: "${SVC:?set SVC before sourcing lib.sh}"
SVC_DIR=$WEIR_SERVICES_DIR/$SVC
PID_FILE=$WEIR_SERVICES_DIR/$SVC.pid
LOG_FILE=$WEIR_SERVICES_DIR/$SVC.log

ENV_FILE=$WEIR_SERVICES_DIR/$SVC.env

log() { echo "[$SVC] $*" >&2; }
die() { echo "[$SVC] ERROR: $*" >&2; exit 1; }

prepare_dirs() {
  mkdir -p "$WEIR_SERVICES_DIR" "$WEIR_PEERS_CACHE" "$SVC_DIR"
  # Services running as other OS users (postgres, weir-es) must traverse it.
  chmod 755 "$WEIR_SERVICES_DIR" 2>/dev/null || true
}

# pid_alive: 0 if the PID file names a live process.
pid_alive() {
  local pid
  [[ -s $PID_FILE ]] || return 1
  pid=$(head -n1 "$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

port_open() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# wait_ready TIMEOUT_S PROBE_FN: polls PROBE_FN until it succeeds; fails early
# when the started process died, and shows the end of its log.
wait_ready() {
  local timeout=$1 probe=$2 start=$SECONDS
  while ! "$probe"; do
    if ! pid_alive; then
      log "process exited during start; last lines of $LOG_FILE:"
      tail -n 40 "$LOG_FILE" >&2 || true
      return 1
    fi
    if (( SECONDS - start > timeout )); then
      log "not ready after ${timeout}s; last lines of $LOG_FILE:"
      tail -n 40 "$LOG_FILE" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

# fail_if_port_taken HOST PORT: a foreign process on our port is an error, not "up".
fail_if_port_taken() {
  if port_open "$1" "$2"; then
    die "$1:$2 is already in use by a process this script did not start (see: ss -ltnp | grep :$2); stop it or choose another port"
  fi
}

# stop_pid [TIMEOUT_S]: SIGTERM the PID in PID_FILE (and wait), then SIGKILL.
stop_pid() {
  local timeout=${1:-30} pid i
  if ! pid_alive; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  pid=$(head -n1 "$PID_FILE")
  kill "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after ${timeout}s, sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

# spawn CMD...: start CMD in the background, in its own session, logging to
# LOG_FILE; records its PID.
spawn() {
  : >"$LOG_FILE"
  setsid "$@" >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
}

# with_lock NAME CMD...: serialise cache population between concurrent runs.
with_lock() {
  local name=$1; shift
  mkdir -p "$WEIR_PEERS_CACHE/locks"
  (
    flock 9
    "$@"
  ) 9>"$WEIR_PEERS_CACHE/locks/$name.lock"
}

# apt_install PKG...: installs missing Debian packages ('apt-get update' once).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "apt-get install ${missing[*]}"
  with_lock apt _apt_install "${missing[@]}"
}
_apt_install() {
  local stamp=$WEIR_PEERS_CACHE/locks/apt-updated
  # 'apt-get update' once per day at most (the lists may be gone on a new machine).
  if [[ ! -e $stamp ]] || [[ -n $(find "$stamp" -mmin +1440 2>/dev/null) ]] || ! apt-cache policy "$1" 2>/dev/null | grep -q Candidate; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q >&2
    touch "$stamp"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "$@" >&2
}

mvn_q() {
  command -v mvn >/dev/null || apt_install maven
  mvn -B -q -U -Dstyle.color=never -Dmaven.repo.local="$WEIR_PEERS_CACHE/m2" "$@"
}

# ensure_system_user NAME: an unprivileged OS user for daemons that refuse root.
ensure_system_user() {
  id -u "$1" >/dev/null 2>&1 && return 0
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$1" 2>/dev/null ||
    id -u "$1" >/dev/null 2>&1 || die "cannot create user $1"
}

# require_access USER DIR: daemons running as USER must reach DIR (the scratch
# dir may not sit under a mode-700 home such as /root).
require_access() {
  runuser -u "$1" -- test -w "$2" ||
    die "OS user $1 cannot write $2: set WEIR_SERVICES_DIR to a directory every user can traverse (default /tmp/weir-services)"
}

# While a system runs, status/stop/start use the settings it was started with
# (SVC_VARS, saved by start), not whatever this shell's environment says.
load_started_env() {
  if [[ -f $ENV_FILE ]] && pid_alive; then
    # shellcheck disable=SC1090
    source "$ENV_FILE"
  fi
}
save_started_env() {
  local v
  for v in ${SVC_VARS[@]+"${SVC_VARS[@]}"}; do
    if [[ -n ${!v:-} ]]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
  done >"$ENV_FILE"
}

# main START_FN STOP_FN PROBE_FN ENDPOINT "$@": the start|stop|status dispatcher.
service_main() {
  local start_fn=$1 stop_fn=$2 probe_fn=$3 endpoint=$4; shift 4
  case "${1:-}" in
    start)
      prepare_dirs
      exec 8>"$WEIR_SERVICES_DIR/$SVC.lock"
      flock 8 # one start at a time per system
      if pid_alive; then
        if "$probe_fn" || wait_ready "${START_TIMEOUT:-180}" "$probe_fn"; then
          log "already up"
          echo "$endpoint"
          return 0
        fi
        die "running (pid $(head -n1 "$PID_FILE")) but not answering; run: $0 stop"
      fi
      save_started_env
      "$start_fn" 8>&- # daemons must not inherit the lock
      echo "$endpoint"
      ;;
    stop)
      "$stop_fn"
      ;;
    status)
      if pid_alive && "$probe_fn"; then
        echo "$SVC up $endpoint"
      else
        echo "$SVC down"
        return 1
      fi
      ;;
    *)
      echo "usage: $0 start|stop|status" >&2
      return 2
      ;;
  esac
}
