#!/usr/bin/env bash
# install-kcat.sh: make sure kcat (librdkafka's CLI, Debian package "kcat")
# is on PATH. Idempotent: does nothing when kcat already runs. Fails loudly
# (non-zero exit) when it cannot be installed; the compat tests never skip
# because kcat is missing.
set -euo pipefail

if command -v kcat >/dev/null 2>&1 && kcat -V >/dev/null 2>&1; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi

export DEBIAN_FRONTEND=noninteractive
# Update the index only when the package is unknown to apt (fresh image).
if ! apt-cache show kcat >/dev/null 2>&1; then
	$SUDO apt-get update -q
fi
$SUDO apt-get install -y -q kcat

if ! kcat -V >/dev/null 2>&1; then
	echo "install-kcat.sh: kcat installed but does not run" >&2
	exit 1
fi
kcat -V | head -1
