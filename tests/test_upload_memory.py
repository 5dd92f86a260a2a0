"""Reading an upload under the size cap stays within ~150 MB of the process's baseline, whatever the file declares.

Each case writes a hostile (or a largest legitimate) file; a fresh process (forked from one that has imported
genlib, once for the module) reads its bytes and forks; the forked process notes its peak resident memory
(``resource.getrusage``), calls ``read_upload`` and notes the peak again. The growth is what reading cost: the
same, to 0.6 MB, as a fresh interpreter for each case measured (74.4 / 74.9 MB for the 11 M cells of CSV).
The files are made without ever holding what they declare: compressed streams are written a chunk at
a time, headers are written by hand.
"""

from __future__ import annotations

import io
import json
import os
import select
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from genlib import uploads

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MB = 150  # the bound on what reading one upload may add to the server's memory

ZYGOTE = """
import json, os, resource, sys
from genlib.uploads import UploadError, read_upload

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux reports KB)

def measure(name, path):
    content = open(path, "rb").read()
    # Read in a forked process: an exec'd process's ru_maxrss starts at its parent's size, a forked one's at
    # its own, with the bytes read and every module imported.
    child = os.fork()
    if child == 0:
        before = peak()
        try:
            upload = read_upload(name, content)
            outcome = "accepted: " + upload.describe()
        except UploadError as e:
            outcome = "refused: " + str(e)
        print(json.dumps({"before": before, "after": peak(), "outcome": outcome}), flush=True)
        os._exit(0)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)

# One case at a time, each in a process forked from this one, which has imported genlib once (2 s) and
# never holds a case's bytes: each case starts from the same process, as a fresh interpreter would.
for line in sys.stdin:
    case = os.fork()
    if case == 0:
        code = measure(*json.loads(line))
        if code:
            print(json.dumps({"error": f"the reading process exited with {code}"}), flush=True)
        os._exit(0)
    os.waitpid(case, 0)
"""


@pytest.fixture(scope="module")
def measure(tmp_path_factory):
    """``measure(path, name)``: what reading the file at ``path`` as an upload named ``name`` grew a process by
    (``before`` / ``after`` peak RSS in MB, ``outcome``), read by a fresh process forked for each case."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    errors = (tmp_path_factory.mktemp("zygote") / "stderr.txt").open("w+")
    zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=errors, text=True, env=env, cwd=ROOT)

    def measure(path: Path, name: str) -> dict:
        zygote.stdin.write(json.dumps([name, str(path)]) + "\n")
        zygote.stdin.flush()
        ready, _, _ = select.select([zygote.stdout], [], [], 300)
        line = zygote.stdout.readline() if ready else ""
        errors.seek(0)
        assert line, f"no answer from the reading process: {errors.read()[-2000:]}"
        result = json.loads(line)
        assert "error" not in result, f"{result['error']}: {errors.read()[-2000:]}"
        return result

    yield measure
    zygote.stdin.close()
    zygote.wait(30)
    errors.close()


# ---------------------------------------------------------------------------------------- PNG files


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, *, idat_rows: int | None = None) -> bytes:
    """A gray 8-bit PNG of ``width`` x ``height`` zeros (compressed a row block at a time), or only its first
    ``idat_rows`` rows of data: a header that declares more than the file holds."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor, parts = zlib.compressobj(9), []
    row = b"\0" * (width + 1)  # filter byte + pixels
    rows = height if idat_rows is None else idat_rows
    for start in range(0, rows, 256):
        parts.append(compressor.compress(row * min(256, rows - start)))
    parts.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def _zip(files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files:
            z.writestr(name, content)
    return buffer.getvalue()


def png_huge_header():  # 1,000,000 x 1,000,000 pixels declared, a few rows held
    return _zip([(f"{i}.png", _png(1_000_000, 1_000_000, idat_rows=4)) for i in range(30)])


def png_bomb():  # 12,000 x 12,000 zeros (144 MB decoded) in ~0.2 MB: under Pillow's own bomb limit
    return _zip([("a.png", _png(12_000, 12_000)), *((f"{i}.png", _png(8, 8)) for i in range(30))])


def png_many_largest():  # 20,000 PNGs of 64 x 64, each legal: 82 M pixels together
    one = _png(64, 64)
    return _zip((f"{i % 10}/{i:05d}.png", one) for i in range(uploads.MAX_IMAGES))


def png_largest_accepted():  # 4,000 PNGs of 64 x 64 with noise (16 M pixels): what the cap lets through
    rng = np.random.default_rng(0)

    def noisy():
        rows = np.concatenate([np.zeros((64, 1), np.uint8), rng.integers(0, 256, (64, 64), np.uint8)], axis=1)
        ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(rows.tobytes()))
                + _chunk(b"IEND", b""))
    return _zip((f"{i:05d}.png", noisy()) for i in range(uploads.MAX_PIXELS // 4096))


def zip_directory_bomb():  # ~200,000 empty entries: Python's zipfile builds an object for each on opening
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for i in range(200_000):
            z.writestr(f"{i}.png", b"")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------- .npz files


def _npz(*members) -> bytes:
    """An .npz of (name, shape, dtype, data bytes or None for all of it, fill byte): each .npy header written by
    hand, its data streamed into the deflated member a MB at a time."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        for name, shape, dtype, data_bytes, fill in members:
            total = int(np.prod(shape)) * np.dtype(dtype).itemsize if data_bytes is None else data_bytes
            block = fill * 2**20
            with z.open(name, "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                         "shape": shape})
                for start in range(0, total, 2**20):
                    f.write(block[: min(2**20, total - start)])
    return buffer.getvalue()


def npz_declares_billions():  # x: 10^6 x 64 x 64 float64 declared (32 GB), a MB of it held
    return _npz(("x.npy", (10**6, 64, 64), "<f8", 2**20, b"\0"))


def npz_bomb():  # x: 20,000 x 64 x 64 float64 of zeros (655 MB) deflated to ~0.6 MB
    return _npz(("x.npy", (20_000, 64, 64), "<f8", None, b"\0"))


def npz_labels_bomb():  # good images, y: 10^8 int64 labels (800 MB) deflated
    return _npz(("x.npy", (40, 8, 8), "<f4", None, b"\0"), ("y.npy", (10**8,), "<i8", None, b"\0"))


def npz_largest_accepted():  # x: 16 M uint8 pixels (4,096 images of 64 x 64), what the cap lets through
    return _npz(("x.npy", (uploads.MAX_PIXELS // 4096, 64, 64), "|u1", None, b"\x07"))


# ---------------------------------------------------------------------------------------- .csv files


def csv_many_cells():  # 20,000 rows of 576 zeros: 11.5 M cells in 23 MB (lists of strings: ~0.7 GB)
    return ("0," * 575 + "0\n").encode() * 20_000


def csv_huge_field():  # one field of 24 MB
    return b"1" * (24 * 2**20) + b"\n" + b"1\n" * 30


def csv_huge_line():  # one line of 12 M cells
    return b"0," * (12 * 2**20) + b"0\n"


def csv_many_lines():  # 12 M one-number lines
    return b"1\n" * (12 * 2**20)


CASES = {
    "png-declares-10^12-pixels": ("x.zip", png_huge_header, "refused"),
    "png-bomb-144-MB": ("x.zip", png_bomb, "refused"),
    "png-20000-of-64x64": ("x.zip", png_many_largest, "refused"),
    "png-largest-accepted": ("x.zip", png_largest_accepted, "accepted"),
    "zip-200000-entries": ("x.zip", zip_directory_bomb, "refused"),
    "npz-declares-32-GB": ("x.npz", npz_declares_billions, "refused"),
    "npz-bomb-655-MB": ("x.npz", npz_bomb, "refused"),
    "npz-labels-bomb-800-MB": ("x.npz", npz_labels_bomb, "refused"),
    "npz-largest-accepted": ("x.npz", npz_largest_accepted, "accepted"),
    "csv-11-M-cells": ("x.csv", csv_many_cells, "accepted"),
    "csv-24-MB-field": ("x.csv", csv_huge_field, "refused"),
    "csv-12-M-cell-line": ("x.csv", csv_huge_line, "refused"),
    "csv-12-M-lines": ("x.csv", csv_many_lines, "refused"),
}


@pytest.mark.parametrize("case", CASES)
def test_reading_an_upload_stays_within_150_mb(case, tmp_path, measure):
    name, make, expected = CASES[case]
    content = make()
    assert len(content) <= uploads.MAX_BYTES, f"{case} must be under the size cap ({len(content):,} bytes)"
    path = tmp_path / name
    path.write_bytes(content)
    result = measure(path, name)
    grew = result["after"] - result["before"]
    assert result["outcome"].startswith(expected), result["outcome"]
    assert grew < BUDGET_MB, f"{case}: reading took {grew:.0f} MB more ({result['outcome'][:120]})"
