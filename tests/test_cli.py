"""The command line: train -> evaluate -> list end to end, and every failure -> exit 2 with one line on stderr:
bad arguments, unusable output paths (a folder, under a file, not writable, a full disk), a diverging run, and
checkpoints whose sizes would need memory they do not hold (refused before any allocation, measured)."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from genlib.__main__ import USAGE_ERROR, main

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, cwd=ROOT, preexec_fn=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "genlib", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, preexec_fn=preexec_fn)


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
    ["train", "--out", "x.safetensors", "--seed", "-1"],
    ["train", "--out", "x.safetensors", "--seed", "99999999999999999999"],
    ["train", "--out", "x.safetensors", "--seed", "1e3"],
    ["evaluate", "x.safetensors", "--k", "100000"],
    ["train", "--out", "x.safetensors", "--latent-dim", "100000000"],  # sizes refused before anything is built
    ["train", "--out", "x.safetensors", "--hidden", "4096,4096,4096,4096"],  # 101 M parameters: too many
    ["train", "--out", "x.safetensors", "--set", "beta_schedule=5"],
    ["train", "--out", "x.safetensors", "--set", "latent_dim=true"],
    ["train", "--out", "x.safetensors", "--set", "hidden={\"a\": 1}"],
    ["train", "--out", "x.safetensors", "--model", "hierarchical-vae", "--set", "upper_dims=[5000]"],
    ["train", "--out", "x.safetensors", "--model", "pixelcnn", "--set", "channels=-8"],
    ["train", "--out", "x.safetensors", "--beta", "nan"],
    ["train", "--out", "x.safetensors", "--free-bits", "nan"],
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


# ------------------------------------------------------------- failures in a real process: one line, exit 2
# Each runs `python -m genlib` as a user would. A failure prints exactly one line, "genlib: error: ...", on
# stderr, exits 2, and leaves the folder as it found it: a checkpoint already at --out byte for byte.

TINY = ["--steps", "5", "--hidden", "16", "--latent-dim", "2", "--quiet"]
_LIBC = ctypes.CDLL(None, use_errno=True)


def _one_error_line(done, *fragments) -> str:
    assert done.returncode == USAGE_ERROR, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("genlib: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr  # a progress bar may precede it
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def _tree(folder: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


@pytest.fixture(scope="module")
def old_checkpoint(tmp_path_factory) -> bytes:
    """A tiny trained checkpoint's bytes: what a failed run must leave at --out."""
    out = tmp_path_factory.mktemp("old") / "old.safetensors"
    done = _cli("train", *TINY, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out.read_bytes()


def _no_dac_override():
    """Make the child unable to bypass file permissions, as a user who is not root (tests run as root here)."""
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, dropped from the bounding set before exec
        if _LIBC.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _disk_of(limit_bytes: int):
    def limit():  # a file may not grow past limit_bytes: writes fail as on a full disk (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return limit


@pytest.mark.parametrize("out, made, fragment", [
    ("a-folder", "folder", "is a folder"),
    ("a-file/x.safetensors", "file", "is a file, not a folder"),
    ("a-file/deeper/still/x.safetensors", "file", "is a file, not a folder"),
    ("/dev/null", None, "not a regular file"),
    ("/proc/genlab/x.safetensors", None, "cannot be written"),
], ids=["is-a-folder", "under-a-file", "deep-under-a-file", "a-device", "proc"])
def test_an_unusable_out_path_is_refused_before_training(tmp_path, out, made, fragment):
    target = tmp_path / out.split("/")[0]
    if made == "folder":
        target.mkdir()
    elif made == "file":
        target.write_text("notes")
    before = _tree(tmp_path)
    done = _cli("train", *TINY[:-1], "--out", out, cwd=tmp_path)  # not quiet: nothing trains, so no bar either
    _one_error_line(done, fragment, out)
    assert "steps/s" not in done.stderr, "refused before training"
    assert _tree(tmp_path) == before


def test_an_out_folder_that_is_not_writable(tmp_path):
    if _LIBC.prctl(23, 1, 0, 0, 0) != 1:  # PR_CAPBSET_READ: without CAP_DAC_OVERRIDE to drop, chmod suffices
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "m.safetensors").write_bytes(b"old")
    locked.chmod(0o555)
    try:
        for out in ("locked/new.safetensors", "locked/sub/new.safetensors"):
            env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
            done = subprocess.run([sys.executable, "-m", "genlib", "train", *TINY, "--out", out], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, timeout=120, preexec_fn=_no_dac_override)
            _one_error_line(done, "not writable", out)
        assert sorted(p.name for p in locked.iterdir()) == ["m.safetensors"]
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("out", ["old.safetensors", "new/folders/m.safetensors"], ids=["over-a-checkpoint", "new"])
def test_a_full_disk_keeps_the_old_checkpoint_and_leaves_nothing_behind(tmp_path, old_checkpoint, out):
    (tmp_path / "old.safetensors").write_bytes(old_checkpoint)
    before = _tree(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "genlib", "train", *TINY, "--out", out], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, preexec_fn=_disk_of(4096))
    line = _one_error_line(done, f"could not write {out}", "File too large")
    assert ("old.safetensors is unchanged" in line) == (out == "old.safetensors"), line
    assert _tree(tmp_path) == before  # the old checkpoint byte for byte; no temporary file, no new folder


@pytest.mark.parametrize("lr", ["10", "1e6"])
def test_a_diverging_run_says_where_what_was_kept_and_what_to_try(tmp_path, old_checkpoint, lr):
    out = tmp_path / "old.safetensors"
    out.write_bytes(old_checkpoint)
    done = _cli("train", "--steps", "300", "--hidden", "16", "--latent-dim", "2", "--lr", lr, "--out", str(out))
    line = _one_error_line(done, "stopped at step", "of 300 steps", "Nothing was saved", f"{out} is unchanged",
                           "smaller --lr")
    assert "steps/s" in done.stderr and "\ngenlib: error: " in done.stderr, "the bar's line ends before the error"
    step = int(line.split("stopped at step ")[1].split(":")[0])
    assert 1 <= step < 300
    assert out.read_bytes() == old_checkpoint and list(tmp_path.iterdir()) == [out]


def _peak_mb(*args, cwd=ROOT) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI and return it with its own peak resident memory (MB), from the kernel's rusage."""
    return _peaks_mb([args], cwd=cwd)[0]


def _peaks_mb(commands, cwd=ROOT) -> list[tuple[subprocess.CompletedProcess, float]]:
    """``_peak_mb`` of several CLI commands, run at once (each process's own rusage: they do not mix)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with contextlib.ExitStack() as files:
        running = []
        for args in commands:
            out, err = (files.enter_context(tempfile.TemporaryFile("w+")) for _ in range(2))
            child = subprocess.Popen([sys.executable, "-m", "genlib", *args], stdout=out, stderr=err, cwd=cwd, env=env)
            running.append((child, out, err))
        results = []
        for child, out, err in running:
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            done = subprocess.CompletedProcess(child.args, child.returncode, out.read(), err.read())
            results.append((done, usage.ru_maxrss / 1024))  # KB on Linux
    return results


def test_huge_sizes_in_a_checkpoint_are_refused_before_any_allocation(tmp_path, old_checkpoint):
    """Sizes within the bounds but not those of the file's weights (3 x 4096 x 4096 floats, 200 MB, if built)
    and sizes past them are refused with the memory of `list`, which builds nothing."""
    from genlib.checkpoints import META_KEY, _header

    good = tmp_path / "good.safetensors"
    good.write_bytes(old_checkpoint)
    meta, _ = _header(good)
    weights = load_file(str(good))
    cases = [({"hidden": [4096, 4096, 4096]}, "weights do not match"),
             ({"hidden": [4096], "latent_dim": 4096}, "has shape"),
             ({"latent_dim": 10**12}, "sizes run from 0"),
             ({"hidden": [2**62]}, "sizes run from 0")]
    commands = [("list",)]
    for i, (config, _) in enumerate(cases):
        path = tmp_path / f"bad-{i}.safetensors"
        save_file(weights, str(path), metadata={META_KEY: json.dumps({**meta, "config": {**meta["config"], **config}})})
        commands.append(("evaluate", str(path)))
    (_, baseline), *evaluated = _peaks_mb(commands)
    for (config, fragment), (done, peak) in zip(cases, evaluated, strict=True):
        _one_error_line(done, fragment)
        assert peak < baseline + 60, f"{config}: {peak:.0f} MB against {baseline:.0f} MB for `list`"


@pytest.mark.parametrize("failure, fragment", [
    (RuntimeError("boom\nsecond line"), "unexpected RuntimeError: boom second line"),
    (KeyboardInterrupt(), "interrupted; nothing was saved"),
    (MemoryError(), "unexpected MemoryError"),
    (PermissionError(13, "Permission denied", "/somewhere"), "Permission denied: /somewhere"),
])
def test_whatever_goes_wrong_inside_a_command_is_one_line(failure, fragment, monkeypatch, capsys):
    import genlib.__main__ as cli

    def fails(args):
        raise failure

    monkeypatch.setitem(cli.COMMANDS, "list", fails)
    assert main(["list"]) == USAGE_ERROR
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"genlib: error: {fragment}"), captured.err
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n")


@pytest.mark.parametrize("data", ["moons", "sprites"])
def test_evaluating_on_a_set_of_another_shape_says_so(tmp_path, old_checkpoint, capsys, data):
    path = tmp_path / "digits.safetensors"
    path.write_bytes(old_checkpoint)
    assert main(["evaluate", str(path), "--data", data]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "models data of shape (1, 8, 8)" in err and f"{data} is (" in err, err
