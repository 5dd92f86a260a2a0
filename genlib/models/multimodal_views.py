"""What the product-of-experts page shows of a multimodal VAE: the digit predicted from any subset of its
modalities (``cross_modal``), and how often the label predicted from the image is right (``label_accuracy``).

Both take a ``genlib.models.multimodal.MultimodalVAE`` and use only its public methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from genlib.data import unpack, whole_images

if TYPE_CHECKING:
    from genlib.models.multimodal import MultimodalVAE


@torch.no_grad()
def cross_modal(model: MultimodalVAE, x: torch.Tensor, given: tuple[str, ...], *, n_samples: int = 4,
                seed: int = 0) -> dict:
    """Condition ``model`` on the ``given`` modalities of packed rows ``x`` (B x D) and predict everything.

    Returns numpy arrays: ``inputs`` (B, 1, H, W), the digit with what is hidden as NaN; ``mean``, the
    whole digit decoded at the posterior's mean(s); ``samples`` (n, B, 1, H, W), decoded draws
    z ~ q(z | given); ``label_probs`` (B, K) the predicted label distribution (None without a label);
    ``labels`` (B,) the true labels.
    """
    unknown = [g for g in given if g not in model.names]
    if not given or unknown:
        raise ValueError(f"condition on a non-empty subset of {', '.join(model.names)}; got {list(given)}")
    was_training = model.training
    model.eval()
    try:
        parts = unpack(x.to(model.lambdas.device), model.config.layout)
        shown = {n: v if n in given else torch.full_like(v, float("nan")) for n, v in parts.items()}
        observed = {n: parts[n] for n in given}
        mean = model.predict(observed)
        draws = model.generate(observed, n=n_samples, generator=torch.Generator(model.lambdas.device).manual_seed(seed))
        images = lambda d: whole_images({n: v for n, v in d.items() if n != "label"})  # noqa: E731
        label_probs = mean.get("label")
        return {
            "inputs": images(shown).cpu().numpy(),
            "mean": images(mean).cpu().numpy(),
            "samples": images(draws).cpu().numpy(),
            "label_probs": None if label_probs is None else label_probs.cpu().numpy(),
            "labels": torch.round(parts["label"][:, 0] * 9).long().cpu().numpy() if "label" in parts else None,
        }
    finally:
        model.train(was_training)


@torch.no_grad()
def label_accuracy(model: MultimodalVAE, dataset, given: tuple[str, ...] | None = None) -> float:
    """Share of ``dataset`` whose most probable predicted label, from the ``given`` modalities (default:
    every modality but the label), is its true label."""
    if "label" not in model.names:
        raise ValueError(f"{model.config.layout} has no label to predict")
    given = given or tuple(n for n in model.names if n != "label")
    was_training = model.training
    model.eval()
    try:
        parts = unpack(dataset.x.to(model.lambdas.device), model.config.layout)
        probs = model.predict({n: parts[n] for n in given})["label"]
        return (probs.argmax(1).cpu() == dataset.y).float().mean().item()
    finally:
        model.train(was_training)
