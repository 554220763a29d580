#!/usr/bin/env python3
"""Where one proxied request's instructions go: the per-request profile from two callgrind dumps.

    python3 loadtest/callgrind_diff.py DUMP_N DUMP_2N N [TOP]

DUMP_N and DUMP_2N are the dumps loadtest/callgrind.sh writes for the run of N requests and the run
of 2N requests over one connection each (work/callgrind/out/<proxy>.callgrind.1 and .2 for HTTP/1.1,
.3 and .4 for HTTP/2). Their difference divided by N is the steady-state cost of one request, like
the figure the script reports, but by shared object and by function (self instructions, i.e. not
counting the functions it calls). Swift names are demangled when `swift demangle` is on PATH.
"""
import collections
import shutil
import subprocess
import sys


def self_costs(path):
    """Self Ir by (object, function) in one callgrind dump (positions: line, events: Ir)."""
    names = {"ob": {}, "fn": {}}
    costs = collections.Counter()
    current_ob = current_fn = "???"
    skip_next_cost = False

    def resolve(kind, value):
        value = value.strip()
        if value.startswith("("):
            ident, _, name = value.partition(")")
            ident += ")"
            name = name.strip()
            if name:
                names[kind][ident] = name
            return names[kind].get(ident, ident)
        return value

    with open(path, errors="replace") as f:
        for line in f:
            if not line or line[0] == "\n":
                continue
            first = line[0]
            if first.isdigit() or first in "+-*":
                if skip_next_cost:
                    skip_next_cost = False   # the inclusive cost of the call just named
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    costs[(current_ob, current_fn)] += int(parts[1])
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                current_ob = resolve("ob", value)
            elif key == "fn":
                current_fn = resolve("fn", value)
            elif key == "cob":
                resolve("ob", value)
            elif key == "cfn":
                resolve("fn", value)
            elif key == "calls":
                skip_next_cost = True
    return costs


def demangle(names):
    if not names or not shutil.which("swift"):
        return names
    try:
        out = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(names),
                             capture_output=True, text=True, timeout=60).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return names
    return out if len(out) == len(names) else names


def main():
    if len(sys.argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    one, two, n = self_costs(sys.argv[1]), self_costs(sys.argv[2]), int(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    per = {key: (two.get(key, 0) - one.get(key, 0)) / n for key in set(one) | set(two)}
    total = sum(per.values())
    print(f"instructions per request: {total:,.0f} (self cost, ({sys.argv[2]} - {sys.argv[1]}) / {n})")
    print()
    print("by shared object:")
    by_object = collections.Counter()
    for (ob, _), value in per.items():
        by_object[ob.rsplit("/", 1)[-1]] += value
    for ob, value in by_object.most_common(12):
        print(f"{value:>10,.0f} {value / total * 100:5.1f} %  {ob}")
    print()
    print(f"by function (top {top}):")
    ranked = sorted(per.items(), key=lambda item: -item[1])[:top]
    readable = demangle([fn for (_, fn), _ in ranked])
    for ((ob, _), value), name in zip(ranked, readable):
        print(f"{value:>10,.0f} {value / total * 100:5.1f} %  {name[:150]}  [{ob.rsplit('/', 1)[-1]}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
