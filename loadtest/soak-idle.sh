#!/usr/bin/env bash
# loadtest/soak-idle.sh: many idle TLS keep-alive connections held through each proxy (bounded: one
# warm-up cycle, one measured cycle of SOAK_HOLD seconds). Not part of `make test` or `make bench`.
#
#   bash loadtest/soak-idle.sh            # after make build-release
#
# Per proxy (SOAK_PROXIES, default "gatehouse nginx"), with mailbox-sim as the TLS backend and the
# loadtest/conf/ configurations:
#   1. start the proxy; 20 requests; RSS "started";
#   2. warm-up cycle: open SOAK_CONNECTIONS TLS connections (one GET each, then idle), close them all,
#      settle; RSS "warm" (what the allocator keeps after a cycle is part of this level);
#   3. measured cycle: open them again; RSS "held"; hold them SOAK_HOLD seconds and take the proxy's
#      CPU time over the hold (idle CPU); close them all; settle; RSS "after".
# RSS and CPU are always summed over the proxy's whole process tree: for nginx that is the master
# and all its workers (the workers hold the connections; the master alone would read ~0), and the
# run fails if fewer processes than 1 + worker_processes were found. Each process's own RSS and CPU
# over the hold are printed as well, so the sum can be checked.
# Reported: KiB per held connection = (held - started) / held connections (as make bench's idle
# scenario: a second cycle reuses memory the allocator kept from the first, so held - warm says less); idle CPU as ms per second
# and per 1,000 connections; and the leak check: "after" must be within 10 % of "warm", or the run
# says LEAK and exits 1. Errors (a connection or its request failing) are counted and make the exit
# status 1 as well.
#
# The connection count: SOAK_CONNECTIONS, default 19,500. The issue asks for 20,000, but this machine
# caps open files at 20,000 per process (hard limit, not raisable here), and the proxy needs a few
# descriptors besides its client connections (listeners, backend connections, epoll, log); the count is
# clamped to (hard limit - 400). The client side is split over two holder processes for the same
# reason. Only 127.0.0.1.
#
# Environment: SOAK_CONNECTIONS, SOAK_HOLD (seconds, default 60), SOAK_PROXIES, SOAK_PORT_BASE
# (default 24800: proxy ports BASE+1 nginx, BASE+3 gatehouse, backend BASE+44, admin BASE+90),
# SOAK_BIN_DIR (default .build/release).
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
WORK=${SOAK_WORK:-$HERE/work/soak}
PORT_BASE=${SOAK_PORT_BASE:-24800}
BACKEND_PORT=$((PORT_BASE + 44))
BIN_DIR=${SOAK_BIN_DIR:-$ROOT/.build/release}
GATEHOUSE=$BIN_DIR/gatehouse
MAILBOX_SIM=$BIN_DIR/mailbox-sim
HOLD=${SOAK_HOLD:-60}
read -r -a MEASURED <<<"${SOAK_PROXIES:-gatehouse nginx}"

mkdir -p "$WORK"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/proxies.sh
source "$HERE/lib/proxies.sh"
CLK_TCK=$(getconf CLK_TCK)

cleanup() { trap '' PIPE; stop_all_started; }
trap cleanup EXIT
trap 'loud "a command failed at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
LIMIT=$(ulimit -n)
COUNT=${SOAK_CONNECTIONS:-19500}
if [ "$COUNT" -gt $((LIMIT - 400)) ]; then
    loud "open-files limit is $LIMIT: holding $((LIMIT - 400)) connections instead of $COUNT"
    COUNT=$((LIMIT - 400))
fi
HALF=$(((COUNT + 1) / 2))

for tool in python3 curl nginx; do command -v "$tool" >/dev/null || die "$tool is missing: run 'make deps-bench'"; done
[ -x "$GATEHOUSE" ] && [ -x "$MAILBOX_SIM" ] || die "build first: make build-release"
rm -rf "$WORK/run" "$WORK/logs" "$WORK/conf"
mkdir -p "$WORK/run" "$WORK/logs" "$WORK/conf" "$WORK/certs"
: >"$WORK/loud.log"
make_loadtest_certs "$WORK/certs" >"$WORK/logs/certs.log" 2>&1 || die "certificate generation failed: $(tail -n 5 "$WORK/logs/certs.log")"

port_free "$BACKEND_PORT" || die "port $BACKEND_PORT is in use; set SOAK_PORT_BASE to another range"
start_bg "$WORK/logs/mailbox-sim.out" "$MAILBOX_SIM" --name mbx01 --fqdn mbx01.contoso.lab \
    --listen "127.0.0.1:$BACKEND_PORT" --cert "$WORK/certs/mbx01.pem" --key "$WORK/certs/mbx01.key"
BACKEND_PID=$BG_PID
wait_port "$BACKEND_PORT" 30 "$BACKEND_PID" || die "mailbox-sim did not start: $(tail -n 5 "$WORK/logs/mailbox-sim.out")"

# cycle NAME LABEL HOLD_SECONDS: opens COUNT idle connections through NAME (two holders), waits until
# all are set up, runs ON_HELD (a function name, may be empty) while they are held, then closes them.
# Sets OPENED and FAILED.
cycle() {
    local name=$1 label=$2 hold=$3 on_held=${4:-} i h pids=() ready stop
    stop=$WORK/run/$label-stop
    rm -f "$stop" "$WORK/run/$label-ready-"*
    for h in 1 2; do
        start_bg "$WORK/logs/holder-$name-$label-$h.out" python3 "$HERE/lib/holdconns.py" idle \
            --port "${PROXY_PORT[$name]}" --ca "$WORK/certs/ca.pem" --count "$HALF" --hold "$((hold + 600))" \
            --ready-file "$WORK/run/$label-ready-$h" --stop-file "$stop" --parallel 100
        pids+=("$BG_PID")
    done
    for ((i = 0; i < 6000; i++)); do   # up to 10 minutes to set everything up
        [ -f "$WORK/run/$label-ready-1" ] && [ -f "$WORK/run/$label-ready-2" ] && break
        kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null || break
        sleep 0.1
    done
    OPENED=0 FAILED=0
    for h in 1 2; do
        local open ok
        open=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["open"])' "$WORK/run/$label-ready-$h" 2>/dev/null || echo 0)
        ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ok"])' "$WORK/run/$label-ready-$h" 2>/dev/null || echo 0)
        OPENED=$((OPENED + open))
        FAILED=$((FAILED + HALF - ok))
    done
    sleep 2
    [ -z "$on_held" ] || "$on_held" "$name" "$hold"
    touch "$stop"
    for h in "${pids[@]}"; do stop_pid "$h" 120; done
}

# own_ticks PID: utime+stime of PID alone (all its threads), 0 when it is gone.
own_ticks() {
    local rest fields
    rest=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    rest=${rest##*) }
    read -r -a fields <<<"$rest"
    echo $((fields[11] + fields[12]))
}

# measure_hold NAME SECONDS: RSS when everything is held, then the CPU over the hold, both summed
# over the proxy's whole process tree (nginx: the master and every worker; a proxy whose tree is a
# single process is measured as that one), and the per-process split, printed so the sum can be
# checked: PID, name, RSS (KiB) when held, CPU ticks over the hold.
measure_hold() {
    local name=$1 hold=$2 pid=${PROXY_PID[$1]} t0 t1 p pids
    local -A start=()
    pids=$(tree_pids "$pid")
    PROCESSES=$(echo "$pids" | wc -w)
    RSS_HELD=$(rss_kib "$pid")
    for p in $pids; do start[$p]=$(own_ticks "$p"); done
    t0=$(cpu_ticks "$pid")
    sleep "$hold"
    t1=$(cpu_ticks "$pid")
    IDLE_TICKS=$((t1 - t0))
    for p in $pids; do
        say "$name:   process $p ($(cat "/proc/$p/comm" 2>/dev/null || echo gone)): RSS $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo -) KiB, $(($(own_ticks "$p") - ${start[$p]})) CPU ticks over the hold"
    done
}

settle() {   # settle PID: waits until RSS stops falling (closing connections is asynchronous), max 20 s
    local pid=$1 last now i
    last=$(rss_kib "$pid")
    for ((i = 0; i < 20; i++)); do
        sleep 1
        now=$(rss_kib "$pid")
        [ "$now" -lt "$last" ] || break
        last=$now
    done
}

STATUS=0
REPORT=()
for name in "${MEASURED[@]}"; do
    say "$name: starting"
    start_proxy "$name" "$BACKEND_PORT"
    wait_ok "$name" 30 || die "$name does not answer through the backend"
    pid=${PROXY_PID[$name]}
    for ((i = 0; i < 20; i++)); do curl_through "$name" /owa/healthcheck.htm -o /dev/null 2>/dev/null || true; done
    RSS_STARTED=$(rss_kib "$pid")
    say "$name: warm-up cycle, $COUNT connections"
    cycle "$name" warm 0
    warm_failed=$FAILED
    settle "$pid"
    RSS_WARM=$(rss_kib "$pid")
    say "$name: measured cycle, $COUNT connections held ${HOLD}s"
    cycle "$name" measured "$HOLD" measure_hold
    measured_opened=$OPENED measured_failed=$FAILED
    if [ "$name" = nginx ]; then
        workers=$(awk '$1 == "worker_processes" { sub(";", "", $2); print $2 }' "$WORK/conf/nginx.conf")
        [ "$PROCESSES" -ge $((1 + ${workers:-1})) ] \
            || die "nginx: found $PROCESSES processes, expected the master and $workers workers: its figures would be incomplete"
    fi
    settle "$pid"
    RSS_AFTER=$(rss_kib "$pid")
    stop_proxy "$name"

    per=$(awk -v a="$RSS_STARTED" -v b="$RSS_HELD" -v n="$measured_opened" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "-" }')
    idle_ms=$(awk -v t="$IDLE_TICKS" -v hz="$CLK_TCK" -v s="$HOLD" 'BEGIN { printf "%.1f", t * 1000 / hz / s }')
    idle_per_k=$(awk -v t="$IDLE_TICKS" -v hz="$CLK_TCK" -v s="$HOLD" -v n="$measured_opened" \
        'BEGIN { if (n > 0) printf "%.2f", t * 1000 / hz / s / (n / 1000); else print "-" }')
    growth=$(awk -v a="$RSS_WARM" -v b="$RSS_AFTER" 'BEGIN { printf "%+.1f", (b / a - 1) * 100 }')
    verdict=ok
    if awk -v a="$RSS_WARM" -v b="$RSS_AFTER" 'BEGIN { exit !(b > a * 1.10) }'; then verdict=LEAK; STATUS=1; fi
    errors=$((warm_failed + measured_failed))
    [ "$errors" = 0 ] || STATUS=1
    REPORT+=("$(printf '%-10s %7d %9s %9s %9s %9s %9s %9s%% %6s %6d' "$name" "$measured_opened" \
        "$RSS_STARTED" "$RSS_WARM" "$RSS_HELD" "$RSS_AFTER" "$per" "$growth" "$verdict" "$errors")")
    REPORT+=("$(printf '%-10s idle CPU while holding: %s ms per second, %s ms per second per 1,000 connections (%d processes summed)' "" "$idle_ms" "$idle_per_k" "$PROCESSES")")
    say "$name: held $measured_opened, RSS KiB started $RSS_STARTED, warm $RSS_WARM, held $RSS_HELD, after $RSS_AFTER; $per KiB/conn; idle $idle_ms ms CPU/s; after vs warm $growth %: $verdict; $errors errors"
done
stop_pid "$BACKEND_PID" 10

echo
echo "Idle TLS connections held ${HOLD}s ($COUNT per proxy; RSS in KiB; KiB/conn = (held - started) / held connections):"
printf '%-10s %7s %9s %9s %9s %9s %9s %10s %6s %6s\n' proxy conns started warm held after KiB/conn after/warm leak errors
printf '%s\n' "${REPORT[@]}"
exit "$STATUS"
