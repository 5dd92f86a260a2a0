"""Checkpoints: one safetensors file holding the weights and, in its header, a JSON record of the
model (registry name, data shape, config with its β schedule), the data it was trained on, its
metrics and the genlib version. Never pickle: loading runs no code from the file.

Saves are atomic: the file is written beside the target and renamed over it only when complete, so
a failed save never destroys an existing checkpoint.

Loading trusts nothing in the file. The header is read and its record checked first (every field of
the right JSON type, every size positive and bounded); the model it describes is built on the meta
device (no memory) and its weight shapes compared with the header's; only then is anything allocated.
Each problem is one :class:`CheckpointError` sentence.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors.torch import save as save_bytes

import genlib
from genlib.models import REGISTRY, build

META_KEY = "genlab"
MAX_HEADER_BYTES = 16 * 2**20  # a genlab header is a few KB; safetensors itself allows 100 MB
MAX_SIZE = 4096  # the largest integer a config may hold outside its schedules (a width, a depth, levels)
MAX_SIDE = 4096  # the largest entry of data_shape
MAX_EXAMPLE = 2**20  # the most numbers in one example (prod(data_shape))
FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, or does not match the model it describes."""


def record(model, *, data: str | None = None, metrics: dict | None = None, extra: dict | None = None) -> dict:
    """The JSON record a checkpoint of ``model`` carries."""
    return {
        "model": model.name,
        "data_shape": list(model.data_shape),
        "config": model.config_dict(),
        "data": data,
        "metrics": metrics or {},
        "genlib_version": genlib.__version__,
        **(extra or {}),
    }


def _tensors(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save(model, path: str | os.PathLike, *, data: str | None = None, metrics: dict | None = None,
         extra: dict | None = None) -> Path:
    """Write ``model`` to ``path`` (a .safetensors file) atomically; returns the path.

    A failure to write (a full disk, a folder that cannot be made) raises ``OSError`` and leaves
    whatever was at ``path`` as it was, with no temporary file beside it.
    """
    path = Path(path)
    meta = record(model, data=data, metrics=metrics, extra=extra)
    tensors = _tensors(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            save_file(tensors, tmp, metadata={META_KEY: json.dumps(meta)})
        except SafetensorError as e:  # safetensors reports the OS's write errors as its own
            raise _os_error(e) from None
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_bytes(model, *, data: str | None = None, metrics: dict | None = None, extra: dict | None = None) -> bytes:
    """The checkpoint ``save`` would write, as bytes (a download); ``load_bytes`` reads it back."""
    meta = record(model, data=data, metrics=metrics, extra=extra)
    return save_bytes(_tensors(model), metadata={META_KEY: json.dumps(meta)})


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON record stored with a checkpoint, checked, without loading the weights."""
    path = _check_exists(path)
    return _checked_record(_header(path)[0], str(path))


def load(path: str | os.PathLike, *, device: str | torch.device = "cpu", label: str | None = None):
    """Rebuild the model saved at ``path`` and load its weights; ``model.checkpoint`` holds the record.

    ``label`` names the file in messages (an upload's name rather than its temporary path).
    """
    path = _check_exists(path, label)
    where = label or str(path)
    header, tensors = _header(path, where)
    meta = _checked_record(header, where)
    expected = _expected_shapes(meta, where)
    missing, unexpected = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{where}: weights do not match a {meta['model']} with this config "
                              f"(missing: {missing[:3]}, unexpected: {unexpected[:3]})")
    for key, (dtype, shape) in tensors.items():
        if shape != expected[key]:
            raise CheckpointError(f"{where}: weight {key} has shape {shape}, the model expects {expected[key]}")
        if dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"{where}: weight {key} holds {dtype} values; a genlab weight is a float")
    # Every size is now known to match the file's weights, which the file holds: building is bounded by it.
    model = build(meta["model"], tuple(meta["data_shape"]), seed=0, **meta["config"])
    try:
        weights = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{where} is not a readable safetensors checkpoint ({_short(e)})") from None
    for key, value in weights.items():
        if not torch.isfinite(value).all():
            raise CheckpointError(f"{where}: weight {key} holds NaN or infinite values (saved from a run that "
                                  "diverged?); retrain with a smaller learning rate")
    model.load_state_dict(weights)
    model.to(device)
    model.checkpoint = meta
    return model


def load_bytes(content: bytes, *, label: str = "the checkpoint", device: str | torch.device = "cpu"):
    """``load`` for a checkpoint held in memory (an upload), checked the same way."""
    fd, tmp = tempfile.mkstemp(suffix=".safetensors")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        return load(tmp, device=device, label=label)
    finally:
        Path(tmp).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------ the header


def _header(path: Path, where: str | None = None) -> tuple[dict, dict[str, tuple[str, tuple[int, ...]]]]:
    """The file's genlab record (parsed JSON, unchecked) and its tensors: name -> (dtype, shape).

    The safetensors layout: 8 bytes of header length n (little-endian), n bytes of JSON, the data.
    """
    where = where or str(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{where} is not a readable safetensors checkpoint (only {size} bytes)")
        n = int.from_bytes(head, "little")
        if n > min(MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(f"{where} is not a readable safetensors checkpoint (its header claims {n:,} "
                                  f"bytes; the file has {size:,})")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{where} is not a readable safetensors checkpoint (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where} is not a readable safetensors checkpoint (its header is not a JSON object)")
    strings = header.pop("__metadata__", None) or {}
    if not isinstance(strings, dict) or META_KEY not in strings:
        raise CheckpointError(f"{where} is a safetensors file but not a genlab checkpoint (no '{META_KEY}' record)")
    data_bytes = size - 8 - n
    tensors = {}
    for key, entry in header.items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (_int_list(shape) and _int_list(offsets) and len(offsets) == 2 and isinstance(entry.get("dtype"), str)
                and min(shape, default=0) >= 0):
            raise CheckpointError(f"{where} is not a readable safetensors checkpoint (tensor {key!r} is malformed)")
        if offsets[1] > data_bytes:
            raise CheckpointError(f"{where} is not a readable safetensors checkpoint (truncated: tensor {key!r} "
                                  f"ends at byte {offsets[1]:,} of {data_bytes:,})")
        if math.prod(shape) * DTYPE_BYTES.get(entry["dtype"], 1) != offsets[1] - offsets[0]:
            raise CheckpointError(f"{where} is not a readable safetensors checkpoint (tensor {key!r} declares "
                                  f"shape {shape} but holds {offsets[1] - offsets[0]:,} bytes)")
        tensors[key] = (entry["dtype"], tuple(shape))
    try:
        meta = json.loads(strings[META_KEY])
    except (TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{where}: the checkpoint's JSON record is corrupt") from None
    return meta, tensors


def _int_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


# ------------------------------------------------------------------------------------ the record


def _checked_record(meta, where: str) -> dict:
    """``meta`` if every field has the type and range a genlab record has; else one CheckpointError."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: the checkpoint's record is {_kind(meta)}, not a JSON object")
    missing = [k for k in ("model", "data_shape", "config") if k not in meta]
    if missing:
        raise CheckpointError(f"{where}: the checkpoint's record lacks {', '.join(missing)}")
    name, shape, config = meta["model"], meta["data_shape"], meta["config"]
    if not isinstance(name, str):
        raise CheckpointError(f"{where}: the record's model is {_kind(name)}, not a model name")
    if name not in REGISTRY:
        raise CheckpointError(f"{where}: cannot rebuild the model it describes: unknown model {name[:40]!r}; "
                              f"genlab has {', '.join(REGISTRY)}")
    if not _int_list(shape) or not 1 <= len(shape) <= 3:
        raise CheckpointError(f"{where}: the record's data_shape is {_kind(shape)}; expected 1 to 3 integers "
                              "like [1, 8, 8]")
    if min(shape) < 1 or max(shape) > MAX_SIDE or math.prod(shape) > MAX_EXAMPLE:
        raise CheckpointError(f"{where}: the record's data_shape {shape} is out of range (each size 1 to "
                              f"{MAX_SIDE}, at most {MAX_EXAMPLE:,} numbers an example)")
    if not isinstance(config, dict):
        raise CheckpointError(f"{where}: the record's config is {_kind(config)}, not a JSON object")
    problem = config_problem(name, config)
    if problem:
        raise CheckpointError(f"{where}: the record's config.{problem}")
    for key, kinds, expected in (("data", (str, type(None)), "a dataset name"), ("metrics", (dict,), "a JSON object"),
                                 ("data_seed", (int,), "an integer")):
        if key in meta and (not isinstance(meta[key], kinds) or isinstance(meta[key], bool)):
            raise CheckpointError(f"{where}: the record's {key} is {_kind(meta[key])}, not {expected}")
    return meta


def config_problem(name: str, config: dict) -> str | None:
    """What is wrong with ``config`` for model ``name`` before anything is built ("latent_dim is a list; ..."),
    else None: a value of the wrong JSON type for its field, or an integer no size may be (negative, or
    past MAX_SIZE; a schedule's step counts are not sizes). The config's own checks come after."""
    fields = {f.name: f.type for f in dataclasses.fields(REGISTRY[name][0].Config)}
    for key, value in config.items():
        if key in fields and not _conforms(value, str(fields[key])):
            return f"{key} is {_kind(value)}; a {name} expects {fields[key]}"
        bad = _bad_size(value) if "schedule" not in key else None
        if bad is not None:
            return f"{key} holds {bad}; sizes run from 0 to {MAX_SIZE}"
    return None


def _conforms(value, annotation: str) -> bool:
    """Whether a JSON value fits a config field's annotation ("int", "tuple[int, ...] | None", ...)."""
    return any(_fits(value, option.strip()) for option in annotation.split("|"))


def _fits(value, kind: str) -> bool:
    element = re.fullmatch(r"(?:tuple|list)\[(\w+)(?:, \.\.\.)?\]", kind)
    if element:
        return isinstance(value, list) and all(_fits(v, element.group(1)) for v in value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    simple = {"int": isinstance(value, int) and number, "float": number, "str": isinstance(value, str),
              "bool": isinstance(value, bool), "dict": isinstance(value, dict), "None": value is None}
    return simple.get(kind, True)  # an annotation not listed here is left to the config to check


def _bad_size(value):
    """The first integer in ``value`` that no size may be (negative, or past MAX_SIZE), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if not 0 <= value <= MAX_SIZE else None
    if isinstance(value, list | dict):
        for v in value.values() if isinstance(value, dict) else value:
            bad = _bad_size(v)
            if bad is not None:
                return bad
    return None


def _expected_shapes(meta: dict, where: str) -> dict[str, tuple[int, ...]]:
    """The weight shapes of the model a (checked) record describes, built on the meta device: no memory."""
    try:
        with torch.device("meta"):
            skeleton = build(meta["model"], tuple(meta["data_shape"]), seed=None, **meta["config"])
    except Exception as e:  # noqa: BLE001 - whatever the config's own checks raise, it is one sentence here
        raise CheckpointError(f"{where}: cannot rebuild the model it describes: {_short(e)}") from None
    return {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}


def _kind(value) -> str:
    """A JSON value's kind in words: 'a number (3)', 'a list', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value:g})" if isinstance(value, float) or abs(value) < 10**15 else "a huge number"
    if isinstance(value, str):
        return f"a string ({value[:20]!r})"
    if isinstance(value, list):
        return f"a list ({json.dumps(value)[:40]})"
    return "a JSON object"


def _check_exists(path, label: str | None = None) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {label or path}")
    return path


def _os_error(error: Exception) -> OSError:
    """safetensors' wrapping of an OS write error (``I/O error: ... (os error 28)``) as the OSError it was."""
    found = re.search(r"os error (\d+)", str(error))
    if found:
        return OSError(int(found.group(1)), os.strerror(int(found.group(1))))
    return OSError(_short(error))


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:160] if str(error) else type(error).__name__
