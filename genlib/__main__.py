"""Command line: ``python -m genlib train | evaluate | list | pretrained | data``.

Examples:
    python -m genlib train --model vae --data digits --beta 4 --steps 2000 --out runs/beta4.safetensors
    python -m genlib train --schedule cyclical:n_cycles=4,ratio=0.5 --steps 3000 --out runs/cyc.safetensors
    python -m genlib evaluate runs/beta4.safetensors
    python -m genlib list
    python -m genlib pretrained build vae-digits
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

USAGE_ERROR = 2
MAX_K = 1000  # importance samples for nll_iwae: k x 500 decoded examples are held at once
MAX_PARAMETERS = 50_000_000  # the largest model `train` builds (200 MB of float32 weights; a laptop's CPU)


class CLIError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        raise CLIError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to 2**63 - 1, got {text}")
    return value


def _importance_samples(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_K:
        raise argparse.ArgumentTypeError(f"at most {MAX_K} importance samples, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def _widths(text: str) -> list[int]:
    try:
        widths = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 256,256, got {text!r}") from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"expected positive widths like 256,256, got {text!r}")
    return widths


def _setting(text: str) -> tuple[str, object]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def make_parser() -> argparse.ArgumentParser:
    from genlib.data import NAMES
    from genlib.models import MODELS

    p = _Parser(prog="python -m genlib", description="Train, evaluate and list genlib models.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model and save a checkpoint")
    t.add_argument("--model", default="vae", choices=MODELS)
    t.add_argument("--data", default="digits", choices=NAMES)
    beta = t.add_mutually_exclusive_group()
    beta.add_argument("--beta", type=float, help="constant β (β-VAE when > 1)")
    beta.add_argument("--schedule", help="e.g. monotonic:ratio=0.25 or cyclical:n_cycles=4,ratio=0.5,shape=cosine")
    t.add_argument("--steps", type=_positive_int, default=2000)
    t.add_argument("--batch-size", type=_positive_int, default=128)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--seed", type=_seed, default=0)
    t.add_argument("--latent-dim", type=_positive_int)
    t.add_argument("--hidden", type=_widths, help="layer widths, e.g. 256,256")
    t.add_argument("--likelihood", choices=("bernoulli", "categorical", "gaussian"))
    t.add_argument("--free-bits", type=float)
    t.add_argument("--set", type=_setting, action="append", default=[], metavar="KEY=VALUE",
                   help="any other model setting (JSON value)")
    t.add_argument("--out", required=True, help="checkpoint path (.safetensors)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="evaluate a checkpoint on its data's test split")
    e.add_argument("path")
    e.add_argument("--data", choices=NAMES, help="override the dataset recorded in the checkpoint")
    e.add_argument("--k", type=_importance_samples, default=50, help=f"importance samples for nll_iwae (<= {MAX_K})")

    sub.add_parser("list", help="list models, datasets and pretrained entries")

    pre = sub.add_parser("pretrained", help="the pretrained zoo")
    pre_sub = pre.add_subparsers(dest="action", required=True, parser_class=_Parser)
    pre_sub.add_parser("list", help="list the zoo with its recorded metrics")
    b = pre_sub.add_parser("build", help="retrain zoo entries by their recipes (all when no NAME)")
    b.add_argument("names", nargs="*")

    d = sub.add_parser("data", help="download an MNIST-style set into the cache (needs a network)")
    d.add_argument("name", choices=("mnist", "fashion-mnist"))
    return p


class Progress:
    """A one-line progress bar on stderr: steps, steps/s, and the latest loss."""

    def __init__(self, total: int, enabled: bool = True):
        self.total, self.enabled, self.start, self.last = total, enabled, time.time(), 0.0
        self.open = False  # a bar is drawn and its line not yet ended

    def __call__(self, record: dict) -> None:
        now = time.time()
        if not self.enabled or (now - self.last < 0.2 and record["step"] < self.total):
            return
        self.last = now
        done = record["step"] / self.total
        bar = "#" * int(30 * done)
        rate = record["step"] / max(now - self.start, 1e-9)
        sys.stderr.write(f"\r[{bar:<30}] {record['step']}/{self.total} {rate:5.0f} steps/s loss {record['loss']:.3f}")
        self.open = True
        if record["step"] >= self.total:
            self.close()
        sys.stderr.flush()

    def close(self) -> None:
        """End the bar's line, so that what follows (an error) starts a line of its own."""
        if self.open:
            sys.stderr.write("\n")
            self.open = False


def cmd_train(args) -> int:
    from genlib import schedules
    from genlib.data import load_dataset
    from genlib.train import FIT_CHUNK, TrainingRun

    out = check_out(args.out)  # before training: a bad path should not cost a run
    data = load_dataset(args.data, "train", seed=args.seed)
    config = dict(args.set)
    for key in ("latent_dim", "hidden", "likelihood", "free_bits"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    if args.beta is not None:
        config["beta_schedule"] = schedules.constant(args.beta).to_dict()
    elif args.schedule:
        config["beta_schedule"] = schedules.parse(args.schedule, args.steps).to_dict()
    if "layout" in data.meta:  # a multimodal set (digits-halves, ...): the model unpacks rows by its layout
        config.setdefault("layout", data.meta["layout"])
    elif not data.is_image:
        config.setdefault("likelihood", "gaussian")
    if config.get("likelihood") == "categorical":
        config.setdefault("levels", data.levels)
    model = build_bounded(args.model, data.shape, args.seed, config)
    run = TrainingRun(model, data, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    progress = Progress(args.steps, enabled=not args.quiet)
    try:
        while not run.done:
            for record in run.advance(FIT_CHUNK):
                progress(record)
    finally:
        progress.close()
    kept = f"{out} is unchanged" if out.exists() else "no checkpoint was written"
    if run.stopped:  # "stopped at step 3: the loss became nan. The weights are ...": its first sentence
        reason = run.stopped.split(". ")[0]
        raise CLIError(f"training {reason} (of {args.steps} steps). Nothing was saved: {kept}. "
                       f"Try a smaller --lr than {args.lr:g}, e.g. {args.lr / 10:g}")
    from genlib import checkpoints
    from genlib.metrics import evaluate

    metrics = evaluate(model, load_dataset(args.data, "test", seed=args.seed))
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        checkpoints.save(model, out, data=args.data, metrics=metrics, extra={"data_seed": args.seed})
    except OSError as e:
        for folder in made:  # the folders made for it, innermost first, where they are still empty
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise CLIError(f"could not write {out}: {e.strerror or e}; {kept}") from None
    print(json.dumps({"out": args.out, **{k: v for k, v in metrics.items() if k != "kl_per_dim"}}))
    return 0


def check_out(path: str) -> Path:
    """``--out`` as a path a checkpoint can be written to, or a CLIError saying why not."""
    out = Path(path)
    if out.is_dir():
        raise CLIError(f"--out {path} is a folder; give a file in it, e.g. {out / 'model.safetensors'}")
    if out.exists() and not out.is_file():
        raise CLIError(f"--out {path} exists and is not a regular file")
    folder = out.absolute().parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise CLIError(f"--out {path} cannot be made: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CLIError(f"--out {path} cannot be written: {existing} is not writable (permission denied)")
    try:  # os.access does not know a read-only file system (nor, for root, much else): try it
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise CLIError(f"--out {path} cannot be written: {e.strerror or e} in {existing}") from None
    return out


def build_bounded(name: str, data_shape, seed: int, config: dict):
    """``genlib.models.build``, refused before any allocation when the model would be too large here."""
    import torch

    from genlib.checkpoints import MAX_SIZE, config_problem
    from genlib.models import build

    problem = config_problem(name, config)
    if problem:
        raise CLIError(f"the model setting {problem}")
    with torch.device("meta"):  # sizes without memory
        n = build(name, data_shape, seed=None, **config).n_parameters()
    if n > MAX_PARAMETERS:
        raise CLIError(f"this {name} would have {n:,} parameters; genlab trains at most {MAX_PARAMETERS:,} "
                       f"(widths up to {MAX_SIZE}, and fewer layers)")
    return build(name, data_shape, seed=seed, **config)


def cmd_evaluate(args) -> int:
    from genlib import checkpoints
    from genlib.data import load_dataset
    from genlib.metrics import evaluate

    model = checkpoints.load(args.path)
    name = args.data or model.checkpoint.get("data")
    if not name:
        raise CLIError(f"{args.path} does not record its dataset; pass --data")
    seed = model.checkpoint.get("data_seed", 0)  # the seed that drew the train / test split it was trained on
    data = load_dataset(name, "test", seed=seed)
    if tuple(data.shape) != tuple(model.data_shape):
        raise CLIError(f"{args.path} models data of shape {tuple(model.data_shape)}; {name} is {tuple(data.shape)}: "
                       "pass --data with a set of its shape")
    print(json.dumps(evaluate(model, data, k=args.k)))
    return 0


def cmd_list(args) -> int:
    from genlib import pretrained
    from genlib.data import NAMES
    from genlib.models import MODELS

    print("models:     " + ", ".join(MODELS))
    print("datasets:   " + ", ".join(NAMES))
    print("pretrained: " + (", ".join(pretrained.names()) or "none built"))
    return 0


def cmd_pretrained(args) -> int:
    from genlib import pretrained

    if args.action == "list":
        for name, entry in pretrained.manifest().items():
            m = entry["metrics"]
            score = f"elbo {m['elbo']:.2f}" if "elbo" in m else f"{m.get('bits_per_dim', float('nan')):.3f} bits/dim"
            print(f"{name:24s} {entry['model']:18s} {entry['data']:10s} {score}  {entry['description']}")
        return 0
    targets = args.names or list(pretrained.RECIPES)
    unknown = [n for n in targets if n not in pretrained.RECIPES]
    if unknown:
        raise CLIError(f"no recipe {', '.join(unknown)}; recipes: {', '.join(pretrained.RECIPES)}")
    for name in targets:
        steps = pretrained.RECIPES[name]["steps"]
        sys.stderr.write(f"{name}:\n")
        entry = pretrained.build(name, progress=Progress(steps))
        print(json.dumps({"name": name, "sha256": entry["sha256"], **{
            k: v for k, v in entry["metrics"].items() if k != "kl_per_dim"}}))
    return 0


def cmd_data(args) -> int:
    from genlib.data import download_idx

    print(download_idx(args.name))
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "list": cmd_list, "pretrained": cmd_pretrained,
            "data": cmd_data}


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line ``genlib: error: ...`` on stderr and exit status 2."""
    try:
        args = make_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (CLIError, ValueError, LookupError) as e:  # CheckpointError and UploadError are ValueErrors
        message = str(e)
    except OSError as e:
        message = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else str(e)
    except FloatingPointError as e:
        message = f"training {e}"
    except KeyboardInterrupt:
        message = "interrupted; nothing was saved"
    except Exception as e:  # noqa: BLE001 - the promise is one line, never a traceback
        message = f"unexpected {type(e).__name__}: {e} (a genlib bug: please report it with the command line)"
    sys.stderr.write(f"genlib: error: {_one_line(message)}\n")
    return USAGE_ERROR


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ".join(lines)[:500] if lines else "failed"


if __name__ == "__main__":
    sys.exit(main())
