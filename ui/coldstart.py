"""A fresh server's first visitors, one import at a time.

Streamlit runs each session's script in a thread of its own, so the first visitors of a fresh server import
the app's packages at the same moment. CPython's import locks then meet in a cycle (one thread inside pandas
waiting for a module another thread is importing, which waits for pandas), and the import system breaks the
cycle by handing one thread a partly initialised module: "partially initialized module 'pandas' has no
attribute 'Series'", or "cannot import name 'tour_panel' from 'ui'", on the page of a student who opened the
link with the rest of the class (seen with 5 Chromium tabs opened at once on a fresh server). ``serial()``
makes those imports take turns: app.py's imports, a page's first run in this process (its imports happen
then) and the background import of torch (``ui.state.preload``). Once every page has run once, nothing waits.
This module imports nothing but ``threading``, so importing it cannot take part in such a cycle.
"""

from __future__ import annotations

import contextlib
import threading

_lock = threading.RLock()
_ran: set[str] = set()  # pages that have run once in this process: their imports are done


@contextlib.contextmanager
def serial(first_run_of: str | None = None):
    """Hold the import turn (with ``first_run_of``: only for that page's first run in this process)."""
    if first_run_of is not None and first_run_of in _ran:
        yield
        return
    with _lock:
        try:
            yield
        finally:
            if first_run_of is not None:
                _ran.add(first_run_of)
