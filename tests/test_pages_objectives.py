"""AppTest: the Objectives, MMD playground and Adversarial autoencoder pages, with a few live-training ticks."""


from streamlit.testing.v1 import AppTest

from tests.apptest import open_page as page
from tests.apptest import progress_step as _step


def _metrics(at: AppTest) -> dict:
    return {m.label: float(m.value) for m in at.metric}


# ----------------------------------------------------------------------------------------- MMD playground


def test_mmd_playground_shows_both_estimates_and_the_kernel_matrix():
    at = page("45_mmd_playground.py").run()
    assert not at.exception and not at.error
    metrics = _metrics(at)
    assert metrics["MMD² biased"] > metrics["MMD² unbiased"]
    assert len(at.get("plotly_chart")) == 3  # clouds, kernel matrix, bandwidth curve
    assert r"\widehat{\mathrm{MMD}}^2_u" in " ".join(x.value for x in at.latex)


def test_mmd_playground_grows_with_the_shift():
    near = _metrics(page("45_mmd_playground.py", shift="0.0", kernel="rbf").run())["MMD² unbiased"]
    far = _metrics(page("45_mmd_playground.py", shift="3.0", kernel="rbf").run())["MMD² unbiased"]
    assert far > near + 0.1, (near, far)


# ----------------------------------------------------------------------------------------- objectives


def test_objectives_page_opens_on_the_pretrained_models():
    at = page("40_objectives.py").run()
    assert not at.exception and not at.error
    assert any("pretrained" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 6  # five code plots and the reconstructions
    table = at.dataframe[0].value
    assert list(table["model"]) == ["VAE", "β-VAE", "InfoVAE", "MMD-VAE", "AAE"]
    collapsed = table.set_index("model")["I(x; z) (nats)"]
    assert collapsed["β-VAE"] < 1.0 < collapsed["VAE"], "β = 4 collapses a 2-D code on digits"
    assert r"(\alpha+\lambda-1)" in " ".join(x.value for x in at.latex)


def test_objectives_page_rejects_a_negative_mmd_weight_with_a_message():
    at = page("40_objectives.py", alpha="-1.0", **{"lambda": "1.0"}).run()
    assert not at.exception
    assert any("MMD weight negative" in e.value for e in at.error)
    at.multiselect(key="models").set_value([]).run()
    assert not at.exception and any("at least one model" in w.value for w in at.warning)


def test_objectives_page_trains_live_and_draws_the_three_curves():
    at = page("40_objectives.py", models=["VAE", "MMD-VAE"], steps="300").run()
    assert not at.exception
    at.button(key="objectives-train").click().run()
    assert not at.exception and not at.error
    first = _step(at)
    at.run()
    assert _step(at) > first
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) == 3 + 2 + 1  # KL, MMD and MI curves; two code plots; reconstructions


# ----------------------------------------------------------------------------------------- AAE


def test_aae_page_opens_on_the_pretrained_mixture_and_trains_live():
    at = page("48_adversarial_autoencoder.py", steps="500").run()
    assert not at.exception and not at.error
    assert any("pretrained" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) == 3  # decision surface, codes over the prior, samples
    at.button(key="aae-train").click().run()
    assert len(at.get("plotly_chart")) == 5, "the loss charts are there, empty, from the start"
    first = _step(at)
    at.run()
    assert not at.exception and _step(at) > first
    assert len(at.get("plotly_chart")) == 5  # and both loss charts
    at.button(key="aae-pause").click().run()
    paused = _step(at)
    at.run()
    assert _step(at) == paused


def test_aae_page_on_a_toy_prior_starts_untrained():
    at = page("48_adversarial_autoencoder.py", prior="pinwheel", encoder="stochastic").run()
    assert not at.exception and not at.error
    assert any("untrained" in i.value for i in at.info)
