#!/usr/bin/env bash
# RSS per idle TLS connection held by tls-bench-server (OpenSSLHandler): opens N TLS 1.3
# connections (python3 ssl, ECDSA P-256 certificate, one request each so the connection is past
# the handshake), holds them, and reports (RSS after - RSS before) / N.
#
# Usage: loadtest/tls-idle-memory.sh [connections (default 5000)] [--plain: no TLS, for comparison]
#        TLS_BENCH_SERVER=.build/debug/tls-bench-server loadtest/tls-idle-memory.sh 2000
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-5000}"
PLAIN="${2:-}"
WORK=loadtest/work/tls-idle-memory
mkdir -p "$WORK"
ulimit -n 20000
PIDS=()
cleanup() { for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# TLS_BENCH_SERVER=path uses an existing build (e.g. .build/debug/tls-bench-server) instead of a
# release build: memory per connection is what is measured, not speed.
if [ -n "${TLS_BENCH_SERVER:-}" ]; then
    BENCH=$TLS_BENCH_SERVER
else
    make -C "$(dirname "$0")/.." --no-print-directory build-tls-bench-server >&2
    BENCH="$(cd "$(dirname "$0")/.." && pwd)/.build/release/tls-bench-server"
fi
/usr/bin/openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=bench.contoso.com \
    -addext subjectAltName=DNS:bench.contoso.com -days 2 -keyout "$WORK/ecdsa.key" -out "$WORK/ecdsa.crt" 2>/dev/null
chmod 600 "$WORK/ecdsa.key"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$BENCH" --cert "$WORK/ecdsa.crt" --key "$WORK/ecdsa.key" --port "$port" --threads 1 $PLAIN >"$WORK/server.log" 2>&1 &
server=$!
PIDS+=("$server")
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
sleep 0.5
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Warm up (first connections allocate one-time structures), then measure.
python3 - "$port" "$WORK/ecdsa.crt" 50 1 "$PLAIN" <<'PY'
import socket, ssl, sys, time
port, ca, n, hold = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
plain = sys.argv[5] == "--plain"
ctx = ssl.create_default_context(cafile=ca)
conns = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if not plain: s = ctx.wrap_socket(s, server_hostname="bench.contoso.com")
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench.contoso.com\r\n\r\n")
    got = 0
    while got < 1024: got += len(s.recv(65536))
    conns.append(s)
time.sleep(hold)
PY
before=$(rss "$server")
rm -f "$WORK/ready"
python3 - "$port" "$WORK/ecdsa.crt" "$N" "$WORK/ready" "$PLAIN" <<'PY' &
import socket, ssl, sys, time, os
port, ca, n, ready = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
plain = sys.argv[5] == "--plain"
ctx = ssl.create_default_context(cafile=ca)
conns = []
deadline = time.time() + 240
for _ in range(n):
    if time.time() > deadline: sys.exit("too slow: gave up")
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if not plain: s = ctx.wrap_socket(s, server_hostname="bench.contoso.com")
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench.contoso.com\r\n\r\n")
    got = 0
    while got < 1024: got += len(s.recv(65536))
    conns.append(s)
open(ready, "w").write("ready")
time.sleep(30)
PY
client=$!
PIDS+=("$client")
for _ in $(seq 1 2400); do [ -f "$WORK/ready" ] && break; kill -0 "$client" 2>/dev/null || { echo "client failed" >&2; exit 1; }; sleep 0.1; done
[ -f "$WORK/ready" ] || { echo "timed out opening connections" >&2; exit 1; }
sleep 1
after=$(rss "$server")
awk -v b="$before" -v a="$after" -v n="$N" -v m="${PLAIN:-tls}" 'BEGIN{printf "idle %s connections: %d, server RSS before %d KiB, after %d KiB: %.1f KiB per connection\n", m, n, b, a, (a-b)/n}'
