"""The Class board page's panels: the lobby (join or open a class), the live board, the lecturer's and the
student's tools. Storage is ``classroom`` through ``ui.board``; figures are ``ui.figures_board``.

The board refreshes itself: a small fragment asks the database every ``POLL_S`` seconds for the class's
version (one query per ``VERSION_TTL_S`` for the whole process, shared through a cache), and only when it
changed does the page draw again, so a room of idle sessions costs little. Each redraw is a full run of the
page (~25 ms of a core with 86 posts on 2 cores, ~55 ms with 420), and a busy class changes the board at
every poll: with 100 students posting every 20 s on average, every session wanted a redraw at every poll
(50 a second), the server fell behind and its health endpoint stopped answering within 5 s
(``python -m bench.board_load --students 100``). So the process allows itself about ``REDRAWS_PER_S`` board
redraws a second, all sessions together, shared fairly: a session looks (and redraws) once every
``redraw_interval()`` seconds: the sessions watching a board in this process over ``REDRAWS_PER_S``, and at
least ``POLL_S``. A large room sees a post a few seconds later instead of the server stalling. (A token
bucket shared by all sessions capped the redraws too, but starved some: the p95 of a post's arrival was 52 s;
and each look is a script run on a thread that the server's event loop starts and waits for: at 50 looks a
second, with the GIL contended, the health endpoint waited seconds behind those starts.)
"""

from __future__ import annotations

import threading
import time

import streamlit as st

from ui import board, figures_board
from ui.state import plot, words

POLL_S = 2.0  # seconds between two looks at the class's version
VERSION_TTL_S = 0.5  # the sessions of one process share one version query per this many seconds
REDRAWS_PER_S = 6.0  # board redraws a process allows itself a second (~0.3-0.4 of a core), all sessions


_watching: dict[str, float] = {}  # session -> when it last looked at a board (this process)
WATCHING_S = 30.0  # a session that has not looked for this long has closed its tab
_watching_lock = threading.Lock()


def redraw_interval(session: str) -> float:
    """Seconds between two looks of a session at its board: the sessions watching a board in this process
    (those that looked within ``WATCHING_S``; ``session`` looks now) over the process's redraw budget, and at
    least ``POLL_S``."""
    now = time.monotonic()
    with _watching_lock:
        _watching[session] = now
        for other, last in list(_watching.items()):
            if now - last > WATCHING_S:
                del _watching[other]
        watchers = len(_watching)
    return max(POLL_S, watchers / REDRAWS_PER_S)


@st.cache_data(ttl=VERSION_TTL_S, show_spinner=False, max_entries=512)
def _version(code: str) -> int:
    return board.store().version(code)


@st.cache_resource(show_spinner=False, max_entries=128)  # shared, not copied: posts are frozen and never changed
def _posts(code: str, version: int, include_hidden: bool) -> tuple:
    return tuple(board.store().posts(code, include_hidden=include_hidden))


def lobby() -> None:
    """Join a class by its code, or open one as its lecturer."""
    join_col, open_col = st.columns(2, gap="large")
    with join_col:
        st.subheader("Join a class")
        st.text_input("Class code", key="board-join-code", max_chars=12, placeholder="K7PQ2M",
                      help="The six letters and digits your lecturer shows")
        if st.button("Join", key="board-join", type="primary", icon=":material/login:"):
            error = board.join(st.session_state.get("board-join-code", ""))
            if error:
                st.error(error)
            else:
                st.rerun()
    with open_col:
        st.subheader("Open a class")
        st.text_input("Title", key="board-open-title", max_chars=80, placeholder="Lecture 7: the ELBO")
        st.text_input("Lecturer passphrase (optional)", key="board-open-pass", type="password", max_chars=128,
                      help="Lets you manage the board from another browser too")
        if st.button("Open the class", key="board-open", icon=":material/add:"):
            error = board.open_class(st.session_state.get("board-open-title", ""),
                                     st.session_state.get("board-open-pass", ""))
            if error:
                st.error(error)
            else:
                st.rerun()
    st.caption(words("A class collects the runs its students post from any live page: train, then open **Post to "
                     "the class board** under the figures. Everyone sees the whole class's results here, live.",
                     "Students post runs from any live page; all appear here, live."))


def header(code: str, info) -> None:
    from ui.state import share_url

    closed = " · closed" if info.closed else ""
    st.subheader(f"{info.title} · class {code}{closed}")
    base = share_url("class_board").split("?")[0]
    with st.container(horizontal=True, vertical_alignment="center"):
        st.code(f"{base}?class={code}", language=None)
        if st.button("Leave this class", key="board-leave", icon=":material/logout:"):
            board.leave()
            st.rerun()


def live_board(code: str) -> None:
    """The board, redrawn whenever the class's posts change."""
    lecturer = board.lecturer_key(code) is not None
    seen = _version(code)
    posts = _posts(code, seen, lecturer)
    draw(code, posts, lecturer)

    @st.fragment(run_every=redraw_interval(board.session_token()))  # a busy process: each turn comes less often
    def poll():
        redraw_interval(board.session_token())  # still watching
        try:
            changed = _version(code) != seen
        except Exception:  # noqa: BLE001 - the database is away for a moment: look again next time
            changed = False
        if changed:
            st.rerun()

    poll()


def draw(code: str, posts: list, lecturer: bool) -> None:
    visible = [p for p in posts if not p.hidden]
    mine = {p.id for p in posts if p.by(board.session_token())}
    if not posts:
        st.info("No runs posted yet. On any live page, train a model, then open **Post to the class board**.")
        return
    hidden = len(posts) - len(visible)
    st.caption(f"{len(visible)} runs posted" + (f", {hidden} hidden" if hidden else "") +
               ". Nats per example, on held-out data; your own posts are diamonds.")
    labels = {figures_board.label(p): p for p in posts}
    pair = st.multiselect("Compare two posts side by side", list(labels), max_selections=2, key="board-pair")
    picked = tuple(labels[name].id for name in pair)
    left, right = st.columns(2)
    with left:
        plot(figures_board.rate_distortion(visible, mine=mine, picked=picked), key="board-rd")
    with right:
        values = figures_board.setting_values(visible)
        if values:
            names = list(values)
            default = next((n for n in ("beta", "run", "schedule", "latent_dim") if n in values), names[0])
            setting = st.selectbox("Against the setting", names, index=names.index(default), key="board-against")
            metric = st.selectbox("Metric", list(figures_board.METRICS)[:5], key="board-metric",
                                  format_func=figures_board.METRICS.get)
            plot(figures_board.against(visible, setting, metric), key="board-against-chart")
        else:
            st.caption("Once two posts share a setting, it is drawn against the ELBO here.")
    if len(pair) == 2:
        st.dataframe(figures_board.side_by_side(labels[pair[0]], labels[pair[1]]), width="stretch")
    st.dataframe(figures_board.table(posts if lecturer else visible, lecturer=lecturer), hide_index=True,
                 width="stretch", key="board-table")
    tools(code, posts, mine, lecturer)


def _act(action, *args, **kwargs) -> None:
    _, error = board.attempt(action, *args, **kwargs)
    st.session_state["board::said"] = error
    _version.clear()  # this session sees its own change at once, not after the shared version's lifetime


def tools(code: str, posts: list, mine: set, lecturer: bool) -> None:
    """Remove one's own posts; the lecturer hides, removes and closes."""
    store, key = board.store(), board.lecturer_key(code)
    own = [p for p in posts if p.id in mine]
    names = {figures_board.label(p): p.id for p in (posts if lecturer else own)}
    said = st.session_state.pop("board::said", None)
    if said:
        st.warning(said)
    if not names and not lecturer:
        return
    with st.expander("Lecturer" if lecturer else "Your posts", icon=":material/tune:"):
        chosen = st.selectbox("Post", list(names), key="board-post-pick")
        with st.container(horizontal=True):
            if lecturer and chosen:
                hidden = next(p.hidden for p in posts if p.id == names[chosen])
                st.button("Show" if hidden else "Hide", key="board-hide", on_click=_act,
                          args=(store.hide, code, names[chosen], key, not hidden))
            if chosen:
                st.button("Remove", key="board-remove", on_click=_act, args=(store.remove, code, names[chosen]),
                          kwargs={"lecturer_key": key} if lecturer else {"session": board.session_token()})
            if lecturer:
                st.button("Close the class", key="board-close", on_click=_act, args=(store.close, code, key),
                          help="No more posts; the board stays readable")


def claim(code: str) -> None:
    """The lecturer of this class, in another browser: the passphrase gives the controls."""
    if board.lecturer_key(code):
        return
    with st.expander("I am this class's lecturer", icon=":material/key:"):
        st.text_input("Lecturer passphrase", type="password", key="board-claim-pass", max_chars=128)
        if st.button("Manage this class", key="board-claim"):
            error = board.claim(code, st.session_state.get("board-claim-pass", ""))
            if error:
                st.error(error)
            else:
                st.rerun()
