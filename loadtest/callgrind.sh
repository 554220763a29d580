#!/usr/bin/env bash
# loadtest/callgrind.sh [measure|check|baseline]: instructions and allocations per proxied request,
# counted rather than timed, so the figures do not move with whatever else the cores are doing.
#
#   measure   (make bench-callgrind) Gatehouse and nginx, HTTP/1.1 and HTTP/2; prints the table and
#             the change against loadtest/baseline/callgrind.json (for information).
#   check     (make bench-check) Gatehouse only; fails (exit 1) when instructions or allocations per
#             request grew by more than CALLGRIND_THRESHOLD % (default 10) over the baseline.
#   baseline  (make bench-baseline) measure, then write loadtest/baseline/callgrind.json.
#   upload    (make bench-upload) Gatehouse and nginx: instructions and allocations per MiB of a
#             request body (HTTP/1.1 with Content-Length, HTTP/1.1 chunked, HTTP/2), for
#             information (no baseline). See "Upload" below.
#
# How (see loadtest/README.md, "Instructions and allocations per request"):
#  - mailbox-sim is the one TLS backend (native). The proxy runs under `valgrind --tool=callgrind`
#    with the loadtest/conf/ configuration (two documented changes below). After a warm-up, the
#    counters are zeroed (callgrind_control -z); h2load sends N requests over ONE keep-alive
#    connection, one at a time (HTTP/1.1: --h1 -c1; HTTP/2: -c1 -m1), and the counters are dumped
#    (callgrind_control -d); then 2N requests on a new connection, dumped again. Both dumps hold one
#    TLS handshake, one connection set-up and tear-down and the same idle gaps, so
#        instructions per request = (Ir(2N run) - Ir(N run)) / N
#    is the steady-state cost of one proxied request, start-up and handshakes excluded.
#  - Allocations: the proxy runs natively with LD_PRELOAD=loadtest/shim/malloccount.so, which counts
#    malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign/valloc/pvalloc calls into a mapped
#    file; the same N / 2N difference.
#  - Configuration changes against loadtest/conf/, both so that only requests are counted:
#    Gatehouse: `health: { enabled: false }` in the pool (nginx has no active checks; probes every
#    2 s would add instructions in proportion to wall time, which under valgrind is long).
#    nginx: `master_process off` and `worker_processes 1` (one process, so callgrind sees the worker
#    that serves the connection; one connection uses one worker either way. With `reuseport`, nginx
#    opens a listening socket per configured worker even without a master, so worker_processes must
#    be 1 or the kernel hands half the connections to a socket no one accepts on).
#  - valgrind 3.19 and Swift: the release binary is run from a copy with its debug sections
#    stripped (objcopy --strip-debug: valgrind 3.19 cannot read the toolchain's DWARF 5, "unhandled
#    dwarf2 abbrev form code 0x25 ... Possibly corrupted debuginfo file ... Giving up"; symbols stay,
#    so callgrind_annotate still names functions), and under LD_PRELOAD=loadtest/shim/vgsigsuspend.so:
#    without it valgrind itself dies with SIGSEGV in libdispatch's sigsuspend (see that file).
#
#  - Handshakes: the same N / 2N difference over new TLS connections, one request each
#    (`Connection: close`), one at a time (one curl with N URLs): full ECDSA, full RSA and resumed handshakes (the client modes of
#    lib/proxies.sh's client_env). Instructions and allocations per connection, request included,
#    with the backend connection pooled (as nginx's keepalive).
#
#  - NIO floor (measure and baseline only; the row "floor"): what any proxy built on SwiftNIO and
#    OpenSSLHandler pays with no proxy logic at all, so the table tells the cost of Gatehouse's own
#    code from the cost of its foundations. Requests: tls-bench-server --relay (Sources/TLSBenchServer)
#    gives each client connection its own TLS connection to mailbox-sim and passes bytes through both
#    TLS layers unparsed (h1 only: mailbox-sim speaks HTTP/1.1); instructions per request by the same
#    N / 2N difference. Connections: tls-bench-server answering by itself (client TLS leg only, no
#    backend), ECDSA, per new connection with one request. Measured 2026-12-07 (make
#    build-release-proxy): 57,823 instructions per request, 0.99x nginx's 58,565 for a whole proxied
#    request; 2,951,994 per connection, 1.03x nginx's 2,859,845 with its request (loadtest/README.md).
#
#  - Upload: one POST of UPLOAD_MIB MiB of random bytes to /rpc/rpcproxy.dll (mailbox-sim hashes
#    the body and answers its length and SHA-256, which must match the file), then one of 2 x
#    UPLOAD_MIB MiB, each over a new connection; the same difference divided by UPLOAD_MIB is the
#    cost of one MiB of request body, client TLS in and backend TLS out included, the request's own
#    cost and the handshakes excluded. Three kinds: h1 (curl --http1.1, Content-Length), chunked
#    (curl --http1.1, Transfer-Encoding: chunked), h2 (curl --http2, no length in the frames).
#
# Environment: UPLOAD_MIB (default 8), UPLOAD_PROXIES (default "gatehouse nginx"), CALLGRIND_REQUESTS (N under callgrind, default 200), CALLGRIND_ALLOC_REQUESTS (N for
# the allocation count, default 1000), CALLGRIND_CONNECTIONS (N connections per handshake kind under
# callgrind, default 40; for allocations, 5 times as many), CALLGRIND_THRESHOLD (percent, default 10), CALLGRIND_PORT_BASE
# (ports BASE+1, +3, +5, +44, +90 on 127.0.0.1; default: the first free of 24600, 24700, ..., 25500),
# CALLGRIND_WORK (default loadtest/work/callgrind), CALLGRIND_BASELINE (default
# loadtest/baseline/callgrind.json), CALLGRIND_BIN_DIR (default .build/release: where gatehouse,
# mailbox-sim and tls-bench-server are).
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
MODE=${1:-measure}
case $MODE in
    measure | check | baseline | upload) ;;
    *) echo "usage: $0 [measure|check|baseline|upload]" >&2; exit 2 ;;
esac

WORK=${CALLGRIND_WORK:-$HERE/work/callgrind}
# The first of 24600, 24700, ... 25500 whose ports are all free (several worktrees on one machine may
# run the check at once), unless CALLGRIND_PORT_BASE says which.
ports_free_at() {
    local port
    for port in $(($1 + 1)) $(($1 + 3)) $(($1 + 5)) $(($1 + 44)) $(($1 + 90)); do
        ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || return 1
    done
}
if [ -n "${CALLGRIND_PORT_BASE:-}" ]; then
    PORT_BASE=$CALLGRIND_PORT_BASE
else
    PORT_BASE=24600
    while ! ports_free_at "$PORT_BASE" && [ "$PORT_BASE" -lt 25500 ]; do PORT_BASE=$((PORT_BASE + 100)); done
fi
N=${CALLGRIND_REQUESTS:-200}
HS_N=${CALLGRIND_CONNECTIONS:-40}
ALLOC_N=${CALLGRIND_ALLOC_REQUESTS:-1000}
THRESHOLD=${CALLGRIND_THRESHOLD:-10}
UPLOAD_MIB=${UPLOAD_MIB:-8}
BASELINE=${CALLGRIND_BASELINE:-$HERE/baseline/callgrind.json}
BACKEND_PORT=$((PORT_BASE + 44))
BIN_DIR=${CALLGRIND_BIN_DIR:-$ROOT/.build/release}   # another build (e.g. a before/after comparison)
GATEHOUSE=$BIN_DIR/gatehouse
MAILBOX_SIM=$BIN_DIR/mailbox-sim
TLS_BENCH_SERVER=$BIN_DIR/tls-bench-server
RUN_START=$(date +%s)

mkdir -p "$WORK"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/proxies.sh
source "$HERE/lib/proxies.sh"   # render, client_env, write_client_openssl_confs, PROXY_PORT
PROXY_PORT[floor]=$((PORT_BASE + 5))
PROXY_PORT[floor-responder]=${PROXY_PORT[floor]}   # never running at the same time

if [ "$MODE" = check ]; then MEASURED=(gatehouse); else MEASURED=(gatehouse nginx); fi

# On any exit, the processes this run started are stopped (by PID), even if stdout has gone away.
cleanup() { trap '' PIPE; stop_all_started; }
trap cleanup EXIT
trap 'loud "a command failed at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT TERM

# --- 1. Tools, binaries, shims, certificates, configurations ----------------------------------------
for tool in valgrind callgrind_control objcopy h2load curl cc python3 nginx; do
    command -v "$tool" >/dev/null || die "$tool is missing: run 'make deps-bench' (installs valgrind, nginx, nghttp2-client, binutils, gcc)"
done
[ -x "$GATEHOUSE" ] && [ -x "$MAILBOX_SIM" ] || die "build first: make build-release-proxy (make bench-callgrind does)"
if [ "$MODE" = measure ] || [ "$MODE" = baseline ]; then
    [ -x "$TLS_BENCH_SERVER" ] || die "build first: make build-tls-bench-server (make bench-callgrind does)"
fi

rm -rf "$WORK/run" "$WORK/logs" "$WORK/conf" "$WORK/out"
mkdir -p "$WORK/run" "$WORK/logs" "$WORK/conf" "$WORK/out" "$WORK/bin" "$WORK/certs"
: >"$WORK/loud.log"
RESULTS=$WORK/results.tsv
: >"$RESULTS"

cc -shared -fPIC -O2 -Wall -o "$WORK/bin/benchshim.so" "$HERE/shim/benchshim.c" -ldl || die "cannot build benchshim.so"
cc -shared -fPIC -O2 -Wall -o "$WORK/bin/malloccount.so" "$HERE/shim/malloccount.c" || die "cannot build malloccount.so"
cc -shared -fPIC -O2 -Wall -o "$WORK/bin/vgsigsuspend.so" "$HERE/shim/vgsigsuspend.c" || die "cannot build vgsigsuspend.so"
# client_env (lib/proxies.sh) looks for the client shim here.
ln -sf "$WORK/bin/benchshim.so" "$WORK/benchshim.so"
write_client_openssl_confs
objcopy --strip-debug "$GATEHOUSE" "$WORK/bin/gatehouse" || die "objcopy --strip-debug failed"
if [ -x "$TLS_BENCH_SERVER" ]; then
    objcopy --strip-debug "$TLS_BENCH_SERVER" "$WORK/bin/tls-bench-server" || die "objcopy --strip-debug failed"
fi

make_loadtest_certs "$WORK/certs" >"$WORK/logs/certs.log" 2>&1 || die "certificate generation failed: $(tail -n 5 "$WORK/logs/certs.log")"

# The loadtest/ configurations with the two changes described at the top.
render gatehouse.yaml.in "$WORK/conf/gatehouse.yaml" "$BACKEND_PORT" gatehouse
sed -i 's|^\(    connect_timeout: .*\)$|\1\n    health: { enabled: false }   # callgrind.sh: count requests only|' "$WORK/conf/gatehouse.yaml"
grep -q 'health: { enabled: false }' "$WORK/conf/gatehouse.yaml" || die "could not turn health checks off in gatehouse.yaml"
"$GATEHOUSE" check --config "$WORK/conf/gatehouse.yaml" >"$WORK/logs/gatehouse-check.log" 2>&1 \
    || die "gatehouse check rejects $WORK/conf/gatehouse.yaml: $(tail -n 5 "$WORK/logs/gatehouse-check.log")"
render nginx.conf.in "$WORK/conf/nginx.conf" "$BACKEND_PORT" nginx
render nginx-routes.conf.in "$WORK/conf/nginx-routes.conf" "$BACKEND_PORT" nginx
# worker_processes 1 as well: with `reuseport`, nginx opens one listening socket per configured worker
# even without a master, and the kernel would hand half the connections to a socket nobody accepts on.
sed -i -e 's|^master_process on;|master_process off;   # callgrind.sh: one process to count|' \
    -e 's|^worker_processes .*;|worker_processes 1;   # callgrind.sh: see master_process|' "$WORK/conf/nginx.conf"
grep -q '^master_process off;' "$WORK/conf/nginx.conf" && grep -q '^worker_processes 1;' "$WORK/conf/nginx.conf" \
    || die "could not set master_process off / worker_processes 1 in nginx.conf"
nginx -t -q -e "$WORK/logs/nginx-error.log" -p "$WORK/run/" -c "$WORK/conf/nginx.conf" >"$WORK/logs/nginx-check.log" 2>&1 \
    || die "nginx rejects $WORK/conf/nginx.conf: $(tail -n 5 "$WORK/logs/nginx-check.log")"

# --- 2. Backend -------------------------------------------------------------------------------------
for port in "$BACKEND_PORT" "${PROXY_PORT[nginx]}" "${PROXY_PORT[gatehouse]}" "$GATEHOUSE_ADMIN_PORT"; do
    port_free "$port" || die "port $port is already in use; set CALLGRIND_PORT_BASE to another range"
done
start_bg "$WORK/logs/mailbox-sim.out" "$MAILBOX_SIM" --name mbx01 --fqdn mbx01.contoso.lab \
    --listen "127.0.0.1:$BACKEND_PORT" --cert "$WORK/certs/mbx01.pem" --key "$WORK/certs/mbx01.key"
BACKEND_PID=$BG_PID
wait_port "$BACKEND_PORT" 30 "$BACKEND_PID" || die "mailbox-sim did not start: $(tail -n 5 "$WORK/logs/mailbox-sim.out")"

# --- 3. Helpers --------------------------------------------------------------------------------------
# proxy_cmd NAME: the command line that runs proxy NAME in the foreground.
proxy_cmd() {
    case $1 in
        gatehouse) echo "$WORK/bin/gatehouse run --config $WORK/conf/gatehouse.yaml" ;;
        nginx) echo "nginx -e $WORK/logs/nginx-error.log -p $WORK/run/ -c $WORK/conf/nginx.conf" ;;
        # The floor (see "NIO floor" at the top): tls-bench-server relaying bytes to mailbox-sim.
        floor) echo "$WORK/bin/tls-bench-server --cert $WORK/certs/mail-ecdsa.pem --key $WORK/certs/mail-ecdsa.key" \
            "--port ${PROXY_PORT[floor]} --relay 127.0.0.1:$BACKEND_PORT --relay-trust $WORK/certs/mbx01.pem" \
            "--relay-name mbx01.contoso.lab" ;;
        # ... and answering by itself (no backend), for the cost of a TLS connection.
        floor-responder) echo "$WORK/bin/tls-bench-server --cert $WORK/certs/mail-ecdsa.pem" \
            "--key $WORK/certs/mail-ecdsa.key --port ${PROXY_PORT[floor]}" ;;
    esac
}

# start_measured NAME callgrind|malloc: starts proxy NAME under callgrind or with the allocation
# counter; sets PID. Its output goes to $WORK/logs/NAME-KIND.out.
start_measured() {
    local name=$1 kind=$2 port=${PROXY_PORT[$1]} log
    log=$WORK/logs/$name-$kind.out
    port_free "$port" || die "port $port (for $name) is already in use"
    # shellcheck disable=SC2046
    case $kind in
        callgrind)
            start_bg "$log" env LD_PRELOAD="$WORK/bin/vgsigsuspend.so" \
                valgrind --tool=callgrind --callgrind-out-file="$WORK/out/$name.callgrind" \
                --dump-line=no --vgdb=yes --trace-children=no $(proxy_cmd "$name")
            ;;
        malloc)
            start_bg "$log" env MALLOCCOUNT_FILE="$WORK/out/$name.malloccount" LD_PRELOAD="$WORK/bin/malloccount.so" \
                $(proxy_cmd "$name")
            ;;
    esac
    PID=$BG_PID
    wait_port "$port" 180 "$PID" || die "$name ($kind) did not start listening on $port: $(tail -n 5 "$log")"
    local i body
    for ((i = 0; i < 240; i++)); do
        body=$(curl -sS --http1.1 --max-time 20 --cacert "$WORK/certs/ca.pem" \
            --resolve "mail.contoso.lab:$port:127.0.0.1" "https://mail.contoso.lab:$port/owa/healthcheck.htm" 2>/dev/null || true)
        case $name:$body in *:*mbx01.contoso.lab* | floor-responder:xxxx*) return 0 ;; esac
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.25
    done
    die "$name ($kind): GET /owa/healthcheck.htm through it does not reach the backend: $(tail -n 5 "$log")"
}

# load NAME PROTO COUNT CONNECTIONS: COUNT sequential requests (h1: keep-alive, no pipelining; h2:
# one stream at a time) over CONNECTIONS connections; fails unless every one is a 2xx.
load() {
    local name=$1 proto=$2 count=$3 conns=$4 out flags=()
    out=$WORK/logs/h2load-$name-$proto-$count-$conns-$(date +%s%N).txt
    [ "$proto" = h1 ] && flags=(--h1)
    client_env plain timeout -k 5 600 h2load "${flags[@]}" -n "$count" -c "$conns" -m 1 \
        "https://mail.contoso.lab:${PROXY_PORT[$name]}/owa/healthcheck.htm" >"$out" 2>&1 \
        || die "h2load against $name ($proto, $count requests) failed: $(tail -n 3 "$out" | tr '\n' ' ')"
    grep -q " $count succeeded" "$out" && grep -q "status codes: $count 2xx" "$out" \
        || die "h2load against $name ($proto): not all $count requests succeeded with 2xx: $(grep -E '^requests:|^status codes:' "$out" | tr '\n' ' ')"
    if [ "$proto" = h2 ]; then
        grep -q '^Application protocol: h2' "$out" || die "h2load against $name did not negotiate h2"
    fi
}

# handshakes NAME MODE COUNT: COUNT new TLS connections in client MODE (ecdsa, rsa, resumed), one
# request each, one at a time: one curl with COUNT URLs and `Connection: close`, so each request
# opens a new connection (curl resumes sessions unless the shim's BENCH_NO_RESUME forbids it). Fails
# unless every response is a 2xx.
handshakes() {
    local name=$1 mode=$2 count=$3 out log want
    out=$WORK/logs/curl-$name-$mode-$count-$(date +%s%N).txt
    log=$out.handshakes
    BENCH_HANDSHAKE_LOG=$log client_env "$mode" timeout -k 5 900 curl -sS --http1.1 --max-time 800 --cacert "$WORK/certs/ca.pem" \
        -H 'Connection: close' -o /dev/null -w '%{http_code} %{num_connects}\n' \
        "https://mail.contoso.lab:${PROXY_PORT[$name]}/owa/healthcheck.htm?n=[1-$count]" >"$out" 2>&1 \
        || die "curl against $name ($mode, $count connections) failed: $(tail -n 3 "$out" | tr '\n' ' ')"
    [ "$(grep -c -x '200 1' "$out")" = "$count" ] \
        || die "curl against $name ($mode): not $count responses of 200 on a new connection each: $(sort "$out" | uniq -c | tr '\n' ' ')"
    # The shim logs each client handshake: the kind must be what MODE claims (a resumed run may start
    # with one full handshake).
    case $mode in ecdsa) want="EC 0" ;; rsa) want="RSA 0" ;; resumed) want="EC 1" ;; esac
    [ "$(grep -c -x "$want" "$log")" -ge $((count - 1)) ] \
        || die "curl against $name ($mode): expected handshakes '$want', got: $(sort "$log" | uniq -c | tr '\n' ' ')"
}

warm_up() {   # warm_up NAME [PROTOS]: every event loop gets a connection (and a pooled backend connection)
    local proto
    for proto in ${2:-h1 h2}; do load "$1" "$proto" $((40 * $(nproc))) $((2 * $(nproc))); done
}

# callgrind_dump PID LABEL: dumps the counters since the last zero or dump; sets DUMP_TOTAL (their Ir)
# and DUMP_FILE. (Not in a subshell, so that die ends the script.)
callgrind_dump() {
    local pid=$1 label=$2 before after file total
    before=$(ls "$WORK/out/" | sort)
    callgrind_control -d "$label" "$pid" >>"$WORK/logs/callgrind_control.out" 2>&1 \
        || die "callgrind_control -d $pid failed: $(tail -n 3 "$WORK/logs/callgrind_control.out")"
    after=$(ls "$WORK/out/" | sort)
    file=$(comm -13 <(echo "$before") <(echo "$after") | grep -v '\.malloccount$' | tail -n 1)
    [ -n "$file" ] || die "callgrind_control -d $pid wrote no dump file"
    total=$(awk '/^totals:/ { print $2; exit }' "$WORK/out/$file")
    [[ $total =~ ^[0-9]+$ ]] || die "no total in the dump $WORK/out/$file"
    DUMP_TOTAL=$total
    DUMP_FILE=$WORK/out/$file
}

PROFILES=()
record_value() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }   # proxy proto metric value

# measure_instructions NAME [PROTOS [MODES]]: Ir per request (PROTOS, default h1 h2) and per new
# connection with one request (handshake MODES, default ecdsa rsa resumed) of proxy NAME under callgrind.
measure_instructions() {
    local name=$1 protos=${2-h1 h2} modes=${3-ecdsa rsa resumed} proto mode one two one_file two_file t0
    start_measured "$name" callgrind
    warm_up "$name" "${protos:-h1}"
    callgrind_control -z "$PID" >>"$WORK/logs/callgrind_control.out" 2>&1 || die "callgrind_control -z $PID failed"
    for proto in $protos; do
        t0=$(date +%s)
        load "$name" "$proto" "$N" 1
        callgrind_dump "$PID" "$name-$proto-N"
        one=$DUMP_TOTAL one_file=$DUMP_FILE
        load "$name" "$proto" $((2 * N)) 1
        callgrind_dump "$PID" "$name-$proto-2N"
        two=$DUMP_TOTAL two_file=$DUMP_FILE
        PROFILES+=("python3 $HERE/callgrind_diff.py $one_file $two_file $N   # $name $proto, by function")
        record_value "$name" "$proto" ir_per_request "$(( (two - one) / N ))"
        record_value "$name" "$proto" ir_per_connection "$(( 2 * one - two ))"
        say "$name $proto: Ir $one for $N requests, $two for $((2 * N)): $(( (two - one) / N )) per request, $(( 2 * one - two )) per connection ($(( $(date +%s) - t0 )) s)"
    done
    for mode in $modes; do
        t0=$(date +%s)
        handshakes "$name" "$mode" 2 # a resumed run starts from a session the client holds
        callgrind_control -z "$PID" >>"$WORK/logs/callgrind_control.out" 2>&1 || die "callgrind_control -z $PID failed"
        handshakes "$name" "$mode" "$HS_N"
        callgrind_dump "$PID" "$name-$mode-N"
        one=$DUMP_TOTAL one_file=$DUMP_FILE
        handshakes "$name" "$mode" $((2 * HS_N))
        callgrind_dump "$PID" "$name-$mode-2N"
        two=$DUMP_TOTAL two_file=$DUMP_FILE
        PROFILES+=("python3 $HERE/callgrind_diff.py $one_file $two_file $HS_N   # $name $mode handshake + request, by function")
        record_value "$name" "$mode" ir_per_handshake "$(( (two - one) / HS_N ))"
        say "$name $mode: Ir $one for $HS_N connections, $two for $((2 * HS_N)): $(( (two - one) / HS_N )) per connection with one request ($(( $(date +%s) - t0 )) s)"
    done
    stop_pid "$PID" 30
}

malloc_count() {   # malloc_count NAME: sets ALLOCS, the allocations so far in proxy NAME (the shim's first counter)
    local values
    read -r -a values < <(od -An -v -t u8 -w96 "$WORK/out/$1.malloccount")
    [ "${values[11]:-0}" = 7882253098872209409 ] || die "the allocation counter is not loaded in $1"
    ALLOCS=${values[0]}
}

# measure_allocations NAME: allocations per request (h1, h2) of proxy NAME, natively.
measure_allocations() {
    local name=$1 proto a0 a1 a2
    start_measured "$name" malloc
    warm_up "$name"
    for proto in h1 h2; do
        malloc_count "$name"; a0=$ALLOCS
        load "$name" "$proto" "$ALLOC_N" 1
        malloc_count "$name"; a1=$ALLOCS
        load "$name" "$proto" $((2 * ALLOC_N)) 1
        malloc_count "$name"; a2=$ALLOCS
        local one=$((a1 - a0)) two=$((a2 - a1)) per
        per=$(awk -v a="$one" -v b="$two" -v n="$ALLOC_N" 'BEGIN { printf "%.1f", (b - a) / n }')
        record_value "$name" "$proto" allocs_per_request "$per"
        record_value "$name" "$proto" allocs_per_connection "$((2 * one - two))"
        say "$name $proto: $one allocations for $ALLOC_N requests, $two for $((2 * ALLOC_N)): $per per request, $((2 * one - two)) per connection"
    done
    local mode hs=$((5 * HS_N))
    for mode in ecdsa rsa resumed; do
        handshakes "$name" "$mode" 2
        malloc_count "$name"; a0=$ALLOCS
        handshakes "$name" "$mode" "$hs"
        malloc_count "$name"; a1=$ALLOCS
        handshakes "$name" "$mode" $((2 * hs))
        malloc_count "$name"; a2=$ALLOCS
        local one=$((a1 - a0)) two=$((a2 - a1)) per
        per=$(awk -v a="$one" -v b="$two" -v n="$hs" 'BEGIN { printf "%.1f", (b - a) / n }')
        record_value "$name" "$mode" allocs_per_handshake "$per"
        say "$name $mode: $one allocations for $hs connections, $two for $((2 * hs)): $per per connection with one request"
    done
    stop_pid "$PID" 30
}

# upload NAME KIND FILE: one POST of FILE through proxy NAME on a new connection (KIND: h1, chunked,
# h2); fails unless mailbox-sim answers 200 with the file's length and SHA-256 (nothing lost, nothing
# added, and the body was not taken as complete before its end).
upload() {
    local name=$1 kind=$2 file=$3 port=${PROXY_PORT[$1]} out result flags=() bytes sha
    out=$WORK/logs/upload-$name-$kind-$(date +%s%N).json
    case $kind in
        h1) flags=(--http1.1) ;;
        chunked) flags=(--http1.1 -H 'Transfer-Encoding: chunked') ;;
        h2) flags=(--http2) ;;
        *) die "upload: unknown kind $kind" ;;
    esac
    bytes=$(stat -c %s "$file")
    sha=$(cat "$file.sha256")
    result=$(timeout -k 5 1200 curl -sS "${flags[@]}" --max-time 1100 --cacert "$WORK/certs/ca.pem" \
        --resolve "mail.contoso.lab:$port:127.0.0.1" -X POST -T "$file" -H 'Expect:' \
        -H 'Content-Type: application/octet-stream' -o "$out" -w '%{http_code} %{http_version}' \
        "https://mail.contoso.lab:$port/rpc/rpcproxy.dll" 2>>"$WORK/logs/curl-upload.err") \
        || die "upload of $bytes bytes through $name ($kind) failed: $(tail -n 3 "$WORK/logs/curl-upload.err" | tr '\n' ' ')"
    case $kind:$result in
        h2:"200 2") ;;
        h1:"200 1.1" | chunked:"200 1.1") ;;
        *) die "upload through $name ($kind): HTTP status and version '$result', want 200 over $kind" ;;
    esac
    grep -q "\"bytes\":\"\?$bytes\"\?" "$out" && grep -qi "\"sha256\":\"$sha\"" "$out" \
        || die "upload through $name ($kind): the backend did not get the $bytes bytes intact: $(head -c 300 "$out")"
}

# upload_files: UPLOAD_MIB and 2 x UPLOAD_MIB MiB of random bytes, with their SHA-256 (made once).
upload_files() {
    local mib file
    for mib in "$UPLOAD_MIB" $((2 * UPLOAD_MIB)) 1; do
        file=$WORK/upload-$mib.bin
        if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" != $((mib << 20)) ]; then
            head -c $((mib << 20)) /dev/urandom >"$file"
            rm -f "$file.sha256"
        fi
        [ -f "$file.sha256" ] || sha256sum "$file" | cut -d' ' -f1 >"$file.sha256"
    done
}

UPLOAD_KINDS=(h1 chunked h2)

# measure_upload NAME: instructions (under callgrind) and allocations (natively) per MiB of request
# body, for each kind, by the N / 2N difference.
measure_upload() {
    local name=$1 kind one two one_file two_file t0 a0 a1 a2
    start_measured "$name" callgrind
    for kind in "${UPLOAD_KINDS[@]}"; do upload "$name" "$kind" "$WORK/upload-1.bin"; done   # warm-up
    for kind in "${UPLOAD_KINDS[@]}"; do
        t0=$(date +%s)
        callgrind_control -z "$PID" >>"$WORK/logs/callgrind_control.out" 2>&1 || die "callgrind_control -z $PID failed"
        upload "$name" "$kind" "$WORK/upload-$UPLOAD_MIB.bin"
        callgrind_dump "$PID" "$name-upload-$kind-N"
        one=$DUMP_TOTAL one_file=$DUMP_FILE
        upload "$name" "$kind" "$WORK/upload-$((2 * UPLOAD_MIB)).bin"
        callgrind_dump "$PID" "$name-upload-$kind-2N"
        two=$DUMP_TOTAL two_file=$DUMP_FILE
        PROFILES+=("python3 $HERE/callgrind_diff.py $one_file $two_file $UPLOAD_MIB   # $name upload $kind, per MiB")
        record_value "$name" "$kind" ir_per_mib "$(( (two - one) / UPLOAD_MIB ))"
        say "$name upload $kind: Ir $one for $UPLOAD_MIB MiB, $two for $((2 * UPLOAD_MIB)) MiB: $(( (two - one) / UPLOAD_MIB )) per MiB ($(( $(date +%s) - t0 )) s)"
    done
    stop_pid "$PID" 30
    start_measured "$name" malloc
    for kind in "${UPLOAD_KINDS[@]}"; do upload "$name" "$kind" "$WORK/upload-1.bin"; done
    for kind in "${UPLOAD_KINDS[@]}"; do
        malloc_count "$name"; a0=$ALLOCS
        upload "$name" "$kind" "$WORK/upload-$UPLOAD_MIB.bin"
        malloc_count "$name"; a1=$ALLOCS
        upload "$name" "$kind" "$WORK/upload-$((2 * UPLOAD_MIB)).bin"
        malloc_count "$name"; a2=$ALLOCS
        record_value "$name" "$kind" allocs_per_mib "$(awk -v a=$((a1 - a0)) -v b=$((a2 - a1)) -v n="$UPLOAD_MIB" 'BEGIN { printf "%.1f", (b - a) / n }')"
        say "$name upload $kind: $((a1 - a0)) allocations for $UPLOAD_MIB MiB, $((a2 - a1)) for $((2 * UPLOAD_MIB)) MiB"
    done
    stop_pid "$PID" 30
}

# upload_report: the per-MiB table of an upload run.
upload_report() {
    echo
    echo "Per MiB of request body (POST /rpc/rpcproxy.dll; $UPLOAD_MIB and $((2 * UPLOAD_MIB)) MiB, one connection each), commit $COMMIT:"
    awk -F'\t' -v kinds="${UPLOAD_KINDS[*]}" '
        { v[$1 SUBSEP $2 SUBSEP $3] = $4 }
        END {
            printf "%-10s %16s %16s %8s %14s %14s\n", "kind", "gatehouse Ir", "nginx Ir", "x nginx", "gatehouse allocs", "nginx allocs"
            n = split(kinds, k, " ")
            for (i = 1; i <= n; i++) {
                g = v["gatehouse" SUBSEP k[i] SUBSEP "ir_per_mib"]; x = v["nginx" SUBSEP k[i] SUBSEP "ir_per_mib"]
                ratio = (g != "" && x > 0) ? sprintf("%.2f", g / x) : "-"
                printf "%-10s %16s %16s %8s %14s %14s\n", k[i], g == "" ? "-" : g, x == "" ? "-" : x, ratio,
                    v["gatehouse" SUBSEP k[i] SUBSEP "allocs_per_mib"] "", v["nginx" SUBSEP k[i] SUBSEP "allocs_per_mib"] ""
            }
        }' "$RESULTS"
    echo
    echo "Where the instructions of one MiB go (self cost by shared object and function):"
    printf '  %s\n' "${PROFILES[@]}"
}

# --- 4. Measure --------------------------------------------------------------------------------------
if [ "$MODE" = upload ]; then
    [ -z "${UPLOAD_PROXIES:-}" ] || read -r -a MEASURED <<<"$UPLOAD_PROXIES"
    say "callgrind.sh upload: ${MEASURED[*]}; $UPLOAD_MIB and $((2 * UPLOAD_MIB)) MiB per kind (${UPLOAD_KINDS[*]}); work in $WORK"
    upload_files
    for proxy in "${MEASURED[@]}"; do measure_upload "$proxy"; done
    stop_pid "$BACKEND_PID" 10
    COMMIT=$(git -C "$ROOT" log -1 --format=%h -- Sources Package.swift Package.resolved 2>/dev/null || echo unknown)
    [ -z "$(git -C "$ROOT" status --porcelain -- Sources Package.swift 2>/dev/null)" ] || COMMIT="$COMMIT+uncommitted"
    [ -z "${CALLGRIND_BIN_DIR:-}" ] || COMMIT="binaries from $CALLGRIND_BIN_DIR"
    upload_report
    exit 0
fi
say "callgrind.sh $MODE: ${MEASURED[*]}; N=$N under callgrind, N=$ALLOC_N for allocations; work in $WORK"
for proxy in "${MEASURED[@]}"; do
    measure_instructions "$proxy"
    measure_allocations "$proxy"
done
if [ "$MODE" != check ]; then
    # The NIO floor: requests through the relay (both TLS legs, nothing parsed), and new connections
    # to the responder (client TLS leg only); recorded as the proxy "floor".
    measure_instructions floor h1 ""
    measure_instructions floor-responder "" ecdsa
    sed -i 's/^floor-responder\t/floor\t/' "$RESULTS"
fi
stop_pid "$BACKEND_PID" 10

# --- 5. Report, compare, (re)write the baseline ------------------------------------------------------
# The commit the measured code comes from: the last one that changed Sources/ or the packages.
COMMIT=$(git -C "$ROOT" log -1 --format=%h -- Sources Package.swift Package.resolved 2>/dev/null || echo unknown)
[ -z "$(git -C "$ROOT" status --porcelain -- Sources Package.swift 2>/dev/null)" ] || COMMIT="$COMMIT+uncommitted"
[ -z "${CALLGRIND_BIN_DIR:-}" ] || COMMIT="binaries from $CALLGRIND_BIN_DIR"
mkdir -p "$(dirname "$BASELINE")"
export MODE N ALLOC_N HS_N THRESHOLD BASELINE RESULTS COMMIT RUN_START
export VALGRIND_VERSION=$(valgrind --version) NGINX_VERSION=$(nginx -v 2>&1 | sed 's/^nginx version: //')
export OPENSSL_VERSION=$(openssl version) GATEHOUSE_VERSION=$("$GATEHOUSE" version 2>&1 | sed -n 1p)
python3 "$HERE/callgrind_report.py" || status=$?
echo
echo "Where the instructions of one request go (self cost by shared object and function):"
printf '  %s\n' "${PROFILES[@]}"
exit "${status:-0}"
