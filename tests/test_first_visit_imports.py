"""A page that only shows pretrained models and shipped runs does not import torch._dynamo (about 1.5 s on 2
cores, in a page's first visit on a fresh server). It would come in through two doors: building a torch
optimiser (``TrainingRun`` builds its optimisers on first use), and arithmetic on the meta device, where a
checkpoint's shape check builds its model (the PixelCNN's masks and the priors are made on the CPU).
Nor do the latent space and inference lab pages' first paints import scikit-learn or torch._dynamo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CODE = """
import sys
import torch
from genlib import annealing, pretrained, shipped
from genlib.data import load_dataset
from genlib.train import TrainingRun
loaded = [pretrained.load(name) for name in pretrained.names()]  # every shipped model, shape-checked on meta
assert len(loaded) >= 10, pretrained.names()
recipes = {s.label: annealing.recipe_name(p) for p, s in annealing.PRESETS.items()
           if annealing.recipe_name(p) in pretrained.names()}
timelines = {label: pretrained.load_timeline(recipe) for label, recipe in recipes.items()}
models = {label: pretrained.load(recipe) for label, recipe in recipes.items()}
test = load_dataset("digits", "test", seed=0)
lab, timeline = shipped.replay(models, timelines, test, eval_every=50)  # the annealing lab's replay
timeline.view(timeline.steps()[1])
run = TrainingRun(loaded[0], load_dataset("digits", "train", seed=0), steps=3)
assert "torch._dynamo" not in sys.modules, "a page that only looks imported torch._dynamo"
run.advance(1)  # training does need it: the check above can fail
assert "torch._dynamo" in sys.modules and len(run.optimizers) >= 1
"""


def test_looking_at_shipped_models_and_runs_does_not_import_torch_dynamo():
    result = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


FIRST_PAINT = """
import sys
sys.path.insert(0, "tests")
from apptest import open_page
page, module = sys.argv[1:]
at = open_page(page).run()
assert not at.exception, at.exception
assert at.get("plotly_chart"), "the page drew its figures"
assert module not in sys.modules, f"{page}'s first paint imported {module}"
"""


@pytest.mark.parametrize("page, module", [
    # its default projection is PCA, done with numpy: importing scikit-learn for it took 1.0-1.2 s on 2 cores
    # (after torch and pandas), most of the page's first visit
    ("20_latent_space.py", "sklearn"),
    # its q* is fitted with genlib.nn.TensorAdam: torch.optim.Adam's constructor imported torch._dynamo
    # (1.4-1.5 s); the page's first run (AppTest) took 3.0 s, then 1.7 s
    ("80_inference_lab.py", "torch._dynamo"),
])
def test_a_pages_first_paint_does_not_import_what_it_does_not_need(page, module):
    result = subprocess.run([sys.executable, "-c", FIRST_PAINT, page, module], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
