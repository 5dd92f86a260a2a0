"""AppTest for the latent space page: opens on a pretrained model, reads a scatter selection, offers the
session's own models, shows MIG for sprites, and turns bad input into messages."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from genlib import latent
from ui.figures_latent import selected_indices

ROOT = Path(__file__).resolve().parent.parent
ZOO = latent.explorable_pretrained()


def page(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "20_latent_space.py"), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    return at


def charts(at: AppTest) -> dict:
    """Chart key -> its plotly spec (the key ends the element id)."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def array(value) -> np.ndarray:
    """A plotly array from a figure spec: a list, or a typed array {"dtype", "bdata"} (base64)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def needs(name: str):
    return pytest.mark.skipif(name not in ZOO, reason=f"pretrained {name} not built")


def test_the_selection_handler_reads_example_indices_from_customdata():
    event = {"selection": {"points": [{"customdata": 4}, {"customdata": [9]}, {"customdata": 4}, {"x": 1}],
                           "point_indices": [0, 1, 2, 3], "box": [], "lasso": []}}
    assert selected_indices(event) == [4, 9]
    assert selected_indices(event["selection"]) == [4, 9]
    assert selected_indices(event, limit=5) == [4], "indices beyond the data (an old selection) are dropped"
    assert selected_indices(None) == [] and selected_indices({"selection": {"points": []}}) == []


@needs("vae-2d-digits")
def test_page_opens_on_a_pretrained_2d_model_with_every_view():
    at = page(model="vae-2d-digits").run()
    assert not at.exception and not at.error
    shown = charts(at)
    assert {"scatter", "traversals", "manifold", "interpolation", "norms"} <= set(shown)
    scatter = shown["scatter"]
    indices = np.concatenate([array(t["customdata"]) for t in scatter["data"]])
    assert sorted(indices.tolist()) == list(range(359)), "every digits test code is plotted, with its index"
    assert any("Select points" in i.value for i in at.info)
    assert any(r"\Omega" in x.value for x in at.latex), "the slerp formula is shown"


@needs("vae-2d-digits")
def test_a_selection_on_the_scatter_shows_reconstructions_and_sets_the_interpolation():
    at = page(model="vae-2d-digits").run()
    at.session_state["scatter"] = {"selection": {"points": [{"customdata": 5}, {"customdata": 7}],
                                                 "point_indices": [0, 1], "box": [], "lasso": []}}
    at.run()
    assert not at.exception
    recons = charts(at)["recons"]
    assert "reconstructions" in recons["layout"]["title"]["text"]
    assert any("2 selected" in c.value for c in at.caption)
    assert any(s.value == "Interpolation from example 5 to example 7" for s in at.subheader)


@needs("vae-sprites")
def test_sprites_show_the_factor_matrix_and_mig():
    at = page(model="vae-sprites", projection="t-SNE", colour="rotation").run()
    assert not at.exception and not at.error
    assert at.radio(key="projection").value == "tsne"
    assert set(at.selectbox(key="colour").options) == {"label", "scale", "rotation", "x", "y"}
    mig = next(m for m in at.metric if m.label.startswith("MIG"))
    assert 0 <= float(mig.value) <= 1
    mi = charts(at)["mi"]["data"][0]
    assert mi["x"] == ["shape", "scale", "rotation", "x", "y"] and len(mi["y"]) == 6


def test_a_model_trained_in_this_session_is_offered_first(tiny_vae):
    at = page()
    at.session_state["trained_models"] = {"my VAE": tiny_vae}
    at.run()
    assert not at.exception and not at.error
    assert at.selectbox(key="model").options[0] == "my VAE"
    at.selectbox(key="model").set_value("my VAE").run()
    assert not at.exception and not at.error
    assert "(4-D μ)" in charts(at)["scatter"]["layout"]["title"]["text"]


@needs("vae-2d-digits")
def test_umap_without_umap_learn_is_a_message_and_pca_is_shown_instead():
    if latent_umap_available():
        pytest.skip("umap-learn is installed")
    at = page(model="vae-2d-digits", projection="UMAP").run()
    assert not at.exception
    assert any("umap-learn" in e.value for e in at.error)
    assert charts(at)["scatter"]["layout"]["title"]["text"].endswith("PCA")


def test_garbage_in_the_url_is_ignored_not_a_traceback():
    at = page(model="no-such-model", projection="nope", steps="999", a="-4", range="abc").run()
    assert not at.exception


def latent_umap_available() -> bool:
    from genlib.projections import available

    return available("umap")
