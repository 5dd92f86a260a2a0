"""Cross-modal figures of the pretrained multimodal VAEs (mvae-poe-digits, mvae-moe-digits), side by side.

On the 359 test digits (seed 0): the label predicted from the whole image (top + bottom) and from the top
half alone; and label -> image, 50 samples z ~ q(z | label) per class, decoded, binarised and classified
by a logistic regression trained on the binarised training digits (an independent judge; its own test
accuracy is reported too). ``python -m bench multimodal``.
"""

from __future__ import annotations

import torch
from sklearn.linear_model import LogisticRegression

from genlib import pretrained
from genlib.data import labels_to_values, load_dataset, whole_images
from genlib.models.multimodal import label_accuracy

SAMPLES_PER_CLASS = 50


def _binary(images: torch.Tensor):
    return (images.flatten(1) > 0.5).numpy()


def run() -> list[dict]:
    digits, digits_test = load_dataset("digits", "train", seed=0), load_dataset("digits", "test", seed=0)
    judge = LogisticRegression(max_iter=1000).fit(_binary(digits.x), digits.y.numpy())
    rows = [{"bench": "multimodal", "figure": "judge accuracy on test digits",
             "value": f"{(judge.predict(_binary(digits_test.x)) == digits_test.y.numpy()).mean():.3f}",
             "note": "logistic regression on binarised digits"}]
    test = load_dataset("digits-halves-label", "test", seed=0)
    ys = torch.arange(10).repeat(SAMPLES_PER_CLASS)
    for name in ("mvae-poe-digits", "mvae-moe-digits"):
        if name not in pretrained.names():
            rows.append({"bench": "multimodal", "figure": name, "value": "not built", "note": ""})
            continue
        model = pretrained.load(name).eval()
        draws = model.generate({"label": labels_to_values(ys)}, n=1, generator=torch.Generator().manual_seed(0))
        images = whole_images({k: v[0] for k, v in draws.items() if k != "label"})
        rate = (judge.predict(_binary(images)) == ys.numpy()).mean()
        rows += [
            {"bench": "multimodal", "figure": f"{name}: image -> label accuracy",
             "value": f"{label_accuracy(model, test):.3f}", "note": "top + bottom given; chance 0.1"},
            {"bench": "multimodal", "figure": f"{name}: top half -> label accuracy",
             "value": f"{label_accuracy(model, test, ('top',)):.3f}", "note": "chance 0.1"},
            {"bench": "multimodal", "figure": f"{name}: label -> image rate",
             "value": f"{rate:.3f}", "note": f"{SAMPLES_PER_CLASS} samples per class, classified as their label"},
        ]
    return rows


if __name__ == "__main__":
    from bench import table

    print(table(run()))
