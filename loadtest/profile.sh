#!/usr/bin/env bash
# loadtest/profile.sh SCENARIO [SECONDS]: where Gatehouse's CPU time goes under one scenario's load.
#
# Needs a previous `make bench` (or QUICK=1) for loadtest/work/ (certificates, configurations, shim).
# Starts mailbox-sim and Gatehouse alone, puts SCENARIO's load on Gatehouse for SECONDS (default 10)
# while `perf record -g` samples it, and writes loadtest/results/profile-SCENARIO.txt: the hottest
# functions (self time, Swift names demangled) and the hottest call chains.
# SCENARIO: h1 | h2 | tls_ecdsa | tls_rsa | tls_resumed | download
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SCENARIO=${1:?usage: $0 h1|h2|tls_ecdsa|tls_rsa|tls_resumed|download [SECONDS]}
DURATION=${2:-10}
WORK=${LOADTEST_WORK:-$HERE/work}
PORT_BASE=${LOADTEST_PORT_BASE:-24400}
BACKEND_PORT=$((PORT_BASE + 44))
GATEHOUSE=$ROOT/.build/release/gatehouse
MAILBOX_SIM=$ROOT/.build/release/mailbox-sim
[ -f "$WORK/certs/mbx01.pem" ] && [ -f "$WORK/benchshim.so" ] || { echo "$0: run make bench QUICK=1 first" >&2; exit 2; }
command -v perf >/dev/null || { echo "$0: perf is missing (apt-get install linux-perf)" >&2; exit 2; }

# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/proxies.sh
source "$HERE/lib/proxies.sh"
# shellcheck source=lib/scenarios.sh
source "$HERE/lib/scenarios.sh"
RESULTS_TSV=$WORK/profile.tsv
: >"$RESULTS_TSV"
mkdir -p "$WORK/run" "$WORK/raw" "$WORK/logs" "$WORK/conf"
trap stop_all_started EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

start_bg "$WORK/logs/mailbox-sim.out" "$MAILBOX_SIM" --name mbx01 --fqdn mbx01.contoso.lab \
    --listen "127.0.0.1:$BACKEND_PORT" --cert "$WORK/certs/mbx01.pem" --key "$WORK/certs/mbx01.key"
wait_port "$BACKEND_PORT" 30 "$BG_PID" || die "mailbox-sim did not start"
start_proxy gatehouse "$BACKEND_PORT"
wait_ok gatehouse 20 || die "Gatehouse does not reach the backend"
H2_OK[gatehouse]=1
PID=${PROXY_PID[gatehouse]}

DATA=$WORK/perf-$SCENARIO.data
perf record -F 999 -g -o "$DATA" -p "$PID" -- sleep $((DURATION + 1)) >"$WORK/logs/perf.out" 2>&1 &
PERF_PID=$!
STARTED_PIDS+=("$PERF_PID")
sleep 0.5
case $SCENARIO in
    h1) scenario_h1 gatehouse 1 ;;
    h2) scenario_h2 gatehouse 1 ;;
    tls_ecdsa | tls_rsa | tls_resumed) scenario_handshake "${SCENARIO#tls_}" gatehouse 1 ;;
    download) for _ in 1 2 3; do scenario_transfer gatehouse 1; done ;;
    *) die "unknown scenario $SCENARIO" ;;
esac
wait "$PERF_PID" || true
forget_pid "$PERF_PID"

OUT=$HERE/results/profile-$SCENARIO.txt
demangle() { if command -v swift >/dev/null; then swift demangle --simplified; else cat; fi; }
{
    echo "# perf profile of Gatehouse under '$SCENARIO' ($DURATION s, $(date -u '+%Y-%m-%d %H:%M UTC'), load: $(uptime | sed 's/.*load average: //'))"
    echo "# result: $(tr '\t\n' ' ;' <"$RESULTS_TSV")"
    echo
    echo "## Self time by shared object"
    perf report -i "$DATA" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | sed -n 1,15p
    echo
    echo "## Self time by function (top 60)"
    perf report -i "$DATA" --no-children --sort dso,symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' \
        | sed -n 1,60p | demangle
    echo
    echo "## Inclusive time by function (top 40)"
    perf report -i "$DATA" --children --sort symbol --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' \
        | sed -n 1,40p | demangle
} >"$OUT"
echo "$OUT"
