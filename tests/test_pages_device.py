"""AppTest: every page that trains live trains on the sidebar's device, then evaluates and draws its runs.

The sidebar's choice (``ui.state.device``) offers "cuda" only where torch sees a GPU. On a machine
without one the choice is forced: ``torch.cuda.is_available`` answers True, the session chooses "cuda",
and each ``TrainingRun`` records the device it was asked for, then trains on the CPU. A page that builds
a run without ``device=device()`` records None and fails. On a machine with a GPU nothing is faked: the
runs train on CUDA and the page evaluates and draws models that live there.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genlib.train import TrainingRun
from tests.apptest import open_page, progress_step

ROOT = Path(__file__).resolve().parent.parent

# page -> (URL settings for a short run of small models, the key of its live controls)
TRAINING_PAGES = {
    "10_elbo.py": ({"steps": "500", "width": "32"}, "elbo"),
    "30_annealing_lab.py": ({"lineup": "Fu et al.'s pair", "steps": "500", "eval_every": "25"}, "lab"),
    "35_posterior_collapse.py": ({"steps": "200", "cure": "monotonic warm-up"}, "collapse"),
    "40_objectives.py": ({"models": ["VAE", "AAE"], "steps": "300"}, "objectives"),
    "48_adversarial_autoencoder.py": ({"steps": "500"}, "aae"),
    "50_product_of_experts.py": ({"source": "train here", "steps": "300"}, "poe"),
    "60_pixelcnn.py": ({"pc_steps": "200", "pc_channels": "8", "pc_layers": "1"}, "pixelcnn"),
    "70_hierarchical_vae.py": ({"hv_steps": "1000", "hv_width": "64"}, "hvae"),
    "90_your_data.py": ({"steps": "200"}, "your-data"),
}


@pytest.fixture
def asked_devices(monkeypatch) -> list:
    """The device each TrainingRun built from now on was asked for (None: not said), in order."""
    asked = []
    original = TrainingRun.__init__
    real_gpu = torch.cuda.is_available()

    def recording_init(self, model, dataset, *, device=None, **settings):
        asked.append(device)
        original(self, model, dataset, device=device if real_gpu else "cpu", **settings)

    if not real_gpu:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the sidebar offers "cuda"
    monkeypatch.setattr(TrainingRun, "__init__", recording_init)
    return asked


def test_every_page_with_live_training_is_checked_here():
    trains = {p.name for p in (ROOT / "pages").glob("*.py") if "live_controls(" in p.read_text()}
    assert trains == set(TRAINING_PAGES)


@pytest.mark.parametrize("name", TRAINING_PAGES)
def test_a_page_trains_evaluates_and_draws_on_the_chosen_device(name, asked_devices):
    settings, key = TRAINING_PAGES[name]
    at = open_page(name, **settings)
    at.session_state["device"] = "cuda"  # what choosing "cuda" in the sidebar's "Train on" sets
    at.run()
    assert not at.exception and not asked_devices, "nothing trains before Train is pressed"
    at.button(key=f"{key}-train").click().run()
    assert not at.exception and at.session_state[f"live::{key}"].message is None  # no "Cannot train ..."
    runs = at.session_state[f"live::{key}"].runs
    assert progress_step(at) == 0 and min(r.step for r in runs.values()) > 0  # drawn, then trained a chunk
    at.button(key=f"{key}-pause").click().run()  # paused: the pages evaluate and draw everything they show
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert asked_devices, "the page built no TrainingRun"
    assert all(str(d) == "cuda" for d in asked_devices), f"runs were built on {asked_devices}, not the chosen cuda"
