#!/usr/bin/env bash
# Builds and runs Gatehouse's libFuzzer targets (this folder's package; see README.md, "Fuzzing").
#
#   Tests/Fuzz/run.sh build          build every fuzzer (libFuzzer + AddressSanitizer, -Onone) into .build/fuzz
#   Tests/Fuzz/run.sh smoke          each fuzzer over its seed corpus, then FUZZ_RUNS more inputs (default 1000)
#   Tests/Fuzz/run.sh fuzz           each fuzzer for FUZZ_SECONDS (default 600), one after the other, from an
#                                    optimised build (-O, still with ASan) in .build/fuzz-opt
#   Tests/Fuzz/run.sh fuzz FuzzNTLM  only the fuzzers named
#   Tests/Fuzz/run.sh merge          after `fuzz`: adds to each seed corpus the inputs of FUZZ_OUT/<fuzzer>/corpus
#                                    that reach coverage the seeds do not (libFuzzer -merge=1, -O build);
#                                    the seeds already there are kept, so commit what it adds
#
# Seeds are read from Tests/Fuzz/Corpus/<fuzzer>/ and never written: new inputs go to
# FUZZ_OUT/<fuzzer>/corpus (default .build/fuzz-out), crashing inputs to FUZZ_OUT/<fuzzer>/ as
# crash-*, leak-*, timeout-* (reproduce one with `.build/fuzz/debug/<fuzzer> <file>`).
# The last lines are one summary line per fuzzer: executions, coverage (cov: edges, ft: features),
# corpus size and the result. Exits non-zero when any fuzzer found something.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=Tests/Fuzz
SCRATCH=${FUZZ_SCRATCH:-.build/fuzz}
# Extra swiftc flags of the build: none for the smoke pass (-Onone keeps assert() and builds fastest);
# `fuzz` sets -O, since a long run is worth more executions per second (FuzzNTLM: from about 20 to
# thousands) and -O keeps every precondition the targets check.
OPTIMISE=()
OUT=${FUZZ_OUT:-.build/fuzz-out}
SWIFT=${SWIFT:-swift}
mode=${1:-smoke}
shift || true

# The fuzzers are the package's executable targets, one folder each under Sources/.
all_fuzzers() { (cd "$HERE/Sources" && ls -d Fuzz* | sort); }

build() {
    # The fuzz package resolves exactly the versions the main package pins.
    cp Package.resolved "$HERE/Package.resolved"
    local start=$SECONDS
    # -c debug either way: the targets reach internal APIs with @testable import, which needs
    # SwiftPM's testing-enabled debug configuration; -O on top of it optimises the code.
    "$SWIFT" build --package-path "$HERE" --scratch-path "$SCRATCH" -c debug \
        -Xswiftc -sanitize=fuzzer,address "${OPTIMISE[@]}"
    echo "fuzz: built in $((SECONDS - start)) s"
}

# A trap (a broken invariant) prints its message; the Swift runtime's own backtracer is switched off
# because it trips AddressSanitizer while it reads the crashed process's stack.
export SWIFT_BACKTRACE=enable=no

# run <fuzzer> <libFuzzer options...>: one fuzzer over its seeds; appends its summary line.
run() {
    local name=$1; shift
    local dir="$OUT/$name"
    mkdir -p "$dir/corpus"
    local log="$dir/fuzz.log"
    local status=0
    # Leak checking stays on: a leak per input is a finding like a crash.
    "$ROOT/$SCRATCH/debug/$name" "$dir/corpus" "$HERE/Corpus/$name" \
        -artifact_prefix="$dir/" -print_final_stats=1 -timeout=20 "$@" >"$log" 2>&1 || status=$?
    local execs cov ft units result
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    units=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    if [ "$status" = 0 ]; then result=ok; else result="FOUND SOMETHING (exit $status; see $log)"; fi
    printf '%-18s executions %-9s cov %-6s ft %-7s corpus %-6s %s\n' \
        "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${units:-?}" "$result" | tee -a "$OUT/summary.txt"
    if [ "$status" != 0 ]; then
        grep -E 'ERROR|Fatal error|precondition|SUMMARY' "$log" | head -5 || true
        return 1
    fi
}

run_all() {
    local fuzzers=("$@")
    [ ${#fuzzers[@]} -gt 0 ] || mapfile -t fuzzers < <(all_fuzzers)
    mkdir -p "$OUT"
    : >"$OUT/summary.txt"
    local failed=0
    for name in "${fuzzers[@]}"; do
        run "$name" "${OPTIONS[@]}" || failed=1
    done
    echo "--- libFuzzer summary (logs in $OUT/<fuzzer>/fuzz.log)"
    cat "$OUT/summary.txt"
    return $failed
}

case "$mode" in
    build)
        build ;;
    smoke)
        build
        OPTIONS=(-runs="${FUZZ_RUNS:-1000}" -seed=1)
        OUT=${FUZZ_OUT:-.build/fuzz-smoke}
        rm -rf "$OUT"
        run_all "$@" ;;
    fuzz)
        SCRATCH=${FUZZ_SCRATCH:-.build/fuzz-opt}
        OPTIMISE=(-Xswiftc -O)
        build
        OPTIONS=(-max_total_time="${FUZZ_SECONDS:-600}")
        run_all "$@" ;;
    merge)
        SCRATCH=${FUZZ_SCRATCH:-.build/fuzz-opt}
        OPTIMISE=(-Xswiftc -O)
        build
        fuzzers=("$@")
        [ ${#fuzzers[@]} -gt 0 ] || mapfile -t fuzzers < <(all_fuzzers)
        for name in "${fuzzers[@]}"; do
            [ -d "$OUT/$name/corpus" ] || { echo "$name: no $OUT/$name/corpus (run \`$0 fuzz\` first)"; continue; }
            seeds="$HERE/Corpus/$name"
            before=$(ls "$seeds" | wc -l)
            "$ROOT/$SCRATCH/debug/$name" -merge=1 "$seeds" "$OUT/$name/corpus" >"$OUT/$name/merge.log" 2>&1 ||
                { echo "$name: merge failed, see $OUT/$name/merge.log"; exit 1; }
            echo "$name: $before seeds, $(($(ls "$seeds" | wc -l) - before)) added"
        done ;;
    *)
        echo "usage: $0 build | smoke [fuzzer...] | fuzz [fuzzer...] | merge [fuzzer...]" >&2
        exit 2 ;;
esac
