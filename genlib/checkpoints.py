"""Checkpoints: one safetensors file holding the weights and, in its header, a JSON record of the
model (registry name, data shape, config with its β schedule), the data it was trained on, its
metrics and the genlib version. Never pickle: loading runs no code from the file.

Saves are atomic: the file is written beside the target and renamed over it only when complete, so
a failed save never destroys an existing checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import genlib
from genlib.models import build

META_KEY = "genlab"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not match the model it describes."""


def save(model, path: str | os.PathLike, *, data: str | None = None, metrics: dict | None = None,
         extra: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (a .safetensors file) atomically; returns the path."""
    path = Path(path)
    meta = {
        "model": model.name,
        "data_shape": list(model.data_shape),
        "config": model.config_dict(),
        "data": data,
        "metrics": metrics or {},
        "genlib_version": genlib.__version__,
        **(extra or {}),
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={META_KEY: json.dumps(meta)})
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON record stored with a checkpoint, without loading the weights."""
    path = _check_exists(path)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({_short(e)})") from None
    if META_KEY not in header:
        raise CheckpointError(f"{path} is a safetensors file but not a genlab checkpoint (no '{META_KEY}' record)")
    try:
        meta = json.loads(header[META_KEY])
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: the checkpoint's JSON record is corrupt") from None
    missing = [k for k in ("model", "data_shape", "config") if k not in meta]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint's record lacks {', '.join(missing)}")
    return meta


def load(path: str | os.PathLike, *, device: str | torch.device = "cpu"):
    """Rebuild the model saved at ``path`` and load its weights; ``model.checkpoint`` holds the record."""
    path = _check_exists(path)
    meta = read_meta(path)
    try:
        model = build(meta["model"], tuple(meta["data_shape"]), seed=None, **meta["config"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: cannot rebuild the model it describes: {e}") from None
    try:
        weights = load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({_short(e)})") from None
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not match a {meta['model']} with this config "
                              f"(missing: {missing[:3]}, unexpected: {unexpected[:3]})")
    for key, value in weights.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(f"{path}: weight {key} has shape {tuple(value.shape)}, "
                                  f"the model expects {tuple(expected[key].shape)}")
    model.load_state_dict(weights)
    model.to(device)
    model.checkpoint = meta
    return model


def _check_exists(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    return path


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:160] if str(error) else type(error).__name__
