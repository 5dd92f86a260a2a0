"""AppTest: the Annealing lab and Posterior collapse pages: pretrained views, bad input, live ticks of several runs."""


from genlib import annealing
from tests.apptest import open_page as page
from tests.apptest import progress_step as _step

LAB, COLLAPSE = "30_annealing_lab.py", "35_posterior_collapse.py"


# ------------------------------------------------------------------------------------------ annealing lab


def test_lab_opens_on_the_pretrained_lineup_with_winners_marked():
    at = page(LAB).run()
    assert not at.exception and not at.error
    assert any("pretrained" in i.value for i in at.info)
    table = at.dataframe[0].value
    labels = [s.label for s in annealing.lineup(annealing.DEFAULT_LINEUP)]
    assert list(table.index) == labels
    for column in ("ELBO", "reconstruction", "MI"):  # active units may tie (8 of 8 everywhere): then no ★
        assert sum("★" in str(v) for v in table[column]) >= 1, f"{column} has no winner marked"
    assert not any("★" in str(v) for v in table["KL"])
    charts = {c.key for c in at.get("plotly_chart")}  # the shipped runs, drawn as a live lab is
    assert {"schedules", "c_recon", "c_kl", "c_elbo", "h_active_units", "strip_recons", "strip_samples",
            "heat"} <= charts
    assert at.select_slider(key="lab-shipped").value == annealing.LAB_STEPS, "the runs as they ended"
    assert r"\beta(t)" in " ".join(x.value for x in at.latex)


def test_lab_rejects_a_bad_custom_lineup_with_a_message():
    at = page(LAB, lineup="Custom", custom="constant:beta=1; wiggly").run()
    assert not at.exception
    assert at.error and "unknown strategy" in at.error[0].value


def test_lab_trains_several_runs_in_lock_step():
    at = page(LAB, lineup="Fu et al.'s pair", steps="500", eval_every="25").run()
    assert not at.exception and any("Press **Train**" in i.value for i in at.info)
    at.button(key="lab-train").click().run()
    assert not at.exception
    at.run()  # one more tick of the fragment (each tick draws what the one before trained)
    first = _step(at)
    at.run()
    assert not at.exception and _step(at) > first > 0
    charts = at.get("plotly_chart")
    assert len(charts) >= 8  # schedules, recon, KL, ELBO, β, AU, MI, heatmap
    table = at.dataframe[0].value
    assert list(table.index) == [s.label for s in annealing.lineup("Fu et al.'s pair")]
    assert any("budget: 15 %" in c.value for c in at.caption)
    at.button(key="lab-pause").click().run()
    paused = _step(at)
    at.run()
    assert _step(at) == paused


# -------------------------------------------------------------------------------------- posterior collapse


def test_collapse_page_opens_on_the_pretrained_pair():
    at = page(COLLAPSE).run()
    assert not at.exception and not at.error
    assert any("pretrained pair" in i.value for i in at.info)
    readouts = {m.label: m.value for m in at.metric}
    assert len(readouts) == 4  # collapsed dimensions and own-code worth, for both runs
    assert readouts["Collapsed dimensions — β = 1 from the start"] == "4 / 4"
    assert readouts["Collapsed dimensions — cure: free bits, λ = 0.5"] != "4 / 4"
    text = " ".join(m.value for m in at.markdown)
    assert "has collapsed" in text and "keeps" in text
    gains = {m.label: float(m.value.split()[0]) for m in at.metric if m.label.startswith("What its own code")}
    assert abs(gains["What its own code is worth — β = 1 from the start"]) < 0.5
    assert gains["What its own code is worth — cure: free bits, λ = 0.5"] > 2
    assert len(at.get("plotly_chart")) == 5  # the plane, two KL bar charts, two own-vs-random grids
    assert "0.01" in " ".join(x.value for x in at.latex)


def test_collapse_page_trains_both_runs_live():
    at = page(COLLAPSE, steps="200", cure="monotonic warm-up", threshold="0.03").run()
    assert not at.exception and not at.error
    at.button(key="collapse-train").click().run()
    assert not at.exception
    at.run()
    first = _step(at)
    at.run()
    assert not at.exception and _step(at) > first > 0
    assert any(m.label == "Collapsed dimensions — cure: monotonic, R = 0.5" for m in at.metric)
    assert any("0.03" in c.value for c in at.caption)
    at.button(key="collapse-pause").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 5  # paused: the own-vs-random grids are drawn
