"""Image formats of a module matrix: 1-bit PNG and PBM (Cython kernel), SVG, and readers for them.

The writers take a module matrix (``True`` = dark), the module size in pixels (dots) and the quiet
zone in modules. Same input, same bytes: no timestamps, no encoder-version fields, fixed number
formatting. The readers turn our own images back into pixels (``True`` = dark) for decoders and
tests; they read what these writers write, not every PNG or SVG.
"""

from __future__ import annotations

import re
import zlib
from typing import Literal

import numpy as np
import numpy.typing as npt

import linecode._datamatrix as _dm
from linecode.errors import InvalidArgument
from linecode.reasons import Reason

Format = Literal["png", "svg", "pbm"]
FORMATS: tuple[Format, ...] = ("png", "svg", "pbm")
MEDIA_TYPES: dict[Format, str] = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pbm": "image/x-portable-bitmap",
}
KERNEL_FORMATS: dict[Format, int] = {"png": _dm.PNG, "pbm": _dm.PBM}


def check_layout(fmt: str, module_px: int, quiet_zone: int) -> None:
    """Raise :class:`InvalidArgument` for an unknown format or a module size / quiet zone out of range."""
    if fmt not in FORMATS:
        raise InvalidArgument(
            f"image format {fmt!r}: expected one of {', '.join(FORMATS)}", reason=Reason.BAD_FORMAT
        )
    if not 1 <= module_px <= 100:
        raise InvalidArgument(f"module size {module_px} px: expected 1 to 100 pixels (dots) per module")
    if not 0 <= quiet_zone <= 100:
        raise InvalidArgument(
            f"quiet zone {quiet_zone}: expected 0 to 100 modules",
            hint="ISO/IEC 16022 asks for at least 1 module; 0 only where the label provides it",
        )


def write(matrix: npt.NDArray[np.bool_], fmt: Format, module_px: int, quiet_zone: int) -> bytes:
    """The image of ``matrix`` in ``fmt``."""
    check_layout(fmt, module_px, quiet_zone)
    if fmt == "svg":
        return svg(matrix, module_px, quiet_zone)
    modules = np.ascontiguousarray(matrix, dtype=np.uint8)
    return bytes(_dm.image(modules, module_px, quiet_zone, KERNEL_FORMATS[fmt]))


def svg(matrix: npt.NDArray[np.bool_], module_px: int, quiet_zone: int) -> bytes:
    """An SVG of one white rectangle and one black path: a sub-path per horizontal run of dark
    modules, in pixel units, with crisp edges so a printer driver does not anti-alias."""
    rows, cols = matrix.shape
    width, height = (cols + 2 * quiet_zone) * module_px, (rows + 2 * quiet_zone) * module_px
    runs = []
    for y in range(rows):
        line = np.concatenate(([False], matrix[y].astype(bool), [False]))
        edges = np.flatnonzero(line[1:] != line[:-1])
        top = (y + quiet_zone) * module_px
        for start, end in zip(edges[::2], edges[1::2], strict=True):
            left = (int(start) + quiet_zone) * module_px
            runs.append(f"M{left} {top}h{(int(end) - int(start)) * module_px}v{module_px}H{left}z")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" shape-rendering="crispEdges">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>\n'
    ).encode()


def read_png(data: bytes) -> npt.NDArray[np.bool_]:
    """Pixels (True = dark) of a 1-bit grayscale, non-interlaced PNG with filter 0 on every row."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise InvalidArgument("not a PNG: the signature is missing")
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if zlib.crc32(kind + body) != int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big"):
            raise InvalidArgument(f"PNG chunk {kind!r} fails its CRC")
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    if header[8:] != b"\x01\x00\x00\x00\x00":
        raise InvalidArgument("PNG is not 1-bit grayscale without interlace")
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, -1)
    if raw[:, 0].any():
        raise InvalidArgument("PNG rows use filters other than 0")
    return ~np.unpackbits(raw[:, 1:], axis=1)[:, :width].astype(bool)


def read_pbm(data: bytes) -> npt.NDArray[np.bool_]:
    """Pixels (True = dark) of a binary PBM (P4) with a plain ``P4\\nW H\\n`` header."""
    match = re.match(rb"P4\n(\d+) (\d+)\n", data)
    if match is None:
        raise InvalidArgument("not a binary PBM (P4) with a plain header")
    width, height = int(match.group(1)), int(match.group(2))
    rows = np.frombuffer(data[match.end() :], dtype=np.uint8).reshape(height, -1)
    return np.unpackbits(rows, axis=1)[:, :width].astype(bool)


_SVG_SIZE = re.compile(rb'width="(\d+)" height="(\d+)"')
_SVG_RUN = re.compile(rb"M(\d+) (\d+)h(\d+)v(\d+)H\d+z")


def read_svg(data: bytes) -> npt.NDArray[np.bool_]:
    """Pixels (True = dark) of an SVG written by :func:`svg` (its rectangles, rasterised exactly)."""
    size = _SVG_SIZE.search(data)
    if size is None:
        raise InvalidArgument("not an SVG written by linecode: no width/height")
    out = np.zeros((int(size.group(2)), int(size.group(1))), dtype=bool)
    for m in _SVG_RUN.finditer(data):
        x, y, w, h = (int(g) for g in m.groups())
        out[y : y + h, x : x + w] = True
    return out


READERS = {"png": read_png, "pbm": read_pbm, "svg": read_svg}
