#!/usr/bin/env bash
# Docker for the image tests (issue 15): installs Debian's docker.io when no
# dockerd is on the machine and starts one when none answers on the socket.
#   test/services/docker.sh start|stop|status
# It needs root. Storage driver: overlay2, or vfs where overlay mounts are
# refused (nested containers); cgroupfs, no iptables (every container the
# tests run uses --network host, so nothing needs NAT). The default bridge
# network exists only because testcontainers-go insists on one (without it,
# it creates a bridge network of its own); no container joins it and no test
# addresses it.
# Not in all.sh's default list: only test-image needs it.
SVC=docker
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SOCK=/var/run/docker.sock

answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

install_docker() {
  command -v dockerd >/dev/null 2>&1 && return 0
  [[ $(id -u) == 0 ]] || die "dockerd is not installed and installing it needs root"
  log "installing Debian's docker.io"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >&2
}

start_daemon() { # driver
  : >"$LOG_FILE"
  dockerd --host "unix://$SOCK" --storage-driver "$1" --exec-opt native.cgroupdriver=cgroupfs \
    --iptables=false --ip6tables=false --ip-masq=false --bip 172.31.254.1/24 --data-root "$SVC_DIR/root-$1" \
    --exec-root "$SVC_DIR/exec" --pidfile "$SVC_DIR/dockerd.pid" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  local i
  for ((i = 0; i < 60; i++)); do
    answers && return 0
    pid_alive || return 1
    sleep 0.5
  done
  return 1
}

case "${1:-}" in
  start)
    prepare_dirs
    if answers; then
      log "up: docker $(docker version --format '{{.Server.Version}}') (already running)"
      exit 0
    fi
    install_docker
    pid_alive && stop_pid 20
    if ! start_daemon overlay2 || ! docker info 2>/dev/null | grep -q 'Storage Driver: overlay2'; then
      log "overlay2 refused; falling back to vfs (see $LOG_FILE)"
      stop_pid 20 || true
      start_daemon vfs || { tail -n 40 "$LOG_FILE" >&2; die "dockerd did not start"; }
    fi
    log "up: docker $(docker version --format '{{.Server.Version}}') $(docker info --format '{{.Driver}}' 2>/dev/null) on $SOCK"
    ;;
  stop) stop_pid 30 ;;
  status)
    if answers; then echo "docker: up"; else echo "docker: down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
