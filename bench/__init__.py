"""Benchmarks that print figures measured side by side in one run (see DESIGN.md, Performance).

Each module here has ``run() -> list[dict]``: rows with ``bench``, ``figure``, ``value`` and ``note``.
``python -m bench`` runs every module and prints one table; ``python -m bench NAME ...`` runs some.
Each bench keeps to about a minute on 2 CPU cores.
"""

from __future__ import annotations


def table(rows: list[dict]) -> str:
    """Rows as a plain-text table with aligned columns."""
    header = ("bench", "figure", "value", "note")
    cells = [header] + [tuple(str(r.get(k, "")) for k in header) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(header))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
