"""genlib against a peer library, Pythae (Chadebec et al. 2022, "Pythae: Unifying Generative Autoencoders in
Python"), where it is installed: the same MLP VAE on the same data, batch and optimiser, in one process.

The model is bench/fit_vs_plain's: digits binarised at 0.5, latent 8, MLP 256-256 both ways, Bernoulli pixels,
batch 128, Adam at 1e-3, one torch thread (as the app's live sessions train). Pythae's VAE gets genlib's own
encoder and decoder networks with the same initial weights (wrapped in Pythae's ``BaseEncoder`` /
``BaseDecoder``, the decoder ending in a sigmoid for its "bce" loss), so both minimise the same negative ELBO
(nats per image, batch mean) from the same start. Pythae's loader drops its last, short batch, as genlib does.

- ``per step``: steps per CPU second, genlib's ``TrainingRun.advance`` (for this plain VAE a stack of one,
  ``genlib.batched``) against one epoch of Pythae's ``BaseTrainer.train_step`` (its DataLoader and default
  callbacks, the progress bar's output dropped), taken in turn epoch by epoch; the figure is the median over
  epochs of Pythae's seconds per step over genlib's.
  ``Pythae bare`` is Pythae's model and Adam in a hand-written loop on genlib's batches: where the rest goes.
- ``time to ELBO``: from nothing (building the model, Pythae's trainer with its sanity check and output folder)
  to a test-set ELBO of ``TARGET_ELBO`` nats, checked after every epoch by the same function for both (that check
  is not timed); both advance in turn, epoch by epoch. The figure is Pythae's CPU seconds over genlib's.
- ``import``: seconds to import each library's training code in a fresh interpreter (median of 3, in turn).

    pip install pythae==0.1.2     # not a requirement; installs beside our pins (pip check is clean)
    python -m bench peers         # about a minute

Without Pythae the bench says so and measures nothing. Measured figures: bench/NOTES.md.
"""

from __future__ import annotations

import contextlib
import copy
import io
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from genlib.data import load_dataset
from genlib.distributions import gaussian_kl
from genlib.models import build
from genlib.train import TrainingRun

CONFIG = {"latent_dim": 8, "hidden": (256, 256), "likelihood": "bernoulli"}
BATCH = 128
LR = 1e-3
EPOCHS = 20  # per-step figure: epochs of each, in turn
TARGET_ELBO = -18.5  # nats per image on the digits test split: genlib reached it in ~770 steps
MAX_EPOCHS = 300  # time to ELBO: give up after this many


def pythae_available() -> bool:
    try:
        import pythae  # noqa: F401
    except ImportError:
        return False
    return True


def binarised(data) -> torch.Tensor:
    return (data.x > 0.5).float()


def test_elbo(encode, decode_logits, x: torch.Tensor) -> float:
    """The one-sample ELBO of binarised ``x`` (nats per image), the same check for both libraries."""
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mu, logvar = encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = decode_logits(z).reshape(len(x), -1)
        recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(1)
        return float(-(recon + gaussian_kl(mu, logvar).sum(1)).mean())


def pythae_vae(genlib_model):
    """Pythae's VAE around copies of ``genlib_model``'s encoder and decoder (the same initial weights)."""
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    d = genlib_model.config.latent_dim

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = copy.deepcopy(genlib_model.encoder)

        def forward(self, x):
            mu, logvar = self.net(x.flatten(1)).split(d, dim=-1)
            return ModelOutput(embedding=mu, log_covariance=logvar)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = copy.deepcopy(genlib_model.decoder)

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).view(-1, *genlib_model.data_shape))

    config = VAEConfig(input_dim=genlib_model.data_shape, latent_dim=d, reconstruction_loss="bce")
    return VAE(config, encoder=Encoder(), decoder=Decoder())


def pythae_trainer(model, x: torch.Tensor, out_dir: str):
    """Pythae's BaseTrainer as its pipeline sets it up, with a loader that drops the last, short batch."""
    from pythae.data.datasets import BaseDataset, collate_dataset_output
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    dataset = BaseDataset(x, torch.zeros(len(x)))
    config = BaseTrainerConfig(output_dir=out_dir, per_device_train_batch_size=BATCH, learning_rate=LR,
                               num_epochs=MAX_EPOCHS, no_cuda=True)
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        trainer = BaseTrainer(model, dataset, training_config=config)
        trainer.train_loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True, drop_last=True,
                                                           collate_fn=collate_dataset_output)
        trainer.prepare_training()
    return trainer


def pythae_epoch(trainer, epoch: int) -> None:
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        trainer.train_step(epoch)


def per_step(train, out_dir: str) -> dict:
    gmodel = build("vae", train.shape, seed=0, **CONFIG)
    pmodel = pythae_vae(gmodel)
    run = TrainingRun(gmodel, train, steps=10**6, batch_size=BATCH, lr=LR, seed=0)
    trainer = pythae_trainer(pmodel, binarised(train), out_dir)
    steps = len(trainer.train_loader)  # 11 batches of 128 in 1437 images
    bare = pythae_vae(build("vae", train.shape, seed=0, **CONFIG))
    bare_opt = torch.optim.Adam(bare.parameters(), lr=LR)
    bare_run = TrainingRun(build("vae", train.shape, seed=0, **CONFIG), train, steps=10**6, batch_size=BATCH)

    def bare_epoch():
        for _ in range(steps):
            out = bare({"data": (bare_run._next_batch() > 0.5).float()})
            bare_opt.zero_grad()
            out.loss.backward()
            bare_opt.step()

    contenders = {"genlib": lambda: run.advance(steps), "Pythae": lambda: pythae_epoch(trainer, 0),
                  "Pythae bare": bare_epoch}
    for go in contenders.values():  # warm up
        go()
    seconds = {name: [] for name in contenders}
    order = list(contenders)
    for _ in range(EPOCHS):
        for name in order:
            start = time.process_time()
            contenders[name]()
            seconds[name].append((time.process_time() - start) / steps)
        order = order[1:] + order[:1]
    return {"seconds": seconds,
            "ratio": [p / g for p, g in zip(seconds["Pythae"], seconds["genlib"], strict=True)],
            "bare_ratio": [p / g for p, g in zip(seconds["Pythae bare"], seconds["genlib"], strict=True)]}


def time_to_elbo(train, test, out_dir: str) -> dict:
    """CPU seconds from nothing to TARGET_ELBO on the test split, the two in turn, epoch by epoch."""
    x_test = binarised(test)
    spent = {"genlib": 0.0, "Pythae": 0.0}
    state: dict = {}

    def start_genlib():
        model = build("vae", train.shape, seed=0, **CONFIG)
        state["genlib"] = (model, TrainingRun(model, train, steps=10**6, batch_size=BATCH, lr=LR, seed=0))

    def start_pythae():
        model = pythae_vae(build("vae", train.shape, seed=0, **CONFIG))
        state["Pythae"] = (model, pythae_trainer(model, binarised(train), out_dir))

    def elbo(name):
        model = state[name][0]
        if name == "genlib":
            return test_elbo(model.encode, model.decoder, x_test)
        net_e, net_d = model.encoder.net, model.decoder.net
        return test_elbo(lambda x: net_e(x.flatten(1)).chunk(2, dim=-1), net_d, x_test)

    steps_per_epoch = len(train.x) // BATCH
    reached: dict[str, int] = {}
    for name, begin in (("genlib", start_genlib), ("Pythae", start_pythae)):
        t = time.process_time()
        begin()
        spent[name] += time.process_time() - t
    for epoch in range(1, MAX_EPOCHS + 1):
        for name in [n for n in (("genlib", "Pythae") if epoch % 2 else ("Pythae", "genlib")) if n not in reached]:
            t = time.process_time()
            if name == "genlib":
                state[name][1].advance(steps_per_epoch)
            else:
                pythae_epoch(state[name][1], epoch)
            spent[name] += time.process_time() - t
            if elbo(name) >= TARGET_ELBO:
                reached[name] = epoch * steps_per_epoch
        if len(reached) == 2:
            break
    return {"seconds": spent, "steps": reached}


def import_seconds() -> dict:
    code = {"genlib": "import genlib.train, genlib.models",
            "Pythae": "import pythae.models, pythae.trainers"}
    seconds = {name: [] for name in code}
    for _ in range(3):
        for name, line in code.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", line], check=True, capture_output=True)
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in seconds.items()}


def run() -> list[dict]:
    if not pythae_available():
        return [{"bench": "peers", "figure": "Pythae", "value": "not installed",
                 "note": "pip install pythae==0.1.2 to compare (not a requirement)"}]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, test = load_dataset("digits", "train", seed=0), load_dataset("digits", "test", seed=0)
        with tempfile.TemporaryDirectory() as out_dir:
            step = per_step(train, out_dir)
            elbo = time_to_elbo(train, test, out_dir)
        imports = import_seconds()
    finally:
        torch.set_num_threads(threads)
    r, b = step["ratio"], step["bare_ratio"]
    ms = {name: statistics.median(s) * 1e3 for name, s in step["seconds"].items()}
    s, n = elbo["seconds"], elbo["steps"]
    return [
        {"bench": "peers", "figure": "per step: Pythae / genlib", "value": f"{statistics.median(r):.2f}x",
         "note": f"range {min(r):.2f}-{max(r):.2f}x over {EPOCHS} epochs in turn; {ms['genlib']:.2f} vs "
                 f"{ms['Pythae']:.2f} ms a step (target >= 2x)"},
        {"bench": "peers", "figure": "per step: Pythae bare / genlib", "value": f"{statistics.median(b):.2f}x",
         "note": f"Pythae's model and torch Adam in a plain loop: {ms['Pythae bare']:.2f} ms a step"},
        {"bench": "peers", "figure": f"time to test ELBO {TARGET_ELBO:g}: Pythae / genlib",
         "value": f"{s['Pythae'] / s['genlib']:.2f}x" if len(n) == 2 else "not reached",
         "note": f"{s['genlib']:.1f} vs {s['Pythae']:.1f} CPU s from building the model; steps "
                 f"{n.get('genlib', '-')} vs {n.get('Pythae', '-')}"},
        {"bench": "peers", "figure": "import: Pythae / genlib",
         "value": f"{imports['Pythae'] / imports['genlib']:.2f}x",
         "note": f"{imports['genlib']:.2f} s vs {imports['Pythae']:.2f} s in a fresh interpreter"},
    ]


if __name__ == "__main__":
    from bench import table

    print(table(run()))
