# Shared helpers for loadtest/run.sh: logging, processes we started, CPU and memory of a process tree.
# Sourced, not run. Expects WORK (the work directory) to be set.

say()  { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
loud() { printf '[%s] *** %s\n' "$(date -u +%H:%M:%S)" "$*" | tee -a "$WORK/loud.log" >&2; }
die()  { loud "FATAL: $*"; exit 1; }

# Every PID this run started, so cleanup ends exactly those (never by name).
STARTED_PIDS=()

# start_bg LOGFILE CMD...: starts CMD in the background; sets BG_PID.
start_bg() {
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    BG_PID=$!
    STARTED_PIDS+=("$BG_PID")
}

# stop_pid PID [GRACE_SECONDS]: SIGTERM, wait up to GRACE seconds, then SIGKILL. Only our own PIDs.
stop_pid() {
    local pid=$1 grace=${2:-10} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; forget_pid "$pid"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        loud "PID $pid did not stop within ${grace}s of SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}

# forget_pid PID: a stopped PID leaves the list, so cleanup can never signal a reused PID.
forget_pid() {
    local keep=() p
    for p in "${STARTED_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    STARTED_PIDS=("${keep[@]}")
}

stop_all_started() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid" 10
    done
    STARTED_PIDS=()
}

# tree_pids ROOT: ROOT and all its descendants, one per line.
tree_pids() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            keep[root] = 1; print root
            changed = 1
            while (changed) {
                changed = 0
                for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; changed = 1 } }
            }
        }'
}

# cpu_ticks ROOT: utime+stime (clock ticks) of ROOT and every live descendant (all their threads),
# plus ROOT's cutime+cstime (descendants that already exited). From /proc/PID/stat.
cpu_ticks() {
    local root=$1 pid total=0 rest fields
    for pid in $(tree_pids "$root"); do
        [ -r "/proc/$pid/stat" ] || continue
        rest=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        rest=${rest##*) }   # drop "pid (comm) ": comm may hold spaces
        read -r -a fields <<<"$rest"
        # fields[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17 -> indexes 11..14
        total=$((total + fields[11] + fields[12]))
        if [ "$pid" = "$root" ]; then total=$((total + fields[13] + fields[14])); fi
    done
    echo "$total"
}

CLK_TCK=$(getconf CLK_TCK)

# ticks_to_us TICKS: microseconds.
ticks_to_us() { echo $(( $1 * 1000000 / CLK_TCK )); }

# rss_kib ROOT: summed VmRSS (KiB) of ROOT and its descendants.
rss_kib() {
    local pid total=0 value
    for pid in $(tree_pids "$1"); do
        value=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
        total=$((total + ${value:-0}))
    done
    echo "$total"
}

# port_free PORT: true when nothing listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT SECONDS PID: waits until PORT accepts connections; fails if PID dies or time runs out.
wait_port() {
    local port=$1 limit=$2 pid=$3 i
    for ((i = 0; i < limit * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# record SCENARIO PROXY REP KEY VALUE: one measurement into the results table.
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS_TSV"; }

# median of the arguments (numbers); empty when none.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# make_loadtest_certs DIR: the loadtest PKI in DIR with $GATEHOUSE (made only where missing): a root
# CA, the front end's RSA and ECDSA SAN certificates and a wildcard, and the backend's Exchange-style
# self-signed mbx01. run.sh adds an impostor; callgrind.sh uses these as they are.
# made BASE: BASE.pem and BASE.key both exist.
made() { [ -f "$1.pem" ] && [ -f "$1.key" ]; }

make_loadtest_certs() {
    local c=$1
    made "$c/ca" || "$GATEHOUSE" cert new-self-signed --ca --name ca --subject "CN=Gatehouse Loadtest Root CA" --out "$c" --force
    made "$c/mail-ecdsa" || "$GATEHOUSE" cert issue --ca "$c" --name mail-ecdsa --key p256 \
        --dns mail.contoso.lab --dns autodiscover.contoso.lab --out "$c" --force
    made "$c/mail-rsa" || "$GATEHOUSE" cert issue --ca "$c" --name mail-rsa --key rsa2048 \
        --dns mail.contoso.lab --dns autodiscover.contoso.lab --out "$c" --force
    made "$c/wildcard" || "$GATEHOUSE" cert issue --ca "$c" --name wildcard --key rsa2048 \
        --dns '*.contoso.lab' --out "$c" --force
    made "$c/mbx01" || "$GATEHOUSE" cert new-self-signed --name mbx01 --fqdn mbx01.contoso.lab --out "$c" --force
}
