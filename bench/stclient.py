"""A minimal Streamlit client at the websocket level: what a browser tab says to the server, without a browser.

A test and load tool, not a product. It speaks Streamlit 1.67's own protocol as the browser's JavaScript does:

- a websocket to ``ws://HOST:PORT/_stcore/stream`` offering the subprotocols ``["streamlit", TOKEN]``; the server
  selects ``streamlit``; the second entry carries the XSRF token (only checked against an auth cookie, which a
  guest has none of: the browser then sends ``PLACEHOLDER_AUTH_TOKEN``, and so does this client);
- binary protobufs both ways: ``BackMsg`` up (``rerun_script``: a ``ClientState`` with the query string, the page
  by ``page_name`` = its URL path on the first run and by ``page_script_hash`` after that, the widget states,
  ``fragment_id`` / ``is_auto_rerun`` for a fragment's timer, and ``cached_message_hashes``), ``ForwardMsg`` down
  (``new_session``, ``navigation``, ``delta``, ``page_info_changed``, ``auto_rerun``, ``script_finished``, ...);
- the browser's message cache: deltas the server marks ``cacheable`` are kept by hash, their hashes go up with
  every rerun, and the server then sends a ``ref_hash`` in place of an unchanged element, which is resolved here;
- ``st.fragment(run_every=...)`` is a timer in the browser: the server sends ``auto_rerun`` (interval, fragment
  id) and the client sends the fragment's rerun on that interval (``setInterval``: a fixed rate), until
  ``stop_auto_rerun``. This client does the same, so a board page polls as it does in a browser.

Everything is asyncio: many sessions share one event loop (``asyncio.gather``). Usage::

    s = Session("http://127.0.0.1:8501")
    await s.open("elbo", "latent=3")      # connect and ask for the page's first run
    await s.wait_finished(60)             # seconds until its run finished (FINISHED_SUCCESSFULLY)
    assert "ELBO" in s.text() and not s.exceptions()
    await s.close()

What it does not do: file uploads, components, the host-config / health requests a browser makes first,
reconnecting, and it keeps widget values only for widgets set through it (a browser also sends the values its
widgets started with; the server falls back to the same defaults when they are absent).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

PLACEHOLDER_TOKEN = "PLACEHOLDER_AUTH_TOKEN"  # what the browser sends as the XSRF entry when it holds no cookie
FINISHED = ForwardMsg.ScriptFinishedStatus
FULL_RUN_ENDS = (FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_WITH_COMPILE_ERROR)
TEXT_FIELDS = ("body", "label", "message", "code_text", "title", "placeholder")


def _arrow_strings(data: bytes) -> list[str]:
    """The cells and column names of an Arrow IPC stream (a dataframe's payload) as strings."""
    try:
        import pyarrow as pa

        table = pa.ipc.open_stream(data).read_all()
    except Exception:  # not Arrow after all: callers still have contains() over the raw bytes
        return []
    out = [str(name) for name in table.column_names]
    for column in table.columns:
        out += [str(v) for v in column.to_pylist() if v is not None]
    return out


def _strings(element) -> list[str]:
    """The human-readable strings of one Element: markdown / heading / alert bodies, labels, dataframe cells."""
    kind = element.WhichOneof("type")
    if kind is None:
        return []
    inner = getattr(element, kind)
    if kind == "dataframe":
        data = inner.arrow_data.data or inner.lazy_data.initial_chunk.data
        return _arrow_strings(data)
    if kind == "plotly_chart":
        return [inner.spec]  # the figure's JSON: titles, axis labels, hover text
    out = []
    for field, value in inner.ListFields():
        if field.name in TEXT_FIELDS and isinstance(value, str) and value:
            out.append(value)
    return out


class Session:
    """One browser tab's worth of Streamlit session, over one websocket.

    ``messages`` keeps every ForwardMsg's raw bytes (``keep_messages=False`` keeps none: a load test with many
    sessions uses ``watch`` instead). ``tree`` maps a delta path to the latest Element drawn there.
    """

    def __init__(self, url: str, *, keep_messages: bool = True, auto_rerun: bool = True):
        parts = urlsplit(url)
        self.ws_url = f"ws://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream"
        self.keep_messages, self.auto_rerun = keep_messages, auto_rerun
        self.messages: list[bytes] = []
        self.tree: dict[tuple[int, ...], object] = {}  # delta path -> Element (blocks are not kept)
        self._drawn_in: dict[tuple[int, ...], int] = {}  # delta path -> the full run that drew it last
        self._run_number = 0
        self.cache: dict[str, ForwardMsg] = {}  # hash -> cacheable message, as the browser's ForwardMsgCache
        self.query = ""
        self.page_name = ""
        self.page_script_hash = ""
        self.widgets: dict[str, object] = {}  # widget id -> value resent with every rerun
        self.page_not_found = False
        self.full_runs = 0  # full script runs finished (successfully or with a compile error)
        self.fragment_runs = 0  # fragment runs finished
        self.fragment_redraws = 0  # ... of which sent at least one delta
        self.early_reruns = 0  # runs cut short by a rerun (st.rerun() in a fragment ends its run so)
        self.last_status: int | None = None
        self.watches: dict[bytes, float | None] = {}  # needle -> time.time() of the first message holding it
        self._pending: set[bytes] = set()  # the watched needles not seen yet
        self.received_bytes = 0
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._timers: dict[str, tuple[float, asyncio.Task]] = {}  # fragment id -> (interval, task)
        self._finished = asyncio.Event()
        self._deltas_this_run = 0
        self._run_started = self._finished_at = 0.0
        self.error: BaseException | None = None

    # --- the websocket -------------------------------------------------------------------------------------

    async def open(self, page: str = "", query: str = "", *, timeout: float = 30.0) -> None:
        """Connect and request the first run of ``page`` (its URL path; "" is the default page)."""
        self._ws = await connect(self.ws_url, subprotocols=["streamlit", PLACEHOLDER_TOKEN], max_size=None,
                                 open_timeout=timeout)
        if self._ws.subprotocol != "streamlit":
            raise ConnectionError(f"the server chose subprotocol {self._ws.subprotocol!r}, not 'streamlit'")
        self._reader = asyncio.create_task(self._read())
        self.page_name, self.query = page, query.lstrip("?")
        await self.rerun()

    async def rerun(self, *, query: str | None = None, widgets: dict[str, object] | None = None,
                    fragment_id: str = "", is_auto_rerun: bool = False) -> None:
        """Ask for a rerun as the browser does: after the first run the page goes by its script hash."""
        if query is not None:
            self.query = query.lstrip("?")
        if widgets:
            self.widgets.update(widgets)
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query
        if self.page_script_hash:
            state.page_script_hash = self.page_script_hash
        else:
            state.page_name = self.page_name
        state.fragment_id = fragment_id
        state.is_auto_rerun = is_auto_rerun
        state.cached_message_hashes.extend(self.cache)
        for widget_id, value in self.widgets.items():
            _set_widget(state.widget_states.widgets.add(), widget_id, value)
        self.widgets = {k: v for k, v in self.widgets.items() if not isinstance(v, Trigger)}  # triggers fire once
        if not fragment_id:
            self._finished.clear()
            self._run_started = time.perf_counter()
        await self._ws.send(msg.SerializeToString())

    async def wait_finished(self, timeout: float = 60.0) -> float:
        """Seconds from the last full rerun request until its run finished; raises TimeoutError, or the reader's
        error (the connection closed)."""
        try:
            await asyncio.wait_for(self._finished.wait(), timeout)
        except TimeoutError:
            if self.error:
                raise ConnectionError(f"the session's websocket failed: {self.error!r}") from self.error
            raise TimeoutError(f"no script_finished within {timeout:.0f} s (page {self.page_name!r})") from None
        if self.error and self.last_status is None:
            raise ConnectionError(f"the session's websocket failed: {self.error!r}") from self.error
        return self._finished_at - self._run_started

    async def close(self) -> None:
        for _, task in self._timers.values():
            task.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass

    # --- widgets -------------------------------------------------------------------------------------------

    def widget_id(self, user_key: str) -> str:
        """The id of the widget drawn with ``key=user_key`` (Streamlit's ids end with ``-<key>``)."""
        for element in self.tree.values():
            kind = element.WhichOneof("type")
            widget_id = getattr(getattr(element, kind), "id", None) if kind else None
            if isinstance(widget_id, str) and (widget_id.endswith(f"-{user_key}") or widget_id == user_key):
                return widget_id
        raise KeyError(f"no widget with key {user_key!r} on the page")

    async def click(self, user_key: str) -> None:
        """Press the button with ``key=user_key``: a rerun carrying its trigger_value."""
        await self.rerun(widgets={self.widget_id(user_key): Trigger()})

    async def set_text(self, user_key: str, value: str) -> None:
        """Type ``value`` into the text input with ``key=user_key`` and rerun, as pressing Enter does."""
        await self.rerun(widgets={self.widget_id(user_key): value})

    # --- what was received ---------------------------------------------------------------------------------

    def text(self) -> str:
        """The strings drawn on the page so far, one element per line, in delta-path order."""
        return "\n".join(s for path in sorted(self.tree) for s in _strings(self.tree[path]))

    @property
    def auto_reruns(self) -> dict[str, float]:
        """The fragments this client reruns on a timer: fragment id -> interval in seconds."""
        return {fragment_id: interval for fragment_id, (interval, _) in self._timers.items()}

    def exceptions(self) -> list[str]:
        """The messages of the exception boxes on the page."""
        return [f"{e.exception.type}: {e.exception.message}" for e in self.tree.values()
                if e.WhichOneof("type") == "exception"]

    def contains(self, needle: bytes | str) -> bool:
        """Whether any message received so far holds ``needle`` (raw bytes: protobuf strings and Arrow cells are
        UTF-8 inside them). Needs ``keep_messages=True``."""
        needle = needle.encode() if isinstance(needle, str) else needle
        return any(needle in raw for raw in self.messages)

    def watch(self, needle: bytes | str) -> None:
        """From now on, note the time.time() of the first message that holds ``needle`` in ``watches``."""
        needle = needle.encode() if isinstance(needle, str) else needle
        self.watches[needle] = None
        self._pending.add(needle)

    # --- the reader ----------------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                now = time.time()
                self.received_bytes += len(raw)
                if self.keep_messages:
                    self.messages.append(raw)
                for needle in [n for n in self._pending if n in raw]:
                    self.watches[needle] = now
                    self._pending.discard(needle)
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                self._handle(msg)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the server closed or the bytes were not a ForwardMsg: wait_finished says so
            self.error = e
        finally:
            self._finished.set()  # nobody waits forever on a dead connection
            self._finished_at = time.perf_counter()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self.cache.get(msg.ref_hash)
            if cached is None:
                raise RuntimeError(f"ref_hash {msg.ref_hash} not in this client's cache")
            resolved = ForwardMsg()
            resolved.CopyFrom(cached)
            resolved.metadata.CopyFrom(msg.metadata)
            msg, kind = resolved, resolved.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash:
            self.cache[msg.hash] = msg
        if kind == "new_session":  # every full run starts with one
            self._run_number += 1
            self.page_script_hash = msg.new_session.page_script_hash or self.page_script_hash
        elif kind == "navigation":
            self.page_script_hash = msg.navigation.page_script_hash or self.page_script_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "page_not_found":
            self.page_not_found = True
        elif kind == "delta":
            self._deltas_this_run += 1
            if msg.delta.WhichOneof("type") == "new_element":
                path = tuple(msg.metadata.delta_path)
                self.tree[path], self._drawn_in[path] = msg.delta.new_element, self._run_number
        elif kind == "auto_rerun" and self.auto_rerun and msg.auto_rerun.fragment_id:
            self._start_timer(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                self._stop_timer(fragment_id)
        elif kind == "script_finished":
            status = msg.script_finished
            if status == FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.fragment_runs += 1
                self.fragment_redraws += self._deltas_this_run > 0
            elif status == FINISHED.FINISHED_EARLY_FOR_RERUN:
                self.early_reruns += 1
            elif status in FULL_RUN_ENDS:
                self.full_runs += 1
                stale = [p for p, n in self._drawn_in.items() if n < self._run_number]  # as the browser clears them
                for path in stale if status == FINISHED.FINISHED_SUCCESSFULLY else ():
                    del self.tree[path], self._drawn_in[path]
                self.last_status = status
                self._finished_at = time.perf_counter()
                self._finished.set()
            self._deltas_this_run = 0

    def _start_timer(self, fragment_id: str, interval: float) -> None:
        if fragment_id in self._timers and self._timers[fragment_id][0] == interval:
            return  # the browser keeps a running timer with the same interval
        self._stop_timer(fragment_id)
        self._timers[fragment_id] = (interval, asyncio.create_task(self._tick(fragment_id, interval)))

    def _stop_timer(self, fragment_id: str) -> None:
        entry = self._timers.pop(fragment_id, None)
        if entry:
            entry[1].cancel()

    async def _tick(self, fragment_id: str, interval: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while True:  # a fixed rate, as setInterval: a slow run does not push the next tick back
            await asyncio.sleep(max(0.0, due - loop.time()))
            due += interval
            try:
                await self.rerun(fragment_id=fragment_id, is_auto_rerun=True)
            except Exception:  # the connection is gone: the reader has recorded why
                return


class Trigger:
    """A button press: sent once as ``trigger_value``, then forgotten."""


def _set_widget(state, widget_id: str, value) -> None:
    state.id = widget_id
    if isinstance(value, Trigger):
        state.trigger_value = True
    elif isinstance(value, bool):
        state.bool_value = value
    elif isinstance(value, int):
        state.int_value = value
    elif isinstance(value, float):
        state.double_value = value
    elif isinstance(value, str):
        state.string_value = value
    else:
        raise TypeError(f"widget value of type {type(value).__name__} is not supported by this client")
