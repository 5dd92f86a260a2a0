"""Shared fixtures: small data and tiny models, so every test module stays well under 30 s on 2 cores."""

from __future__ import annotations

import os

import pytest
import torch

from genlib.data import load_dataset
from genlib.models import build

# ------------------------------------------------------------------ two workers (pytest-xdist, pyproject's addopts)

SERIAL = "serial"  # the xdist group of the tests that start a server: one after another, on one worker
LAST = ("tests/test_many_users.py",)  # the most timing-sensitive test: last (it waits for the other worker)


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown where xdist is not loaded
def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: two workers where there are two cores or more (one runs the server tests, one the rest),
    none on one core."""
    return 2 if (os.cpu_count() or 1) >= 2 else 0


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the items
def pytest_collection_modifyitems(config, items):
    """The tests that start a server go to one worker as one group, in order, the ten-users test last. They
    wait on a server and a browser as much as they compute (two cores were ~30 % idle through them), and
    they share a server per module; the unit tests run beside them on the other worker."""
    for item in items:
        if item.get_closest_marker("browser") or "server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(SERIAL))
    items.sort(key=lambda item: item.nodeid.startswith(LAST))  # stable: everything else keeps its order


def pytest_runtest_setup(item):
    """Under xdist, the worker that runs the unit tests takes only the CPU the server tests leave idle
    (Linux's SCHED_IDLE, else niceness 19): their servers and browsers keep the share they have alone. At
    niceness 5 the ten-users test's health answers took 1.54 s while its pages loaded (limit 1 s)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and not item.get_closest_marker("xdist_group"):
        _idle_priority()


def _idle_priority() -> None:
    try:
        if os.sched_getscheduler(0) != os.SCHED_IDLE:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux
        try:
            os.setpriority(os.PRIO_PROCESS, 0, 19)
        except (AttributeError, OSError):
            pass


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    """One torch thread: the test machines are shared, and tiny models gain nothing from more."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """The digits train split (seed 0): 1437 images of 1 x 8 x 8 in [0, 1]."""
    return load_dataset("digits", "train", seed=0)


@pytest.fixture(scope="session")
def digits_test():
    return load_dataset("digits", "test", seed=0)


NATIVE_REQUIRED = os.environ.get("GENLAB_REQUIRE_NATIVE") == "1"  # CI: the compiled kernels must build


def require_native() -> None:
    """Skip where genlib.native's kernels cannot be built here (fail where they are required)."""
    from genlib import native

    if not native.available():
        if NATIVE_REQUIRED:
            pytest.fail(f"the compiled kernels are required (GENLAB_REQUIRE_NATIVE=1) but: {native.reason()}")
        pytest.skip(f"genlib.native is not available: {native.reason()}")


@pytest.fixture(params=[False, True], ids=["tensor-ops", "compiled"])
def compiled(request):
    """Both ways the stack computes its element-wise passes: torch's operations (genlib.native turned off for
    the test), and genlib.native's loops."""
    from genlib import native

    if request.param:
        require_native()
        yield True
    else:
        with native.turned_off():
            yield False


@pytest.fixture
def tiny_vae(digits):
    """A small MLP VAE for digits (latent 4, one hidden layer of 64), freshly built for each test."""
    return build("vae", digits.shape, seed=0, latent_dim=4, hidden=(64,))


@pytest.fixture(autouse=True)
def _fresh_training_slots():
    """Each AppTest is a session of its own: the process-wide count of training sessions (ui.live's cap)
    starts empty for every test, as it would for sessions that ended, instead of after 30 s of staleness."""
    import sys

    live = sys.modules.get("ui.live")
    if live is not None:
        live._training.clear()
    yield


# ------------------------------------------------------------------ fixtures shared by the browser tests


@pytest.fixture(scope="module")
def server():
    """The app on a free loopback port, for one test module."""
    from tests.browser import AppServer, require_browser

    require_browser()
    with AppServer() as s:
        yield s


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    from tests.browser import launch

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser_context(browser):
    """One browser context for a module's tests: its HTTP cache keeps the app's JavaScript and plotly.js
    (about 5 MB) parsed and compiled, as a visitor's browser does from the second page on."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    """A fresh page (its own Streamlit session: one per tab), 1400 x 1000."""
    p = browser_context.new_page()
    p.set_default_timeout(30000)
    yield p
    p.close()


@pytest.fixture(scope="session", autouse=True)
def _private_class_board(tmp_path_factory):
    """The class board (classroom.database_url) is a temporary SQLite file for the whole session, so no test
    ever writes the user's real board."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GENLAB_DATABASE_URL", "sqlite:///" + str(tmp_path_factory.mktemp("classroom") / "classroom.sqlite"))
    yield
    mp.undo()
