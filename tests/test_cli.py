"""The command line: train -> evaluate -> list end to end, and bad arguments -> exit 2 with one line on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genlib.__main__ import USAGE_ERROR, main

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, cwd=ROOT):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "genlib", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def test_train_evaluate_list_end_to_end(tmp_path):
    out = tmp_path / "run" / "beta4.safetensors"
    trained = _cli("train", "--model", "vae", "--data", "digits", "--beta", "4", "--steps", "20",
                   "--latent-dim", "3", "--hidden", "32", "--seed", "1", "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    assert "20/20" in trained.stderr and "steps/s" in trained.stderr  # the progress bar
    summary = json.loads(trained.stdout)
    assert summary["out"] == str(out) and out.is_file()
    assert summary["unit"] == "nats per image" and summary["elbo"] < 0

    evaluated = _cli("evaluate", str(out), "--k", "5")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["elbo"] == pytest.approx(summary["elbo"], rel=1e-6)  # the same test split (seed 1), same bound
    assert metrics["iwae_samples"] == 5

    bad = _cli("train", "--steps", "0", "--out", str(out))
    assert bad.returncode == USAGE_ERROR
    assert bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert bad.stderr.startswith("genlib: error:")


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "vae" in out and "digits" in out and "pretrained:" in out


def test_train_in_process_with_a_schedule_and_point_data(tmp_path, capsys):
    out = tmp_path / "moons.safetensors"
    code = main(["train", "--data", "moons", "--schedule", "cyclical:n_cycles=2,ratio=0.5", "--steps", "20",
                 "--hidden", "16", "--latent-dim", "2", "--quiet", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""  # --quiet: no progress bar
    from genlib.checkpoints import read_meta

    meta = read_meta(out)
    assert meta["config"]["likelihood"] == "gaussian"
    assert meta["config"]["beta_schedule"] == {"kind": "cyclical", "total_steps": 20, "n_cycles": 2, "ratio": 0.5,
                                               "start": 0.0, "stop": 1.0, "shape": "linear"}


@pytest.mark.parametrize("argv", [
    [],
    ["fly"],
    ["train"],  # --out is required
    ["train", "--out", "x.safetensors", "--model", "gpt"],
    ["train", "--out", "x.safetensors", "--data", "cifar"],
    ["train", "--out", "x.safetensors", "--steps", "0"],
    ["train", "--out", "x.safetensors", "--steps", "ten"],
    ["train", "--out", "x.safetensors", "--lr", "-1"],
    ["train", "--out", "x.safetensors", "--lr", "inf"],
    ["train", "--out", "x.safetensors", "--hidden", "a,b"],
    ["train", "--out", "x.safetensors", "--hidden", "0"],
    ["train", "--out", "x.safetensors", "--beta", "2", "--schedule", "cyclical"],
    ["train", "--out", "x.safetensors", "--beta", "-1", "--steps", "1"],
    ["train", "--out", "x.safetensors", "--schedule", "cyclical:ratio=2", "--steps", "1"],
    ["train", "--out", "x.safetensors", "--schedule", "wobbly", "--steps", "1"],
    ["train", "--out", "x.safetensors", "--set", "depth=3", "--steps", "1"],
    ["train", "--out", "x.safetensors", "--set", "novalue", "--steps", "1"],
    ["train", "--out", "x.safetensors", "--data", "mnist", "--steps", "1"],  # not on disk: no download
    ["train", "--out", "x.safetensors", "--unknown-flag"],
    ["evaluate"],
    ["evaluate", "no/such/file.safetensors"],
    ["evaluate", "README.md", "--k", "0"],
    ["pretrained"],
    ["pretrained", "build", "no-such-recipe"],
])
def test_bad_arguments_exit_2_with_one_line(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))  # an empty data cache
    monkeypatch.chdir(tmp_path)
    assert main(argv) == USAGE_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genlib: error: "), captured.err
    assert not list(tmp_path.glob("*.safetensors"))  # nothing half-made


def test_evaluate_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"junk")
    assert main(["evaluate", str(path)]) == USAGE_ERROR
    assert "not a readable safetensors checkpoint" in capsys.readouterr().err
