"""ui.downloads: a live run's model as a checkpoint that genlib.checkpoints.load and the CLI read, its records as
CSV, made only when asked and once per step; and the buttons under AppTest."""

from __future__ import annotations

import csv
import io

import pytest
import torch
from streamlit.testing.v1 import AppTest

from genlib import checkpoints
from genlib.__main__ import main
from genlib.lockstep import Lockstep
from genlib.models import build
from genlib.priors import ProbedRun
from genlib.train import TrainingRun
from ui import downloads


@pytest.fixture
def run(digits):
    model = build("vae", digits.shape, seed=0, latent_dim=3, hidden=(32,))
    run = TrainingRun(model, digits, steps=40, batch_size=32, seed=2)
    run.advance(12)
    return run


def test_the_checkpoint_loads_with_the_same_weights_and_the_cli_evaluates_it(run, tmp_path, capsys):
    raw = downloads.checkpoint_bytes(run)
    loaded = checkpoints.load_bytes(raw, label="download.safetensors")
    for key, value in run.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert loaded.checkpoint["data"] == "digits" and loaded.checkpoint["data_seed"] == 2
    assert loaded.checkpoint["step"] == 12
    path = tmp_path / "download.safetensors"
    path.write_bytes(raw)
    assert main(["evaluate", str(path), "--k", "2"]) == 0, capsys.readouterr().err
    assert '"elbo"' in capsys.readouterr().out


def test_records_are_one_row_per_step_with_list_terms_spread_over_columns(run):
    rows = list(csv.DictReader(io.StringIO(downloads.records_bytes(run).decode())))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    assert {"loss", "recon", "kl", "kl_per_dim[0]", "kl_per_dim[2]"} <= set(rows[0])
    assert "kl_per_dim[3]" not in rows[0]
    for row, record in zip(rows, run.history, strict=True):
        assert float(row["loss"]) == pytest.approx(record["loss"])
        assert float(row["kl_per_dim[1]"]) == pytest.approx(record["kl_per_dim"][1])


def test_records_csv_of_records_with_different_keys():
    text = downloads.records_csv([{"step": 1, "a": 0.5}, {"step": 2, "b": [1, 2]}])
    assert text.splitlines() == ["step,a,b[0],b[1]", "1,0.5,,", "2,,1,2"]
    assert downloads.records_csv([]) == "\n"


def test_bytes_are_made_once_per_step_and_anew_after_training(run):
    first = downloads.checkpoint_bytes(run)
    assert downloads.checkpoint_bytes(run) is first  # cached at this step
    run.advance(3)
    again = downloads.checkpoint_bytes(run)
    assert again is not first and checkpoints.load_bytes(again).checkpoint["step"] == 15


def test_lockstep_and_probed_runs_each_get_their_model(digits, digits_test):
    models = {name: build("vae", digits.shape, seed=0, latent_dim=2, hidden=(16,), beta_schedule=schedule)
              for name, schedule in (("constant", {"kind": "constant", "beta": 1.0}),
                                     ("cyclical", {"kind": "cyclical", "total_steps": 20}))}
    lab = Lockstep(models, digits, digits_test, steps=20, batch_size=32, eval_every=10, eval_examples=32)
    lab.advance(5)
    probed = ProbedRun(TrainingRun(build("vae", digits.shape, latent_dim=2, hidden=(16,)), digits, steps=10),
                       digits_test.x[:16])
    probed.advance(4)
    flat = dict(downloads.models_of_runs({"lab": lab, "probed": probed}))
    assert set(flat) == {"lab / constant", "lab / cyclical", "probed"}
    assert dict(downloads.models_of_runs({"lab": lab})).keys() == {"constant", "cyclical"}
    for name, member in flat.items():
        model = checkpoints.load_bytes(downloads.checkpoint_bytes(member))
        assert model.checkpoint["step"] == member.step and model.checkpoint["data"] == "digits", name


def _page():
    import streamlit as st

    from genlib.data import load_dataset
    from genlib.models import build
    from genlib.train import TrainingRun
    from ui import downloads

    if "runs" not in st.session_state:
        data = load_dataset("digits", "train", seed=0)
        fresh = TrainingRun(build("vae", data.shape, latent_dim=2, hidden=(16,)), data, steps=10)
        trained = TrainingRun(build("vae", data.shape, latent_dim=2, hidden=(16,)), data, steps=10)
        trained.advance(3)
        st.session_state.runs = {"fresh": fresh, "beta 4": trained}
    downloads.run_downloads("elbo", st.session_state.runs)


def test_the_buttons_under_apptest_only_for_runs_that_trained():
    at = AppTest.from_function(_page, default_timeout=30).run()
    assert not at.exception
    buttons = at.get("download_button")
    assert len(buttons) == 2, "two buttons for the trained run, none for the fresh one"
    labels = [b.proto.label for b in buttons]
    assert labels == ["Model (.safetensors)", "Records (.csv)"]
    at.run()  # a rerun of the paused page draws the same buttons and makes no bytes
    assert len(at.get("download_button")) == 2
    assert downloads._cache.get(at.session_state["runs"]["beta 4"]) is None, "bytes are made only on a click"


def test_nothing_is_drawn_without_runs():
    def page():
        from ui import downloads

        downloads.run_downloads("k", None)
        downloads.run_downloads("k", {})

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception and not at.get("download_button") and not at.expander


def _live_page():
    import streamlit as st  # noqa: F401

    from genlib.data import load_dataset
    from genlib.models import build
    from genlib.train import TrainingRun
    from ui import downloads, live

    data = load_dataset("digits", "train", seed=0)

    def make_runs():
        return {"vae": TrainingRun(build("vae", data.shape, latent_dim=2, hidden=(16,)), data, steps=20)}

    s = live.live_controls("dl", make_runs, ("dl",))
    downloads.run_downloads("dl", s.runs if not s.training else None)  # the line ui/live.py calls


def test_with_the_live_controls_the_buttons_come_once_a_step_is_taken():
    at = AppTest.from_function(_live_page, default_timeout=30).run()
    assert not at.exception and not at.get("download_button")  # nothing trained yet
    at.button(key="dl-step10").click().run()
    assert not at.exception
    assert [b.proto.label for b in at.get("download_button")] == ["Model (.safetensors)", "Records (.csv)"]
    assert any("at step 10" in c.value for c in at.caption)
