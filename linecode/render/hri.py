"""Human-readable text (HRI) under a symbol: a trace code readable by scanners and by people.

SPEC §5 (the seed: 应可被扫码设备和人眼识别) asks that every symbol can carry its text. Two parts:

* :func:`hri_text` — the text as printed: nmpa20 grouped identifier / serial / check
  (``8612345 123456789 0042``, :meth:`Nmpa20Code.as_hri`), GS1 with its AIs in parentheses
  (``(01)09501101530003(21)ABC123(17)291231(10)L1``), an SSCC as ``(00) 106141411234567897``.
  Every one of them reads back to the same code key (:func:`linecode.codes.code_key`), so what a
  person types from the pack finds the code.
* :func:`with_hri` — image level, a bitmap in and a bitmap out (``True`` = dark, at the final pixel
  scale), so it serves any symbology: DataMatrix now, Code 128 and labels alike. The text is
  rasterised by Pillow (FreeType) from DejaVu Sans Mono (Debian ``fonts-dejavu-core``) into a
  1-bit bitmap, without anti-aliasing, centred under the symbol's image; the symbol keeps its quiet
  zone and the whole image keeps a white border as wide as it (the text never enters the quiet
  zone). The default size is a 2.5 mm cap height at the printer's ``dpi`` (30 px at 300 dpi).

:func:`image_of` writes such a bitmap as PNG or PBM (our own writers) or SVG: in the SVG the text
is paths of the same pixels, not a ``<text>`` element, so every viewer and printer driver shows the
glyphs the PNG has, whatever fonts it has; the text itself goes into the ``<title>``.

See ``docs/render.md``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt

from linecode.codes import Gs1Code, Nmpa20Code, Sscc, code_key, parse_element_string, parts
from linecode.errors import InvalidArgument, shown
from linecode.reasons import Reason
from linecode.render.formats import Format, check_layout, write

if TYPE_CHECKING:
    from PIL import ImageFont

    from linecode.render import Code

__all__ = [
    "CAP_HEIGHT_MM",
    "FONT_PATH",
    "MIN_CAP_HEIGHT_PX",
    "cap_height_px",
    "hri_text",
    "image_of",
    "symbol_pixels",
    "symbol_with_hri",
    "text_bitmap",
    "with_hri",
]

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
"""DejaVu Sans Mono (Debian ``fonts-dejavu-core``; Bitstream Vera licence, DejaVu changes in the
public domain): a monospaced face whose 0, O, 1, I and l differ, as OCR-B's do."""
CAP_HEIGHT_MM = 2.5
"""Default cap height of the text: OCR-B under an EAN-13 at nominal size is about 2.75 mm tall;
2.5 mm reads easily at arm's length and keeps a 20-digit line near a Code 128's width."""
MIN_CAP_HEIGHT_PX = 7
"""Fewer pixels than this per capital and digits stop being legible (8 and 0, 1 and 7 merge)."""
_PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


def _sscc_hri(value: str) -> str:
    return f"(00) {value}"


def hri_text(code: Code, gs1: bool | None = None) -> str:
    """The human-readable text of a code, as printed under its symbol.

    Code objects carry their kind. Text is validated like :func:`linecode.render.symbol_data`:
    ``gs1=True`` reads it as a GS1 element string (HRI or raw; an SSCC alone gives the SSCC form),
    ``gs1=False`` as an nmpa20 code; ``gs1=None`` reads it as :func:`linecode.codes.code_key` does
    (a code key, or any spelling of a code).

    >>> hri_text("86123451234567890042", gs1=False)
    '8612345 123456789 0042'
    >>> hri_text("0109501101530003" "21ABC123\\x1d" "17291231" "10L1", gs1=True)
    '(01)09501101530003(21)ABC123(17)291231(10)L1'
    >>> hri_text("(00)106141411234567897")
    '(00) 106141411234567897'
    """
    if isinstance(code, Nmpa20Code | Gs1Code):
        return code.as_hri()
    if isinstance(code, Sscc):
        return _sscc_hri(code.value)
    if gs1 is None:
        key = parts(code_key(code))
        if key.rule == "nmpa20":
            return Nmpa20Code.parse(key.identifier + key.serial + key.check).as_hri()
        if key.rule == "sscc":
            return _sscc_hri(key.identifier)
    elif not gs1:
        return Nmpa20Code.parse(code).as_hri()
    fields = parse_element_string(code)
    if list(fields) == ["00"]:
        return _sscc_hri(fields["00"])
    return "".join(f"({ai}){value}" for ai, value in fields.items())


def cap_height_px(dpi: int, cap_height_mm: float = CAP_HEIGHT_MM) -> int:
    """Pixels (dots) of the text's cap height at ``dpi``: 30 at 300 dpi, 20 at 203 dpi."""
    if not 50 <= dpi <= 2400:
        raise InvalidArgument(f"printer resolution {dpi} dpi: expected 50 to 2400 dots per inch")
    return round(cap_height_mm * dpi / 25.4)


@functools.lru_cache(maxsize=16)
def _font(cap_px: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans Mono at the size whose ``H`` is ``cap_px`` pixels tall (nearest)."""
    from PIL import ImageFont

    if not FONT_PATH.is_file():
        raise InvalidArgument(
            f"HRI font {FONT_PATH} not found",
            hint="install the Debian package fonts-dejavu-core (./dev setup does)",
        )

    def cap(size: int) -> int:
        _, top, _, bottom = ImageFont.truetype(FONT_PATH, size).getbbox("H")
        return int(bottom - top)

    guess = round(cap_px / (cap(1000) / 1000))
    size = min(range(max(1, guess - 2), guess + 3), key=lambda s: (abs(cap(s) - cap_px), s))
    return ImageFont.truetype(FONT_PATH, size)


def text_bitmap(text: str, cap_px: int) -> npt.NDArray[np.bool_]:
    """The 1-bit image (``True`` = dark) of ``text``: one line per ``\\n``-separated line, each
    centred; rows are the font's full line height (every glyph fits, and a label keeps one layout
    whatever the characters), columns cut to the ink."""
    from PIL import Image, ImageDraw

    if cap_px < MIN_CAP_HEIGHT_PX:
        raise InvalidArgument(
            f"HRI cap height {cap_px} px: expected at least {MIN_CAP_HEIGHT_PX} px, else it is not legible",
            hint="raise the dpi or the cap height, or print the code without HRI",
        )
    lines = text.split("\n")
    bad = next((c for c in text if c not in _PRINTABLE and c != "\n"), None)
    if not text.strip() or bad is not None or not all(line.strip() for line in lines):
        raise InvalidArgument(
            f"HRI text {shown(text)}: expected printable ASCII, no empty line"
            + (f"; found {bad!r}" if bad is not None else ""),
            hint="hri_text(code) gives a code's text (GS1 with parentheses, not GS separators)",
        )
    font = _font(cap_px)
    ascent, descent = font.getmetrics()
    pad = cap_px  # ink may stick out of a glyph's advance; cut off again below
    rendered = []
    for line in lines:
        canvas = Image.new("1", (int(font.getlength(line)) + 2 * pad, ascent + descent), 1)
        ImageDraw.Draw(canvas).text((pad, 0), line, font=font, fill=0)  # mode "1": no anti-aliasing
        ink = ~np.asarray(canvas, dtype=bool)
        cols = np.flatnonzero(ink.any(axis=0))
        rendered.append(ink[:, cols[0] : cols[-1] + 1])
    width = max(r.shape[1] for r in rendered)
    out = np.zeros((len(rendered) * (ascent + descent), width), dtype=bool)
    for n, r in enumerate(rendered):
        left = (width - r.shape[1]) // 2
        out[n * (ascent + descent) : (n + 1) * (ascent + descent), left : left + r.shape[1]] = r
    return out


def _margins(bitmap: npt.NDArray[np.bool_]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) white rows/columns around the ink: the image's quiet zone."""
    rows, cols = np.flatnonzero(bitmap.any(axis=1)), np.flatnonzero(bitmap.any(axis=0))
    height, width = bitmap.shape
    return int(rows[0]), height - 1 - int(rows[-1]), int(cols[0]), width - 1 - int(cols[-1])


def with_hri(
    bitmap: npt.NDArray[np.bool_],
    text: str,
    *,
    dpi: int = 300,
    cap_px: int | None = None,
    width_px: int | None = None,
) -> npt.NDArray[np.bool_]:
    """The symbol's image (``True`` = dark, final pixels, quiet zone included) with ``text`` under it.

    The text (:func:`text_bitmap`; ``\\n`` for more lines) is centred under the image; its cap height
    is ``cap_px`` pixels, or :data:`CAP_HEIGHT_MM` at ``dpi``. The symbol keeps its quiet zone, and
    the result keeps a white border as wide as the symbol's all round: under the text the bottom
    quiet zone again, beside it the narrower side one. Text wider than the image widens it, the
    symbol staying centred; ``width_px`` fixes the width instead (a label's field), and text or
    symbol that does not fit it is refused.

    >>> from linecode.render import matrix
    >>> symbol = symbol_pixels(matrix("86123451234567890042", gs1=False), 10, 1)
    >>> with_hri(symbol, "8612345 123456789 0042").shape
    (239, 557)
    """
    if bitmap.ndim != 2 or bitmap.size == 0 or not bitmap.any():
        raise InvalidArgument(
            f"symbol image of shape {bitmap.shape}: expected a 2-D bitmap with a symbol in it (True = dark)"
        )
    cap = cap_height_px(dpi) if cap_px is None else cap_px
    lines = text_bitmap(text, cap)
    _, bottom, left, right = _margins(bitmap)
    side = min(left, right)
    height, width = bitmap.shape
    needed = max(width, lines.shape[1] + 2 * side)
    if width_px is not None and width_px < needed:
        what = "symbol image" if width > width_px else f"HRI text {shown(text)} with its {side} px margins"
        raise InvalidArgument(
            f"{what} is {needed} px wide, the image is fixed at {width_px} px",
            reason=Reason.DOES_NOT_FIT,
            hint="use a smaller cap height (cap_px, dpi), a wider image, or fewer characters per line",
        )
    out_width = needed if width_px is None else width_px
    out = np.zeros((height + lines.shape[0] + bottom, out_width), dtype=bool)
    at = (out_width - width) // 2
    out[:height, at : at + width] = bitmap
    at = (out_width - lines.shape[1]) // 2
    out[height : height + lines.shape[0], at : at + lines.shape[1]] = lines
    return out


def symbol_pixels(modules: npt.NDArray[np.bool_], module_px: int, quiet_zone: int) -> npt.NDArray[np.bool_]:
    """The pixels of a module matrix as its image has them: quiet zone added, each module
    ``module_px`` square (the same pixels :func:`linecode.render.formats.write` writes)."""
    check_layout("png", module_px, quiet_zone)
    padded = np.pad(np.asarray(modules, dtype=bool), quiet_zone)
    return padded.repeat(module_px, axis=0).repeat(module_px, axis=1)


def image_of(bitmap: npt.NDArray[np.bool_], fmt: Format, title: str = "") -> bytes:
    """A bitmap (``True`` = dark, final pixels) as a PNG, PBM or SVG file.

    PNG and PBM come from our own writers (a pixel is a module of one pixel, no quiet zone). The
    SVG is one white rectangle and one black path, a sub-path per run of dark pixels spanning
    identical rows (a symbol's module rows and a bar code's bars stay one rectangle each), with
    crisp edges; ``title`` (the HRI text) goes in its ``<title>``, for screen readers and search.
    """
    if fmt != "svg":
        return write(bitmap, fmt, 1, 0)
    height, width = bitmap.shape
    runs = []
    y = 0
    while y < height:
        end = y + 1
        while end < height and np.array_equal(bitmap[end], bitmap[y]):
            end += 1
        line = np.concatenate(([False], bitmap[y].astype(bool), [False]))
        edges = np.flatnonzero(line[1:] != line[:-1])
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            runs.append(f"M{int(start)} {y}h{int(stop - start)}v{end - y}H{int(start)}z")
        y = end
    label = f"<title>{escape(title)}</title>" if title else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" shape-rendering="crispEdges">{label}'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>\n'
    ).encode()


def symbol_with_hri(
    modules: npt.NDArray[np.bool_],
    text: str,
    *,
    fmt: Format = "png",
    module_px: int = 10,
    quiet_zone: int = 1,
    dpi: int = 300,
) -> bytes:
    """The image file of a module matrix with ``text`` under it (:func:`with_hri`, :func:`image_of`)."""
    check_layout(fmt, module_px, quiet_zone)
    return image_of(with_hri(symbol_pixels(modules, module_px, quiet_zone), text, dpi=dpi), fmt, text)
