"""Helpers shared by the AppTest page tests."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def open_page(name: str, **params) -> AppTest:
    """An AppTest of ``name`` (a path from the repo root, or a file name in pages/) with URL ``params``."""
    path = ROOT / name if (ROOT / name).exists() else ROOT / "pages" / name
    at = AppTest.from_file(str(path), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def progress_step(at: AppTest) -> int:
    """The step count shown by the live-training progress bar ("step 1,234 of 2,000 — ...")."""
    text = next(p.proto.text for p in at.get("progress"))
    return int(text.split()[1].replace(",", ""))
