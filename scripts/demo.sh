#!/usr/bin/env bash
# make demo: a diskless master for a built-in 3-slave cluster, under a scratch
# root prefix ($DEMO_ROOT), so nothing on this machine outside it changes.
set -euo pipefail
BIN=${BIN:-bin/diskless}
ROOT=${DEMO_ROOT:-$PWD/demo-root}
dl() { echo "+ diskless --root $ROOT $*" >&2; "$BIN" --root "$ROOT" "$@"; }

rm -rf "$ROOT"
mkdir -p "$ROOT/etc"
printf '127.0.0.1\tlocalhost\n' > "$ROOT/etc/hosts"

dl init --master 192.168.1.1 --subnet 192.168.1.0/24 --domain cluster.lan
cat > "$ROOT/cluster.csv" <<CSV
ip,mac,hostname
192.168.1.21,00:02:a5:04:3b:66
192.168.1.22,00-02-A5-04-3B-67,node22
192.168.1.23,0002.a504.3b68
CSV
dl slave import "$ROOT/cluster.csv"
dl slave list
dl slave show slave21
echo
echo "demo root: $ROOT (registry: $ROOT/etc/diskless/slaves.yaml, hosts: $ROOT/etc/hosts)"
