"""One step, dissected, as an HTML panel: the chain x → μ, σ → ε → z → reconstruction → terms → gradients →
update, left to right. In slow motion each stage lights up in turn (a CSS animation with staggered
delays, replayed whenever a new step's panel replaces the last). No streamlit here; numbers in, HTML out.

The numbers come from ``genlib.dissect.summary``: plain floats and numpy arrays.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

STAGE_S = 0.11  # slow motion: seconds between two stages lighting up
SHOWN_EXAMPLES, SHOWN_DIMS = 4, 8  # rows and columns of the μ, σ, ε, z tables

_CSS = """<style>
@keyframes genlab-light { 0% { background: rgba(255, 196, 0, 0.55); } 100% { background: transparent; } }
.genlab-chain { display: flex; flex-wrap: wrap; gap: 0.5rem; font-size: 0.85rem; }
.genlab-stage { border: 1px solid rgba(128, 128, 128, 0.35); border-radius: 0.4rem; padding: 0.35rem 0.5rem; }
.genlab-stage h5 { margin: 0 0 0.25rem 0; font-size: 0.85rem; }
.genlab-stage table { border-collapse: collapse; }
.genlab-stage td, .genlab-stage th { padding: 0 0.3rem; text-align: right; font-variant-numeric: tabular-nums; }
.genlab-stage img { width: 28px; height: 28px; image-rendering: pixelated; margin: 1px; }
.genlab-animate .genlab-stage { animation: genlab-light 0.6s ease-out both; }
</style>"""


def _png(image: np.ndarray) -> str:
    """An image (C x H x W or H x W, values in [0, 1]) as a PNG data URI."""
    from PIL import Image

    array = np.asarray(image, dtype=np.float64)
    if array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else np.moveaxis(array[:3], 0, -1)
    pixels = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _images_or_numbers(batch: np.ndarray) -> str:
    if batch.ndim >= 3:  # images
        return "".join(f'<img src="{_png(image)}" alt="example {i + 1}">' for i, image in enumerate(batch))
    return _table(batch[:SHOWN_EXAMPLES])


def _table(rows: np.ndarray, header: list[str] | None = None) -> str:
    rows = np.asarray(rows)[:, :SHOWN_DIMS]
    head = "" if header is None else "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{v:+.2f}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>{head}{body}</table>"


def _stage(title: str, body: str, index: int, animate: bool) -> str:
    delay = f' style="animation-delay: {index * STAGE_S:.2f}s"' if animate else ""
    return f'<div class="genlab-stage"{delay}><h5>{html.escape(title)}</h5>{body}</div>'


def _rows(pairs) -> str:
    return "<table>" + "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th><td>{v}</td></tr>"
                               for k, v in pairs) + "</table>"


def dissection_html(summary: dict, *, unit: str = "nats", animate: bool = False) -> str:
    """The panel of one dissected step (``genlib.dissect.summary``)."""
    stages: list[tuple[str, str]] = []
    chain = summary.get("chain")
    if chain is not None:
        dims = [f"z{i}" for i in range(min(SHOWN_DIMS, chain["mu"].shape[1]))]
        stages += [
            ("batch x", _images_or_numbers(chain["x"])),
            ("encoder: μ(x)", _table(chain["mu"][:SHOWN_EXAMPLES], dims)),
            ("encoder: σ(x)", _table(chain["sigma"][:SHOWN_EXAMPLES], dims)),
            ("noise ε ~ N(0, I)", _table(chain["eps"][:SHOWN_EXAMPLES], dims)),
            ("z = μ + σ·ε", _table(chain["z"][:SHOWN_EXAMPLES], dims)),
            ("decoder: reconstruction", _images_or_numbers(chain["recon"])),
        ]
    terms, parts = summary["terms"], summary["parts"]
    values = [(name, f"{value:.3f}") for name, value in parts.items()]
    if "beta" in terms:
        values.insert(1 if "recon" in parts else 0, ("β(t)", f"{terms['beta']:.3f}"))
    if "kl" in terms and "KL" not in parts:
        values.append(("KL (unweighted)", f"{terms['kl']:.3f}"))
    values.append(("loss", f"<b>{terms['loss']:.3f}</b>"))
    stages.append((f"loss terms ({unit}, batch means)", _rows(values)))
    per_dim = summary["per_dim"].get("kl_per_dim")
    if per_dim is not None:
        stages.append(("KL per dimension", _rows((f"z{i}", f"{v:.3f}") for i, v in enumerate(per_dim))))
    norms = summary["grad_norms"]
    modules = list(next(iter(norms.values())))
    grads = "<table><tr><th></th>" + "".join(f"<th>{html.escape(m)}</th>" for m in modules) + "</tr>"
    grads += "".join(f"<tr><th style='text-align:left'>∇ {html.escape(part)}</th>"
                     + "".join(f"<td>{norms[part][m]:.3g}</td>" for m in modules) + "</tr>" for part in norms)
    stages.append(("gradient norm ‖∇θ term‖", grads + "</table>"))
    if summary["update"]:
        stages.append(("update per layer ‖Δθ‖", _rows((k, f"{v:.2e}") for k, v in summary["update"].items())))
    body = "".join(_stage(title, content, i, animate) for i, (title, content) in enumerate(stages))
    classes = "genlab-chain genlab-animate" if animate else "genlab-chain"
    return f'{_CSS}<div class="{classes}">{body}</div>'
