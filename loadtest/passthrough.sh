#!/usr/bin/env bash
# TLS pass-through by SNI: CPU per MiB of Gatehouse (`passthrough:` listener) against HAProxy
# (`mode tcp`, `req.ssl_sni`) and nginx (`stream`, `ssl_preread`), one interleaved run. Each proxy
# reads the SNI, picks the one backend (a mailbox-sim presenting its own certificate) and splices
# bytes; the client (curl) downloads SIZE MiB of /owa/big.bin through it ROUNDS times per proxy, in
# turn (gatehouse, haproxy, nginx, gatehouse, ...), so a noisy neighbour hits all three alike.
# CPU is utime+stime of each proxy's processes from /proc/PID/stat (nginx: master + workers).
# Everything listens on 127.0.0.1 and stops by itself; processes are stopped by PID.
#
# Usage: loadtest/passthrough.sh [rounds (default 3)] [MiB per transfer (default 256)]
# GATEHOUSE_BIN_DIR: where gatehouse and mailbox-sim are (default .build/release if gatehouse is there,
# else .build/debug; the table says which).
set -euo pipefail
cd "$(dirname "$0")/.."
# What it needs beyond the build: nginx's stream module is a package of its own on Debian.
missing=""
for pkg in nginx libnginx-mod-stream haproxy curl python3; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "passthrough.sh: installing$missing"
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
ROUNDS="${1:-3}"
MIB="${2:-256}"
BYTES=$((MIB * 1024 * 1024))
WORK=loadtest/work/passthrough
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
CERTS=$(pwd)/certs-example
if [ -z "${GATEHOUSE_BIN_DIR:-}" ]; then
    if [ -x .build/release/gatehouse ]; then GATEHOUSE_BIN_DIR=.build/release; else GATEHOUSE_BIN_DIR=.build/debug; fi
fi
# The backend is the same for all three proxies; a release mailbox-sim when there is one.
SIM="$GATEHOUSE_BIN_DIR/mailbox-sim"
[ -x "$SIM" ] || SIM=.build/debug/mailbox-sim
PIDS=()
cleanup() { for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
# utime+stime in clock ticks of a process and its children threads (nginx: the master and its workers).
cpu_ticks() {
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{print $14+$15}' "/proc/$pid/stat")))
    done
    echo "$total"
}
TICK=$(getconf CLK_TCK)

BACKEND=$(free_port); GH=$(free_port); HA=$(free_port); NG=$(free_port); GH_TLS=$(free_port)
"$SIM" --name mbx02 --fqdn mbx02.contoso.lab --listen "127.0.0.1:$BACKEND" \
    --cert "$CERTS/mbx02.pem" --key "$CERTS/mbx02.key" >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
wait_port "$BACKEND"

cat >"$WORK/gatehouse.yaml" <<YAML
listeners:
  - name: https
    address: 127.0.0.1:$GH_TLS
    tls:
      certificates:
        - { cert: $CERTS/mail-rsa.pem, key: $CERTS/mail-rsa.key }
  - name: passthrough
    address: 127.0.0.1:$GH
    passthrough:
      routes:
        - { hosts: [mbx02.contoso.lab], pool: mailbox }
pools:
  mailbox:
    servers:
      - { name: mbx02, address: 127.0.0.1:$BACKEND, tls_name: mbx02.contoso.lab }
    trust: { certificates: [$CERTS/mbx02.pem] }
services:
  - name: contoso
    hosts: [mail.contoso.lab]
    routes:
      - { preset: owa, pool: mailbox }
YAML
"$GATEHOUSE_BIN_DIR/gatehouse" run --config "$WORK/gatehouse.yaml" >"$WORK/gatehouse.log" 2>&1 &
GH_PID=$!
PIDS+=($GH_PID)

cat >"$WORK/haproxy.cfg" <<CFG
global
    nbthread 2
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend passthrough
    bind 127.0.0.1:$HA
    tcp-request inspect-delay 10s
    tcp-request content accept if { req.ssl_hello_type 1 }
    use_backend mailbox if { req.ssl_sni -i mbx02.contoso.lab }
backend mailbox
    server mbx02 127.0.0.1:$BACKEND
CFG
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HA_PID=$!
PIDS+=($HA_PID)

cat >"$WORK/nginx.conf" <<CFG
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 1024; }
stream {
    map \$ssl_preread_server_name \$pool {
        mbx02.contoso.lab 127.0.0.1:$BACKEND;
    }
    server {
        listen 127.0.0.1:$NG;
        ssl_preread on;
        proxy_pass \$pool;
    }
}
CFG
nginx -p "$WORK" -c "$WORK/nginx.conf" >"$WORK/nginx.log" 2>&1 &
NG_PID=$!
PIDS+=($NG_PID)
wait_port "$GH"; wait_port "$HA"; wait_port "$NG"
sleep 1

declare -A PORT=([gatehouse]=$GH [haproxy]=$HA [nginx]=$NG)
declare -A PID=([gatehouse]=$GH_PID [haproxy]=$HA_PID [nginx]=$NG_PID)
declare -A TICKS=() SECONDS_TOTAL=()
for proxy in gatehouse haproxy nginx; do TICKS[$proxy]=0; SECONDS_TOTAL[$proxy]=0; done
echo "pass-through, $ROUNDS x $MIB MiB per proxy, interleaved; gatehouse from $GATEHOUSE_BIN_DIR, backend $SIM" >&2
for round in $(seq 1 "$ROUNDS"); do
    for proxy in gatehouse haproxy nginx; do
        port=${PORT[$proxy]}
        before=$(cpu_ticks "${PID[$proxy]}")
        start=$(date +%s.%N)
        result=$(curl -sS --max-time 300 --cacert "$CERTS/mbx02.pem" --resolve "mbx02.contoso.lab:$port:127.0.0.1" \
            -o >(sha256sum | cut -c1-16 >"$WORK/$proxy.sha") -w '%{http_code} %{size_download}' \
            "https://mbx02.contoso.lab:$port/owa/big.bin?sim-bytes=$BYTES")
        end=$(date +%s.%N)
        after=$(cpu_ticks "${PID[$proxy]}")
        [ "$result" = "200 $BYTES" ] || { echo "$proxy round $round: $result" >&2; exit 1; }
        TICKS[$proxy]=$((TICKS[$proxy] + after - before))
        SECONDS_TOTAL[$proxy]=$(echo "${SECONDS_TOTAL[$proxy]} + $end - $start" | bc -l)
        printf 'round %d %-9s %6.2f s  %4d ticks\n' "$round" "$proxy" "$(echo "$end - $start" | bc -l)" "$((after - before))" >&2
    done
done
sleep 0.5
printf '%-10s %10s %12s %14s\n' proxy "MiB/s" "CPU s" "CPU µs/MiB"
for proxy in gatehouse haproxy nginx; do
    total_mib=$((ROUNDS * MIB))
    cpu=$(echo "${TICKS[$proxy]} / $TICK" | bc -l)
    printf '%-10s %10.0f %12.2f %14.0f\n' "$proxy" "$(echo "$total_mib / ${SECONDS_TOTAL[$proxy]}" | bc -l)" \
        "$cpu" "$(echo "$cpu * 1000000 / $total_mib" | bc -l)"
done
echo "(sha256 prefixes: $(cat "$WORK"/*.sha | sort -u | tr '\n' ' '))" >&2
