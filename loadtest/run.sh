#!/usr/bin/env bash
# loadtest/run.sh [--quick]: Gatehouse, nginx and HAProxy side by side, in one command (`make bench`).
#
# Installs what is missing (nginx, haproxy, wrk, h2load, gnuplot), makes the certificates with
# `gatehouse cert` into loadtest/work/, starts mailbox-sim as the one TLS backend, configures the three
# proxies equivalently (loadtest/conf/), checks each (a request through it works; an impostor backend
# is refused; the handshake modes are what they claim), then runs every scenario against the three,
# interleaved, and writes loadtest/results/<time>.md and .png. See loadtest/README.md.
#
# Environment: LOADTEST_PORT_BASE (default 24400; ports BASE+1..BASE+90 on 127.0.0.1 are used),
# LOADTEST_WORK (default loadtest/work).
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
QUICK=0
case "${1:-}" in
    --quick) QUICK=1 ;;
    "") ;;
    *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

WORK=${LOADTEST_WORK:-$HERE/work}
PORT_BASE=${LOADTEST_PORT_BASE:-24400}
BACKEND_PORT=$((PORT_BASE + 44))
IMPOSTOR_PORT=$((PORT_BASE + 45))
GATEHOUSE=$ROOT/.build/release/gatehouse
MAILBOX_SIM=$ROOT/.build/release/mailbox-sim
TRANSFER_BYTES=$((100 * 1024 * 1024))

if [ "$QUICK" = 1 ]; then
    # The two-minute subset: one run of each, 1,000 idle connections, no RSA/resumed/long polls.
    DURATION=5; REPS=1; REPS_HEAVY=1; IDLE_CONNS=1000; LONGPOLLS=500
    SCENARIOS="h1 h2 tls_ecdsa transfer idle"
else
    # The full run, under 15 minutes on 2 cores.
    DURATION=7; REPS=3; REPS_HEAVY=2; IDLE_CONNS=5000; LONGPOLLS=2000
    SCENARIOS="h1 h2 tls_ecdsa tls_rsa tls_resumed transfer idle longpoll"
fi

mkdir -p "$WORK"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/proxies.sh
source "$HERE/lib/proxies.sh"
# shellcheck source=lib/scenarios.sh
source "$HERE/lib/scenarios.sh"

STAMP=$(date -u +%Y-%m-%dT%H%MZ)
RESULTS_TSV=$WORK/results.tsv
RUN_START=$(date +%s)

cleanup() {
    stop_all_started
}
trap cleanup EXIT
trap 'loud "a command failed at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

# --- 1. Tools ---------------------------------------------------------------------------------------
install_missing() {
    local pkg missing=() sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    for pkg in nginx haproxy wrk nghttp2-client gnuplot-nox curl gcc python3 procps; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        $sudo apt-get update -qq
        # policy-rc.d (if present) keeps Debian from starting the packaged nginx/haproxy services.
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
install_missing
[ -x "$GATEHOUSE" ] && [ -x "$MAILBOX_SIM" ] || die "build first: make build-release (make bench does)"

# Connections: 5,000 idle + their backend side; the hard limit here is 20,000.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -ge 12000 ] || loud "open-files limit is $(ulimit -n): the idle-connection scenario may fail"

# --- 2. Work directory, client shim, certificates ---------------------------------------------------
rm -rf "$WORK/run" "$WORK/raw" "$WORK/logs" "$WORK/conf"
mkdir -p "$WORK/run" "$WORK/raw" "$WORK/logs" "$WORK/conf" "$WORK/certs/impostor" "$HERE/results"
: >"$RESULTS_TSV"
: >"$WORK/loud.log"
gcc -shared -fPIC -O2 -Wall -o "$WORK/benchshim.so" "$HERE/shim/benchshim.c" -ldl || die "cannot build the client shim"
write_client_openssl_confs

make_certs() {
    local c=$WORK/certs
    make_loadtest_certs "$c"
    # An impostor with the same names as the backend's certificate.
    made "$c/impostor/mbx01" || "$GATEHOUSE" cert new-self-signed --name mbx01 --fqdn mbx01.contoso.lab \
        --out "$c/impostor" --force
    local name
    for name in mail-ecdsa mail-rsa wildcard; do   # HAProxy wants certificate and key in one file
        cat "$c/$name.pem" "$c/$name.key" >"$c/$name.combined.pem"
        chmod 600 "$c/$name.combined.pem"
    done
}
make_certs >"$WORK/logs/certs.log" 2>&1 || die "certificate generation failed: $(tail -n 5 "$WORK/logs/certs.log")"
say "certificates ready in $WORK/certs"

if [ ! -f "$WORK/upload.bin" ] || [ "$(stat -c %s "$WORK/upload.bin")" != "$TRANSFER_BYTES" ]; then
    head -c "$TRANSFER_BYTES" /dev/urandom >"$WORK/upload.bin"
fi
UPLOAD_SHA256=$(sha256sum "$WORK/upload.bin" | cut -d' ' -f1)

# --- 3. Backend and impostor ------------------------------------------------------------------------
for port in "$BACKEND_PORT" "$IMPOSTOR_PORT"; do
    port_free "$port" || die "port $port is already in use; set LOADTEST_PORT_BASE to another range"
done
start_bg "$WORK/logs/mailbox-sim.out" "$MAILBOX_SIM" --name mbx01 --fqdn mbx01.contoso.lab \
    --listen "127.0.0.1:$BACKEND_PORT" --cert "$WORK/certs/mbx01.pem" --key "$WORK/certs/mbx01.key"
BACKEND_PID=$BG_PID
start_bg "$WORK/logs/impostor.out" "$MAILBOX_SIM" --name mbx01 --fqdn mbx01.contoso.lab \
    --listen "127.0.0.1:$IMPOSTOR_PORT" --cert "$WORK/certs/impostor/mbx01.pem" --key "$WORK/certs/impostor/mbx01.key"
IMPOSTOR_PID=$BG_PID
wait_port "$BACKEND_PORT" 30 "$BACKEND_PID" || die "mailbox-sim did not start: $(tail -n 5 "$WORK/logs/mailbox-sim.out")"
wait_port "$IMPOSTOR_PORT" 30 "$IMPOSTOR_PID" || die "impostor mailbox-sim did not start: $(tail -n 5 "$WORK/logs/impostor.out")"
say "backend mailbox-sim on 127.0.0.1:$BACKEND_PORT, impostor on 127.0.0.1:$IMPOSTOR_PORT"

# --- 4. Each configuration is checked, then left running --------------------------------------------
for proxy in "${PROXIES[@]}"; do
    check_proxy "$proxy"
done
stop_pid "$IMPOSTOR_PID" 5

LOAD_BEFORE=$(uptime | sed 's/.*load average: //')
say "load average before measuring: $LOAD_BEFORE"
for proxy in "${PROXIES[@]}"; do   # warm-up: connection pools, caches, page faults
    run_wrk "$WORK/raw/warmup-$proxy.txt" plain -t2 -c64 -d2s "$(url_of "$proxy" /owa/healthcheck.htm)"
done
trim_logs

# --- 5. Scenarios, interleaved ----------------------------------------------------------------------
interleave() {   # interleave REPS FUNCTION [ARGS...]: A B C, A B C, ...
    local reps=$1 rep proxy; shift
    for ((rep = 1; rep <= reps; rep++)); do
        for proxy in "${PROXIES[@]}"; do
            "$@" "$proxy" "$rep"
            if ! ensure_alive "$proxy" "$* (run $rep)"; then
                record "$SCEN_KEY" "$proxy" "$rep" errors 1   # a crash counts as an error, loudly
            fi
            trim_logs
        done
    done
}
for scenario in $SCENARIOS; do
    say "=== scenario $scenario"
    SCEN_KEY=$scenario
    if [ "$scenario" = transfer ]; then SCEN_KEY=download; fi
    case $scenario in
        h1) interleave "$REPS" scenario_h1 ;;
        h2) interleave "$REPS" scenario_h2 ;;
        tls_ecdsa) interleave "$REPS" scenario_handshake ecdsa ;;
        tls_rsa) interleave "$REPS" scenario_handshake rsa ;;
        tls_resumed) interleave "$REPS" scenario_handshake resumed ;;
        transfer) interleave "$REPS" scenario_transfer ;;
        idle) interleave "$REPS_HEAVY" scenario_idle ;;
        longpoll) interleave "$REPS_HEAVY" scenario_longpoll ;;
    esac
done
LOAD_AFTER=$(uptime | sed 's/.*load average: //')

# --- 6. Report ---------------------------------------------------------------------------------------
{
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "quick=$QUICK"
    echo "reps=$REPS"
    echo "reps_heavy=$REPS_HEAVY"
    echo "duration=$DURATION"
    echo "machine=$(nproc) cores"
    echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "memory=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "kernel=$(uname -sr)"
    echo "load_before=$LOAD_BEFORE (1, 5, 15 min; the load generators, the backend and the proxies share the cores)"
    echo "load_after=$LOAD_AFTER"
    echo "nginx=$(nginx -v 2>&1 | sed 's/^nginx version: //')"
    echo "haproxy=$(haproxy -v 2>&1 | sed -n 1p)"
    echo "gatehouse=$("$GATEHOUSE" version 2>&1 | sed -n 1p)"
    echo "openssl=$(openssl version)"
    echo "wrk=$( (wrk -v 2>&1 || true) | sed -n 1p | cut -c1-40)"
    echo "h2load=$(h2load --version 2>&1 | sed -n 1p)"
    echo "python=$(python3 --version 2>&1)"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$( [ -z "$(git -C "$ROOT" status --porcelain -- Sources Package.swift 2>/dev/null)" ] || echo ' (with uncommitted changes to Sources/)')"
    echo "loud_log=$WORK/loud.log"
    printf 'method=%s' "$(sed -e 's/$/\\n/' "$HERE/METHOD.md" | tr -d '\n')"
    echo
} >"$WORK/meta.env"
suffix=""
[ "$QUICK" = 1 ] && suffix="-quick"
OUT=$HERE/results/$STAMP$suffix
python3 "$HERE/report.py" "$RESULTS_TSV" "$WORK/meta.env" "$OUT" >/dev/null || die "report.py failed"
cp "$RESULTS_TSV" "$OUT.tsv"
# Stable names for the README's link to the latest report.
sed "s|($STAMP$suffix.png)|(latest$suffix.png)|" "$OUT.md" >"$HERE/results/latest$suffix.md"
cp "$OUT.png" "$HERE/results/latest$suffix.png"
rm -f "$OUT.gp" "$OUT.dat"

say "report: $OUT.md (chart $OUT.png); took $(( $(date +%s) - RUN_START )) s"
if [ -s "$WORK/loud.log" ]; then
    say "problems during the run (also in the report):"
    cat "$WORK/loud.log"
fi
