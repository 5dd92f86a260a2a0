"""``python -m bench [NAME ...]``: run the benchmarks (all modules of this package by default), print one table."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    chosen = argv or names()
    unknown = sorted(set(chosen) - set(names()))
    if unknown:
        sys.stderr.write(f"bench: error: no benchmark {', '.join(unknown)}; choose from {', '.join(names())}\n")
        return 2
    rows = []
    for name in chosen:
        start = time.perf_counter()
        sys.stderr.write(f"running {name} ...\n")
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            sys.stderr.write(f"  {name} has no run(): run it as a script\n")
            continue
        try:
            rows += module.run()
        except Exception as e:  # one broken bench still leaves the others' figures
            rows.append({"bench": name, "figure": "FAILED", "value": type(e).__name__, "note": str(e)[:100]})
        sys.stderr.write(f"  {name} took {time.perf_counter() - start:.0f} s\n")
    print(bench.table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
