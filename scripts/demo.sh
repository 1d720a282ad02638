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
# What the registry drove: the slaves' roots, the exports, the boot configs.
echo "+ ls $ROOT/diskless/192.168.1.21 ; cat .../etc/conf.d/net .../etc/fstab" >&2
ls "$ROOT/diskless/192.168.1.21"
cat "$ROOT/diskless/192.168.1.21/etc/conf.d/net" "$ROOT/diskless/192.168.1.21/etc/fstab"
echo "+ cat $ROOT/etc/exports" >&2
cat "$ROOT/etc/exports"
dl netboot export dnsmasq | head -12
# doctor names what still stops slave21 from booting here (no kernel, no synced
# /bin /sbin /lib, no NFS server on this machine), each with the command that fixes it.
dl doctor 192.168.1.21 || true
echo
echo "demo root: $ROOT (registry: $ROOT/etc/diskless/slaves.yaml, hosts: $ROOT/etc/hosts)"

# The boot service, briefly, on loopback and unprivileged ports (no DHCP: that
# needs the slaves' interface), fetching slave21's boot config as pxelinux
# would. DEMO_SERVE=0 skips it.
if [ "${DEMO_SERVE:-1}" = 1 ]; then
  TFTP_PORT=${DEMO_TFTP_PORT:-16969}
  HTTP_PORT=${DEMO_HTTP_PORT:-14080}
  mkdir -p "$ROOT/srv/tftp/kernels/6.1.0"
  printf 'demo kernel\n' > "$ROOT/srv/tftp/kernels/6.1.0/vmlinuz"
  dl slave set 192.168.1.21 --kernel 6.1.0
  echo "+ diskless --root $ROOT serve --no-dhcp --tftp-addr 127.0.0.1 --tftp-port $TFTP_PORT --http-addr 127.0.0.1 --http-port $HTTP_PORT &" >&2
  "$BIN" --root "$ROOT" serve --no-dhcp --tftp-addr 127.0.0.1 --tftp-port "$TFTP_PORT" \
    --http-addr 127.0.0.1 --http-port "$HTTP_PORT" 2> "$ROOT/serve.log" &
  SERVE_PID=$!
  trap 'kill "$SERVE_PID" 2>/dev/null || true' EXIT
  for _ in $(seq 50); do
    "$BIN" --root "$ROOT" status --server "http://127.0.0.1:$HTTP_PORT" >/dev/null 2>&1 && break
    sleep 0.1
  done
  if command -v tftp >/dev/null; then
    echo "+ tftp 127.0.0.1 $TFTP_PORT -c get pxelinux.cfg/C0A80115" >&2
    (cd "$ROOT" && tftp -m octet 127.0.0.1 "$TFTP_PORT" -c get pxelinux.cfg/C0A80115 demo-C0A80115.cfg)
    cat "$ROOT/demo-C0A80115.cfg"
  elif command -v curl >/dev/null; then
    echo "+ curl tftp://127.0.0.1:$TFTP_PORT/pxelinux.cfg/C0A80115" >&2
    curl -s "tftp://127.0.0.1:$TFTP_PORT/pxelinux.cfg/C0A80115"
  else
    echo "(no tftp or curl here: apt-get install tftp-hpa, then: tftp 127.0.0.1 $TFTP_PORT -c get pxelinux.cfg/C0A80115)"
  fi
  dl status --server "http://127.0.0.1:$HTTP_PORT"
  kill -TERM "$SERVE_PID"; wait "$SERVE_PID" || true
  trap - EXIT
  echo "serve log: $ROOT/serve.log (try it: $BIN --root $ROOT serve --no-dhcp --tftp-port $TFTP_PORT --http-port $HTTP_PORT)"
fi

# DEMO_BOOT=1 (as root, with the packages of .ci/run): a QEMU VM network-boots
# a slave from a master set up by this binary, and prints its boot timeline.
# This is the boot proof's BIOS case (internal/e2e, docs/e2e.md), in its own
# network namespace; its files are left in $ROOT/boot.
if [ "${DEMO_BOOT:-0}" = 1 ]; then
  echo
  echo "booting a diskless slave in QEMU (logs: $ROOT/boot)"
  cd "$(dirname "$0")/.."
  DISKLESS_E2E_BIN=$BIN DISKLESS_E2E_LOGS=$ROOT/boot DISKLESS_REQUIRE_ALL=1 \
    "${GO:-go}" test -count=1 -v -run '^TestBoot$/^bios$' ./internal/e2e/ |
    grep -E -- '^\s+(power-on|DHCP|serve:|loader|kernel|initrd|nfs root|init) |DISKLESS-|--- |needs |^(ok|FAIL)' || true
  grep -E 'DISKLESS-(HOSTNAME|IP|BOOT)' "$ROOT/boot/TestBoot_bios/serial.log" || { echo "the slave did not boot: see $ROOT/boot"; exit 1; }
fi
