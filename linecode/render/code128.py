"""Code 128 (ISO/IEC 15417) and GS1-128 symbols of our codes: symbol characters, bar widths, images.

The 20-digit ``nmpa20`` code is drawn as Code 128 (all digits: set C, 13 symbol characters); SSCCs
and GS1 element strings as GS1-128, with FNC1 in first position and FNC1 after every variable-length
field that is not last (the data :func:`linecode.render.symbol_data` makes, its GS written as FNC1).
The encodation is the shortest the standard allows: a shortest-path search over code sets A, B and
C with code-set changes and shifts (:mod:`linecode.render.code128_reference`, the specification;
``linecode._code128``, its Cython copy). Validation comes first, as for DataMatrix: an invalid code
never becomes an image.

Images are 1-bit, ``module_px`` pixels (printer dots) per module (the X-dimension), ``height_px``
tall, with a quiet zone of at least 10 modules left and right (ISO/IEC 15417 §4.4.3; smaller is
refused) and none above or below. PNG and PBM go through the DataMatrix image writers
(:mod:`linecode.render.formats`) as one pixel row repeated; SVG draws one rectangle per bar.

>>> encode("86123451234567890042", gs1=False)
[105, 86, 12, 34, 51, 23, 45, 67, 89, 0, 42, 35, 106]
>>> encode("(00)069012340000000016", gs1=True)[:3]  # start C, FNC1, "00"
[105, 102, 0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt

import linecode._code128 as _c128
from linecode.errors import InvalidArgument, InvalidData, shown
from linecode.reasons import Reason
from linecode.render import Code, symbol_data
from linecode.render.formats import Format, check_layout, write

__all__ = ["GS1_MAX_CHARS", "MIN_QUIET_ZONE", "check_character", "encode", "pixels", "render", "widths"]

MIN_QUIET_ZONE = 10
"""Quiet zone either side, in modules, that ISO/IEC 15417 and the GS1 General Specifications ask."""
GS1_MAX_CHARS = 48
"""Data characters a GS1-128 symbol may carry (GS1 General Specifications §5.4.1: AIs, data and
separator FNC1s counted, the FNC1 in first position and the check character not)."""
_MAX_MODULE_PX = 100
_MAX_HEIGHT_PX = 10_000
T = TypeVar("T")


def _data(code: Code, gs1: bool | None) -> tuple[bytes, bool]:
    data, is_gs1 = symbol_data(code, gs1)
    if is_gs1 and len(data) > GS1_MAX_CHARS:
        raise InvalidArgument(
            f"GS1 data of {len(data)} characters does not fit one GS1-128 symbol: at most {GS1_MAX_CHARS}",
            reason=Reason.DOES_NOT_FIT,
            hint="split the element strings over two symbols, or use GS1 DataMatrix",
        )
    return data, is_gs1


def _kernel(fn: Callable[..., T], data: bytes, *args: object) -> T:
    """``fn(data, *args)`` of the kernel, its refusal of the data said with the data quoted."""
    try:
        return fn(data, *args)
    except InvalidData as exc:
        reason = exc.reason  # the kernel's refusal, said again with the data quoted
        raise InvalidArgument(f"data {shown(data.decode('latin-1'))}: {exc.message}", reason=reason) from None


def encode(code: Code, *, gs1: bool | None = None) -> list[int]:
    """Every symbol character of the code's symbol: start, data, check character, stop (106).

    ``gs1`` as for :func:`linecode.render.symbol_data` (code objects carry their kind).
    """
    data, is_gs1 = _data(code, gs1)
    return _kernel(_c128.symbol, data, is_gs1)


def check_character(code: Code, *, gs1: bool | None = None) -> int:
    """The symbol check character: (start + Σ position * value) modulo 103.

    >>> check_character("86123451234567890042", gs1=False)
    35
    """
    return encode(code, gs1=gs1)[-2]


def widths(code: Code, *, gs1: bool | None = None) -> list[int]:
    """Bar and space widths in modules, bar first, from the start character to the termination bar
    (no quiet zone): 6 per symbol character, 7 for the stop pattern.

    >>> w = widths("86123451234567890042", gs1=False)
    >>> len(w), sum(w)
    (79, 145)
    """
    data, is_gs1 = _data(code, gs1)
    return _kernel(_c128.widths, data, is_gs1)


def _check_layout(module_px: int, height_px: int, quiet_zone: int) -> None:
    if not 1 <= module_px <= _MAX_MODULE_PX:
        raise InvalidArgument(
            f"module size {module_px} px: expected 1 to {_MAX_MODULE_PX} pixels (dots) per module",
            reason=Reason.BAD_SIZE,
        )
    if not 1 <= height_px <= _MAX_HEIGHT_PX:
        raise InvalidArgument(
            f"bar height {height_px} px: expected 1 to {_MAX_HEIGHT_PX} pixels (dots)",
            reason=Reason.BAD_SIZE,
        )
    if not MIN_QUIET_ZONE <= quiet_zone <= 100:
        raise InvalidArgument(
            f"quiet zone {quiet_zone}: expected {MIN_QUIET_ZONE} to 100 modules",
            reason=Reason.BAD_SIZE,
            hint="ISO/IEC 15417 asks for at least 10 modules either side; a scanner may not find the "
            "symbol with less",
        )


def pixels(
    code: Code, *, gs1: bool | None = None, module_px: int = 3, height_px: int = 90, quiet_zone: int = 10
) -> npt.NDArray[np.bool_]:
    """The image as pixels (``height_px`` x width, ``True`` = dark), quiet zones included."""
    _check_layout(module_px, height_px, quiet_zone)
    data, is_gs1 = _data(code, gs1)
    return _kernel(_c128.pixels, data, is_gs1, module_px, quiet_zone, height_px).view(bool)


def _svg(bars: list[int], module_px: int, height_px: int, quiet_zone: int) -> bytes:
    """One white rectangle and one black path, a sub-path per bar, in the dialect of
    :func:`linecode.render.formats.svg` (so :func:`~linecode.render.formats.read_svg` reads it)."""
    width = (sum(bars) + 2 * quiet_zone) * module_px
    x, runs = quiet_zone * module_px, []
    for k, w in enumerate(bars):
        if k % 2 == 0:
            runs.append(f"M{x} 0h{w * module_px}v{height_px}H{x}z")
        x += w * module_px
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height_px}" '
        f'viewBox="0 0 {width} {height_px}" shape-rendering="crispEdges">'
        f'<rect width="{width}" height="{height_px}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>\n'
    ).encode()


def render(
    code: Code,
    *,
    gs1: bool | None = None,
    fmt: Format = "png",
    module_px: int = 3,
    height_px: int = 90,
    quiet_zone: int = 10,
) -> bytes:
    """The printer image of one code: PNG (1-bit), SVG or PBM, without human-readable text.

    ``module_px`` is the X-dimension in pixels (dots), ``height_px`` the bar height, ``quiet_zone``
    the light margin left and right in modules (10 or more). A height that is a multiple of the
    module size is written several times faster (the default: 30 modules of 3 px).
    """
    check_layout(fmt, 1, 0)
    _check_layout(module_px, height_px, quiet_zone)
    data, is_gs1 = _data(code, gs1)
    if fmt == "svg":
        return _svg(_kernel(_c128.widths, data, is_gs1), module_px, height_px, quiet_zone)
    if height_px % module_px == 0:
        # The same image, drawn a module per pixel and scaled by the writer: it packs one row per
        # module row, not per pixel row, which is several times faster (the bytes are identical).
        modules = _kernel(_c128.pixels, data, is_gs1, 1, quiet_zone, height_px // module_px)
        return write(modules.view(bool), fmt, module_px, 0)
    bars = _kernel(_c128.pixels, data, is_gs1, module_px, quiet_zone, height_px)
    return write(bars.view(bool), fmt, 1, 0)
