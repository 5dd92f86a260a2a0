"""The stacked VAE step's element-wise passes as compiled loops (``native.c``), where a C compiler exists.

``genlib.batched`` trains the annealing lab's runs as one stack. After its matrix products, the rest of a
lock step is some sixty small tensor operations (the Bernoulli term, the reparameterisation, the KL with free
bits, the ReLUs' gradients), each dispatched on its own, and this torch build's ``exp`` and ``log`` take
about 1.4 ns an element, one at a time. ``native.c`` does each group of them in one pass of loops that the
compiler vectorises. It is compiled on first use with the system's C compiler (``cc``, about 0.3 s) into
``~/.cache/genlab`` (``GENLAB_NATIVE_DIR`` elsewhere), under a name made from its source and flags, and
loaded with ``ctypes``; a call releases the GIL, like a torch kernel.

Where there is no compiler, the build fails, or ``GENLAB_NATIVE=0`` is set, ``available()`` is False and
``genlib.batched`` keeps its tensor operations: the same numbers to rounding (tests/test_native.py holds each
kernel to torch's own functions and autograd). Only contiguous float32 CPU tensors go through here.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("native.c")
FLAGS = ("-O3", "-shared", "-fPIC", "-fno-math-errno", "-fno-trapping-math")  # IEEE sums and NaN: no fast-math
X86_VECTOR = ("-mavx2", "-mfma")  # where torch itself runs its AVX2 kernels
MAX_DIM = 4096  # gaussian_kl_step's per-dimension scratch arrays

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict = {}  # "lib": the loaded library, or "reason": why there is none
_off = [0]  # turned_off() depth


def _flags() -> tuple[str, ...]:
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    return FLAGS + (X86_VECTOR if x86 and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512") else ())


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


def _cache_dir() -> Path:
    return Path(os.environ.get("GENLAB_NATIVE_DIR") or Path.home() / ".cache" / "genlab")


def _build(compiler: str, flags: tuple[str, ...]) -> Path:
    """The compiled library, built once per source and flags; a build is written beside its final name and
    renamed into place, so processes building at once each see a whole file."""
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join((compiler, *flags)).encode()).hexdigest()[:16]
    for folder in (_cache_dir(), Path(tempfile.gettempdir()) / "genlab"):
        path = folder / f"native-{key}.so"
        if path.exists():
            return path
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, partial = tempfile.mkstemp(suffix=".so", dir=folder)
            os.close(fd)
        except OSError:
            continue  # not writable: the next folder
        try:
            subprocess.run([compiler, *flags, "-o", partial, str(SOURCE), "-lm"], check=True, capture_output=True,
                           timeout=120)
            os.replace(partial, path)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return path
    raise OSError("no writable folder for the compiled kernels")


def _load():
    with _lock:
        if not _state:
            if os.environ.get("GENLAB_NATIVE", "1") == "0":
                _state["reason"] = "turned off (GENLAB_NATIVE=0)"
            elif (compiler := _compiler()) is None:
                _state["reason"] = "no C compiler (cc) on PATH"
            else:
                try:
                    _state["lib"] = _declare(ctypes.CDLL(str(_build(compiler, _flags()))))
                except (OSError, subprocess.SubprocessError, AttributeError) as e:
                    detail = getattr(e, "stderr", b"") or b""
                    _state["reason"] = f"the build failed: {e} {detail.decode(errors='replace')[:500]}".strip()
                    _log.info("genlib.native: %s; the stack uses tensor operations", _state["reason"])
        return _state.get("lib")


def _declare(lib):
    p, i, f = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
    signatures = {"bernoulli_nll": [p, p, p, p, i, i, i, f],
                  "reparameterize": [p, p, p, p, i, i, i],
                  "gaussian_kl_step": [p, p, p, p, i, i, i, p, p, p, p, p, p, p, p, i, i, i],
                  "relu_backward_bias": [p, i, i, i, p, p, i, i, i]}
    for name, args in signatures.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, None
    return lib


def available() -> bool:
    """Whether the compiled kernels are loaded (building them on the first call)."""
    return _load() is not None


def reason() -> str | None:
    """Why the kernels are not available, or None where they are."""
    _load()
    return _state.get("reason")


def fits(*tensors: torch.Tensor) -> bool:
    """Whether ``tensors`` can go through the kernels: float32 on the CPU, the kernels loaded and not
    ``turned_off``."""
    return not _off[0] and all(t.dtype == torch.float32 and t.device.type == "cpu" for t in tensors) and available()


@contextlib.contextmanager
def turned_off():
    """Within it, ``fits`` is False: stacks built meanwhile keep to tensor operations (tests and benchmarks
    compare the two ways)."""
    _off[0] += 1
    try:
        yield
    finally:
        _off[0] -= 1


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``genlib.batched._bernoulli_nll``: logits (R, B, n), x (B, n) -> recon (R, B) and the gradient
    (sigmoid(l) - x) / B (R, B, n). The loops read row-major arrays: other layouts are copied to one first
    (here and below; the stack's tensors are row-major already)."""
    runs, batch, n = logits.shape
    logits, x = logits.contiguous(), x.contiguous()
    recon, grad = logits.new_empty(runs, batch), torch.empty_like(logits)
    _load().bernoulli_nll(logits.data_ptr(), x.data_ptr(), recon.data_ptr(), grad.data_ptr(), runs * batch, batch, n,
                          1.0 / batch)
    return recon, grad


def reparameterize(h: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """h (R, B, 2D), holding (μ, log σ²), and the shared eps (B, D) -> z = μ + σ·eps and σ, (R, B, D)."""
    runs, batch, width = h.shape
    h = h.contiguous()
    z = h.new_empty(runs, batch, width // 2)
    sigma = torch.empty_like(z)
    _load().reparameterize(h.data_ptr(), eps.contiguous().data_ptr(), z.data_ptr(), sigma.data_ptr(), runs, batch,
                           width // 2)
    return z, sigma


def gaussian_kl_step(h, sigma, eps, d_z, beta, lam, recon) -> tuple[dict, torch.Tensor]:
    """The KL part of ``StackedVAE.step`` after the decoder's backward pass: h (R, B, 2D), sigma (R, B, D), eps
    (B, D), d_z = dL/dz (R, B, D, any strides), beta (R, 1), lam (R, 1, 1), recon (R, B) -> the step's terms
    (loss, kl, elbo, kl_per_dim; recon as given) and dL/d(μ, log σ²) (R, B, 2D)."""
    runs, batch, dim = sigma.shape
    if dim > MAX_DIM:
        raise ValueError(f"at most {MAX_DIM} latent dimensions go through the compiled KL, not {dim}")
    h, sigma, recon = h.contiguous(), sigma.contiguous(), recon.contiguous()
    beta, lam, eps = beta.contiguous(), lam.contiguous(), eps.contiguous()
    kl_per_dim, kl, elbo = torch.empty_like(sigma), recon.new_empty(runs, batch), recon.new_empty(runs, batch)
    loss, d_h = recon.new_empty(runs), torch.empty_like(h)
    _load().gaussian_kl_step(h.data_ptr(), sigma.data_ptr(), eps.data_ptr(), d_z.data_ptr(), *d_z.stride(),
                             beta.data_ptr(), lam.data_ptr(), recon.data_ptr(), kl_per_dim.data_ptr(), kl.data_ptr(),
                             elbo.data_ptr(), loss.data_ptr(), d_h.data_ptr(), runs, batch, dim)
    return {"loss": loss, "recon": recon, "kl": kl, "elbo": elbo, "kl_per_dim": kl_per_dim}, d_h


def relu_backward_bias(d: torch.Tensor, out: torch.Tensor, bias_grad: torch.Tensor) -> torch.Tensor:
    """d (R, B, H, any strides) through the ReLU whose output is ``out`` (R, B, H, contiguous), in place; the
    result's sum over the batch written into ``bias_grad`` (R, 1, H, contiguous). Returns d."""
    runs, batch, width = d.shape
    if not bias_grad.is_contiguous():
        raise ValueError("relu_backward_bias writes bias_grad in place: it must be contiguous")
    out = out.contiguous()
    _load().relu_backward_bias(d.data_ptr(), *d.stride(), out.data_ptr(), bias_grad.data_ptr(), runs, batch, width)
    return d
