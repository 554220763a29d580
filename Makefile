# Gatehouse — the two commands a new user needs are `make run` and `make test` (see README.md).
# Every target installs what it needs first (deps is idempotent), so a fresh Debian machine works.

SHELL := /bin/bash
SWIFT ?= swift
DEBUG_BIN := .build/debug
RELEASE_BIN := .build/release
# Release builds: Swift's run-time exclusivity checks off in every module, SwiftNIO's and the other
# packages' included (Package.swift can only turn them off for Gatehouse's own modules; for the
# rest it takes this flag on the command line). Measured: about 10 % of the instructions of a proxied
# request (loadtest/README.md). The debug builds that the unit and end-to-end tests run keep them.
SWIFT_RELEASE := $(SWIFT) build -c release -Xswiftc -enforce-exclusivity=unchecked
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

# Debian packages the build, the demo and the tests use.
APT_PACKAGES := pkg-config libssl-dev libnghttp2-dev zlib1g-dev libpsl-dev libpcre2-dev curl openssl nghttp2-client wrk python3 python3-pip testssl.sh
# Python packages the end-to-end tests use (real NTLM and HTTP/2 client libraries, the Prometheus text parser).
PY_MODULES := pytest:pytest spnego:pyspnego requests_ntlm:requests-ntlm h2:h2 requests:requests sslyze:sslyze prometheus_client:prometheus-client
# Only the end-to-end tests need these (test_status_page.py renders the admin status page in headless
# Chromium; test_proxy_protocol.py puts HAProxy in front); `make test` and `make test-e2e` install
# them, `make run` does not.
TEST_APT_PACKAGES := chromium haproxy
# What loadtest/callgrind.sh needs beyond the build (make bench's run.sh installs its own tools).
BENCH_APT_PACKAGES := valgrind nginx nghttp2-client binutils gcc curl python3

.PHONY: all deps deps-test deps-bench build build-release build-release-proxy build-tls-bench-server certs run demo test test-unit clean bench \
        bench-callgrind bench-check bench-baseline bench-upload bench-passthrough format format-check help fuzz fuzz-merge test-fuzz-smoke \
        test-sanitizers test-asan test-tsan test-e2e-asan

all: build

help:
	@echo "make run      build, generate the demo PKI, start the demo (Ctrl-C stops it)"
	@echo "make test     build, generate the demo PKI, run every test and the fuzz smoke pass (BENCH_CHECK=1: and make bench-check)"
	@echo "make build    debug build;  make build-release  release build"
	@echo "make certs    generate the demo PKI into certs-example/ (if absent)"
	@echo "make deps     install missing system and Python packages"
	@echo "make bench    side-by-side load tests against nginx and HAProxy (loadtest/, ~13 min; QUICK=1: ~2 min)"
	@echo "make bench-callgrind  instructions (callgrind) and allocations per proxied request, Gatehouse, nginx and the NIO floor (~3 min)"
	@echo "make bench-check      the same for Gatehouse only; fails if >10 % above loadtest/baseline/callgrind.json"
	@echo "make bench-upload     instructions and allocations per MiB uploaded (request body), Gatehouse and nginx (~5 min)"
	@echo "make bench-passthrough  TLS pass-through CPU per MiB: Gatehouse, HAProxy mode tcp, nginx stream (~2 min)"
	@echo "make bench-baseline   measure and rewrite loadtest/baseline/callgrind.json"
	@echo "make format   format Sources/ and Tests/ with swift-format (.swift-format; the toolchain's own)"
	@echo "make format-check     fail when a file is not formatted or breaks a lint rule (make test runs it)"
	@echo "make fuzz     each libFuzzer target (Tests/Fuzz) for FUZZ_SECONDS (default 600) from its seed corpus;"
	@echo "              findings in FUZZ_OUT (default .build/fuzz-out); FUZZERS=\"FuzzNTLM ...\" runs only those"
	@echo "make fuzz-merge       add to Tests/Fuzz/Corpus what make fuzz found that reaches new coverage (then commit it)"
	@echo "make test-fuzz-smoke  each fuzzer over its seeds plus FUZZ_RUNS (default 1000) inputs (make test runs it)"
	@echo "make test-sanitizers  unit tests under AddressSanitizer and ThreadSanitizer, end-to-end suite against ASan builds"
	@echo "              (parts: make test-asan, make test-tsan, make test-e2e-asan)"
	@echo "make clean    remove build output and generated certificates"

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@missing=""; for pair in $(PY_MODULES); do \
	    mod=$${pair%%:*}; pkg=$${pair##*:}; \
	    python3 -c "import $$mod" 2>/dev/null || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps: pip installing$$missing"; \
	    python3 -m pip install -q --disable-pip-version-check $$missing || \
	    python3 -m pip install -q --disable-pip-version-check --break-system-packages $$missing; \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "deps: Swift 6 toolchain not found on PATH (https://www.swift.org/install/)"; exit 1; }

# Idempotent like deps; only the end-to-end tests need these.
deps-test: deps
	@missing=""; for p in $(TEST_APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps-test: installing$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

# Idempotent like deps; only the benchmark targets need these.
deps-bench:
	@missing=""; for p in $(BENCH_APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps-bench: installing$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: deps
	$(SWIFT) build

build-release: deps
	$(SWIFT_RELEASE)

certs: build
	@bash certs-example/make-demo-pki.sh $(DEBUG_BIN)/gatehouse

run: build-release certs
	$(RELEASE_BIN)/gatehouse demo --config conf/gatehouse.yaml

demo: run

# BENCH_CHECK=1 adds `make bench-check` (instructions and allocations per request against the
# committed baseline). Not by default: the check itself takes about a minute, but it needs the release
# build, which after a change to Sources/ costs several more minutes on 2 cores than the debug build
# the tests use (see loadtest/README.md).
# The fuzz smoke pass costs about 5.5 CPU-minutes for its cold instrumented build (.build/fuzz) and
# about 1.3 for the runs: a few minutes of a fresh clone's `make test` on 2 cores.
# The AddressSanitizer unit pass (test-asan, its own build in .build/asan) measured 5 min 27 s cold
# on the 2 quiet cores (9 CPU-minutes; the 743 tests themselves 63 s), which keeps a fresh clone's
# `make test` near 20 minutes. TSan and the ASan end-to-end run stay out of CI: see test-sanitizers.
test: format-check build certs deps-test
	$(SWIFT) test 2>&1 | tee .build/test.log; exit $${PIPESTATUS[0]}
	python3 -m pytest Tests/EndToEndTests -q -p no:cacheprovider
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-fuzz-smoke
	@$(if $(filter 1,$(BENCH_CHECK)),$(MAKE) --no-print-directory bench-check,true)

test-unit: build certs
	$(SWIFT) test

test-e2e: build certs deps-test
	python3 -m pytest Tests/EndToEndTests -q -p no:cacheprovider

# loadtest/ makes its own certificates with the release gatehouse, so no debug build is needed here.
bench: build-release
	@bash loadtest/run.sh $(if $(QUICK),--quick,)

# Only the two executables loadtest/callgrind.sh runs (the whole release build also makes the benches).
build-release-proxy: deps
	$(SWIFT_RELEASE) --product gatehouse
	$(SWIFT_RELEASE) --product mailbox-sim
	$(MAKE) --no-print-directory build-tls-bench-server

# tls-bench-server alone (loadtest/tls-handshakes.sh and tls-idle-memory.sh), with the same flags as
# every release build, so that building it never makes SwiftPM rebuild the others.
build-tls-bench-server:
	$(SWIFT_RELEASE) --product tls-bench-server

# Counted, not timed: see loadtest/README.md, "Instructions and allocations per request".
bench-callgrind: build-release-proxy deps-bench
	@bash loadtest/callgrind.sh measure

bench-check: build-release-proxy deps-bench
	@bash loadtest/callgrind.sh check

# TLS pass-through by SNI against HAProxy `mode tcp` + req.ssl_sni and nginx `stream` + ssl_preread.
bench-passthrough: build-release-proxy
	@bash loadtest/passthrough.sh 6 256

bench-baseline: build-release-proxy deps-bench
	@bash loadtest/callgrind.sh baseline

bench-upload: build-release-proxy deps-bench
	@bash loadtest/callgrind.sh upload

# libFuzzer targets (Tests/Fuzz: a package of its own, built with -sanitize=fuzzer,address into
# .build/fuzz so the main build never sees them). See README.md, "Fuzzing and sanitizers".
FUZZ_SECONDS ?= 600
FUZZ_RUNS ?= 1000
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash Tests/Fuzz/run.sh fuzz $(FUZZERS)

# Adds what `make fuzz` found that covers more than the seeds to Tests/Fuzz/Corpus (commit it).
fuzz-merge: deps
	bash Tests/Fuzz/run.sh merge $(FUZZERS)

test-fuzz-smoke: deps
	FUZZ_RUNS=$(FUZZ_RUNS) bash Tests/Fuzz/run.sh smoke $(FUZZERS)

# Sanitizer builds, each in a scratch path of its own (a full debug build each: ~26 min cold on 2 busy
# cores for ASan). No XCTest pass (the tests are Swift Testing; XCTest's empty run leaks its own
# suite objects). detect_leaks=0: at exit LeakSanitizer reports the pipelines and pools that tests
# leave to their never-shut-down event loops, not memory errors; use-after-free, overflows and the
# like still abort. The fuzzers check leaks per input.
# ASan reports of the end-to-end run's processes go to files (log_path); any report fails the target.
ASAN_E2E_LOGS := .build/asan-e2e-reports
test-sanitizers: test-asan test-tsan test-e2e-asan

test-asan: deps certs
	ASAN_OPTIONS="detect_leaks=0 $$ASAN_OPTIONS" $(SWIFT) test --sanitize=address --scratch-path .build/asan --disable-xctest

# Suppressions: one justified line each in Tests/tsan-suppressions.txt (never Gatehouse's own races).
test-tsan: deps certs
	TSAN_OPTIONS="suppressions=$(CURDIR)/Tests/tsan-suppressions.txt $$TSAN_OPTIONS" \
	    $(SWIFT) test --sanitize=thread --scratch-path .build/tsan --disable-xctest

# Tests marked sanitizer_sensitive (a memory bound or a timing ASan's overhead breaks, no ASan report)
# are deselected; the summary lists each with its reason. ASAN_TIME_SCALE multiplies the client-side
# waits of the tests that read GATEHOUSE_E2E_TIME_SCALE (Tests/EndToEndTests/sanitizer_marks.py).
# The ASan reports are checked even when a test failed.
ASAN_TIME_SCALE ?= 4
# ASan's freed-memory quarantine (256 MiB by default) is above the memory bounds the tests assert.
ASAN_QUARANTINE_MB ?= 32
test-e2e-asan: deps-test certs
	$(SWIFT) build --sanitize=address --scratch-path .build/asan --product gatehouse
	$(SWIFT) build --sanitize=address --scratch-path .build/asan --product mailbox-sim
	rm -rf $(ASAN_E2E_LOGS) && mkdir -p $(ASAN_E2E_LOGS)
	@status=0; \
	ASAN_OPTIONS="detect_leaks=0 quarantine_size_mb=$(ASAN_QUARANTINE_MB) log_path=$(CURDIR)/$(ASAN_E2E_LOGS)/asan $$ASAN_OPTIONS" GATEHOUSE_BIN_DIR=.build/asan/debug \
	    GATEHOUSE_E2E_TIME_SCALE=$(ASAN_TIME_SCALE) python3 -m pytest Tests/EndToEndTests -q -p no:cacheprovider \
	    --ignore=Tests/EndToEndTests/test_tls_conformance.py -m "not sanitizer_sensitive" || status=$$?; \
	if ls $(ASAN_E2E_LOGS)/asan.* >/dev/null 2>&1; then \
	    echo "AddressSanitizer reports from the end-to-end run:"; head -50 $(ASAN_E2E_LOGS)/asan.*; exit 1; \
	fi; \
	exit $$status

# swift-format ships with the Swift toolchain; its settings are in .swift-format (4-space indent,
# 140 columns, the line breaks a file already has kept). `format-check` is `lint --strict`: it fails on
# a file that `make format` would change and on a broken lint rule, so CI (`make test`) keeps the code
# formatted.
format:
	$(SWIFT) format format --in-place --recursive --parallel Sources Tests Package.swift

format-check:
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests Package.swift

clean:
	rm -rf .build .build-*
	find certs-example -maxdepth 1 \( -name '*.pem' -o -name '*.key' -o -name '*.srl' \) -delete
