"""The class board inside the app: the class this browser session joined, and posting a run to it.

A lecturer opens a class on the Class board page and gets a short code; students join with it there, or by
any link that carries ``?class=CODE``. Once a session has joined, every live page offers **Post to the class
board** under a run that has trained (paused or finished): the student's chosen name, the page, its
settings (the URL-bound ones, as a shared link would carry them), the seed and the run's metrics measured
on held-out data. Storage is ``classroom`` (SQLAlchemy); one ``Board`` per process. Every failure of the
board (a bad code, a limit, the database out of reach) is a sentence on the page, never a traceback.
"""

from __future__ import annotations

import secrets

import streamlit as st

from ui import export

_CODE, _KEYS, _SESSION, _NAME, _POSTED = "board::code", "board::keys", "board::session", "board::name", "board::posted"
EVAL_EXAMPLES, EVAL_SAMPLES = 500, 10  # a post's metrics: this many held-out examples, importance samples


@st.cache_resource(show_spinner=False)
def store():
    """The process's ``classroom.Board`` (its database: GENLAB_DATABASE_URL, else a SQLite file)."""
    from classroom import Board

    return Board()


def attempt(action, *args, **kwargs):
    """``(result, None)``, or ``(None, sentence)`` when the board refuses or its database cannot be reached."""
    from classroom import BoardError

    try:
        return action(*args, **kwargs), None
    except BoardError as e:
        return None, str(e)
    except Exception as e:  # noqa: BLE001 - SQLAlchemy's errors: the database is down or full
        return None, f"The class board's database cannot be used right now ({type(e).__name__}). Try again soon."


def session_token() -> str:
    """This browser session's opaque id on the board: its own posts are the ones it may remove."""
    return st.session_state.setdefault(_SESSION, secrets.token_urlsafe(16))


def joined() -> str | None:
    """The code of the class this session joined, or None."""
    return st.session_state.get(_CODE)


def join(code: str) -> str | None:
    """Join the class ``code``; None, or why not."""
    info, error = attempt(store().info, code)
    if error:
        return error
    st.session_state[_CODE] = info.code
    return None


def leave() -> None:
    st.session_state.pop(_CODE, None)


def open_class(title: str, passphrase: str | None) -> str | None:
    """Open a class with this session as its lecturer (and join it); None, or why not."""
    made, error = attempt(store().open_class, title, passphrase or None)
    if error:
        return error
    code, key = made
    st.session_state.setdefault(_KEYS, {})[code] = key
    st.session_state[_CODE] = code
    return None


def claim(code: str, passphrase: str) -> str | None:
    """Become the lecturer of ``code`` in this session with the class's passphrase; None, or why not."""
    key, error = attempt(store().lecturer_key, code, passphrase)
    if error:
        return error
    st.session_state.setdefault(_KEYS, {})[code] = key
    return None


def lecturer_key(code: str | None) -> str | None:
    """The lecturer key this session holds for ``code``, if it opened or claimed the class."""
    return (st.session_state.get(_KEYS) or {}).get(code) if code else None


def from_link() -> None:
    """Join the class a link names (``?class=CODE``, on any page); a bad code is said once."""
    code = st.query_params.get("class")
    if not code or code.strip().upper() == joined() or st.session_state.get("board::link-tried") == code:
        return
    st.session_state["board::link-tried"] = code
    error = join(code)
    if error:
        st.toast(f"This link's class: {error}", icon="⚠️")


BOARD_PAGE = "pages/85_class_board.py"


def link_to_board(container, label: str, **kwargs) -> None:
    """A link to the Class board page that keeps this session (a page run on its own, as in a test, has no
    navigation: the link is then plain text)."""
    from streamlit.errors import StreamlitPageNotFoundError

    try:
        container.page_link(BOARD_PAGE, label=label, icon=":material/groups:", **kwargs)
    except StreamlitPageNotFoundError:
        container.caption(label)


def sidebar_badge(container) -> None:
    code = joined()
    if code:
        link_to_board(container, f"Class {code}",
                      help="The class board of the class you joined: post runs from any live page.")


# ------------------------------------------------------------------------------------------ posting


def _setting(text):
    """A URL-bound setting as the URL writes it -> a number where it is one (so the board can plot it)."""
    if isinstance(text, list):  # a slider's value travels as a list of one
        return _setting(text[0]) if len(text) == 1 else [_setting(t) for t in text]
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except (TypeError, ValueError):
            pass
    return text


def page_settings() -> dict:
    """This page's URL-bound settings in this (full) run: name -> value."""
    from ui.state import bound_settings

    return {key: _setting(value) for key, (value, _) in bound_settings().items()
            if key not in ("lecture", "numbers", "class")}


def run_metrics(run, heldout=None) -> dict:
    """A run's metrics for the board, nats per example, on ``heldout`` (else the test split of its built-in
    data, else its own training data): ELBO, reconstruction, KL, active units, MI; for an autoregressive
    model (no latent), its exact log-likelihood as the ELBO."""
    from genlib.data import NAMES
    from genlib.metrics import evaluate
    from ui.state import cached_dataset

    base = getattr(run, "run", run)  # a ProbedRun wraps its TrainingRun
    data = heldout
    name = getattr(getattr(base, "dataset", None), "name", None)
    if data is None and name in NAMES:
        data = cached_dataset(name, "test", int(getattr(base, "seed", 0)))
    if data is None:
        data = base.dataset
    m = evaluate(run.model, data, k=EVAL_SAMPLES, max_examples=EVAL_EXAMPLES)
    if "elbo" not in m:
        return {"elbo": -m["nll"], "steps": int(run.step)}
    return {"elbo": m["elbo"], "recon": m["recon"], "kl": m["kl"], "active_units": int(m["active_units"]),
            "mutual_information": m.get("mutual_information"), "steps": int(run.step)}


def _members(runs: dict):
    """(name, run, held-out data) for every model of a page's runs (a lock-step group's members each)."""
    from ui.downloads import models_of_runs

    for name, run in runs.items():
        heldout = getattr(run, "heldout", None)
        for sub, member in models_of_runs({name: run}):
            yield sub, member, heldout


def _post(key: str, runs: dict, settings: dict) -> None:
    code, name = joined(), st.session_state.get(f"{key}-board-name", "").strip()
    st.session_state[_NAME] = name
    members = {label: (run, heldout) for label, run, heldout in _members(runs)}
    chosen = st.session_state.get(f"{key}-board-run") or next(iter(members))
    run, heldout = members[chosen]
    try:
        metrics = run_metrics(run, heldout)
    except Exception as e:  # noqa: BLE001 - a model the metrics do not know: a sentence, not a traceback
        st.session_state[_POSTED] = (key, None, f"This run's metrics could not be measured ({e}): it was not posted.")
        return
    run_settings = {**settings, **({"run": chosen} if len(members) > 1 else {})}
    seed = int(getattr(run, "run", run).seed)  # a ProbedRun wraps its TrainingRun
    post_id, error = attempt(store().post, code, author=name, session=session_token(), page=export.page_title(),
                             settings=run_settings, seed=seed, metrics=metrics)
    st.session_state[_POSTED] = (key, post_id, error)


def post_panel(key: str, runs: dict | None, settings: dict) -> None:
    """**Post to the class board** for this page's trained runs, when this session has joined a class."""
    code = joined()
    members = [label for label, run, _ in _members(runs or {}) if run.step > 0]
    if not code or not members:
        return
    with st.expander(f"Post to the class board (class {code})", icon=":material/groups:"):
        with st.container(horizontal=True, vertical_alignment="bottom"):
            name_key = f"{key}-board-name"
            if name_key not in st.session_state:
                st.session_state[name_key] = st.session_state.get(_NAME, "")
            st.text_input("Your name on the board", key=name_key, max_chars=40,
                          placeholder="a name your class will see")
            if len(members) > 1:
                st.selectbox("Run", members, key=f"{key}-board-run")
            st.button("Post", key=f"{key}-board-post", icon=":material/send:", on_click=_post,
                      args=(key, runs, settings), help="Your name, this page's settings and seed, and the run's "
                                                       "metrics on held-out data go to the board")
        posted = st.session_state.get(_POSTED)
        if posted and posted[0] == key:
            _, post_id, error = posted
            if error:
                st.warning(error)
            else:
                st.success(f"Posted as #{post_id} to class {code}.")
                link_to_board(st, "See it on the class board")
