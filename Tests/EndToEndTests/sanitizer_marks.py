"""Running the end-to-end suite against sanitizer builds (`make test-e2e-asan`).

AddressSanitizer makes `gatehouse` and `mailbox-sim` several times slower and doubles or triples their
memory (shadow memory, redzones, the quarantine of freed blocks). Two tools keep the suite honest there:

- `TIME_SCALE` (environment `GATEHOUSE_E2E_TIME_SCALE`, default 1; `make test-e2e-asan` sets it): a
  test whose only sanitizer problem is a client-side wait that the slower proxy overruns multiplies
  that wait by it. Never a bound the proxy itself must keep (a configured timeout, a memory cap).
- `@pytest.mark.sanitizer_sensitive("one-line reason")`: a test that fails under ASan only because of
  its slowdown or memory overhead, with no ASan report, and passes on the plain build: it asserts a
  memory bound or a timing the instrumented build cannot meet. `make test-e2e-asan` deselects these
  (`-m "not sanitizer_sensitive"`) and the summary lists each with its reason; `make test` runs them
  all. A mark without a reason stops the run.
"""
import os

import pytest

SANITIZER_SENSITIVE = "sanitizer_sensitive"
TIME_SCALE = float(os.environ.get("GATEHOUSE_E2E_TIME_SCALE", "1"))
if TIME_SCALE < 1:
    raise ValueError(f"GATEHOUSE_E2E_TIME_SCALE={TIME_SCALE}: a scale below 1 would shorten the suite's waits")

_DESELECTED = pytest.StashKey[list]()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        f"{SANITIZER_SENSITIVE}(reason): fails under AddressSanitizer only because of its slowdown or memory "
        "overhead (no ASan report; passes on the plain build). `make test-e2e-asan` deselects these with "
        f"-m 'not {SANITIZER_SENSITIVE}'; `make test` runs them.")
    config.stash[_DESELECTED] = []


def sanitizer_reason(item):
    """The one-line reason an item's sanitizer_sensitive mark carries; None without the mark."""
    mark = item.get_closest_marker(SANITIZER_SENSITIVE)
    if mark is None:
        return None
    reason = mark.args[0] if mark.args else mark.kwargs.get("reason", "")
    if not reason:
        raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.{SANITIZER_SENSITIVE} needs a one-line reason")
    return reason


def pytest_deselected(items):
    for item in items:
        reason = sanitizer_reason(item)
        if reason is not None:
            item.config.stash[_DESELECTED].append((item.nodeid, reason))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    deselected = config.stash.get(_DESELECTED, [])
    if deselected:
        terminalreporter.section(f"{len(deselected)} deselected as {SANITIZER_SENSITIVE} (ASan overhead, see README)")
        for nodeid, reason in deselected:
            terminalreporter.write_line(f"{nodeid}: {reason}")
