"""Case and pallet labels for label printers: ZPL II, and a PNG preview of the same label.

A label is a :class:`Layout` (its size in mm, the printer's dpi, fields at positions in mm) filled
with one code's :class:`LabelFacts` (product name, batch number, expiry, the code and its symbol
data). Layouts come from a small TOML or JSON file (:meth:`Layout.parse`, documented in
``docs/render.md``) or :func:`default_layout` per level. Everything is checked before anything is
written: an unknown key, a module size of 0, a field that does not fit the label, data that fits no
symbol — :class:`~linecode.errors.InvalidArgument` and no output.

ZPL comes in two profiles:

* ``"printer"``: the printer draws its own symbols — ``^BX`` DataMatrix (ECC 200 at our size, GS1
  FNC1 as ``_1`` with ``_`` as the escape character) and ``^BC`` Code 128 in mode N with the
  symbol characters our encoder chose (start, code-set changes, ``>8`` FNC1), so the printer's bars
  are ours bar for bar;
* ``"graphic"``: our own symbol bitmaps as ``^GFA`` graphic fields (hex, with ZPL's row repeat
  ``:`` and run-length compression), for firmware without the symbology.

Text is ``^A0`` (the scalable font) with ``^FH`` hex escapes for every character outside plain
ASCII or special to ZPL (caret, tilde, the escape itself), after ``^CI28`` (UTF-8). The PNG preview
composes the same symbol bitmaps and text (rasterised by :mod:`linecode.render.hri`) on a 1-bit
canvas of the label's dots.

:func:`label_for` reads the facts from a store (anything with the store's ``info``, ``product``
and ``symbol``; this layer imports no store) — the call the print service and ``linecode label``
make.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from linecode.codes import parts
from linecode.errors import InvalidArgument, LinecodeError, Precondition, shown
from linecode.reasons import Reason
from linecode.render import matrix
from linecode.render.formats import write

Profile = Literal["printer", "graphic"]
PROFILES: tuple[Profile, ...] = ("printer", "graphic")
LabelFormat = Literal["zpl", "png"]
LABEL_FORMATS: tuple[LabelFormat, ...] = ("zpl", "png")
FieldKind = Literal["text", "datamatrix", "code128"]
FIELD_KINDS: tuple[FieldKind, ...] = ("text", "datamatrix", "code128")
DPIS = (203, 300)
"""Printer resolutions: 8 and 12 dots per mm."""
PLACEHOLDERS = ("product", "batch_number", "expiry", "code", "gtin", "sscc", "level")
"""What a text field's ``text`` may name in braces, e.g. ``"Exp. {expiry}"``."""
RULES = ("nmpa20", "gs1", "sscc")
MAX_MODULE_DOTS = 20
DM_QUIET_ZONE = 1
"""Modules of light margin a DataMatrix field keeps inside the label (ISO/IEC 16022)."""
C128_QUIET_ZONE = 10
"""Modules of light margin either side of a Code 128 field (ISO/IEC 15417)."""
MIN_TEXT_MM = 1.0
_MM_PER_INCH = 25.4


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a layout: text, or a symbol of the code with its HRI text under it."""

    kind: FieldKind
    """``text``, ``datamatrix`` or ``code128`` (Code 128; GS1-128 for GS1 data)."""
    x_mm: float
    """Left edge (a symbol's first module, its quiet zone to the left of it), from the label's left."""
    y_mm: float
    """Top edge, from the label's top."""
    text: str = ""
    """Text fields: the text, with ``{product}``, ``{batch_number}``, ``{expiry}`` (YYYY-MM-DD),
    ``{code}`` (the code's HRI), ``{gtin}``, ``{sscc}``, ``{level}`` filled in."""
    font_mm: float = 3.0
    """Text fields: the cap height; symbols: the cap height of their HRI text."""
    module_dots: int = 4
    """Symbols: dots per module (X dimension), 1 to 20."""
    height_mm: float = 15.0
    """Code 128: the height of the bars."""
    hri: bool = True
    """Symbols: the code's HRI text centred under the symbol."""
    size: str | None = None
    """DataMatrix: a fixed size ``ROWSxCOLS`` (default: the smallest the data fits)."""
    rules: tuple[str, ...] = ()
    """Only for codes of these rules (``nmpa20``, ``gs1``, ``sscc``); empty: every code."""


@dataclass(frozen=True, slots=True)
class Layout:
    """A label: its size, the printer's resolution, its fields, and how symbols are printed."""

    width_mm: float
    height_mm: float
    dpi: int = 203
    """203 or 300 dots per inch."""
    symbols: Profile = "printer"
    """``printer``: the printer draws the symbols (``^BX``, ``^BC``); ``graphic``: our bitmaps (``^GFA``)."""
    fields: tuple[Field, ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, text: str, syntax: Literal["toml", "json"] = "toml") -> Layout:
        """A layout from TOML or JSON text: top-level ``width_mm``, ``height_mm``, ``dpi``,
        ``symbols`` and a list ``field`` of tables with :class:`Field`'s names. Unknown keys, wrong
        types and values out of range are refused (``BAD_LAYOUT``; a module size of 0 ``BAD_SIZE``).
        """
        try:
            raw = tomllib.loads(text) if syntax == "toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, RecursionError) as exc:
            what = "nested too deep" if isinstance(exc, RecursionError) else str(exc)
            raise InvalidArgument(
                f"label layout is not valid {syntax.upper()}: {what}", reason=Reason.BAD_LAYOUT
            ) from None
        if not isinstance(raw, dict):
            raise InvalidArgument("label layout: expected a table of settings", reason=Reason.BAD_LAYOUT)
        return layout_of(raw)

    @classmethod
    def load(cls, path: Path | str) -> Layout:
        """A layout from a ``.toml`` or ``.json`` file (by its suffix; TOML otherwise)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidArgument(f"label layout {path}: {exc.strerror}", reason=Reason.BAD_LAYOUT) from None
        return cls.parse(text, "json" if path.suffix.lower() == ".json" else "toml")


_LAYOUT_KEYS = {"width_mm": float, "height_mm": float, "dpi": int, "symbols": str, "field": list}
_FIELD_TYPES = {
    "kind": str, "x_mm": float, "y_mm": float, "text": str, "font_mm": float, "module_dots": int,
    "height_mm": float, "hri": bool, "size": str, "rules": list,
}  # fmt: skip


_TYPE_NAMES = {float: "a number", int: "an integer", str: "a string", bool: "true or false", list: "a list"}


def _typed(where: str, key: str, value: Any, kind: type) -> Any:
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise InvalidArgument(
            f"label layout: {where}{key} = {value!r}: expected {_TYPE_NAMES[kind]}",
            reason=Reason.BAD_LAYOUT,
        )
    return value


def _unknown(where: str, keys: Sequence[str], known: Sequence[str]) -> None:
    extra = [k for k in keys if k not in known]
    if extra:
        raise InvalidArgument(
            f"label layout: unknown {where}key {extra[0]!r}: expected one of {', '.join(known)}",
            reason=Reason.BAD_LAYOUT,
        )


def layout_of(raw: Mapping[str, Any]) -> Layout:
    """A :class:`Layout` from parsed TOML/JSON (see :meth:`Layout.parse`), checked in full."""
    _unknown("", list(raw), list(_LAYOUT_KEYS))
    for key in ("width_mm", "height_mm"):
        if key not in raw:
            raise InvalidArgument(f"label layout: {key} missing", reason=Reason.BAD_LAYOUT)
    top = {k: _typed("", k, v, _LAYOUT_KEYS[k]) for k, v in raw.items()}
    built = []
    for n, spec in enumerate(top.pop("field", []), 1):
        where = f"field {n}: "
        if not isinstance(spec, dict):
            raise InvalidArgument(f"label layout: {where}expected a table", reason=Reason.BAD_LAYOUT)
        _unknown(where, list(spec), list(_FIELD_TYPES))
        for key in ("kind", "x_mm", "y_mm"):
            if key not in spec:
                raise InvalidArgument(f"label layout: {where}{key} missing", reason=Reason.BAD_LAYOUT)
        values = {k: _typed(where, k, v, _FIELD_TYPES[k]) for k, v in spec.items()}
        if "rules" in values:
            values["rules"] = tuple(_typed(where, "rules", r, str) for r in values["rules"])
        built.append(Field(**values))
    layout = Layout(fields=tuple(built), **top)
    check(layout)
    return layout


def check(layout: Layout) -> None:
    """Raise :class:`InvalidArgument` for a layout whose settings are out of range (where each field
    lands on the label is checked with the code's data, by :func:`label`)."""
    if layout.dpi not in DPIS:
        raise InvalidArgument(
            f"label layout: dpi {layout.dpi}: expected one of {', '.join(map(str, DPIS))}",
            reason=Reason.BAD_LAYOUT,
        )
    if layout.symbols not in PROFILES:
        raise InvalidArgument(
            f"label layout: symbols {layout.symbols!r}: expected one of {', '.join(PROFILES)}",
            reason=Reason.BAD_LAYOUT,
        )
    if not (5 <= layout.width_mm <= 300 and 5 <= layout.height_mm <= 500):
        raise InvalidArgument(
            f"label size {layout.width_mm} x {layout.height_mm} mm: "
            "expected 5 to 300 mm wide, 5 to 500 mm tall",
            reason=Reason.BAD_SIZE,
        )
    for n, f in enumerate(layout.fields, 1):
        where = f"label layout: field {n} ({f.kind})"
        if f.kind not in FIELD_KINDS:
            raise InvalidArgument(
                f"{where}: kind {f.kind!r}: expected one of {', '.join(FIELD_KINDS)}",
                reason=Reason.BAD_LAYOUT,
            )
        if f.kind != "text" and not 1 <= f.module_dots <= MAX_MODULE_DOTS:
            raise InvalidArgument(
                f"{where}: module size {f.module_dots} dots: expected 1 to {MAX_MODULE_DOTS}",
                reason=Reason.BAD_SIZE,
                hint="a module of 0 dots prints nothing; 0.25 to 1 mm is usual (2 to 8 dots at 203 dpi)",
            )
        if not MIN_TEXT_MM <= f.font_mm <= 50 or (f.kind == "code128" and not 1 <= f.height_mm <= 200):
            raise InvalidArgument(
                f"{where}: text {f.font_mm} mm or bar height {f.height_mm} mm: expected text of "
                f"{MIN_TEXT_MM} to 50 mm and bars of 1 to 200 mm",
                reason=Reason.BAD_SIZE,
            )
        if not (math.isfinite(f.x_mm) and math.isfinite(f.y_mm)):
            raise InvalidArgument(f"{where}: position ({f.x_mm}, {f.y_mm}) mm", reason=Reason.BAD_LAYOUT)
        if f.kind == "text":
            _template_names(f.text, where)
        unknown_rules = [r for r in f.rules if r not in RULES]
        if unknown_rules:
            raise InvalidArgument(
                f"{where}: rule {unknown_rules[0]!r}: expected one of {', '.join(RULES)}",
                reason=Reason.BAD_LAYOUT,
            )


def _template_names(text: str, where: str) -> list[str]:
    try:
        names = [name for _, name, spec, conv in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise InvalidArgument(f"{where}: text {text!r}: {exc}", reason=Reason.BAD_LAYOUT) from None
    bad = [n for n in names if n not in PLACEHOLDERS]
    if bad or not text:
        raise InvalidArgument(
            f"{where}: text {text!r}: "
            + (f"unknown name {{{bad[0]}}}" if bad else "empty")
            + f"; a text may name {', '.join('{' + p + '}' for p in PLACEHOLDERS)}",
            reason=Reason.BAD_LAYOUT,
        )
    return names


def default_layout(level: str, rule: str = "nmpa20", dpi: int = 203) -> Layout:
    """The built-in layout of a level's label: ``pallet`` a 100 x 150 mm logistics label (GS1-128
    of the SSCC, or Code 128 of an nmpa20 code, across the bottom), anything else a 100 x 70 mm case
    label. Both carry product, batch number, expiry, the GTIN or SSCC, and a DataMatrix with its HRI.
    """
    if dpi not in DPIS:
        raise InvalidArgument(
            f"dpi {dpi}: expected one of {', '.join(map(str, DPIS))}", reason=Reason.BAD_LAYOUT
        )
    dm_dots = 4 if dpi == 203 else 6  # 0.5 mm modules
    bar_dots = 4 if dpi == 203 else 6  # 0.5 mm: GS1's logistics X dimension is 0.495 to 1.016 mm
    key_line = {"gs1": "GTIN {gtin}", "sscc": "SSCC {sscc}"}.get(rule, "{code}")
    if level == "pallet":
        return Layout(
            width_mm=100, height_mm=150, dpi=dpi,
            fields=(
                Field("text", 5, 5, text="{product}", font_mm=4),
                Field("text", 5, 14, text="Batch {batch_number}", font_mm=3),
                Field("text", 5, 21, text="Exp. {expiry}", font_mm=3),
                Field("text", 5, 28, text=key_line, font_mm=3),
                Field("datamatrix", 42, 40, module_dots=dm_dots * 2, font_mm=2.5),
                Field("code128", 11, 105, module_dots=bar_dots, height_mm=25, font_mm=3,
                      rules=("sscc", "nmpa20")),
            ),
        )  # fmt: skip
    return Layout(
        width_mm=100, height_mm=70, dpi=dpi,
        fields=(
            Field("text", 4, 4, text="{product}", font_mm=3.5),
            Field("text", 4, 12, text="Batch {batch_number}", font_mm=2.5),
            Field("text", 4, 18, text="Exp. {expiry}", font_mm=2.5),
            Field("text", 4, 24, text=key_line, font_mm=2.5),
            # a GS1 pack's HRI, (01)…(21)…(17)…(10)…, is a long line: its symbol sits lower, centred
            Field("datamatrix", 70, 6, module_dots=dm_dots, font_mm=2, rules=("nmpa20", "sscc")),
            Field("datamatrix", 45, 34, module_dots=dm_dots, font_mm=2, rules=("gs1",)),
            Field("code128", 22, 38, module_dots=3 if dpi == 203 else 4, height_mm=15, font_mm=2.5,
                  rules=("sscc", "nmpa20")),
        ),
    )  # fmt: skip


# --- the facts of one code -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelFacts:
    """What a label says about one code."""

    code: str
    """The code's key."""
    level: str
    """Its level's name."""
    product: str
    """The product's name."""
    batch_number: str
    expiry: dt.date
    data: str
    """What goes into its symbols (GS1: the element string with GS separators)."""
    gs1: bool

    @property
    def rule(self) -> str:
        """``nmpa20``, ``gs1`` or ``sscc``."""
        return parts(self.code).rule

    def placeholders(self) -> dict[str, str]:
        """The values a text field's ``{name}`` stands for."""
        p = parts(self.code)
        return {
            "product": self.product,
            "batch_number": self.batch_number,
            "expiry": self.expiry.isoformat(),
            "code": _hri_text(self.code, self.gs1),
            "gtin": p.identifier if p.rule == "gs1" else "",
            "sscc": p.identifier if p.rule == "sscc" else "",
            "level": self.level,
        }


class _CodeInfo(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def level(self) -> int: ...
    @property
    def level_name(self) -> str: ...
    @property
    def product_id(self) -> str: ...
    @property
    def batch_number(self) -> str: ...
    @property
    def expiry_date(self) -> dt.date: ...


class _Product(Protocol):
    @property
    def name(self) -> str: ...


class CodeSource(Protocol):
    """What :func:`label_for` reads: :class:`linecode.store.Store` is one."""

    def info(self, code: str) -> _CodeInfo: ...
    def product(self, product_id: str) -> _Product: ...
    def symbol(self, code: str) -> tuple[str, bool]: ...


def facts_of(store: CodeSource, code: str, level: str | None = None) -> LabelFacts:
    """The :class:`LabelFacts` of an issued code; with ``level``, the code must be of that level."""
    info = store.info(code)
    if level is not None and level not in (info.level_name, str(info.level)):
        raise Precondition(
            f"code {shown(info.code)} is a {info.level_name} (level {info.level}), not a {level}",
            reason=Reason.LEVEL_MISMATCH,
            hint=f"ask for --level {info.level_name}",
        )
    data, gs1 = store.symbol(info.code)
    return LabelFacts(
        code=info.code,
        level=info.level_name,
        product=store.product(info.product_id).name,
        batch_number=info.batch_number,
        expiry=info.expiry_date,
        data=data,
        gs1=gs1,
    )


# --- symbols and text: our own bitmaps --------------------------------------------------------------


def _hri_text(data: str, gs1: bool) -> str:
    from linecode.render.hri import hri_text

    return hri_text(data, gs1=gs1)


@functools.lru_cache(maxsize=1024)
def _text_bitmap(text: str, cap_dots: int) -> npt.NDArray[np.bool_]:
    """The text's dots, read-only: a batch's labels repeat product, batch and expiry lines, and
    rasterising is most of a ZPL label's time even though ZPL only needs the width to check the fit."""
    from linecode.render.hri import text_bitmap

    bitmap = text_bitmap(text, cap_dots)
    bitmap.flags.writeable = False
    return bitmap


def _code128_chars(data: str, gs1: bool) -> list[int]:
    """Start and data symbol characters (no check character, no stop) of our Code 128 encoder."""
    from linecode.render.code128 import encode

    return encode(data, gs1=gs1)[:-2]


def _code128_widths(data: str, gs1: bool) -> list[int]:
    """Bar and space widths in modules, bar first, start to termination bar."""
    from linecode.render.code128 import widths

    return widths(data, gs1=gs1)


def _scaled(modules: npt.NDArray[np.bool_], dots: int) -> npt.NDArray[np.bool_]:
    return np.asarray(modules, dtype=bool).repeat(dots, axis=0).repeat(dots, axis=1)


def _bars(widths: Sequence[int], module_dots: int, height_dots: int) -> npt.NDArray[np.bool_]:
    row = np.repeat(np.arange(len(widths)) % 2 == 0, np.asarray(widths) * module_dots)
    return np.broadcast_to(row, (height_dots, row.size))


@dataclass(frozen=True, slots=True)
class _Placed:
    """A field resolved for one code: what is drawn where, in dots."""

    number: int
    spec: Field
    x: int
    y: int
    bitmap: npt.NDArray[np.bool_]
    """Symbols: the symbol's dots without quiet zone; text: the text's dots."""
    text: str = ""
    """Text fields: the text; symbols: their HRI text ('' without)."""
    hri: npt.NDArray[np.bool_] | None = None
    """Symbols: the HRI text's dots."""
    cap: int = 0
    """Cap height in dots of the text (text fields and HRI)."""
    modules: tuple[int, int] = (0, 0)
    """DataMatrix: (rows, cols) of the symbol."""
    chars: tuple[int, ...] = ()
    """Code 128: start and data symbol characters."""
    quiet: int = 0
    """Dots of quiet zone the symbol needs around it."""


def _dots(mm: float, dpi: int) -> int:
    return round(mm * dpi / _MM_PER_INCH)


def _place(number: int, spec: Field, facts: LabelFacts, dpi: int) -> _Placed:
    x, y = _dots(spec.x_mm, dpi), _dots(spec.y_mm, dpi)
    cap = _dots(spec.font_mm, dpi)
    if spec.kind == "text":
        text = spec.text.format(**facts.placeholders())
        return _Placed(number, spec, x, y, _text_bitmap(text, cap), text=text, cap=cap)
    hri = _hri_text(facts.data, facts.gs1) if spec.hri else ""
    hri_dots = _text_bitmap(hri, cap) if hri else None
    if spec.kind == "datamatrix":
        modules = matrix(facts.data, gs1=facts.gs1, size=spec.size)
        return _Placed(
            number, spec, x, y, _scaled(modules, spec.module_dots), text=hri, hri=hri_dots, cap=cap,
            modules=modules.shape, quiet=DM_QUIET_ZONE * spec.module_dots,
        )  # fmt: skip
    data = facts.data
    bars = _bars(_code128_widths(data, facts.gs1), spec.module_dots, _dots(spec.height_mm, dpi))
    return _Placed(
        number, spec, x, y, bars, text=hri, hri=hri_dots, cap=cap,
        chars=tuple(_code128_chars(data, facts.gs1)), quiet=C128_QUIET_ZONE * spec.module_dots,
    )  # fmt: skip


def _hri_gap(p: _Placed) -> int:
    """Dots between a symbol and its HRI text: its quiet zone (a DataMatrix's), at least 2 dots."""
    return max(2, min(p.quiet, p.spec.module_dots * 2))


def _box(p: _Placed) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) dots the field takes, quiet zone and HRI included."""
    height, width = p.bitmap.shape
    left, top, right, bottom = p.x - p.quiet, p.y - p.quiet, p.x + width + p.quiet, p.y + height + p.quiet
    if p.hri is not None:
        half = (p.hri.shape[1] - width + 1) // 2
        left, right = min(left, p.x - half), max(right, p.x - half + p.hri.shape[1])
        bottom = max(bottom, p.y + height + _hri_gap(p) + p.hri.shape[0])
    return left, top, right, bottom


def placed(layout: Layout, facts: LabelFacts) -> list[_Placed]:
    """Every field of ``layout`` that applies to the code, resolved and checked to fit the label."""
    check(layout)
    width, height = _dots(layout.width_mm, layout.dpi), _dots(layout.height_mm, layout.dpi)
    out = []
    for n, spec in enumerate(layout.fields, 1):
        if spec.rules and facts.rule not in spec.rules:
            continue
        try:
            p = _place(n, spec, facts, layout.dpi)
        except LinecodeError as exc:
            exc.args = (f"label field {n} ({spec.kind}): {exc}",)  # same class and reason, field named
            raise
        left, top, right, bottom = _box(p)
        if left < 0 or top < 0 or right > width or bottom > height:
            raise InvalidArgument(
                f"label field {n} ({spec.kind}{' ' + shown(p.text) if p.text else ''}) takes dots "
                f"{left}..{right} x {top}..{bottom} with its quiet zone and text; the label is "
                f"{width} x {height} dots ({layout.width_mm} x {layout.height_mm} mm at {layout.dpi} dpi)",
                reason=Reason.DOES_NOT_FIT,
                hint="move the field, make its module, bars or text smaller, or the label larger",
            )
        out.append(p)
    return out


# --- ZPL ----------------------------------------------------------------------------------------------

_ZPL_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("^~_\\")


def zpl_hex(text: str) -> str:
    """Text for a ``^FH`` field (hex indicator ``_``): every character outside printable ASCII, and
    ``^``, ``~``, ``_``, ``\\``, as ``_XX`` hex of its UTF-8 bytes (the label runs ``^CI28``).

    >>> zpl_hex("A^B~C_D 药")
    'A_5EB_7EC_5FD _E8_8D_AF'
    """
    return "".join(c if c in _ZPL_PLAIN else "".join(f"_{b:02X}" for b in c.encode()) for c in text)


_DM_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("^~_")


def zpl_datamatrix_data(data: str, gs1: bool) -> str:
    """``^FD`` data of a ``^BX`` field whose escape character is ``_``: ``_1`` for FNC1 (first for
    GS1, then for every GS), ``__`` for an underscore, ``_dNNN`` for any other character ZPL or the
    symbol would read otherwise (caret, tilde, control characters).

    >>> zpl_datamatrix_data("0109501101530003" "21AB_C\\x1d" "17291231" "10L1", gs1=True)
    '_1010950110153000321AB__C_11729123110L1'
    """
    out = ["_1"] if gs1 else []
    for c in data:
        if c == "\x1d" and gs1:
            out.append("_1")
        elif c == "_":
            out.append("__")
        elif c in _DM_PLAIN:
            out.append(c)
        else:
            out.append(f"_d{ord(c):03d}")
    return "".join(out)


_C128_START = {103: ">9", 104: ">:", 105: ">;"}
_SET_A, _SET_B, _SET_C = 0, 1, 2


def _c128_char(value: int, code_set: int) -> str:
    """One data character of code set A or B as ``^BC`` field data under ``^FH``."""
    c = chr(value + 32) if code_set == _SET_B or value < 64 else chr(value - 64)
    if c == ">":
        return "><"
    return c if c in _ZPL_PLAIN else f"_{ord(c):02X}"


def zpl_code128_data(chars: Sequence[int]) -> str:
    """``^BC`` mode N field data (with ``^FH``) for exactly these symbol characters: the start code
    (``>9`` A, ``>:`` B, ``>;`` C), code-set changes (``>7`` A, ``>6`` B, ``>5`` C), shift ``>4``,
    FNC1 ``>8``, digit pairs in set C and characters in A and B.

    >>> zpl_code128_data([105, 102, 0, 6, 90, 12])
    '>;>800069012'
    """
    current = chars[0] - 103
    out = [_C128_START[chars[0]]]
    shifted = False
    for v in chars[1:]:
        if v == 102:
            out.append(">8")
        elif current == _SET_C and v < 100:
            out.append(f"{v:02d}")
        elif v == 98 and current != _SET_C:
            out.append(">4")
            shifted = True
            continue
        elif (
            v in (99, 100, 101)
            and not (v == 100 and current == _SET_B)
            and not (v == 101 and current == _SET_A)
        ):
            out.append({99: ">5", 100: ">6", 101: ">7"}[v])
            current = {99: _SET_C, 100: _SET_B, 101: _SET_A}[v]
        elif current != _SET_C and v < 96:
            out.append(_c128_char(v, (1 - current) if shifted else current))
        else:
            raise InvalidArgument(
                f"Code 128 symbol character {v} in code set {'ABC'[current]} has no ZPL form"
            )
        shifted = False
    return "".join(out)


def _zpl_rows(bitmap: npt.NDArray[np.bool_]) -> tuple[int, str]:
    """(bytes per row, ``^GFA`` data) of a bitmap: hex rows, a row equal to the one before as ``:``,
    and runs of a hex digit in ZPL's repeat counts (``G``..``Y`` 1..19, ``g``..``z`` 20..400)."""
    packed = np.packbits(bitmap, axis=1)
    per_row = packed.shape[1]
    out, previous = [], None
    for row in packed:
        raw = row.tobytes()
        if raw == previous:
            out.append(":")
            continue
        previous = raw
        out.append(_run_length(raw.hex().upper()))
    return per_row, "".join(out)


_RUN = re.compile(r"(.)\1+")


def _count(n: int) -> str:
    high, low = divmod(n, 20)
    return (chr(ord("f") + high) if high else "") + (chr(ord("F") + low) if low else "")


def _run_length(hexrow: str) -> str:
    if set(hexrow) == {"0"}:
        return ","
    trimmed = hexrow.rstrip("0")
    tail = "," if len(trimmed) < len(hexrow) else ""
    out = []
    pos = 0
    for m in _RUN.finditer(trimmed):
        out.append(trimmed[pos : m.start()])
        n = len(m.group(0))
        while n:
            take = min(n, 400)
            out.append(_count(take) + m.group(1) if take > 1 else m.group(1))
            n -= take
        pos = m.end()
    out.append(trimmed[pos:])
    return "".join(out) + tail


def _zpl_graphic(bitmap: npt.NDArray[np.bool_]) -> str:
    per_row, data = _zpl_rows(bitmap)
    total = per_row * bitmap.shape[0]
    return f"^GFA,{total},{total},{per_row},{data}^FS"


def _zpl_text(x: int, y: int, cap: int, text: str, block: int | None = None) -> str:
    # ^A0's height is the font's full height; its capitals are about 0.7 of it
    height = max(10, round(cap / 0.7))
    fb = f"^FB{block},1,0,C,0" if block else ""
    return f"^FO{x},{y}^A0N,{height},{height}{fb}^FH^FD{zpl_hex(text)}^FS"


def _zpl_field(p: _Placed, profile: Profile, facts: LabelFacts) -> list[str]:
    height, width = p.bitmap.shape
    if p.spec.kind == "text":
        return [_zpl_text(p.x, p.y, p.cap, p.text)]
    if profile == "graphic":
        out = [f"^FO{p.x},{p.y}{_zpl_graphic(p.bitmap)}"]
    elif p.spec.kind == "datamatrix":
        rows, cols = p.modules
        out = [
            f"^FO{p.x},{p.y}^BXN,{p.spec.module_dots},200,{cols},{rows},,_",
            f"^FD{zpl_datamatrix_data(facts.data, facts.gs1)}^FS",
        ]
    else:
        out = [
            f"^FO{p.x},{p.y}^BY{p.spec.module_dots}^BCN,{height},N,N,N,N",
            f"^FH^FD{zpl_code128_data(p.chars)}^FS",
        ]
    if p.hri is not None:
        # centred in a block as wide as the wider of symbol and text, as the preview has it
        block = max(width, p.hri.shape[1])
        left = p.x - (p.hri.shape[1] - width + 1) // 2 if block > width else p.x
        out.append(_zpl_text(left, p.y + height + _hri_gap(p), p.cap, p.text, block=block))
    return out


def _profile(profile: str) -> Profile:
    if profile not in PROFILES:
        raise InvalidArgument(
            f"printer profile {profile!r}: expected one of {', '.join(PROFILES)}", reason=Reason.BAD_LAYOUT
        )
    return profile  # type: ignore[return-value]


def zpl(layout: Layout, facts: LabelFacts, profile: Profile | None = None) -> str:
    """One label as a ZPL II format (``^XA`` … ``^XZ``); ``profile`` overrides the layout's ``symbols``."""
    chosen = _profile(profile or layout.symbols)
    fields_ = placed(layout, facts)
    lines = [
        "^XA",
        "^CI28",
        f"^PW{_dots(layout.width_mm, layout.dpi)}",
        f"^LL{_dots(layout.height_mm, layout.dpi)}",
        "^LH0,0",
    ]
    for p in fields_:
        lines += _zpl_field(p, chosen, facts)
    lines.append("^XZ")
    return "\n".join(lines) + "\n"


# --- the PNG preview ------------------------------------------------------------------------------------


def _blit(canvas: npt.NDArray[np.bool_], bitmap: npt.NDArray[np.bool_], x: int, y: int) -> None:
    height, width = bitmap.shape
    canvas[y : y + height, x : x + width] |= bitmap


def preview(layout: Layout, facts: LabelFacts) -> npt.NDArray[np.bool_]:
    """The label's dots (``True`` = dark): our symbol bitmaps and text where the ZPL puts them."""
    fields_ = placed(layout, facts)
    canvas = np.zeros((_dots(layout.height_mm, layout.dpi), _dots(layout.width_mm, layout.dpi)), dtype=bool)
    for p in fields_:
        _blit(canvas, p.bitmap, p.x, p.y)
        if p.hri is not None:
            height, width = p.bitmap.shape
            left = (
                p.x - (p.hri.shape[1] - width + 1) // 2
                if p.hri.shape[1] > width
                else p.x + (width - p.hri.shape[1]) // 2
            )
            _blit(canvas, p.hri, left, p.y + height + _hri_gap(p))
    return canvas


def label(
    layout: Layout, facts: LabelFacts, profile: Profile | None = None, fmt: LabelFormat = "zpl"
) -> bytes:
    """One code's label: ZPL (ASCII) or the PNG preview (1-bit, one pixel per printer dot)."""
    if fmt == "zpl":
        return zpl(layout, facts, profile).encode("ascii")
    if fmt == "png":
        if profile is not None:
            _profile(profile)
        return write(preview(layout, facts), "png", 1, 0)
    raise InvalidArgument(
        f"label format {fmt!r}: expected one of {', '.join(LABEL_FORMATS)}", reason=Reason.BAD_FORMAT
    )


def label_for(
    store: CodeSource,
    code: str,
    level: str,
    layout: Layout | None = None,
    profile: Profile | None = None,
    fmt: LabelFormat = "zpl",
) -> bytes:
    """The label of an issued code of ``level`` (``case``, ``pallet``, or any level's name or number),
    from ``layout`` or the level's :func:`default_layout`: ZPL or a PNG preview.

    Raises, before anything is made, :class:`~linecode.errors.NotFound` for a code the store never
    issued, :class:`~linecode.errors.Precondition` (``LEVEL_MISMATCH``) for a code of another level,
    and :class:`~linecode.errors.InvalidArgument` (``BAD_LAYOUT``, ``BAD_SIZE``, ``DOES_NOT_FIT``,
    ``BAD_FORMAT``) for a layout or data that makes no label.
    """
    facts = facts_of(store, code, level)
    chosen = layout if layout is not None else default_layout(level, facts.rule)
    return label(chosen, facts, profile, fmt)
