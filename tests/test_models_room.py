"""genlib/models/ reads top down: the registry imports the models, never the other way, and each file holds one idea
(the split of pixelcnn.py and multimodal.py kept every public name importable where it was)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "genlib" / "models"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (``from a.b import c`` gives a.b and a.b.c)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("path", sorted(p for p in MODELS.glob("*.py") if p.name not in ("registry.py", "__init__.py")),
                         ids=lambda p: p.name)
def test_no_model_file_imports_the_registry(path):
    imported = _imports(path)
    assert not {"genlib.models.registry", "genlib.models.build", "genlib.models.REGISTRY"} & imported, path.name
    assert "genlib.models" not in imported, f"{path.name} imports the package, which imports the registry"


def test_the_split_models_import_first_in_a_fresh_process():
    """Imported before anything else (the order that once met the registry half-built), every old name is there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = ("import genlib.models.pixelcnn, genlib.models.multimodal;"
            "from genlib.models.pixelcnn import receptive_field, compare_fields, complete_halves, mask_pictures,"
            " sampling_frames, analytic_receptive_field, blind_spot, receptive_fields_by_layer;"
            "from genlib.models.multimodal import cross_modal, label_accuracy, FUSIONS;"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("name", ["pixelcnn.py", "pixelcnn_networks.py", "receptive_fields.py", "pixelcnn_sampling.py",
                                  "multimodal.py", "fusion.py", "multimodal_views.py", "hierarchical.py",
                                  "hierarchical_views.py"])
def test_the_split_files_are_one_idea_each(name):
    text = (MODELS / name).read_text()
    assert len(text.splitlines()) <= 300, f"{name} has grown past 300 lines"
    assert ast.get_docstring(ast.parse(text)), f"{name} says what it holds"


def test_compare_fields_builds_the_models_the_registry_builds():
    import torch

    from genlib.models import build
    from genlib.models.pixelcnn import compare_fields, receptive_field

    fields = compare_fields((4, 4), 3, seed=2)
    for name in ("pixelcnn", "gated-pixelcnn"):
        model = build(name, (1, 8, 8), seed=2, channels=8, n_layers=3, kernel_size=3)
        assert torch.equal(torch.from_numpy(fields[name]), receptive_field(model, (4, 4), seed=2)), name
    assert fields["analytic_agrees"] and not fields["gated-pixelcnn blind_spot"].any()
