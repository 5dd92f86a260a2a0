"""The multimodal VAE: packing of modalities, missing modalities left out, the MVAE objective's pieces,
and, trained briefly, cross-modal inference (image -> label, label -> image) checked by an independent
classifier (scikit-learn's logistic regression on the binarised digits)."""

from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from genlib.data import LAYOUTS, labels_to_values, load_dataset, pack, unpack, whole_images
from genlib.distributions import gaussian_kl, product_of_experts
from genlib.metrics import evaluate
from genlib.models import build
from genlib.train import fit

TINY = {"latent_dim": 4, "hidden": (32,)}
# What the training test uses: about 5 s per model on one free core.
BRIEF = {"latent_dim": 8, "hidden": (128,), "weights": {"label": 10.0}, "n_subsets": 0,
         "beta_schedule": {"kind": "monotonic", "total_steps": 240, "ratio": 0.3}}


@pytest.fixture(scope="module")
def pairs():
    return load_dataset("digits-image-label", "train", seed=0)


def test_the_multimodal_sets_pack_the_digits_split(pairs):
    digits = load_dataset("digits", "train", seed=0)
    assert pairs.shape == (65,) and torch.equal(pairs.y, digits.y)
    parts = unpack(pairs.x, "digits-image-label")
    assert torch.equal(parts["image"], digits.x)
    assert torch.equal(torch.round(parts["label"][:, 0] * 9).long(), digits.y)
    halves = unpack(load_dataset("digits-halves-label", "test", seed=0).x, "digits-halves-label")
    assert torch.equal(whole_images(halves), load_dataset("digits", "test", seed=0).x)
    for layout in LAYOUTS:
        x = load_dataset(layout, "test", seed=0).x
        assert torch.equal(pack(unpack(x, layout), layout), x)
    with pytest.raises(ValueError, match="missing"):
        pack({"top": halves["top"]}, "digits-halves")


def test_a_missing_modality_runs_no_encoder_and_is_left_out(pairs):
    model = build("multimodal-vae", pairs.shape, **TINY)
    parts = model.split(pairs.x[:6])
    called = []
    model.encoders["label"].register_forward_hook(lambda *a: called.append("label"))
    log_w, mu, logvar = model.posterior({"image": parts["image"]})
    assert called == []  # the label's encoder never saw a placeholder
    mu_i, logvar_i = model.encode_expert("image", parts["image"])
    expected = product_of_experts(mu_i[None], logvar_i[None], prior=True)  # image expert x N(0, I)
    torch.testing.assert_close((mu[0], logvar[0]), expected)
    assert torch.equal(log_w, torch.zeros(1, 6))
    moe = build("multimodal-vae", pairs.shape, fusion="moe", **TINY)
    log_w, mu, logvar = moe.posterior({"label": parts["label"]})
    assert mu.shape[0] == 1 and torch.equal(log_w, torch.zeros(1, 6))  # only the label's component is left
    with pytest.raises(ValueError, match="at least one"):
        model.posterior({})


def test_the_subsets_are_joint_singles_and_random_non_empty(pairs):
    model = build("multimodal-vae", load_dataset("digits-halves-label").shape, layout="digits-halves-label",
                  n_subsets=3, **TINY)
    masks = model.subset_masks(50)  # (S, M, B)
    assert masks.shape == (1 + 3 + 3, 3, 50)
    assert masks[0].all() and torch.equal(masks[1:4, :, 0], torch.eye(3, dtype=torch.bool))
    assert masks[4:].any(1).all()  # a random subset is never empty
    assert len({tuple(c) for c in masks[4:].permute(0, 2, 1).reshape(-1, 3).tolist()}) == 7  # all 7 appear


@pytest.mark.parametrize("fusion", ["poe", "moe"])
def test_loss_terms_and_evaluation(pairs, fusion):
    model = build("multimodal-vae", pairs.shape, fusion=fusion, **TINY)
    x = pairs.x[:16]
    terms = model.loss(x)
    torch.testing.assert_close(terms["elbo"], -(terms["recon"] + terms["kl"]))
    assert set(terms) >= {"loss", "elbo_image", "elbo_label", "kl_per_dim"}
    if fusion == "poe":  # the joint KL is the closed form at the product of all experts and the prior
        mu, logvar = model.encode(model.likelihood.prepare(x))
        torch.testing.assert_close(terms["kl"], gaussian_kl(mu, logvar).sum(1))
    metrics = evaluate(model, pairs.subset(64), k=20)
    assert metrics["nll_iwae"] <= -metrics["elbo"] + 0.5  # IWAE at least as tight, up to sampling noise
    assert metrics["unit"].startswith("nats per example")


def test_a_zero_likelihood_weight_silences_that_modality(pairs):
    model = build("multimodal-vae", pairs.shape, weights={"label": 0.0}, **TINY)
    model.loss(pairs.x[:16])["loss"].backward()
    assert all(p.grad is None or not p.grad.any() for p in model.decoders["label"].parameters())
    with pytest.raises(ValueError, match="no modality"):
        build("multimodal-vae", pairs.shape, weights={"colour": 1.0}, **TINY)
    with pytest.raises(ValueError, match="packs 65"):
        build("multimodal-vae", (64,), **TINY)


@pytest.fixture(scope="module")
def classifier():
    """A simple independent judge: logistic regression on binarised training digits."""
    digits = load_dataset("digits", "train", seed=0)
    return LogisticRegression(max_iter=1000).fit((digits.x.flatten(1) > 0.5).numpy(), digits.y.numpy())


@pytest.mark.parametrize("fusion", ["poe", "moe"])
def test_brief_training_gives_cross_modal_inference(pairs, classifier, fusion):
    model = build("multimodal-vae", pairs.shape, seed=0, fusion=fusion, **BRIEF)
    list(fit(model, pairs, steps=240, batch_size=64, seed=0))
    model.eval()
    test = load_dataset("digits-image-label", "test", seed=0)
    image = unpack(test.x, "digits-image-label")["image"]
    accuracy = (model.predict({"image": image})["label"].argmax(1) == test.y).float().mean().item()
    ys = torch.arange(10).repeat(20)
    g = torch.Generator().manual_seed(0)
    images = model.generate({"label": labels_to_values(ys)}, n=1, generator=g)["image"][0]  # (200, 1, 8, 8)
    rate = (torch.as_tensor(classifier.predict((images.flatten(1) > 0.5).numpy())) == ys).float().mean().item()
    print(f"{fusion}: image -> label accuracy {accuracy:.3f}, label -> image rate {rate:.3f}")
    assert accuracy > 0.35  # chance is 0.1; measured 0.45 (poe) and 0.83 (moe)
    assert rate > 0.5  # measured 0.68 (poe) and 0.86 (moe)


def test_the_cli_trains_a_multimodal_set_with_its_layout(tmp_path, capsys):
    from genlib.__main__ import main
    from genlib.checkpoints import load

    out = tmp_path / "halves.safetensors"
    assert main(["train", "--model", "multimodal-vae", "--data", "digits-halves", "--steps", "5", "--hidden", "32",
                 "--latent-dim", "4", "--quiet", "--out", str(out)]) == 0
    assert load(out).config.layout == "digits-halves"
