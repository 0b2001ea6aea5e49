"""Compare two runs of one benchmark (``--json`` files), as pyperf's compare_to does: each figure's
median before and after with their ratio, and each judged ratio with its verdict before and after.

    python benchmarks/compare.py BEFORE.json AFTER.json
"""

from __future__ import annotations

import argparse
import sys

from _results import load


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    before, after = load(args.before), load(args.after)
    if before["benchmark"] != after["benchmark"]:
        print(f"not the same benchmark: {before['benchmark']} and {after['benchmark']}")
        return 2
    print(f"{before['benchmark']}: {before['commit']} -> {after['commit']}")
    if before["machine"] != after["machine"]:
        print(f"measured on different machines, so the ratios below mix machine and change:\n  before: "
              f"{before['machine']}\n  after:  {after['machine']}")
    if before["arguments"] != after["arguments"]:
        print(f"with different arguments: {before['arguments']} -> {after['arguments']}")
    print(f"\n{'figure':<44}{'before':>12}{'after':>12}{'after/before':>14}")
    for name in sorted(before["measured"].keys() | after["measured"].keys()):
        a, b = before["measured"].get(name), after["measured"].get(name)
        if a is None or b is None:
            print(f"{name:<44}{'-' if a is None else format(a['median'], '.4g'):>12}"
                  f"{'-' if b is None else format(b['median'], '.4g'):>12}{'only one':>14}")
            continue
        change = b["median"] / a["median"] if a["median"] else float("nan")
        print(f"{name:<44}{a['median']:>12.4g}{b['median']:>12.4g}{change:>14.3f}  {a['unit']}")
    print(f"\n{'ratio':<44}{'before':>12}{'after':>12}  required")
    for name in sorted(before["ratios"].keys() | after["ratios"].keys()):
        a, b = before["ratios"].get(name), after["ratios"].get(name)
        shown = [("-" if r is None else f"{r['value']:.3f} {'ok' if r['ok'] else 'FAIL'}") for r in (a, b)]
        print(f"{name:<44}{shown[0]:>12}{shown[1]:>12}  {(a or b)['required']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
