#!/usr/bin/env bash
# Full and resumed TLS handshakes per second: tls-bench-server (OpenSSLHandler) vs `openssl s_server`,
# same certificate, same run, for ECDSA P-256 and RSA-2048. Each measurement is bounded by
# `openssl s_time -time $SECONDS_PER_RUN`; each connection fetches a 1 KiB page over HTTP/1.0.
# Also reports server CPU per connection (utime+stime from /proc, microseconds).
#
# Usage: loadtest/tls-handshakes.sh [seconds-per-run (default 10)]
# Output: a table on stdout; work files in loadtest/work/tls-handshakes/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-10}"
WORK=loadtest/work/tls-handshakes
mkdir -p "$WORK"
OPENSSL=/usr/bin/openssl
PIDS=()
cleanup() { for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

echo "building tls-bench-server (release)..." >&2
make -C "$(dirname "$0")/.." --no-print-directory build-tls-bench-server >&2
BENCH="$(cd "$(dirname "$0")/.." && pwd)/.build/release/tls-bench-server"

head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/index.txt"
"$OPENSSL" req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj /CN=bench.contoso.com \
    -addext subjectAltName=DNS:bench.contoso.com -days 2 -keyout "$WORK/ecdsa.key" -out "$WORK/ecdsa.crt" 2>/dev/null
"$OPENSSL" req -x509 -new -nodes -newkey rsa:2048 -subj /CN=bench.contoso.com \
    -addext subjectAltName=DNS:bench.contoso.com -days 2 -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
chmod 600 "$WORK"/*.key

# Picks a free loopback port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# utime+stime of a process in clock ticks.
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

TICK=$(getconf CLK_TCK)
printf '%-9s %-16s %-7s %12s %14s\n' key server mode "conn/s" "server µs/conn"
for key in ecdsa rsa; do
    for server in gatehouse s_server; do
        port=$(free_port)
        if [ "$server" = gatehouse ]; then
            "$BENCH" --cert "$WORK/$key.crt" --key "$WORK/$key.key" --port "$port" --threads 1 >"$WORK/$server-$key.log" 2>&1 &
        else
            (cd "$WORK" && exec "$OPENSSL" s_server -quiet -accept "$port" -cert "$key.crt" -key "$key.key" -WWW \
                -ciphersuites TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256 \
                -groups X25519:P-256 >"$server-$key.log" 2>&1) &
        fi
        pid=$!
        PIDS+=("$pid")
        wait_port "$port"
        for mode in new reuse; do
            before=$(cpu_ticks "$pid")
            out=$(timeout $((SECONDS_PER_RUN + 20)) "$OPENSSL" s_time -connect "127.0.0.1:$port" -"$mode" \
                -time "$SECONDS_PER_RUN" -www /index.txt 2>&1 || true)
            after=$(cpu_ticks "$pid")
            # "N connections in T real seconds, ..." is the wall-clock line.
            line=$(echo "$out" | grep 'real seconds' | tail -1)
            conns=$(echo "$line" | awk '{print $1}')
            secs=$(echo "$line" | awk '{print $4}')
            if [ -z "$conns" ] || [ "$conns" = 0 ]; then
                echo "$server $key $mode: no connections measured:" >&2; echo "$out" | tail -5 >&2; exit 1
            fi
            rate=$(awk -v c="$conns" -v s="$secs" 'BEGIN{printf "%.0f", c/s}')
            cpu=$(awk -v a="$after" -v b="$before" -v c="$conns" -v t="$TICK" 'BEGIN{printf "%.0f", (a-b)/t*1e6/c}')
            printf '%-9s %-16s %-7s %12s %14s\n' "$key" "$server" "$mode" "$rate" "$cpu"
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
done
