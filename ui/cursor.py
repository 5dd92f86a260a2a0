"""The replay cursor: while a live page replays step k, every chart whose x axis is "step" shows a vertical
line at k over the run's whole length (``ui.live`` sets it around ``draw``; ``ui.state.plot`` marks)."""

from __future__ import annotations

import contextlib
import contextvars

from ui import palette

_cursor: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("genlab_cursor", default=None)


@contextlib.contextmanager
def at(step: int | None, total: int):
    """Charts drawn inside get a cursor at ``step`` on an axis from 0 to ``total`` (none when ``step`` is None)."""
    token = _cursor.set(None if step is None else (int(step), int(total)))
    try:
        yield
    finally:
        _cursor.reset(token)


def step() -> int | None:
    value = _cursor.get()
    return None if value is None else value[0]


def mark(fig) -> None:
    """Add the cursor to ``fig`` if one is set and its x axis is steps."""
    value = _cursor.get()
    if value is None or (fig.layout.xaxis.title.text or "").lower() != "step":
        return
    k, total = value
    fig.add_vline(x=k, line={"color": palette.CURSOR, "width": 2, "dash": "dot"}, annotation_text=f"step {k:,}",
                  annotation_position="top left")
    fig.update_xaxes(range=[0, total])
