"""What a file declares about itself, read before anything is decoded: a zip's number of members (from its
central directory, without building the member list), an .npy array's shape and dtype, a PNG's size.

An upload's sizes are checked against its limits from these alone (``genlib.uploads``), so a small file
that declares a large content (a zip bomb, an array header of a billion numbers, a PNG of 100 000 x 100 000
pixels) is refused before it costs memory. Each reader raises :class:`HeaderError` for bytes that do not
follow the format; the caller turns it into a sentence for the person who sent them.

Formats: the ZIP application note (PKWARE APPNOTE 6.3, sections 4.3.12-4.3.16), NumPy's .npy format
(NEP 1), PNG (ISO/IEC 15948, section 11.2.2 IHDR).
"""

from __future__ import annotations

import struct
import zipfile

import numpy as np

EOCD, EOCD64, LOCATOR64, CENTRAL = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"PK\x01\x02"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class HeaderError(ValueError):
    """Bytes that do not follow the format they claim."""


def zip_members(content: bytes, limit: int) -> int:
    """How many entries a zip's central directory holds, counted without decoding them; at ``limit + 1``
    counting stops (the caller refuses it). Python's ``zipfile`` builds one object per entry on opening,
    ~0.4 KB each, and trusts the directory's size rather than its entry count, so both are walked here."""
    end = content.rfind(EOCD, max(0, len(content) - 22 - 65535))  # the end record, then a comment of <= 64 KB
    if end < 0 or len(content) < end + 22:
        raise HeaderError("no end-of-central-directory record")
    size, offset = struct.unpack("<II", content[end + 12 : end + 20])
    start = end - size
    locator = end - 20
    if locator >= 0 and content[locator : locator + 4] == LOCATOR64:  # zip64: sizes in the zip64 end record
        record = locator - 56
        if record < 0 or content[record : record + 4] != EOCD64:
            raise HeaderError("a zip64 locator without its record")
        (size,) = struct.unpack("<Q", content[record + 40 : record + 48])
        start = record - size
    if start < 0:
        raise HeaderError("a central directory larger than the file")
    count, position = 0, start
    while position < start + size:
        if content[position : position + 4] != CENTRAL:
            raise HeaderError("a damaged central directory")
        name, extra, comment = struct.unpack("<HHH", content[position + 28 : position + 34])
        position += 46 + name + extra + comment
        count += 1
        if count > limit:
            break
    return count


def npy_header(archive: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an .npy member of an .npz declares, from its first bytes only."""
    try:
        with archive.open(member) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:  # 3.0 only adds UTF-8 field names: a structured dtype, never images
                raise HeaderError(f"an .npy format version {version} array")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise HeaderError(str(e).splitlines()[0] if str(e) else "an unreadable .npy header") from None
    return tuple(int(s) for s in shape), dtype


def png_size(head: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's first 24 bytes: the signature, then the IHDR chunk, which must come first."""
    if len(head) < 24 or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise HeaderError("not a PNG image")
    width, height = struct.unpack(">II", head[16:24])
    return width, height
