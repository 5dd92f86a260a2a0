"""The pretrained zoo in ``pretrained/``: small weights trained by our own recipes.

Each recipe below names a model, its data, config, seed and step budget. ``build(name)`` trains it
on the CPU from scratch (deterministic for a given machine and torch), evaluates it on the test split,
saves ``pretrained/<name>.safetensors`` and records the recipe, metrics and the file's sha256 in
``pretrained/manifest.json``. ``load(name)`` checks the sha256 before it loads.

Rebuild from the command line: ``python -m genlib pretrained build [NAME ...]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import genlib
from genlib import annealing, checkpoints, collapse, shipped  # recipes of the Annealing lab and Posterior collapse
from genlib.data import load_dataset
from genlib.metrics import evaluate
from genlib.models import build as build_model
from genlib.train import fit

ROOT = Path(os.environ.get("GENLAB_PRETRAINED") or Path(__file__).resolve().parent.parent / "pretrained")

# name -> recipe. Keep each entry small: the whole folder stays under ~20 MB.
RECIPES: dict[str, dict] = {
    "vae-digits": {
        "description": "VAE, β = 1, latent 8, MLP 256-256, Bernoulli on binarised digits",
        "model": "vae", "data": "digits",
        "config": {"latent_dim": 8, "hidden": [256, 256], "likelihood": "bernoulli"},
        "steps": 4000, "batch_size": 128, "lr": 1e-3, "seed": 0,
    },
    "beta-vae-digits": {
        "description": "β-VAE, β = 4, latent 8, MLP 256-256, Bernoulli on binarised digits",
        "model": "vae", "data": "digits",
        "config": {"latent_dim": 8, "hidden": [256, 256], "likelihood": "bernoulli",
                   "beta_schedule": {"kind": "constant", "beta": 4.0}},
        "steps": 4000, "batch_size": 128, "lr": 1e-3, "seed": 0,
    },
    "vae-sprites": {
        "description": "VAE, β = 1, latent 6, MLP 128-64, Bernoulli on sprites (factors known: MIG)",
        "model": "vae", "data": "sprites",
        "config": {"latent_dim": 6, "hidden": [128, 64], "likelihood": "bernoulli"},
        "steps": 3000, "batch_size": 128, "lr": 1e-3, "seed": 0,
    },
    "beta-vae-sprites": {
        "description": "β-VAE, β = 4, latent 6, MLP 128-64, Bernoulli on sprites (factors known: MIG)",
        "model": "vae", "data": "sprites",
        "config": {"latent_dim": 6, "hidden": [128, 64], "likelihood": "bernoulli",
                   "beta_schedule": {"kind": "constant", "beta": 4.0}},
        "steps": 3000, "batch_size": 128, "lr": 1e-3, "seed": 0,
    },
    # the Product of experts page: the same MVAE objective, fused by a product (PoE) or a mixture (MoE).
    # λ_label = 3 and 3 random subsets: over seeds 0-2 the PoE's label -> image rate was 0.79-0.81 and its
    # image -> label accuracy 0.81-0.84 (python -m bench multimodal's judge), against 0.54-0.78 and 0.65-0.80
    # with λ_label = 10 and 1 subset; the MoE's went from 0.96 / 0.87 to 0.90-0.94 / 0.85 (seeds 0-1).
    **{f"mvae-{fusion}-digits": {
        "description": f"multimodal VAE ({fusion.upper()}), top half + bottom half + label of digits, latent 16, "
                       "MLP 128-128 per modality, λ_label = 3, 3 random subsets, β warm-up over 400 steps",
        "model": "multimodal-vae", "data": "digits-halves-label",
        "config": {"layout": "digits-halves-label", "fusion": fusion, "latent_dim": 16, "hidden": [128, 128],
                   "weights": {"label": 3.0}, "n_subsets": 3,
                   "beta_schedule": {"kind": "monotonic", "total_steps": 1600, "ratio": 0.25}},
        "steps": 1600, "batch_size": 128, "lr": 1e-3, "seed": 0,
    } for fusion in ("poe", "moe")},
    "hierarchical-vae-digits": {
        "description": "Ladder VAE, z_1: 8, z_2: 4, MLP 128-128, free bits 0.25, Bernoulli on binarised digits",
        "model": "hierarchical-vae", "data": "digits",
        "config": {"latent_dim": 8, "upper_dims": [4], "hidden": [128, 128], "ladder_hidden": 64,
                   "likelihood": "bernoulli", "free_bits": 0.25},
        "steps": 3000, "batch_size": 128, "lr": 1e-3, "seed": 0,
    },
    "pixelcnn-digits": {
        "description": "PixelCNN, mask A then 5 mask-B residual blocks, 32 channels, 3x3, "
                       "Bernoulli on binarised digits",
        "model": "pixelcnn", "data": "digits",
        "config": {"channels": 32, "n_layers": 6, "kernel_size": 3, "likelihood": "bernoulli"},
        "steps": 1500, "batch_size": 64, "lr": 2e-3, "seed": 0,
    },
    "gated-pixelcnn-digits": {
        "description": "Gated PixelCNN, 6 gated layers (vertical + horizontal stacks), 24 channels, 3x3, "
                       "Bernoulli on binarised digits",
        "model": "gated-pixelcnn", "data": "digits",
        "config": {"channels": 24, "n_layers": 6, "kernel_size": 3, "likelihood": "bernoulli"},
        "steps": 700, "batch_size": 64, "lr": 2e-3, "seed": 0,
    },
    # the Objectives page: one data set and seed, a 2-D latent, five ways to match the prior
    **{f"{name}-2d-digits": {
        "description": f"{label}, latent 2, MLP 128-128, Bernoulli on binarised digits",
        "model": model, "data": "digits", "config": {"latent_dim": 2, "hidden": [128, 128], **config},
        "steps": 3000, "batch_size": 128, "lr": 1e-3, "seed": 0,
    } for name, label, model, config in [
        ("vae", "VAE, β = 1", "vae", {}),
        ("beta-vae", "β-VAE, β = 4", "vae", {"beta_schedule": {"kind": "constant", "beta": 4.0}}),
        ("info-vae", "InfoVAE, α = 0.5, λ = 10, IMQ MMD", "info-vae", {"alpha": 0.5, "lambda_": 10.0}),
        ("mmd-vae", "MMD-VAE, α = 1, λ = 10, IMQ MMD", "mmd-vae", {}),
        ("aae", "AAE, deterministic encoder, N(0, I) prior", "aae", {}),
        ("aae-mixture", "AAE, deterministic encoder, 10-Gaussian mixture prior", "aae", {"prior": "mixture"}),
    ]},
    **annealing.recipes(), **collapse.recipes(),  # the Annealing lab line-up; Posterior collapse pair
}
# Recipes whose timeline ships too (genlib.shipped): a lecturer scrubs these runs offline.
WITH_TIMELINE = (*annealing.recipes(), *collapse.recipes())


class PretrainedError(LookupError):
    pass


def manifest(root: Path | None = None) -> dict:
    path = (root or ROOT) / "manifest.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def names(root: Path | None = None) -> list[str]:
    """The entries present in the zoo (built and recorded in the manifest)."""
    return sorted(manifest(root))


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def path_of(name: str, root: Path | None = None) -> Path:
    return (root or ROOT) / f"{name}.safetensors"


def info(name: str, root: Path | None = None) -> dict:
    entries = manifest(root)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none built"
        raise PretrainedError(f"no pretrained model {name!r}; available: {known}")
    return entries[name]


def load(name: str, root: Path | None = None, *, device="cpu"):
    """Load pretrained model ``name`` after checking its sha256 against the manifest."""
    entry = info(name, root)
    path = path_of(name, root)
    if not path.exists():
        raise PretrainedError(f"{path} is missing; rebuild it with `python -m genlib pretrained build {name}`")
    if sha256(path) != entry["sha256"]:
        raise PretrainedError(f"{path} does not match its sha256 in the manifest; rebuild it with "
                              f"`python -m genlib pretrained build {name}`")
    return checkpoints.load(path, device=device)


def _prepare(name: str):
    """(recipe, train set, freshly built model) of recipe ``name``."""
    if name not in RECIPES:
        raise PretrainedError(f"no recipe {name!r}; recipes: {', '.join(RECIPES)}")
    r = RECIPES[name]
    data = load_dataset(r["data"], "train", seed=r["seed"])
    config = dict(r["config"])
    if config.get("likelihood") == "categorical":
        config.setdefault("levels", data.levels)
    return r, data, build_model(r["model"], data.shape, seed=r["seed"], **config)


def train_recipe(name: str, *, steps: int | None = None, progress=None):
    """Train the model of recipe ``name`` (``steps`` overrides the budget); returns (model, train set)."""
    r, data, model = _prepare(name)
    for record in fit(model, data, steps=steps or r["steps"], batch_size=r["batch_size"], lr=r["lr"],
                      seed=r["seed"], device="cpu"):
        if progress is not None:
            progress(record)
    return model, data


def timeline_path(name: str, root: Path | None = None) -> Path:
    return shipped.path_of(name, root or ROOT)


def load_timeline(name: str, root: Path | None = None):
    """The shipped timeline of pretrained ``name`` (``genlib.shipped.load``), after checking its sha256."""
    entry = info(name, root).get("timeline")
    path = timeline_path(name, root)
    if entry is None or not path.exists():
        raise PretrainedError(f"{name} has no shipped timeline; build it with `python -m genlib pretrained build "
                              f"{name}`")
    if sha256(path) != entry["sha256"]:
        raise PretrainedError(f"{path} does not match its sha256 in the manifest; rebuild it with "
                              f"`python -m genlib pretrained build {name}`")
    return shipped.load(path)


def _record_recipe(name: str, root: Path, progress=None):
    """Train recipe ``name`` keeping its timeline; save the timeline; returns (model, its manifest record)."""
    r, data, model = _prepare(name)
    test = load_dataset(r["data"], "test", seed=r["seed"])
    snapshots, history, evals = shipped.record_recipe(model, data, test, steps=r["steps"],
                                                      batch_size=r["batch_size"], lr=r["lr"], seed=r["seed"],
                                                      progress=progress)
    path = shipped.save(timeline_path(name, root), snapshots, history, evals)
    return model, {"sha256": sha256(path), "bytes": path.stat().st_size, "snapshots": len(snapshots)}


def build(name: str, root: Path | None = None, *, progress=None) -> dict:
    """Train, evaluate and save recipe ``name`` into the zoo; returns its manifest entry. A recipe in
    ``WITH_TIMELINE`` is trained the same way (bit for bit) while its timeline is kept and saved too."""
    root = root or ROOT
    timeline = None
    if name in WITH_TIMELINE:
        model, timeline = _record_recipe(name, root, progress)
    else:
        model, _ = train_recipe(name, progress=progress)
    r = RECIPES[name]
    metrics = evaluate(model, load_dataset(r["data"], "test", seed=r["seed"]))
    path = checkpoints.save(model, path_of(name, root), data=r["data"], metrics=metrics,
                            extra={"pretrained": name})
    entry = {
        "description": r["description"],
        "recipe": f"python -m genlib pretrained build {name}",
        "model": r["model"], "data": r["data"], "seed": r["seed"], "steps": r["steps"],
        "config": model.config_dict(), "metrics": metrics, "genlib_version": genlib.__version__,
        "sha256": sha256(path), "bytes": path.stat().st_size,
        **({"timeline": timeline} if timeline else {}),
    }
    entries = manifest(root)
    entries[name] = entry
    _write_json(root / "manifest.json", entries)
    return entry


def _write_json(path: Path, obj) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
