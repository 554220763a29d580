# The three proxies under test: configuration, start, stop, and the checks each configuration must
# pass before it is measured. Sourced by loadtest/run.sh after lib/common.sh.

PROXIES=(nginx haproxy gatehouse)
declare -A PROXY_PORT=([nginx]=$((PORT_BASE + 1)) [haproxy]=$((PORT_BASE + 2)) [gatehouse]=$((PORT_BASE + 3)))
declare -A PROXY_PID=()
declare -A H2_OK=()
GATEHOUSE_ADMIN_PORT=$((PORT_BASE + 90))

# render TEMPLATE OUT BACKEND_PORT PROXY: fills the @PLACEHOLDERS@ of loadtest/conf/TEMPLATE.
render() {
    local template=$1 out=$2 backend_port=$3 proxy=$4
    sed -e "s|@WORK@|$WORK|g" \
        -e "s|@PORT@|${PROXY_PORT[$proxy]}|g" \
        -e "s|@BACKEND_PORT@|$backend_port|g" \
        -e "s|@BACKEND_CERT@|mbx01|g" \
        -e "s|@ADMIN_PORT@|$GATEHOUSE_ADMIN_PORT|g" \
        -e "s|@ACCESS_LOG@|$WORK/logs/nginx-access.log|g" \
        "$HERE/conf/$template" >"$out"
}

# The files each proxy writes its log lines to (access lines included); truncated between runs.
proxy_logs() {
    case $1 in
        nginx) echo "$WORK/logs/nginx-access.log $WORK/logs/nginx-error.log $WORK/logs/nginx.out" ;;
        *) echo "$WORK/logs/$1.out" ;;
    esac
}

# trim_logs: keeps notable lines (errors, warnings, alerts; never access lines), then empties the
# logs so the disk does not fill up.
trim_logs() {
    local proxy file
    for proxy in "${PROXIES[@]}"; do
        for file in $(proxy_logs "$proxy"); do
            [ -f "$file" ] || continue
            case $file in
                *-access.log) ;;   # nginx's access lines only
                *) grep -E '\[(error|warn|alert|emerg|crit)\]|\[(ALERT|WARNING)\]| (error|warning|critical) |Fatal error' "$file" 2>/dev/null \
                       | head -n 100 >>"$WORK/logs/$proxy-notable.log" || true ;;
            esac
            : >"$file"
        done
    done
}

# start_proxy NAME BACKEND_PORT: writes the configuration, validates it with the proxy's own checker,
# starts the proxy in the foreground mode (so its PID is ours), waits for its port.
start_proxy() {
    local name=$1 backend_port=$2 conf pid
    local port=${PROXY_PORT[$name]}
    port_free "$port" || die "port $port (for $name) is already in use; set LOADTEST_PORT_BASE to another range"
    case $name in
        nginx)
            conf=$WORK/conf/nginx.conf
            render nginx.conf.in "$conf" "$backend_port" nginx
            render nginx-routes.conf.in "$WORK/conf/nginx-routes.conf" "$backend_port" nginx
            nginx -t -q -e "$WORK/logs/nginx-error.log" -p "$WORK/run/" -c "$conf" >>"$WORK/logs/nginx.out" 2>&1 \
                || die "nginx rejects $conf: $(tail -n 5 "$WORK/logs/nginx.out")"
            nginx -e "$WORK/logs/nginx-error.log" -p "$WORK/run/" -c "$conf" >>"$WORK/logs/nginx.out" 2>&1 &
            ;;
        haproxy)
            conf=$WORK/conf/haproxy.cfg
            render haproxy.cfg.in "$conf" "$backend_port" haproxy
            render haproxy-crt-list.txt.in "$WORK/conf/haproxy-crt-list.txt" "$backend_port" haproxy
            haproxy -c -q -f "$conf" >>"$WORK/logs/haproxy.out" 2>&1 \
                || die "haproxy rejects $conf: $(tail -n 5 "$WORK/logs/haproxy.out")"
            haproxy -db -f "$conf" >>"$WORK/logs/haproxy.out" 2>&1 &
            ;;
        gatehouse)
            conf=$WORK/conf/gatehouse.yaml
            render gatehouse.yaml.in "$conf" "$backend_port" gatehouse
            "$GATEHOUSE" check --config "$conf" >>"$WORK/logs/gatehouse.out" 2>&1 \
                || die "gatehouse check rejects $conf: $(tail -n 5 "$WORK/logs/gatehouse.out")"
            "$GATEHOUSE" run --config "$conf" >>"$WORK/logs/gatehouse.out" 2>&1 &
            ;;
    esac
    pid=$!
    STARTED_PIDS+=("$pid")
    PROXY_PID[$name]=$pid
    wait_port "$port" 30 "$pid" || die "$name did not start listening on $port: $(tail -n 5 "$WORK/logs/$name.out" 2>/dev/null)"
}

stop_proxy() {
    local name=$1
    stop_pid "${PROXY_PID[$name]:-}" 15
    PROXY_PID[$name]=""
    local i
    for ((i = 0; i < 50; i++)); do port_free "${PROXY_PORT[$name]}" && return 0; sleep 0.1; done
    loud "$name's port ${PROXY_PORT[$name]} is still in use after stopping it"
}

# curl_through NAME PATH [curl options...]: one HTTPS request through proxy NAME as mail.contoso.lab.
curl_through() {
    local name=$1 path=$2; shift 2
    local port=${PROXY_PORT[$name]}
    curl -sS --http1.1 --max-time 20 --cacert "$WORK/certs/ca.pem" \
        --resolve "mail.contoso.lab:$port:127.0.0.1" "$@" "https://mail.contoso.lab:$port$path"
}

# wait_ok NAME SECONDS: retries a small request until it answers 200 from the backend (health checks
# may still be settling just after start).
wait_ok() {
    local name=$1 limit=$2 i body
    for ((i = 0; i < limit * 4; i++)); do
        body=$(curl_through "$name" /owa/healthcheck.htm 2>/dev/null || true)
        case $body in *mbx01.contoso.lab*) return 0 ;; esac
        sleep 0.25
    done
    return 1
}

# check_proxy NAME: the proof that NAME's configuration does what we claim, before measuring it.
#  1. pointed at an impostor backend (same CN and names, different self-signed key), it refuses;
#  2. pointed at the real backend, a request succeeds, and ECDSA / RSA / resumption behave as the
#     scenarios assume; h2 is probed (a proxy without h2 is reported "not available").
check_proxy() {
    local name=$1 status body
    start_proxy "$name" "$IMPOSTOR_PORT"
    sleep 1
    status=$(curl_through "$name" /owa/healthcheck.htm -o "$WORK/check-body" -w '%{http_code}' 2>/dev/null || true)
    body=$(cat "$WORK/check-body" 2>/dev/null || true)
    stop_proxy "$name"
    case $status in
        2*) die "$name accepted the impostor backend (HTTP $status): its backend verification is not on" ;;
    esac
    case $body in *mbx01.contoso.lab*) die "$name returned the impostor's page" ;; esac
    say "check $name: impostor backend refused (HTTP ${status:-none})"

    start_proxy "$name" "$BACKEND_PORT"
    wait_ok "$name" 20 || die "$name: GET /owa/healthcheck.htm through it does not reach the backend"
    say "check $name: GET /owa/healthcheck.htm -> backend mbx01 OK"
    check_handshakes "$name"
    if h2load -n 20 -c 1 -m 4 "https://mail.contoso.lab:${PROXY_PORT[$name]}/owa/healthcheck.htm" \
        --connect-to="127.0.0.1:${PROXY_PORT[$name]}" >"$WORK/logs/h2check-$name.txt" 2>&1 \
        && grep -q '^Application protocol: h2' "$WORK/logs/h2check-$name.txt" \
        && grep -q ' 20 succeeded' "$WORK/logs/h2check-$name.txt" \
        && grep -q 'status codes: 20 2xx' "$WORK/logs/h2check-$name.txt"; then
        H2_OK[$name]=1
        say "check $name: HTTP/2 works"
    else
        H2_OK[$name]=0
        loud "$name: HTTP/2 not available (h2load failed; see $WORK/logs/h2check-$name.txt); its h2 scenario is reported as not available"
    fi
    ensure_alive "$name" "the HTTP/2 check" || true
}

# ensure_alive NAME WHEN: a proxy that died is reported loudly (with its last log lines) and restarted,
# so that one crash does not stop the other measurements. Returns 1 when it had died.
ensure_alive() {
    local name=$1 when=$2
    local pid=${PROXY_PID[$name]:-}
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then return 0; fi
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
    loud "$name CRASHED during $when: $(grep -m1 -E 'Fatal error|ALERT|emerg|crash' $(proxy_logs "$name") 2>/dev/null | cut -c1-300)"
    for file in $(proxy_logs "$name"); do
        [ -f "$file" ] && cp "$file" "$file.crash-$(date +%s)"
    done
    CRASHES=$((CRASHES + 1))
    start_proxy "$name" "$BACKEND_PORT"
    wait_ok "$name" 20 || loud "$name does not answer after its restart"
    return 1
}
CRASHES=0

# check_handshakes NAME: a short wrk run per client mode with the shim's handshake log: the ECDSA
# mode must get EC certificates with full handshakes, RSA mode RSA ones, resumed mode resumptions.
check_handshakes() {
    local name=$1 mode log want
    for mode in ecdsa rsa resumed; do
        log=$WORK/logs/handshakes-$name-$mode.txt
        : >"$log"
        BENCH_HANDSHAKE_LOG=$log client_env "$mode" wrk -t1 -c2 -d1s --timeout 5s -H 'Connection: close' \
            "https://mail.contoso.lab:${PROXY_PORT[$name]}/owa/healthcheck.htm" >/dev/null 2>&1 || true
        case $mode in
            ecdsa) want="EC 0" ;;
            rsa) want="RSA 0" ;;
            resumed) want="EC 1" ;;
        esac
        local total matching
        total=$(wc -l <"$log")
        matching=$(grep -c -x "$want" "$log" || true)
        # A resumed run starts with one full handshake per connection; everything else must match.
        if [ "$total" -lt 5 ] || [ $((matching * 100 / total)) -lt 90 ]; then
            die "$name: client mode '$mode' expected handshakes '$want' but got: $(sort "$log" | uniq -c | tr '\n' ' ')"
        fi
    done
    say "check $name: full ECDSA, full RSA and resumed handshakes confirmed"
}

# client_env MODE CMD...: runs a load generator with the shim and the TLS settings of MODE:
#   ecdsa   full handshakes, client accepts only ECDSA signatures (server must use its ECDSA cert)
#   rsa     full handshakes, only RSA-PSS signatures (server must use its RSA cert)
#   resumed session resumption allowed (the generators resume on reconnect)
#   plain   resumption allowed, default signature algorithms
# (rsa_pkcs1_sha256 stays in both lists: it cannot sign a TLS 1.3 handshake, but the lab CA signs the
# leaf certificates with it.)
client_env() {
    local mode=$1; shift
    local conf=$WORK/conf/openssl-client-default.cnf no_resume=0
    case $mode in
        ecdsa) conf=$WORK/conf/openssl-client-ecdsa.cnf; no_resume=1 ;;
        rsa) conf=$WORK/conf/openssl-client-rsa.cnf; no_resume=1 ;;
        resumed | plain) ;;
        *) die "client_env: unknown mode $mode" ;;
    esac
    env LD_PRELOAD="$WORK/benchshim.so" BENCH_RESOLVE_SUFFIX=.contoso.lab BENCH_NO_RESUME=$no_resume \
        OPENSSL_CONF="$conf" "$@"
}

write_client_openssl_confs() {
    local kind sigalgs
    for kind in default ecdsa rsa; do
        case $kind in
            default) sigalgs="" ;;
            ecdsa) sigalgs="ecdsa_secp256r1_sha256:rsa_pkcs1_sha256" ;;
            rsa) sigalgs="rsa_pss_rsae_sha256:rsa_pkcs1_sha256" ;;
        esac
        {
            echo "# Client-side OpenSSL settings for the load generators (written by loadtest/run.sh)."
            echo "openssl_conf = bench_init"
            echo "[bench_init]"
            echo "ssl_conf = bench_ssl"
            echo "[bench_ssl]"
            echo "system_default = bench_defaults"
            echo "[bench_defaults]"
            # No MinProtocol: HAProxy 2.6 serves its ECDSA certificate only to clients that also offer
            # a TLS 1.2 ECDSA cipher suite, as real clients do. TLS 1.3 is negotiated all the same.
            [ -n "$sigalgs" ] && echo "SignatureAlgorithms = $sigalgs"
        } >"$WORK/conf/openssl-client-$kind.cnf"
    done
}
