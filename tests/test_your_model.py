"""The Your data page loads a checkpoint a user trained before, checked as the CLI checks it; and the home page's
title icon needs no emoji font."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from genlib import checkpoints
from genlib.models import build
from genlib.train import TrainingRun

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "90_your_data.py")


@pytest.fixture(scope="module")
def trained(digits) -> bytes:
    model = build("vae", digits.shape, seed=0, latent_dim=3, hidden=(32,))
    TrainingRun(model, digits, steps=30, batch_size=64).advance(30)
    return checkpoints.to_bytes(model, data="digits", extra={"data_seed": 0})


def _page():
    return AppTest.from_file(PAGE, default_timeout=60).run()


def test_a_good_checkpoint_is_loaded_scored_and_sampled(trained):
    at = _page()
    at.file_uploader(key="checkpoint").upload("mine.safetensors", trained).run()
    assert not at.exception and not at.error
    assert any("Loaded **vae**" in s.value and "trained on digits" in s.value for s in at.success)
    elbo = next(m for m in at.metric if m.label.startswith("elbo on digits"))
    assert float(elbo.value) < 0
    assert at.get("plotly_chart"), "samples of the model are drawn"


def test_a_checkpoint_of_another_shape_says_which_set_to_pick(tmp_path):
    model = build("vae", (2,), seed=0, latent_dim=2, hidden=(16,), likelihood="gaussian")
    at = _page()
    at.file_uploader(key="checkpoint").upload("moons.safetensors", checkpoints.to_bytes(model, data="moons")).run()
    assert not at.exception and any("shape (2,)" in i.value for i in at.info)


def _bad(trained: bytes, kind: str, tmp_path) -> bytes:
    if kind == "truncated":
        return trained[: len(trained) // 2]
    if kind == "pickle":
        return b"\x80\x04\x95" + b"\0" * 64
    path = tmp_path / "good.safetensors"
    path.write_bytes(trained)
    meta = checkpoints.read_meta(path)
    weights = {k: v.contiguous() for k, v in checkpoints.load(path).state_dict().items()}
    meta["config"] = {**meta["config"], **{"huge": {"latent_dim": 10**9}, "list": {"hidden": {"a": 1}}}[kind]}
    out = tmp_path / "bad.safetensors"
    save_file(weights, str(out), metadata={checkpoints.META_KEY: json.dumps(meta)})
    return out.read_bytes()


@pytest.mark.parametrize("kind, fragment", [("truncated", "not a readable safetensors checkpoint"),
                                            ("pickle", "not a readable safetensors checkpoint"),
                                            ("huge", "sizes run from 0"),
                                            ("list", "config.hidden is a JSON object")])
def test_a_bad_checkpoint_is_one_sentence_naming_the_file(trained, kind, fragment, tmp_path):
    at = _page()
    at.file_uploader(key="checkpoint").upload("mine.safetensors", _bad(trained, kind, tmp_path)).run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("mine.safetensors") and fragment in at.error[0].value
    assert "/tmp" not in at.error[0].value


def test_the_home_title_uses_a_material_icon_not_an_emoji():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()  # the home page, under the router
    assert not at.exception
    title = next(t.value for t in at.title if "genlab" in t.value)
    assert title.startswith(":material/") and "genlab" in title
    assert all(ord(c) < 0x2000 for c in title), "no emoji: they need an emoji font to render"
