# The scenarios. Each function measures ONE proxy once and records its numbers with `record`;
# run.sh calls them interleaved (nginx haproxy gatehouse, nginx haproxy gatehouse, ...).
# Every load is bounded by a duration and by `timeout`, and goes to 127.0.0.1 only.

url_of() { echo "https://mail.contoso.lab:${PROXY_PORT[$1]}$2"; }

# to_ms VALUE_WITH_UNIT (wrk: 812.00us, 1.20ms, 2.01s): milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
        else if (v ~ /m$/) { sub(/m$/, "", v); print v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
        else print v }'
}

# parse_wrk FILE: sets W_REQUESTS W_RPS W_P50 W_P99 W_ERRORS W_ERRTEXT from wrk --latency output.
parse_wrk() {
    local file=$1
    W_REQUESTS=$(awk '/ requests in / { print $1; exit }' "$file")
    W_RPS=$(awk '/^Requests\/sec:/ { print $2; exit }' "$file")
    W_P50=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$file")")
    W_P99=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$file")")
    local socket non2xx
    socket=$(awk -F'[ ,]+' '/Socket errors:/ { print $4 + $6 + $8 + $10; exit }' "$file")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF; exit }' "$file")
    W_ERRORS=$(( ${socket:-0} + ${non2xx:-0} ))
    W_ERRTEXT=$(grep -E 'Socket errors|Non-2xx' "$file" | tr -s ' \n' ' ' || true)
    if [ -z "$W_REQUESTS" ] || [ -z "$W_RPS" ]; then
        W_REQUESTS=0; W_RPS=0; W_ERRORS=$((W_ERRORS + 1)); W_ERRTEXT="wrk produced no result: $(tail -n 3 "$file" | tr '\n' ' ')"
    fi
}

# run_wrk OUT MODE ARGS...: wrk with the client shim, bounded by `timeout` as well as -d.
run_wrk() {
    local out=$1 mode=$2; shift 2
    client_env "$mode" timeout -k 5 $((DURATION + 30)) wrk "$@" >"$out" 2>&1 || echo "wrk exit status $?" >>"$out"
}

# per_request_us TICKS REQUESTS: CPU microseconds per request ("" when no request completed).
per_request_us() {
    if [ "${2:-0}" -gt 0 ]; then awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'; fi
}

# note_errors SCENARIO PROXY REP COUNT TEXT: errors are recorded and said out loud, never averaged away.
note_errors() {
    record "$1" "$2" "$3" errors "$4"
    if [ "$4" -gt 0 ]; then loud "ERRORS in $1 / $2 / run $3: $4 ($5)"; fi
}

# 1. HTTP/1.1 keep-alive small requests.
scenario_h1() {
    local proxy=$1 rep=$2 pid=${PROXY_PID[$1]} out=$WORK/raw/h1-$1-$2.txt t0 t1
    t0=$(cpu_ticks "$pid")
    run_wrk "$out" plain -t2 -c64 -d"${DURATION}s" --timeout 2s --latency "$(url_of "$proxy" /owa/healthcheck.htm)"
    t1=$(cpu_ticks "$pid")
    parse_wrk "$out"
    record h1 "$proxy" "$rep" rps "$W_RPS"
    record h1 "$proxy" "$rep" p50_ms "$W_P50"
    record h1 "$proxy" "$rep" p99_ms "$W_P99"
    record h1 "$proxy" "$rep" cpu_us "$(per_request_us $((t1 - t0)) "$W_REQUESTS")"
    note_errors h1 "$proxy" "$rep" "$W_ERRORS" "$W_ERRTEXT"
    say "h1 $proxy #$rep: $W_RPS req/s, p50 $W_P50 ms, p99 $W_P99 ms, $(per_request_us $((t1 - t0)) "$W_REQUESTS") us CPU/req, $W_ERRORS errors"
}

# 2. HTTP/2, 64 connections x 10 streams.
scenario_h2() {
    local proxy=$1 rep=$2 pid=${PROXY_PID[$1]} out=$WORK/raw/h2-$1-$2.txt t0 t1
    if [ "${H2_OK[$proxy]}" != 1 ]; then
        record h2 "$proxy" "$rep" not_available 1
        say "h2 $proxy #$rep: not available"
        return 0
    fi
    t0=$(cpu_ticks "$pid")
    client_env plain timeout -k 5 $((DURATION + 30)) h2load -t2 -c64 -m10 -D "$DURATION" \
        "$(url_of "$proxy" /owa/healthcheck.htm)" >"$out" 2>&1 || echo "h2load exit status $?" >>"$out"
    t1=$(cpu_ticks "$pid")
    local rps done_ ok errors failed non2xx
    rps=$(awk '/^finished in/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^req\/s/) { print $i + 0; exit } }' "$out")
    done_=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^done/) print $i }' "$out")
    ok=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^succeeded/) print $i }' "$out")
    # h2load's "failed" already includes "errored" and "timeout"; a non-2xx answer is an error too.
    failed=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i + 1) ~ /^failed/) print $i }' "$out")
    non2xx=$(awk '/^status codes:/ { print $5 + $7 + $9 }' "$out")
    errors=$(( ${failed:-0} > ${non2xx:-0} ? ${failed:-0} : ${non2xx:-0} ))
    if [ -z "$rps" ] || [ -z "$done_" ]; then
        rps=0; done_=0; ok=0; errors=$((errors + 1))
    fi
    record h2 "$proxy" "$rep" rps "$rps"
    record h2 "$proxy" "$rep" cpu_us "$(per_request_us $((t1 - t0)) "${ok:-0}")"
    note_errors h2 "$proxy" "$rep" "$errors" "$(grep -E '^requests:|^status codes:' "$out" | tr '\n' ' ')"
    say "h2 $proxy #$rep: $rps req/s, $(per_request_us $((t1 - t0)) "${ok:-0}") us CPU/req, $errors errors"
}

# backend_accepted: connections mailbox-sim has accepted so far (its /_sim/state counter; this
# query's own connection included, so two readings differ by one more than the proxy opened).
backend_accepted() {
    curl -sS --max-time 10 --cacert "$WORK/certs/mbx01.pem" \
        --resolve "mbx01.contoso.lab:$BACKEND_PORT:127.0.0.1" "https://mbx01.contoso.lab:$BACKEND_PORT/_sim/state" 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["connectionsAccepted"])' 2>/dev/null || echo 0
}

# 3. A new TLS connection per request: full ECDSA, full RSA, or resumed (MODE). Besides the proxy's
# CPU per client connection, the backend's (mailbox-sim's) CPU per client connection and the backend
# connections the proxy opened per client connection: a proxy that reuses its backend connections
# across client connections costs the backend no handshake per client connection.
scenario_handshake() {
    local mode=$1 proxy=$2 rep=$3 pid=${PROXY_PID[$2]} name=tls_$1 t0 t1 b0 b1 a0 a1
    local out=$WORK/raw/$name-$proxy-$rep.txt
    a0=$(backend_accepted)
    t0=$(cpu_ticks "$pid")
    b0=$(cpu_ticks "$BACKEND_PID")
    run_wrk "$out" "$mode" -t2 -c32 -d"${DURATION}s" --timeout 2s --latency -H 'Connection: close' \
        "$(url_of "$proxy" /owa/healthcheck.htm)"
    t1=$(cpu_ticks "$pid")
    b1=$(cpu_ticks "$BACKEND_PID")
    a1=$(backend_accepted)
    parse_wrk "$out"
    local opened=$((a1 - a0 - 1)) per_conn=""
    if [ "${W_REQUESTS:-0}" -gt 0 ]; then
        per_conn=$(awk -v o="$opened" -v n="$W_REQUESTS" 'BEGIN { printf "%.3f", o / n }')
    fi
    record "$name" "$proxy" "$rep" rps "$W_RPS"
    record "$name" "$proxy" "$rep" cpu_us "$(per_request_us $((t1 - t0)) "$W_REQUESTS")"
    record "$name" "$proxy" "$rep" backend_cpu_us "$(per_request_us $((b1 - b0)) "$W_REQUESTS")"
    record "$name" "$proxy" "$rep" backend_conns "$per_conn"
    note_errors "$name" "$proxy" "$rep" "$W_ERRORS" "$W_ERRTEXT"
    say "$name $proxy #$rep: $W_RPS conn/s, $(per_request_us $((t1 - t0)) "$W_REQUESTS") us CPU/conn," \
        "backend $(per_request_us $((b1 - b0)) "$W_REQUESTS") us CPU/conn and $opened new backend connections" \
        "for $W_REQUESTS client connections, $W_ERRORS errors"
}

# 4. 100 MiB download and upload over one HTTP/1.1 connection each.
scenario_transfer() {
    local proxy=$1 rep=$2 pid=${PROXY_PID[$1]} t0 t1 result code size seconds errors mbps
    # Download: the backend streams TRANSFER_BYTES of generated data.
    t0=$(cpu_ticks "$pid")
    result=$(curl_through "$proxy" "/owa/?sim-bytes=$TRANSFER_BYTES" --max-time 120 -o /dev/null \
        -w '%{http_code} %{size_download} %{time_total}' 2>>"$WORK/logs/curl.err" || true)
    t1=$(cpu_ticks "$pid")
    read -r code size seconds <<<"$result"
    errors=0
    if [ "$code" != 200 ] || [ "$size" != "$TRANSFER_BYTES" ]; then errors=1; fi
    mbps=$(awk -v b="${size:-0}" -v s="${seconds:-0}" 'BEGIN { if (s > 0) printf "%.1f", b / s / 1e6; else print 0 }')
    record download "$proxy" "$rep" mbps "$mbps"
    record download "$proxy" "$rep" cpu_ms "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1000 / hz }')"
    note_errors download "$proxy" "$rep" "$errors" "HTTP ${code:-none}, $size of $TRANSFER_BYTES bytes"
    say "download $proxy #$rep: $mbps MB/s, $(( (t1 - t0) * 1000 / CLK_TCK )) ms CPU, $errors errors"

    # Upload: POST to the RPC virtual directory (it allows large bodies everywhere); the backend
    # answers with the byte count and SHA-256 of what it received, which must match the file.
    t0=$(cpu_ticks "$pid")
    result=$(curl_through "$proxy" /rpc/rpcproxy.dll --max-time 120 -X POST -T "$WORK/upload.bin" \
        -H 'Content-Type: application/octet-stream' -H 'Expect:' -o "$WORK/upload-answer" \
        -w '%{http_code} %{size_upload} %{time_total}' 2>>"$WORK/logs/curl.err" || true)
    t1=$(cpu_ticks "$pid")
    read -r code size seconds <<<"$result"
    errors=0
    if [ "$code" != 200 ] || [ "$size" != "$TRANSFER_BYTES" ] || ! grep -qi "$UPLOAD_SHA256" "$WORK/upload-answer"; then
        errors=1
    fi
    mbps=$(awk -v b="${size:-0}" -v s="${seconds:-0}" 'BEGIN { if (s > 0) printf "%.1f", b / s / 1e6; else print 0 }')
    record upload "$proxy" "$rep" mbps "$mbps"
    record upload "$proxy" "$rep" cpu_ms "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1000 / hz }')"
    note_errors upload "$proxy" "$rep" "$errors" "HTTP ${code:-none}, $size of $TRANSFER_BYTES bytes sent, answer: $(head -c 200 "$WORK/upload-answer" 2>/dev/null | tr '\n' ' ')"
    say "upload $proxy #$rep: $mbps MB/s, $(( (t1 - t0) * 1000 / CLK_TCK )) ms CPU, $errors errors"
}

# 5. IDLE_CONNS idle keep-alive TLS connections: RSS per connection. The proxy is restarted first so
# that memory freed by earlier scenarios does not hide the cost.
scenario_idle() {
    local proxy=$1 rep=$2 pid rss0 rss1 t0 t1 ready="$WORK/run/idle-ready" stop="$WORK/run/idle-stop" i
    stop_proxy "$proxy"
    start_proxy "$proxy" "$BACKEND_PORT"
    wait_ok "$proxy" 20 || loud "$proxy: not answering after restart"
    pid=${PROXY_PID[$proxy]}
    for ((i = 0; i < 20; i++)); do curl_through "$proxy" /owa/healthcheck.htm -o /dev/null 2>/dev/null || true; done
    sleep 1
    rss0=$(rss_kib "$pid")
    t0=$(cpu_ticks "$pid")
    rm -f "$ready" "$stop"
    start_bg "$WORK/raw/idle-$proxy-$rep.txt" python3 "$HERE/lib/holdconns.py" idle --port "${PROXY_PORT[$proxy]}" \
        --ca "$WORK/certs/ca.pem" --count "$IDLE_CONNS" --hold 120 --ready-file "$ready" --stop-file "$stop"
    local holder=$BG_PID
    for ((i = 0; i < 1200; i++)); do   # up to 120 s to set up every connection
        [ -f "$ready" ] && break
        kill -0 "$holder" 2>/dev/null || break
        sleep 0.1
    done
    sleep 2
    rss1=$(rss_kib "$pid")
    t1=$(cpu_ticks "$pid")
    touch "$stop"
    local open ok errors
    open=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["open"])' "$ready" 2>/dev/null || echo 0)
    ok=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ok"])' "$ready" 2>/dev/null || echo 0)
    stop_pid "$holder" 60
    errors=$((IDLE_CONNS - ok))
    local per
    per=$(awk -v a="$rss0" -v b="$rss1" -v n="$open" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n }')
    record idle "$proxy" "$rep" kib_per_conn "$per"
    record idle "$proxy" "$rep" cpu_us "$(per_request_us $((t1 - t0)) "$ok")"
    note_errors idle "$proxy" "$rep" "$errors" "$(cat "$ready" 2>/dev/null || echo 'holder never became ready')"
    say "idle $proxy #$rep: $open held, RSS $rss0 -> $rss1 KiB = $per KiB/conn, $errors errors"
}

# 6. LONGPOLLS concurrent ActiveSync Pings held by the backend while scenario 1's load runs.
scenario_longpoll() {
    local proxy=$1 rep=$2 pid=${PROXY_PID[$1]} ready="$WORK/run/lp-ready" out=$WORK/raw/lp-$1-$2.txt t0 t1 i
    local hold=$((DURATION + 10)) holder_out=$WORK/raw/lp-holder-$1-$2.txt
    rm -f "$ready"
    t0=$(cpu_ticks "$pid")
    start_bg "$holder_out" python3 "$HERE/lib/holdconns.py" longpoll --port "${PROXY_PORT[$proxy]}" \
        --ca "$WORK/certs/ca.pem" --count "$LONGPOLLS" --hold "$hold" --ready-file "$ready"
    local holder=$BG_PID
    for ((i = 0; i < 600; i++)); do   # up to 60 s to send every long poll
        [ -f "$ready" ] && break
        kill -0 "$holder" 2>/dev/null || break
        sleep 0.1
    done
    run_wrk "$out" plain -t2 -c64 -d"${DURATION}s" --timeout 2s --latency "$(url_of "$proxy" /owa/healthcheck.htm)"
    for ((i = 0; i < (hold + 60) * 10; i++)); do kill -0 "$holder" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$holder" 5
    t1=$(cpu_ticks "$pid")
    parse_wrk "$out"
    local lp_ok lp_err summary
    summary=$(tail -n 1 "$holder_out")
    lp_ok=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$summary" 2>/dev/null || echo 0)
    lp_err=$((LONGPOLLS - lp_ok))
    record longpoll "$proxy" "$rep" rps "$W_RPS"
    record longpoll "$proxy" "$rep" p99_ms "$W_P99"
    record longpoll "$proxy" "$rep" held_ok "$lp_ok"
    record longpoll "$proxy" "$rep" cpu_us "$(per_request_us $((t1 - t0)) $((W_REQUESTS + lp_ok)))"
    note_errors longpoll "$proxy" "$rep" $((W_ERRORS + lp_err)) "wrk: $W_ERRTEXT; long polls: $summary"
    say "longpoll $proxy #$rep: $W_RPS req/s beside $lp_ok/$LONGPOLLS held polls, $((W_ERRORS + lp_err)) errors"
}
