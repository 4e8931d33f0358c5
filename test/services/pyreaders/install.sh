#!/usr/bin/env bash
# Installs the Python readers the storage-sink tests read Avro and Parquet
# files back with (fastavro, pyarrow from PyPI, pinned) into a venv in the peers
# cache, once; prints the venv's python. Safe to run concurrently (flock).
set -euo pipefail
CACHE=${WEIR_PEERS_CACHE:-$HOME/.cache/weir-peers}
PYARROW_VERSION=26.0.1
FASTAVRO_VERSION=1.13.1
# fastavro's snappy and zstandard codecs need these.
CRAMJAM_VERSION=2.14.0
ZSTD_VERSION=1.8.0
VENV=$CACHE/pyreaders-$PYARROW_VERSION-$FASTAVRO_VERSION-$CRAMJAM_VERSION-$ZSTD_VERSION
mkdir -p "$CACHE/locks"
exec 9>"$CACHE/locks/pyreaders.lock"
flock 9
if [[ ! -x $VENV/bin/python || ! -f $VENV/.installed ]]; then
  rm -rf "$VENV"
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    # Debian's python3 has venv without pip until python3-venv is in.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2 ||
      { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >&2; }
  fi
  python3 -m venv "$VENV" >&2
  "$VENV/bin/python" -m pip install -q "pyarrow==$PYARROW_VERSION" "fastavro==$FASTAVRO_VERSION" \
    "cramjam==$CRAMJAM_VERSION" "backports.zstd==$ZSTD_VERSION" >&2
  touch "$VENV/.installed"
fi
echo "$VENV/bin/python"
