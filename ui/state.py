"""Session state helpers, URL-bound settings and cached (shared, read-only) loaders.

Also what app.py's sidebar offers every page: lecture mode (``lecture_mode``, ``advanced``, ``words``,
bigger figures in ``plot``), the chart download format, the training device (``device``), data sets
including the user's own uploads (``dataset_select``, ``get_dataset``), and shareable links
(``share_url``; ``sanitize_url`` and ``url_notes`` so a link's bad values are refused with a message).
"""

from __future__ import annotations

import importlib
import math
import sys
import threading
import time
from urllib.parse import urlencode

import streamlit as st

from ui import cursor, export, inplace
from ui.coldstart import serial

# torch and genlib are imported where they are used, not here: app.py imports this module, and the home
# page should not wait about a second for torch. ``preload`` imports torch in the background instead.

# The server answers every session (and its health check) from one event-loop thread, which needs the GIL
# that script threads (training, imports) hold between C calls: hand the GIL over every 1 ms, not 5 ms.
sys.setswitchinterval(0.001)

# Every chart's toolbar downloads a PNG at twice the screen resolution.
PLOT_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
FIGURE_FORMATS = ("png", "svg")  # what the chart toolbar's camera button saves (sidebar choice)
LECTURE_FONT, LECTURE_SCALE = 18, 1.3  # lecture mode: figure font size and height factor
UPLOAD_PREFIX = "upload: "  # uploaded sets are offered as "upload: <file name>"


@st.cache_resource(show_spinner=False, max_entries=32)
def cached_dataset(name: str, split: str = "train", seed: int = 0):
    """A built-in dataset, loaded once per process and shared by every session (do not modify it)."""
    from genlib import data

    return data.load_dataset(name, split, seed)


@st.cache_resource(show_spinner="Loading the pretrained model…", max_entries=32)
def cached_pretrained(name: str):
    """A pretrained model shared by every session: read-only (``copy.deepcopy`` it before training)."""
    from genlib import pretrained

    model = pretrained.load(name)
    model.eval()
    model.requires_grad_(False)
    return model


@st.cache_resource(show_spinner="Loading the pretrained runs' timelines…", max_entries=4)
def cached_replay(recipes: tuple[tuple[str, str], ...], data: str, seed: int = 0):
    """(lab, timeline) of pretrained runs (label -> recipe name) read from their shipped timelines
    (``genlib.shipped.replay``), shared by every session and read-only; None where one is not shipped."""
    from genlib import pretrained, shipped

    try:
        timelines = {label: pretrained.load_timeline(recipe) for label, recipe in recipes}
    except pretrained.PretrainedError:
        return None
    models = {label: cached_pretrained(recipe) for label, recipe in recipes}
    steps = sorted(set.intersection(*(set(t[0]) for t in timelines.values())))
    every = max(b - a for a, b in zip(steps, steps[1:], strict=False)) if len(steps) > 1 else 1
    return shipped.replay(models, timelines, cached_dataset(data, "test", seed), eval_every=every, seed=seed)


def pretrained_available(name: str) -> bool:
    from genlib import pretrained

    return name in pretrained.names()


_preloading = threading.Lock()
_preloader: threading.Thread | None = None
_importing = threading.Event()  # set while the preload thread is importing
# The preload waits a little after the first page's run: started at once, torch's import (a second of CPU and
# GIL on 2 cores) delayed home's first paint when home drew a plotly figure. Home draws SVG now, and 0.3 s
# gave the better first visits in `python -m bench pages` (bench/NOTES.md, "The same code, three bench runs").
PRELOAD_DELAY_S = 0.3
# Then, one at a time, what a page's first use would otherwise import on the click's path: scipy.ndimage
# (0.3-0.4 s; the inference lab's modes), pandas' Styler (0.08-0.14 s; the annealing lab's table), and
# torch._dynamo (about 1.9 s; torch's first optimiser: a first Train), which no page's first paint needs
# (tests/test_first_visit_imports.py), so it comes last. A visitor's first run waits for the one import
# under way, so torch._dynamo comes in pieces, each a public module that it imports anyway, in its order:
# sympy 0.3-0.4 s, torch's symbolic shapes 0.15 s, DTensor 0.3 s, FSDP 0.1 s, then torch._dynamo's own
# 0.7 s (a first visit waited up to 2 s for it whole).
LATER_IMPORTS = ("scipy.ndimage", "pandas.io.formats.style", "sympy", "torch.fx.experimental.symbolic_shapes",
                 "torch.distributed.tensor", "torch.distributed.fsdp", "torch._dynamo")


def preload() -> None:
    """Import torch (the one slow import: about a second on 2 cores; genlib's own modules take ms), then
    ``LATER_IMPORTS`` and the build of ``genlib.native``'s loops, in a background thread, once per process,
    a moment after the first page has run, so that the next page that trains or draws a model does not wait
    for them. The thread touches no Streamlit; a page that imports one meanwhile simply waits for the same
    import to finish."""
    global _preloader
    if not _preloading.acquire(blocking=False):
        return

    def work():
        time.sleep(PRELOAD_DELAY_S)
        _importing.set()
        try:
            with serial(background=True):  # not beside a first visitor's imports (ui/coldstart.py)
                import torch  # noqa: F401
        finally:
            _importing.clear()
        for module in LATER_IMPORTS:  # one at a time: a visitor's first run waiting goes first
            if module.startswith("torch.distributed") and not sys.modules["torch"].distributed.is_available():
                continue  # a torch built without it (torch._dynamo then does without it too)
            with serial(background=True):
                importlib.import_module(module)
        with serial(background=True):
            from genlib import native
        native.available()  # builds the stacked step's compiled loops (genlib.native, 0.3 s) before a first Train

    _preloader = threading.Thread(target=work, name="genlab-preload", daemon=True)
    _preloader.start()


def _torch_if_loaded():
    """torch if it is imported (by a page, or by ``preload`` which has finished), else None without waiting."""
    if "torch" not in sys.modules or _importing.is_set():
        return None
    import torch  # already in sys.modules: waits only if another page's thread is still importing it

    return torch


def seed_input(key: str = "seed", label: str = "Seed", container=st) -> int:
    """A URL-bound seed (0 by default). A link's seed beyond any number is dropped, not a crash."""
    sanitize_url(keys=(key,))
    return int(container.number_input(label, min_value=0, max_value=2**31 - 1, value=0, step=1, key=key,
                                      bind="query-params", help="Same seed, same data split, weights and batches."))


def evaluated(slot: str, key, model, data) -> dict:
    """``genlib.metrics.evaluate(model, data)``, once per ``key`` (a run and its step): the session keeps the
    latest under ``slot``, so a page that redraws a paused run does not evaluate it again."""
    from genlib.metrics import evaluate

    cache = st.session_state.setdefault(slot, {})
    if key not in cache:
        cache.clear()
        cache[key] = evaluate(model, data)
    return cache[key]


def lecture_mode() -> bool:
    """True when the lecture-mode toggle in the sidebar is on (bigger type, advanced controls folded away)."""
    return bool(st.session_state.get("lecture", False))


def advanced(label: str = "Advanced settings"):
    """A container for controls a projector audience does not need: folded away in lecture mode."""
    return st.expander(label, expanded=not lecture_mode())


def trained_models() -> dict:
    """Models this session has trained, name -> model (the latent explorer offers them)."""
    return st.session_state.setdefault("trained_models", {})


def words(full: str, short: str) -> str:
    """``short`` in lecture mode (the lecturer talks; the screen shows less), ``full`` otherwise."""
    return short if lecture_mode() else full


def figure_format() -> str:
    value = st.session_state.get("figure_format") or "png"
    return value.lower() if value.lower() in FIGURE_FORMATS else "png"


def plot_config(key: str | None = None) -> dict:
    """The chart toolbar config: the camera button saves a PNG at 2x, or an SVG, named after the chart."""
    config = {"displaylogo": False, "toImageButtonOptions": {"format": figure_format(), "scale": 2}}
    if key:
        config["toImageButtonOptions"]["filename"] = f"genlab-{key}"
    return config


def plot(fig, key: str | None = None, **kwargs):
    """Draw a plotly figure with genlab's chart config (2x PNG or SVG from the toolbar), follow the
    light/dark theme, enlarge it in lecture mode, and keep it for the page's HTML export."""
    if lecture_mode():  # larger fonts, and margins that grow to hold them (see figures.curve_layout)
        fig.update_layout(font={"size": LECTURE_FONT}, title_font_size=LECTURE_FONT + 4, margin_autoexpand=True,
                          legend_font_size=LECTURE_FONT)
        # Streamlit's theme sizes tick labels and axis titles itself, below the figure's font: set them too.
        for axes in (fig.update_xaxes, fig.update_yaxes):
            axes(tickfont_size=LECTURE_FONT, title_font_size=LECTURE_FONT)
        if fig.layout.height:
            fig.update_layout(height=int(fig.layout.height * LECTURE_SCALE))
    if lecture_mode():  # the projector: thicker lines
        fig.update_traces(selector={"type": "scatter"}, line_width=3)
    cursor.mark(fig)  # replaying a live run: a line at the step shown
    export.collect(fig, key)
    kwargs.setdefault("theme", "streamlit")
    config = plot_config(key)
    if inplace.draw(fig, key, config, **kwargs):  # a training tick: the chart is updated in place
        chart = None
    else:
        chart = st.plotly_chart(fig, config=config, key=key, **kwargs)
    if show_numbers():
        _numbers(fig, key)
    return chart


def picture(fig, key: str | None = None) -> None:
    """Draw a line chart (``figures.line_chart``) as inline SVG (``ui.svg``): no plotly.js to wait for, for a
    page's first paint. Like ``plot``, it is larger in lecture mode, kept for the page's export, and its
    numbers shown under it when asked; it has no toolbar or hover values."""
    from ui.svg import line_svg

    lecture = lecture_mode()
    height = int((fig.layout.height or 280) * LECTURE_SCALE) if lecture else None
    export.collect(fig, key)
    with st.container(key=key):  # a <div> first: Markdown passes the whole block on as HTML
        st.markdown(f"<div>{line_svg(fig, LECTURE_FONT if lecture else 12, height)}</div>", unsafe_allow_html=True)
    if show_numbers():
        _numbers(fig, key)


def show_numbers() -> bool:
    """True when the sidebar's "Chart numbers" toggle is on: each chart gets its numbers as a table."""
    return bool(st.session_state.get("numbers", False))


def _numbers(fig, key: str | None) -> None:
    from ui.figures import figure_table

    title = (fig.layout.title.text or "this chart").strip() or "this chart"
    with st.expander(f"Numbers: {title}", icon=":material/table:"):
        table = figure_table(fig)
        if table.empty:
            st.caption("This chart draws no numbers.")
        else:
            st.dataframe(table, key=f"numbers-{key}" if key else None, height=240)


def show_error(exc: BaseException, context: str = "") -> None:
    """Turn an exception into one clear message on the page (never a traceback)."""
    message = str(exc).strip() or type(exc).__name__
    st.error(f"{context}{message}", icon="⚠️")


# ---------------------------------------------------------------------------------------- device


def device_choices() -> list[str]:
    """"cpu", plus "cuda" where a GPU is present. Asked only once torch is loaded: every page that trains
    imports it before the sidebar is drawn, and the home page need not wait for it to offer no choice."""
    torch = _torch_if_loaded()
    return ["cpu", "cuda"] if torch is not None and torch.cuda.is_available() else ["cpu"]


def device_select(container=st) -> None:
    """The sidebar's device choice; drawn only where CUDA is available (CPU stays the default)."""
    if len(device_choices()) > 1:
        container.radio("Train on", device_choices(), key="device", horizontal=True,
                        help="Where Train runs, and where the trained model is evaluated and drawn. "
                             "Pretrained models stay on the CPU.")


def device() -> str:
    """The device training runs on: "cpu" (default) or "cuda" when chosen and available."""
    value = st.session_state.get("device", "cpu")
    return value if value in device_choices() else "cpu"


# ------------------------------------------------------------------------------ data sets and uploads


def uploads() -> dict:
    """This session's uploaded data sets, "upload: <name>" -> genlib.uploads.Upload."""
    return st.session_state.setdefault("uploads", {})


def add_upload(upload) -> str:
    """Keep an uploaded set in this session; returns the name pages offer it under."""
    name = UPLOAD_PREFIX + upload.name
    uploads()[name] = upload
    st.session_state.pop("upload_splits", None)  # a re-upload under the same name replaces its splits
    return name


def dataset_select(key: str = "data", allowed=None, label: str = "Data", container=st,
                   help: str | None = None) -> str:
    """A data set picker: the built-in ``allowed`` names (all image sets by default; bound to the URL) and,
    where the page takes images, this session's uploads. Read the choice with ``get_dataset``."""
    from genlib.data import IMAGE_SETS

    allowed = IMAGE_SETS if allowed is None else allowed
    options = list(allowed)
    if any(name in IMAGE_SETS for name in allowed):
        options += list(uploads())
    return container.selectbox(label, options, key=key, bind="query-params",
                               help=help or "Built-in sets, and your own from the Your data page.")


def get_dataset(name: str, split: str = "train", seed: int = 0):
    """The Dataset for a name from ``dataset_select``: a shared built-in set, or this session's upload."""
    if not name.startswith(UPLOAD_PREFIX):
        return cached_dataset(name, split, seed)
    if name not in uploads():
        raise ValueError(f"'{name}' is not in this session any more: upload it again on the Your data page.")
    splits = st.session_state.setdefault("upload_splits", {})
    if (name, split, seed) not in splits:
        splits[(name, split, seed)] = uploads()[name].split(split, seed)
    return splits[(name, split, seed)]


# ---------------------------------------------------------------------------------- shareable links


def _query_params_store():
    """Streamlit's QueryParams object for this session (private API: None if it is not reachable)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        return get_script_run_ctx().session_state._state.query_params
    except Exception:  # noqa: BLE001 - outside a run, or Streamlit changed its internals
        return None


def _infinite(value) -> bool:
    values = value if isinstance(value, list) else [value]
    for v in values:
        try:
            if math.isinf(float(v)):
                return True
        except (TypeError, ValueError):
            pass
    return False


def sanitize_url(keys=None) -> list[str]:
    """Drop URL values no widget can read and Streamlit would crash on (numbers beyond a float, such as
    a seed of 400 nines: its int parser raises OverflowError). Returns one note per dropped value."""
    qp = _query_params_store()
    if qp is None:
        return []
    notes = []
    try:
        for key, value in list(qp._initial_query_params.items()):
            if (keys is None or key in keys) and _infinite(value):
                del qp._initial_query_params[key]
                qp._query_params.pop(key, None)
                notes.append(f"{key} = {_short(value)} (not a usable number)")
        if notes:
            qp._send_query_param_msg()
    except Exception:  # noqa: BLE001 - private API changed: leave the URL alone
        return []
    return notes


def seed_settings(settings: dict, reset: set | frozenset = frozenset()) -> bool:
    """Open this run's page with ``settings`` (URL key -> value) as if a link had carried them, and the keys
    in ``reset`` at their defaults. Call before the page draws its widgets: each bound widget then reads
    its value through Streamlit's own parsing and limits, as from any link. False if Streamlit's private
    query-parameter state is not reachable (nothing changed then)."""
    qp = _query_params_store()
    if qp is None:
        return False
    try:
        for key in set(reset) | set(settings):
            st.session_state.pop(key, None)  # a widget with no state is seeded from the URL
            qp._initial_query_params.pop(key, None)
            qp._query_params.pop(key, None)
        for key, value in settings.items():
            values = [_url_text(v) for v in value] if isinstance(value, list) else [_url_text(value)]
            qp._initial_query_params[key] = values
            qp._query_params[key] = values if isinstance(value, list) else values[0]
        qp._send_query_param_msg()
    except Exception:  # noqa: BLE001 - private API changed
        return False
    return True


def _url_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def bound_settings() -> dict:
    """The URL-bound widgets drawn in this run: key -> (value as the URL writes it, the default's)."""
    qp = _query_params_store()
    if qp is None:
        return {}
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        from streamlit.runtime.state.query_params import _coerce_value_for_query_url

        ctx = get_script_run_ctx()
        state, drawn = ctx.session_state._state, ctx.shared.widget_ids_this_run.snapshot()
        out = {}
        for key, binding in qp._bindings_by_param.items():
            meta = state._new_widget_state.widget_metadata.get(binding.widget_id)
            if meta is None or binding.widget_id not in drawn:
                continue
            value, default = state[binding.widget_id], meta.deserializer(None)
            out[key] = (_coerce_value_for_query_url(meta.serializer(value), binding.value_type),
                        _coerce_value_for_query_url(meta.serializer(default), binding.value_type))
        return out
    except Exception:  # noqa: BLE001 - private API changed: fall back to the URL as it is
        return {}


def share_query() -> dict:
    """The query parameters that reopen this view: every bound setting that differs from its default."""
    settings = bound_settings()
    if not settings:
        return st.query_params.to_dict()
    carried = {k: st.query_params[k] for k in ("tour", "stop", "embed", "hide") if k in st.query_params}
    return {**{key: value for key, (value, default) in settings.items() if value != default}, **carried}


def share_url(url_path: str = "") -> str:
    """The link to this page with its current settings (absolute where the browser told us its address)."""
    base = (st.context.url or "").rstrip("/")
    if url_path and base.endswith("/" + url_path):  # the browser's address includes the page's path
        base = base[: -len(url_path) - 1]
    query = urlencode(share_query(), doseq=True)
    return f"{base}/{url_path}" + (f"?{query}" if query else "")


def asked_settings() -> dict:
    """The link's query parameters as it asked for them (read before any widget takes them): a key given
    several times, as a multiselect's values are, keeps all its values."""
    return {key: values if len(values) > 1 else values[0]
            for key in st.query_params for values in [st.query_params.get_all(key)]}


def url_notes(asked: dict) -> list[str]:
    """Compare what the link asked for (``asked``: the query params before the page ran) with what the
    page's widgets took: one note per value refused or corrected (out of range, not an option, garbage)."""
    notes = []
    for key, (value, default) in bound_settings().items():
        if key not in asked:
            continue
        wanted = asked[key]
        if _same(wanted, value):
            continue
        taken = "its default" if value == default else _short(value)
        notes.append(f"{key} = {_short(wanted)} (not allowed here: using {taken})")
    return notes


def _same(a, b) -> bool:
    a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        try:
            if float(x) != float(y):
                return False
        except ValueError:
            if str(x).lower() != str(y).lower():
                return False
    return True


def _short(value) -> str:
    text = ",".join(value) if isinstance(value, list) else str(value)
    return text if len(text) <= 24 else text[:20] + "…"

