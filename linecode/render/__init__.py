"""DataMatrix ECC 200 symbols of our codes, as module matrices and printer images.

The API the CLI and the print service call. It validates data before anything is encoded (GS1
check digits, dates, AI lengths; an invalid code never becomes an image), picks the symbol size
(smallest fitting by default, or the caller's fixed size or shape), and hands the work to a
backend: ``"linecode"``, the Cython kernel (``linecode._datamatrix``, twin of
:mod:`linecode.render.reference`), or ``"libdmtx"``, the reference library as a fallback.

For a print stream, :func:`render_many` and :func:`matrices` encode whole lists in the kernel with
the GIL released, optionally over several threads; their output equals one-by-one calls.

Sizes are the 30 ECC 200 sizes of ISO/IEC 16022 unless the caller passes ``dmre=True``, which adds
the 18 rectangles of ISO/IEC 21471 (DMRE: 8x48 … 26x64). DMRE is opt-in because every symbol we
print by default must read back in two independent decoders, and libdmtx (0.7.7, the second one)
knows only the ISO/IEC 16022 sizes: it finds no symbol in a DMRE image. zxing-cpp reads DMRE and
its encoder (zint) uses it by default, so for a few long GS1 codes it draws 20x44 (880 modules)
where the smallest ECC 200 size is 32x32 (1024). Our rule, held by the tests: the default symbol is
never larger in area than zxing-cpp's whenever zxing-cpp's is an ISO/IEC 16022 size, and with
``dmre=True`` it is never larger at all.

See ``docs/render.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

import linecode._datamatrix as _dm
from linecode.codes import GS, Gs1Code, Nmpa20Code, Sscc, parse_element_string
from linecode.errors import InvalidArgument, InvalidCode, InvalidData
from linecode.reasons import Reason
from linecode.render import libdmtx
from linecode.render import reference as ref
from linecode.render.formats import FORMATS, KERNEL_FORMATS, MEDIA_TYPES, Format, check_layout, write
from linecode.render.hri import hri_text, symbol_with_hri, with_hri
from linecode.render.reference import SIZES, SymbolSize

__all__ = [
    "BACKENDS",
    "FORMATS",
    "MEDIA_TYPES",
    "SHAPES",
    "SIZES",
    "Backend",
    "Code",
    "Format",
    "Shape",
    "SymbolSize",
    "hri_text",
    "image",
    "matrices",
    "matrix",
    "render",
    "render_many",
    "symbol_data",
    "symbol_size",
    "with_hri",
]

Shape = Literal["any", "square", "rectangle"]
SHAPES: tuple[Shape, ...] = ("any", "square", "rectangle")
# The kernel's size set (reference.SHAPE_*) of (shape, dmre); DMRE has no squares.
_SIZE_SETS = {
    ("any", False): ref.SHAPE_ANY,
    ("square", False): ref.SHAPE_SQUARE,
    ("rectangle", False): ref.SHAPE_RECTANGLE,
    ("any", True): ref.SHAPE_ANY_DMRE,
    ("square", True): ref.SHAPE_SQUARE,
    ("rectangle", True): ref.SHAPE_RECTANGLE_DMRE,
}
_SET_NAMES = ("", "square ", "rectangle ", "(DMRE included) ", "rectangle (DMRE included) ")
Backend = Literal["linecode", "libdmtx"]
BACKENDS: tuple[Backend, ...] = ("linecode", "libdmtx")
Code: TypeAlias = str | Nmpa20Code | Gs1Code | Sscc
"""What can be rendered: a code object (already valid) or text, validated here."""

# GS1 General Specifications figure 7.8.5-2: element strings starting with these two digits have a
# predefined length, so no FNC1 separator follows them; every other field ends with one unless last.
_PREDEFINED_LENGTH = frozenset(
    ["00", "01", "02", "03", "04", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "31", "32",
     "33", "34", "35", "36", "41"]
)  # fmt: skip
_THREAD_CHUNK = 2048  # codes per task when render_many/matrices split work across threads


def symbol_size(size: str | SymbolSize) -> SymbolSize:
    """The symbol size named ``ROWSxCOLS`` (e.g. ``16x16``, ``8x32``, or a DMRE size like ``20x44``)."""
    if isinstance(size, SymbolSize):
        return size
    for s in SIZES:
        if s.name == size.strip().lower():
            return s
    raise InvalidArgument(
        f"DataMatrix size {size!r}: expected ROWSxCOLS, one of {', '.join(s.name for s in SIZES)}",
        reason=Reason.BAD_SIZE,
    )


def _gs1_element_string(text: str) -> str:
    fields = list(parse_element_string(text).items())
    parts = []
    for n, (ai, value) in enumerate(fields):
        parts.append(ai + value)
        if ai[:2] not in _PREDEFINED_LENGTH and n < len(fields) - 1:
            parts.append(GS)
    return "".join(parts)


def symbol_data(code: Code, gs1: bool | None = None) -> tuple[bytes, bool]:
    """(data for the symbol, GS1 or not) of a code, after validating it.

    Code objects carry their kind. Text needs ``gs1``: with ``gs1=True`` it is a GS1 element string
    (HRI ``(01)…`` or raw with GS separators), checked in full (check digits, dates, lengths) and
    written with GS after every variable-length field but the last; with ``gs1=False`` it must be
    an nmpa20 code (20 digits, HRI spaces or dashes allowed; the keyed check is the store's job).
    """
    if isinstance(code, Nmpa20Code):
        return code.data.encode(), False
    if isinstance(code, Gs1Code | Sscc):
        return code.as_element_string().encode(), True
    if gs1 is None:
        raise InvalidArgument(
            f"data {code!r}: say whether it is GS1 (gs1=True) or not (gs1=False)",
            hint="a 20-digit string may be an nmpa20 code or an SSCC element string",
        )
    if gs1:
        return _gs1_element_string(code).encode(), True
    return Nmpa20Code.parse(code).data.encode(), False


def _size_args(size: str | SymbolSize | None, shape: Shape, dmre: bool) -> tuple[int, int]:
    """(fixed size index or -1, the kernel's size set)."""
    if shape not in SHAPES:
        raise InvalidArgument(
            f"shape {shape!r}: expected one of {', '.join(SHAPES)}", reason=Reason.BAD_SHAPE
        )
    if size is None:
        return -1, _SIZE_SETS[shape, bool(dmre)]
    fixed = symbol_size(size)
    if (shape == "square" and not fixed.square) or (shape == "rectangle" and fixed.square):
        raise InvalidArgument(f"size {fixed.name} is not a {shape}", reason=Reason.BAD_SIZE)
    if fixed.dmre and not dmre:
        raise InvalidArgument(
            f"size {fixed.name} is a DMRE size (ISO/IEC 21471), which libdmtx cannot read",
            reason=Reason.BAD_SIZE,
            hint="pass dmre=True if every reader of the label supports DMRE (zxing-cpp does)",
        )
    return SIZES.index(fixed), ref.SHAPE_ANY


def _does_not_fit(data: bytes, gs1: bool, size: int, size_set: int) -> InvalidArgument:
    ascii_end, exact, tail = _dm.needs(data, gs1)
    need = min(ascii_end, exact, tail)
    largest = max((SIZES[k] for k in _dm.candidates(size_set)), key=lambda s: s.data_codewords)
    where = (
        f"size {SIZES[size].name} holds {SIZES[size].data_codewords}"
        if size >= 0
        else f"the largest {_SET_NAMES[size_set]}size {largest.name} holds {largest.data_codewords}"
    )
    return InvalidArgument(
        f"data {data.decode()!r} does not fit: it needs {need} data codewords, {where}",
        reason=Reason.DOES_NOT_FIT,
        hint="choose a larger size, another shape, or leave the size free",
    )


def _index(exc: InvalidData) -> int:
    """Where in its slice of the batch the code is that a bulk kernel call refused."""
    if exc.index is None:  # a bulk call always names it
        raise exc
    return exc.index


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise InvalidArgument(
            f"backend {backend!r}: expected one of {', '.join(BACKENDS)}", reason=Reason.BAD_BACKEND
        )


def matrix(
    code: Code,
    *,
    gs1: bool | None = None,
    size: str | SymbolSize | None = None,
    shape: Shape = "any",
    dmre: bool = False,
    backend: Backend = "linecode",
) -> npt.NDArray[np.bool_]:
    """The module matrix (rows x cols, ``True`` = dark, no quiet zone) of one code.

    The size is the smallest in area that holds the data (among ``shape``; at equal area the one
    with more rows), unless ``size`` fixes one. ``dmre=True`` adds the DMRE rectangles, which
    zxing-cpp reads and libdmtx does not (see the module's docstring).

    >>> matrix("86123451234567890042", gs1=False).shape
    (16, 16)
    >>> matrix("(01)09501101530003(21)ABC123(17)291231(10)L1", gs1=True, shape="rectangle").shape
    (16, 36)
    >>> matrix("(01)09501101530003(21)ABC123(17)291231(10)L1", gs1=True, shape="rectangle", dmre=True).shape
    (8, 64)
    """
    data, is_gs1 = symbol_data(code, gs1)
    k, size_set = _size_args(size, shape, dmre)
    _check_backend(backend)
    if backend == "libdmtx":
        if dmre:
            raise InvalidArgument("the libdmtx backend has no DMRE sizes", hint="use backend='linecode'")
        return libdmtx.encode(data, is_gs1, k, size_set)
    try:
        _, modules = _dm.encode(data, is_gs1, k, size_set)
    except InvalidData:
        raise _does_not_fit(data, is_gs1, k, size_set) from None
    return modules.view(bool)


def image(
    modules: npt.NDArray[np.bool_], *, fmt: Format = "png", module_px: int = 10, quiet_zone: int = 1
) -> bytes:
    """The image of a module matrix: ``module_px`` pixels (dots) per module, quiet zone in modules."""
    return write(modules, fmt, module_px, quiet_zone)


def render(
    code: Code,
    *,
    gs1: bool | None = None,
    fmt: Format = "png",
    module_px: int = 10,
    quiet_zone: int = 1,
    size: str | SymbolSize | None = None,
    shape: Shape = "any",
    dmre: bool = False,
    backend: Backend = "linecode",
    hri: bool | str = False,
    dpi: int = 300,
) -> bytes:
    """The printer image of one code (see :func:`matrix` and :func:`image`).

    ``hri=True`` prints the code's human-readable text under the symbol (:func:`hri_text`), a
    string prints that text instead; ``dpi`` (the printer's) sizes it (:mod:`linecode.render.hri`).
    """
    check_layout(fmt, module_px, quiet_zone)
    modules = matrix(code, gs1=gs1, size=size, shape=shape, dmre=dmre, backend=backend)
    if hri:
        text = hri_text(code, gs1) if hri is True else hri
        return symbol_with_hri(modules, text, fmt=fmt, module_px=module_px, quiet_zone=quiet_zone, dpi=dpi)
    return write(modules, fmt, module_px, quiet_zone)


def _batch(
    codes: Sequence[Code] | npt.NDArray[np.bytes_], gs1: bool | None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(flat bytes, offsets, gs1) of validated codes; an ``S20`` array of nmpa20 codes (the output
    of ``Nmpa20Pool.codes``) is checked in one vectorised pass."""
    if isinstance(codes, np.ndarray):
        if codes.dtype != np.dtype("S20") or gs1 is not False:
            raise InvalidArgument(
                f"an array of codes must be nmpa20 codes of dtype S20 with gs1=False, got {codes.dtype}",
                hint="Nmpa20Pool.codes() returns such an array; pass other codes as a list",
            )
        flat = np.ascontiguousarray(codes).view(np.uint8).reshape(-1, 20)
        bad = ~((flat >= 0x30) & (flat <= 0x39)).all(axis=1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InvalidCode(
                f"Invalid nmpa20 code {codes[first].decode(errors='replace')!r} (code {first} of the "
                "batch): expected 20 digits",
                reason=Reason.BAD_CHARACTER,
            )
        return flat.reshape(-1), np.arange(len(codes) + 1, dtype=np.int64) * 20, False
    kinds = set()
    parts = []
    for code in codes:
        data, is_gs1 = symbol_data(code, gs1)
        parts.append(data)
        kinds.add(is_gs1)
    if len(kinds) > 1:
        raise InvalidArgument("a batch mixes GS1 and non-GS1 codes: render them in separate batches")
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in parts], out=offsets[1:])
    return np.frombuffer(b"".join(parts), dtype=np.uint8), offsets, kinds == {True}


def _split(count: int, threads: int) -> list[tuple[int, int]]:
    pieces = max(1, min(threads, count // _THREAD_CHUNK))
    step = -(-count // pieces) if count else 1
    return [(start, min(start + step, count)) for start in range(0, count, step)] or [(0, 0)]


def _parallel(fn, pieces: list[tuple[int, int]]) -> list:  # type: ignore[no-untyped-def, type-arg]
    if len(pieces) == 1:
        return [fn(*pieces[0])]
    with ThreadPoolExecutor(max_workers=len(pieces), thread_name_prefix="linecode-render") as pool:
        return list(pool.map(lambda p: fn(*p), pieces))


def _threads(threads: int | None) -> int:
    return max(1, threads if threads is not None else (os.cpu_count() or 1))


def render_many(
    codes: Sequence[Code] | npt.NDArray[np.bytes_],
    *,
    gs1: bool | None = None,
    fmt: Literal["png", "pbm"] = "png",
    module_px: int = 10,
    quiet_zone: int = 1,
    size: str | SymbolSize | None = None,
    shape: Shape = "any",
    dmre: bool = False,
    threads: int | None = 1,
) -> list[bytes]:
    """Images of many codes in print order, equal to ``[render(c, ...) for c in codes]``.

    Validation happens first, for the whole batch: one invalid code and no image is made. Each code
    gets its smallest fitting size unless ``size`` fixes one. ``threads`` (None: every core) splits
    the batch; the kernel releases the GIL.
    """
    if fmt not in KERNEL_FORMATS:
        raise InvalidArgument(f"bulk image format {fmt!r}: expected png or pbm", reason=Reason.BAD_FORMAT)
    check_layout(fmt, module_px, quiet_zone)
    k, size_set = _size_args(size, shape, dmre)
    flat, offsets, is_gs1 = _batch(codes, gs1)

    def work(lo: int, hi: int) -> list[bytes]:
        try:
            return list(
                _dm.render_many(flat, offsets[lo : hi + 1], is_gs1, k, size_set, module_px, quiet_zone,
                                KERNEL_FORMATS[fmt])
            )  # fmt: skip
        except InvalidData as exc:
            index = lo + _index(exc)
            raise _does_not_fit(
                bytes(flat[offsets[index] : offsets[index + 1]]), is_gs1, k, size_set
            ) from None

    return [img for part in _parallel(work, _split(len(offsets) - 1, _threads(threads))) for img in part]


def matrices(
    codes: Sequence[Code] | npt.NDArray[np.bytes_],
    *,
    gs1: bool | None = None,
    size: str | SymbolSize | None = None,
    shape: Shape = "any",
    dmre: bool = False,
    threads: int | None = 1,
) -> npt.NDArray[np.bool_]:
    """Module matrices of many codes in one size, as an array (count x rows x cols).

    Without ``size`` the size is the smallest (of ``shape``) that every code fits, so a print
    stream keeps one label layout.
    """
    k, size_set = _size_args(size, shape, dmre)
    flat, offsets, is_gs1 = _batch(codes, gs1)
    count = len(offsets) - 1
    pieces = _split(count, _threads(threads))
    if k < 0 and count:
        # A batch of one code format mostly shares one smallest size: guess the first code's and
        # encode everything once; only a batch that disagrees pays for a second, common-size pass.
        first = bytes(flat[offsets[0] : offsets[1]])
        try:
            guess = SIZES[_dm.encode(first, is_gs1, -1, size_set)[0]]
        except InvalidData:
            raise _does_not_fit(first, is_gs1, -1, size_set) from None
        out = np.empty((count, guess.rows, guess.cols), dtype=np.uint8)
        sizes = np.empty(count, dtype=np.int32)

        def smallest(lo: int, hi: int) -> None:
            try:
                _dm.encode_many_smallest(
                    flat, offsets[lo : hi + 1], is_gs1, size_set, out[lo:hi], sizes[lo:hi]
                )
            except InvalidData as exc:
                index = lo + _index(exc)
                data = bytes(flat[offsets[index] : offsets[index + 1]])
                raise _does_not_fit(data, is_gs1, -1, size_set) from None

        _parallel(smallest, pieces)
        if (sizes == SIZES.index(guess)).all():
            return out.view(bool)
    if k < 0:
        k = _common_size(flat, offsets, is_gs1, size_set)
    out = np.empty((count, SIZES[k].rows, SIZES[k].cols), dtype=np.uint8)

    def work(lo: int, hi: int) -> None:
        try:
            _dm.encode_many(flat, offsets[lo : hi + 1], is_gs1, k, out[lo:hi])
        except InvalidData as exc:
            index = lo + _index(exc)
            raise _does_not_fit(bytes(flat[offsets[index] : offsets[index + 1]]), is_gs1, k, 0) from None

    _parallel(work, pieces)
    return out.view(bool)


def _common_size(flat: np.ndarray, offsets: np.ndarray, gs1: bool, shape: int) -> int:
    """The first candidate size (of size set ``shape``) that every code of the batch fits."""
    counts = np.empty((len(offsets) - 1, 3), dtype=np.int32)
    _dm.needs_many(flat, offsets, gs1, counts)
    for k in _dm.candidates(shape):
        cap = SIZES[k].data_codewords
        if ((counts[:, 0] <= cap) | (counts[:, 1] == cap) | (counts[:, 2] == cap)).all():
            return k
    worst = int(np.argmax(counts.min(axis=1)))
    raise _does_not_fit(bytes(flat[offsets[worst] : offsets[worst + 1]]), gs1, -1, shape)
