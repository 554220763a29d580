#!/usr/bin/env bash
# loadtest/idle-heap.sh: what an idle keep-alive TLS connection holds on the heap, by allocation site,
# under heaptrack (bounded: two short runs of one proxy, only 127.0.0.1). Not part of make test/bench.
#
#   bash loadtest/idle-heap.sh [gatehouse|nginx] [N]      # after make build-release
#
# The proxy runs under heaptrack twice, with mailbox-sim as its backend and the loadtest/conf/
# configuration (Gatehouse: health checks off; nginx: one process, master_process off, as in
# callgrind.sh): once with no client connection held, once with N (default 400) idle connections
# held by lib/holdconns.py (one GET each). Each run ends with SIGKILL while everything is held, so the
# allocations heaptrack reports as "leaked" are exactly what was alive at that moment. The difference
# of the two runs, divided by N, is printed by allocation site (the nearest named frames), with a
# summary by kind (OpenSSL, NIO receive buffers, backend connections, the rest of Swift/NIO) and the
# number of live allocations per connection. Backend connections the pool opened while the N
# connections were set up are part of the difference (shown apart); so are a few allocator caches.
#
# Environment: HEAP_BIN_DIR (default .build/release), HEAP_PORT_BASE (default 26900: proxy BASE+1
# nginx, BASE+3 gatehouse, backend BASE+44, admin BASE+90), HEAP_WORK (default loadtest/work/heap).
set -Eeuo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
NAME=${1:-gatehouse}
N=${2:-400}
WORK=${HEAP_WORK:-$HERE/work/heap}
PORT_BASE=${HEAP_PORT_BASE:-26900}
BIN_DIR=${HEAP_BIN_DIR:-$ROOT/.build/release}
GATEHOUSE=$BIN_DIR/gatehouse
MAILBOX_SIM=$BIN_DIR/mailbox-sim
BACKEND_PORT=$((PORT_BASE + 44))
case $NAME in gatehouse | nginx) ;; *) echo "usage: $0 [gatehouse|nginx] [N]" >&2; exit 2 ;; esac

mkdir -p "$WORK"
# shellcheck source=lib/common.sh
source "$HERE/lib/common.sh"
# shellcheck source=lib/proxies.sh
source "$HERE/lib/proxies.sh"
cleanup() { trap '' PIPE; stop_all_started; }
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in heaptrack heaptrack_print swift-demangle python3 curl nginx; do
    command -v "$tool" >/dev/null || die "$tool is missing (heaptrack: apt-get install heaptrack)"
done
[ -x "$GATEHOUSE" ] && [ -x "$MAILBOX_SIM" ] || die "build first: make build-release"
rm -rf "$WORK/run" "$WORK/logs" "$WORK/conf"
mkdir -p "$WORK/run" "$WORK/logs" "$WORK/conf" "$WORK/certs"
: >"$WORK/loud.log"
make_loadtest_certs "$WORK/certs" >"$WORK/logs/certs.log" 2>&1 || die "certificate generation failed"
render gatehouse.yaml.in "$WORK/conf/gatehouse.yaml" "$BACKEND_PORT" gatehouse
sed -i 's|^\(    connect_timeout: .*\)$|\1\n    health: { enabled: false }   # idle-heap.sh: no probes|' "$WORK/conf/gatehouse.yaml"
render nginx.conf.in "$WORK/conf/nginx.conf" "$BACKEND_PORT" nginx
render nginx-routes.conf.in "$WORK/conf/nginx-routes.conf" "$BACKEND_PORT" nginx
sed -i -e 's|^master_process on;|master_process off;|' -e 's|^worker_processes .*;|worker_processes 1;|' "$WORK/conf/nginx.conf"

port_free "$BACKEND_PORT" || die "port $BACKEND_PORT is in use; set HEAP_PORT_BASE"
start_bg "$WORK/logs/mailbox-sim.out" "$MAILBOX_SIM" --name mbx01 --fqdn mbx01.contoso.lab \
    --listen "127.0.0.1:$BACKEND_PORT" --cert "$WORK/certs/mbx01.pem" --key "$WORK/certs/mbx01.key"
wait_port "$BACKEND_PORT" 30 "$BG_PID" || die "mailbox-sim did not start"

# traced LABEL COUNT: one heaptrack run holding COUNT idle connections, ended by SIGKILL.
traced() {
    local label=$1 count=$2 port=${PROXY_PORT[$NAME]} wrapper proxy="" i hold=""
    rm -f "$WORK/$label".* "$WORK/ready" "$WORK/stop"
    port_free "$port" || die "port $port is in use; set HEAP_PORT_BASE"
    case $NAME in
        gatehouse) start_bg "$WORK/logs/$label.out" heaptrack -o "$WORK/$label" "$GATEHOUSE" run --config "$WORK/conf/gatehouse.yaml" ;;
        nginx) start_bg "$WORK/logs/$label.out" heaptrack -o "$WORK/$label" nginx -e "$WORK/logs/nginx-error.log" -p "$WORK/run/" -c "$WORK/conf/nginx.conf" ;;
    esac
    wrapper=$BG_PID
    wait_port "$port" 120 "$wrapper" || die "$NAME did not start under heaptrack: $(tail -n 5 "$WORK/logs/$label.out")"
    for i in $(tree_pids "$wrapper"); do   # the traced process: the child of heaptrack's wrapper script
        [ "$(cat "/proc/$i/comm" 2>/dev/null)" = "$NAME" ] && { proxy=$i; break; }
    done
    [ -n "$proxy" ] || die "cannot find the $NAME process under heaptrack"
    for ((i = 0; i < 20; i++)); do curl_through "$NAME" /owa/healthcheck.htm -o /dev/null 2>/dev/null || true; done
    if [ "$count" -gt 0 ]; then
        start_bg "$WORK/logs/holder-$label.out" python3 "$HERE/lib/holdconns.py" idle --port "$port" \
            --ca "$WORK/certs/ca.pem" --count "$count" --hold 600 --ready-file "$WORK/ready" --stop-file "$WORK/stop"
        hold=$BG_PID
        for ((i = 0; i < 3000; i++)); do [ -f "$WORK/ready" ] && break; sleep 0.1; done
        say "$label: $(cat "$WORK/ready" 2>/dev/null || echo 'holder not ready')"
        sleep 3
    fi
    say "$label: $NAME RSS $(awk '/^VmRSS:/ { print $2 }' "/proc/$proxy/status") KiB; SIGKILL while held"
    kill -KILL "$proxy"
    for ((i = 0; i < 600; i++)); do kill -0 "$wrapper" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$wrapper" 5
    [ -z "$hold" ] || { touch "$WORK/stop"; stop_pid "$hold" 30; }
    heaptrack_print -f "$WORK/$label.zst" --flamegraph-cost-type leaked -F "$WORK/$label.stacks" >/dev/null 2>&1
    swift-demangle --simplified --compact <"$WORK/$label.stacks" >"$WORK/$label.dstacks"
    zstdcat "$WORK/$label.zst" | awk '$1 == "+" { a++ } $1 == "-" { d++ } END { print a - d }' >"$WORK/$label.live"
}

traced "$NAME-0" 0
traced "$NAME-$N" "$N"
python3 - "$WORK/$NAME-0" "$WORK/$NAME-$N" "$N" <<'EOF'
import collections, re, sys
base, held, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
OPENSSL = r'SSL_|CRYPTO_|EVP_|OPENSSL_|BIO_|X509|BN_|ASN1_|ngx_ssl_handshake'
def kind(stack):
    if re.search(r'BackendConnection|TLSConnection\.init\(client|LoopBackendPool|BackendResponseDecoder', stack):
        return 'backend connections (pool)'
    if re.search(OPENSSL, stack): return 'OpenSSL'
    if 'readFromSocket' in stack and 'ByteBuffer' in stack: return 'NIO receive buffers'
    return 'the rest (Swift/NIO objects; nginx: its own)'
def load(prefix):
    sites, kinds = collections.Counter(), collections.Counter()
    for line in open(prefix + '.dstacks', errors='replace'):
        stack, _, cost = line.rstrip('\n').rpartition(' ')
        if not cost.isdigit(): continue
        frames = [f for f in stack.split(';') if f]
        named = [f.split(' (')[0][:80] for f in reversed(frames) if not f.startswith('0x')]
        named = [f for f in named if not re.match(r'swift_slowAlloc|swift_allocObject|CRYPTO_zalloc|CRYPTO_malloc|malloc|calloc', f)]
        sites[' <- '.join(named[:3])] += int(cost)
        kinds[kind(stack)] += int(cost)
    return sites, kinds
(s0, k0), (s1, k1) = load(base), load(held)
live = (int(open(held + '.live').read()) - int(open(base + '.live').read())) / n
print(f"\nlive heap per idle connection ({n} held), bytes requested, by kind:")
for k in sorted(set(k0) | set(k1)): print(f"  {(k1[k] - k0[k]) / n:8.0f}  {k}")
print(f"  {(sum(k1.values()) - sum(k0.values())) / n:8.0f}  total, in {live:.0f} live allocations per connection")
print("\nby allocation site (nearest named frames), 32 bytes per connection or more:")
for site, v in sorted(((s, (s1[s] - s0[s]) / n) for s in set(s0) | set(s1)), key=lambda x: -x[1]):
    if v >= 32: print(f"  {v:8.0f}  {site}")
EOF
