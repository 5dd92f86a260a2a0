"""A fresh server's first visitors, one import at a time.

Streamlit runs each session's script in a thread of its own, so the first visitors of a fresh server import
the app's packages at the same moment. CPython's import locks then meet in a cycle (one thread inside pandas
waiting for a module another thread is importing, which waits for pandas), and the import system breaks the
cycle by handing one thread a partly initialised module: "partially initialized module 'pandas' has no
attribute 'Series'", or "cannot import name 'tour_panel' from 'ui'", on the page of a student who opened the
link with the rest of the class (seen with 5 Chromium tabs opened at once on a fresh server). ``serial()``
makes those imports take turns: app.py's imports, a page's first run in this process (its imports happen
then) and the background import of torch (``ui.state.preload``). Once every page has run once, nothing waits.
This module imports nothing but ``os``, ``sys``, ``threading`` and ``time`` at its top, so importing it
cannot take part in such a cycle.

Those imports only go through app.py if the session's run does. Streamlit treats an app with a ``pages/``
folder as a v1 multipage app until app.py has called ``st.navigation``: the first visitors of a fresh server
who open a deep link (/class_board?class=...) have their page run alone, without app.py: without its
sidebar, its ``?class=`` join, and without ``serial`` (30 websocket sessions opening the board at once: 29
of them failed on "cannot import name 'board_panels' from 'ui'"). So every page calls ``through_app()``
before its other imports: in v1 mode it leaves it and restarts the run, which then goes through app.py.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

_lock = threading.RLock()
_ran: set[str] = set()  # pages that have run once in this process: their imports are done
_waiting = [0]  # visitors' runs waiting for the turn: background imports let them go first
_count = threading.Lock()


@contextlib.contextmanager
def serial(first_run_of: str | None = None, *, background: bool = False, script: str | None = None):
    """Hold the import turn (with ``first_run_of``: only for that page's first run in this process). A
    ``background`` holder (``ui.state.preload``) takes its turn only when no visitor's run is waiting, so a
    page waits at most for the one background import under way, not for all of them. ``script``: the page's
    file; a first run whose script's imports are all imported already (``imports_done``: Tours, after
    app.py's) has none of its own to make, and takes no turn: it does not wait for a background import."""
    if first_run_of is not None and (first_run_of in _ran or (script is not None and imports_done(script))):
        yield
        return
    if background:
        while _waiting[0]:
            time.sleep(0.02)
    else:
        with _count:
            _waiting[0] += 1
    try:
        _lock.acquire()
    finally:
        if not background:
            with _count:
                _waiting[0] -= 1
    try:
        yield
    finally:
        _lock.release()
        if first_run_of is not None:
            _ran.add(first_run_of)


_imports_of: dict[str, tuple] = {}  # script -> what it imports: (module, names from it)


def imports_done(script: str) -> bool:
    """Whether every module the file ``script`` imports, anywhere in it, is imported already in this
    process (relative imports count as not done). What its code calls may still import lazily."""
    if script not in _imports_of:
        import ast  # here, not at the top: see the module's docstring

        with open(script, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        found = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((node.module if node.level == 0 else None, tuple(a.name for a in node.names)))
        _imports_of[script] = tuple(found)
    for module, names in _imports_of[script]:
        if module is None or module not in sys.modules:
            return False
        if not all(f"{module}.{n}" in sys.modules or hasattr(sys.modules[module], n) for n in names):
            return False
    return True


def through_app() -> None:
    """Restart a run that Streamlit's v1 multipage mode gave to a page alone, so that it goes through app.py
    (call first on every page, before its imports). Nothing happens where app.py is running, or in a test
    that runs a page on its own (the page is then the main script).

    The run is read from the call stack, not from ``PagesManager.uses_pages_directory``: that flag is the
    process's, and another session's app.py clears it while this run is on its way to the page (six tabs
    opened at once on a fresh server: the latent space page ran alone in two runs of three)."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:  # Streamlit moved them: nothing to repair, and no page may fail on it
        return
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    main = os.path.abspath(ctx.pages_manager.main_script_path)
    frame = sys._getframe(1)
    while frame is not None:
        if os.path.abspath(frame.f_code.co_filename) == main:
            return  # app.py runs this page (or the page is the main script)
        frame = frame.f_back
    import streamlit as st

    PagesManager.uses_pages_directory = False  # as app.py's st.navigation would set it
    st.rerun()
