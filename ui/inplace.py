"""Live charts redrawn in place: while a page trains, its charts keep their element and get new data.

Streamlit gives a ``st.plotly_chart`` a new identity whenever its figure changes, and the browser then
mounts the chart again from scratch. On a training page that happened to every chart 2-3 times a second:
the chart's hover box and zoom were lost on each tick, and the browser spent most of a tick's main-thread
time mounting charts. Here, during a stretch of training, each chart is first drawn as usual and then sent
again unchanged on later ticks (the same figure keeps the same element, which the browser leaves alone),
while one small component per tick carries the new figures and hands them to ``Plotly.react`` on the
charts already on the page. The figures keep Streamlit's theme: the new layout takes the drawn chart's
themed template, size and bold title, and a reader's zoom or pan survives the updates (``uirevision``, set on
the first figure too, and the zoomed axes' ranges, kept on the chart in the page).
Where Streamlit draws such a chart from its first figure again (full screen, a resized window), the latest
figure is put back at once. When training pauses or ends, a full run draws every chart anew.

``ui.live`` draws a training tick inside ``tick(stretch)``, which sends the tick's figures at its end;
``ui.state.plot`` asks ``draw`` to take a chart. Outside a training tick nothing changes.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
from dataclasses import dataclass, field

import plotly.io as pio
import streamlit as st

# Runs in the page (no shadow root: the charts are outside the component). Streamlit's own chart code has
# loaded plotly.js and set window.Plotly by the time a chart is on the page. A chart not on the page yet is
# skipped: its element draws its first figure, and the next tick updates it. A title may be a bare string.
_JS = r"""
function apply(gd, name) {
  const spec = gd.genlabSpec;
  const title = typeof spec.layout.title === "string" ? { text: spec.layout.title } : spec.layout.title;
  // The size Streamlit gave the chart (its column, or full screen); uirevision: a pan or legend click of the
  // reader's survives the updates, and their zoom is put back as they left it.
  const { template, width, height } = gd.layout;
  const layout = { ...spec.layout, template, width, height, uirevision: name };  // as its first figure's
  if (title && title.text) layout.title = { ...title, text: `<b>${title.text}</b>` };  // as Streamlit's theme
  for (const [axis, range] of Object.entries(gd.genlabView)) {
    layout[axis] = { ...layout[axis], range, autorange: false };
  }
  window.Plotly.react(gd, spec.data, layout, gd._context);
}

// The axes the reader has zoomed or panned, with their ranges. uirevision alone lost a zoom now and then
// (one run in six of the browser test: the same chart element came back autoranged after an update).
function remember(gd, names) {
  for (const axis of names) {
    const shown = gd.layout[axis];
    if (shown && shown.autorange === false && shown.range) gd.genlabView[axis] = [...shown.range];
    else delete gd.genlabView[axis];
  }
}

// The axes a layout, or a relayout's keys ("xaxis.range[0]"), name.
const axes = (keys) => new Set(
  Object.keys(keys).map((key) => key.split(".")[0]).filter((key) => /^[xy]axis\d*$/.test(key)));

export default function (component) {
  for (const [name, spec] of Object.entries(JSON.parse(component.data.figures))) {
    const gd = document.querySelector(`.${name} .js-plotly-plot`);
    if (!gd || !gd._fullLayout || !window.Plotly) continue;
    gd.genlabSpec = spec;
    if (!gd.genlabHooked) {
      // Streamlit draws the chart from its first figure again when its size changes (full screen, a
      // resized window): put the latest figure back at once rather than at the next tick.
      gd.genlabHooked = true;
      gd.genlabView = {};
      remember(gd, axes(gd.layout));  // a zoom made before this first update
      gd.on("plotly_relayout", (change) => remember(gd, axes(change)));
      gd.on("plotly_afterplot", () => { if (gd.data !== gd.genlabSpec.data) apply(gd, name); });
    }
    apply(gd, name);
  }
}
"""
_component = st.components.v2.component("genlab_inplace_charts", js=_JS, isolate_styles=False)


@dataclass
class Stretch:
    """The charts of one stretch of training: the figure each was first drawn with, by chart key."""

    first: dict = field(default_factory=dict)
    pending: dict = field(default_factory=dict)  # this tick's new figures (JSON), by the chart's class name


_stretch: contextvars.ContextVar[Stretch | None] = contextvars.ContextVar("genlab_inplace", default=None)


def draw(fig, key: str | None, config: dict, **kwargs) -> bool:
    """Draw ``fig`` as the chart ``key`` of the open stretch: the first time as itself, later as its first
    figure again with ``fig`` queued for ``Plotly.react``. False (nothing drawn) outside a stretch, or for
    a chart that cannot be updated this way (no key, selections, animation frames)."""
    stretch = _stretch.get()
    if stretch is None or not key or kwargs.get("on_select") not in (None, "ignore") or fig.frames:
        return False
    first = stretch.first.setdefault(key, fig)
    if first is fig:  # the same uirevision as the updates: a zoom made before the first update survives it
        fig.layout.uirevision = class_name(key)
    else:
        spec = fig.to_plotly_json()
        spec["layout"].pop("template", None)  # plotly's default; the chart on the page has Streamlit's
        stretch.pending[class_name(key)] = pio.to_json(spec, validate=False, remove_uids=True)
    st.plotly_chart(first, config=config, key=key, **kwargs)
    return True


@contextlib.contextmanager
def tick(stretch: Stretch):
    """Charts drawn inside (in this script thread) belong to ``stretch``; on leaving, this tick's new figures
    are sent to the charts on the page."""
    stretch.pending = {}
    token = _stretch.set(stretch)
    try:
        yield
    finally:
        _stretch.reset(token)
        if stretch.pending:
            figures = "{" + ",".join(f"{json.dumps(name)}:{spec}" for name, spec in stretch.pending.items()) + "}"
            _component(key="genlab-inplace", data={"figures": figures}, height=0)


def class_name(key: str) -> str:
    """The CSS class Streamlit gives the element of a widget or chart with this key."""
    return "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())
