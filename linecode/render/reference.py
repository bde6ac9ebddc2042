"""Pure-Python reference of the DataMatrix kernels: the readable specification.

``linecode._datamatrix`` (Cython) is the fast copy; tests hold it to these functions codeword for
codeword, module for module and byte for byte, and to the data they refuse (the same
:class:`~linecode.errors.InvalidData`). Everything follows ISO/IEC 16022:2006 (ECC 200):

* :data:`SIZES` — the 24 square and 6 rectangular symbols (table 7 of the standard), then the 18
  rectangles of ISO/IEC 21471:2020 (DMRE, Data Matrix Rectangular Extension), which keep ECC 200's
  encodation, Reed-Solomon code and placement and only add sizes. DMRE is opt-in (see
  :func:`candidates`): libdmtx, one of the two decoders every default symbol must pass, reads none.
* :func:`plan` / :func:`codewords` — encodation: ASCII (with digit pairs and FNC1), C40/Text and
  EDIFACT, mixed by a shortest-path search over the data so the codeword count is minimal for
  these schemes; GS1 DataMatrix starts with FNC1 and writes every GS as FNC1.
* :func:`ecc` / :func:`interleave` — Reed-Solomon over GF(256) (polynomial 0x12D), one block per
  symbol or, for the large sizes, data and check codewords spread over interleaved blocks.
* :func:`placement` / :func:`symbol` — the standard module placement ("utah" shapes and the four
  corner cases) and the finder and clock pattern around every data region.

The image writers the kernel's ``image`` follows (PNG, PBM) are the other specification:
:mod:`linecode.render.image_reference`.
"""

from __future__ import annotations

from dataclasses import dataclass

from linecode.errors import InvalidData
from linecode.reasons import Reason

# Codewords (ISO/IEC 16022 table 2).
PAD = 129
DIGIT_PAIR = 130
LATCH_C40 = 230
FNC1 = 232
LATCH_TEXT = 239
LATCH_EDIFACT = 240
UNLATCH = 254
EDIFACT_UNLATCH = 31
"""EDIFACT's unlatch is a 6-bit value inside the stream, not a codeword."""

GS = 0x1D
"""In GS1 mode every GS byte of the data is written as FNC1."""
FNC1_VALUE = 256
"""FNC1 among the data values handed to the encodation (above every byte)."""

ASCII, C40, TEXT, EDIFACT = 0, 1, 2, 3
"""Encodation schemes; C40 and Text share everything but their value tables."""
INF = 1 << 30


@dataclass(frozen=True, slots=True)
class SymbolSize:
    """One ECC 200 symbol size."""

    rows: int
    """Modules from top to bottom, finder pattern included."""
    cols: int
    """Modules from left to right, finder pattern included."""
    region_rows: int
    """Rows of one data region (inside its finder pattern)."""
    region_cols: int
    """Columns of one data region."""
    data_codewords: int
    """Capacity in data codewords."""
    ecc_per_block: int
    """Reed-Solomon check codewords of each interleaved block."""
    blocks: int
    """Interleaved blocks (1 up to 48x48)."""
    dmre: bool = False
    """A DMRE size of ISO/IEC 21471, not an ECC 200 size of ISO/IEC 16022."""

    @property
    def name(self) -> str:
        return f"{self.rows}x{self.cols}"

    @property
    def square(self) -> bool:
        return self.rows == self.cols

    @property
    def regions_v(self) -> int:
        return self.rows // (self.region_rows + 2)

    @property
    def regions_h(self) -> int:
        return self.cols // (self.region_cols + 2)

    @property
    def mapping_rows(self) -> int:
        return self.regions_v * self.region_rows

    @property
    def mapping_cols(self) -> int:
        return self.regions_h * self.region_cols


# ISO/IEC 16022 table 7: squares by size, then rectangles by size.
SIZES: tuple[SymbolSize, ...] = (
    SymbolSize(10, 10, 8, 8, 3, 5, 1),
    SymbolSize(12, 12, 10, 10, 5, 7, 1),
    SymbolSize(14, 14, 12, 12, 8, 10, 1),
    SymbolSize(16, 16, 14, 14, 12, 12, 1),
    SymbolSize(18, 18, 16, 16, 18, 14, 1),
    SymbolSize(20, 20, 18, 18, 22, 18, 1),
    SymbolSize(22, 22, 20, 20, 30, 20, 1),
    SymbolSize(24, 24, 22, 22, 36, 24, 1),
    SymbolSize(26, 26, 24, 24, 44, 28, 1),
    SymbolSize(32, 32, 14, 14, 62, 36, 1),
    SymbolSize(36, 36, 16, 16, 86, 42, 1),
    SymbolSize(40, 40, 18, 18, 114, 48, 1),
    SymbolSize(44, 44, 20, 20, 144, 56, 1),
    SymbolSize(48, 48, 22, 22, 174, 68, 1),
    SymbolSize(52, 52, 24, 24, 204, 42, 2),
    SymbolSize(64, 64, 14, 14, 280, 56, 2),
    SymbolSize(72, 72, 16, 16, 368, 36, 4),
    SymbolSize(80, 80, 18, 18, 456, 48, 4),
    SymbolSize(88, 88, 20, 20, 576, 56, 4),
    SymbolSize(96, 96, 22, 22, 696, 68, 4),
    SymbolSize(104, 104, 24, 24, 816, 56, 6),
    SymbolSize(120, 120, 18, 18, 1050, 68, 6),
    SymbolSize(132, 132, 20, 20, 1304, 62, 8),
    SymbolSize(144, 144, 22, 22, 1558, 62, 10),
    SymbolSize(8, 18, 6, 16, 5, 7, 1),
    SymbolSize(8, 32, 6, 14, 10, 11, 1),
    SymbolSize(12, 26, 10, 24, 16, 14, 1),
    SymbolSize(12, 36, 10, 16, 22, 18, 1),
    SymbolSize(16, 36, 14, 16, 32, 24, 1),
    SymbolSize(16, 48, 14, 22, 49, 28, 1),
    # ISO/IEC 21471 table 7 (DMRE): one Reed-Solomon block each; a single row of data regions.
    *(
        SymbolSize(rows, cols, region_rows, region_cols, data, check, 1, dmre=True)
        for rows, cols, region_rows, region_cols, data, check in (
            (8, 48, 6, 22, 18, 15),
            (8, 64, 6, 14, 24, 18),
            (8, 80, 6, 18, 32, 22),
            (8, 96, 6, 22, 38, 28),
            (8, 120, 6, 18, 49, 32),
            (8, 144, 6, 22, 63, 36),
            (12, 64, 10, 14, 43, 27),
            (12, 88, 10, 20, 64, 36),
            (16, 64, 14, 14, 62, 36),
            (20, 36, 18, 16, 44, 28),
            (20, 44, 18, 20, 56, 34),
            (20, 64, 18, 14, 84, 42),
            (22, 48, 20, 22, 72, 38),
            (24, 48, 22, 22, 80, 41),
            (24, 64, 22, 14, 108, 46),
            (26, 40, 24, 18, 70, 38),
            (26, 48, 24, 22, 90, 42),
            (26, 64, 24, 14, 118, 50),
        )
    ),
)

# Size sets the encoder chooses from (the kernel's ``shape`` argument): ECC 200 squares and
# rectangles, squares, rectangles; then the same two with the DMRE rectangles added.
SHAPE_ANY, SHAPE_SQUARE, SHAPE_RECTANGLE, SHAPE_ANY_DMRE, SHAPE_RECTANGLE_DMRE = range(5)
SIZE_SETS = 5


def candidates(shape: int) -> list[int]:
    """Indices into :data:`SIZES` to try for a size set, in order: smallest area first (modules,
    finder pattern included); at equal area the one with more rows, i.e. the squarer symbol.

    The tie-break puts a square before a rectangle (12x12 / 8x18, 16x16 / 8x32, 24x24 / 16x36,
    32x32 / 16x64) and an ECC 200 rectangle before a DMRE one (16x48 / 12x64 / 8x96); between DMRE
    rectangles (22x48 / 12x88, 24x48 / 8x144) it is the squarer, which also holds more data.
    """
    order = sorted(range(len(SIZES)), key=lambda k: (SIZES[k].rows * SIZES[k].cols, -SIZES[k].rows))
    dmre = shape in (SHAPE_ANY_DMRE, SHAPE_RECTANGLE_DMRE)
    square_ok = shape in (SHAPE_ANY, SHAPE_SQUARE, SHAPE_ANY_DMRE)
    rectangle_ok = shape != SHAPE_SQUARE
    return [
        k for k in order if (square_ok if SIZES[k].square else rectangle_ok) and (dmre or not SIZES[k].dmre)
    ]


# --- encodation ---------------------------------------------------------------------------------


def c40_values(scheme: int, value: int) -> tuple[int, ...]:
    """The C40 or Text values of one data value (a byte below 128, or FNC1)."""
    if value == FNC1_VALUE:
        return (1, 27)  # Shift 2, FNC1
    if value == 32:
        return (3,)
    if 48 <= value <= 57:
        return (value - 44,)
    upper, lower = 65 <= value <= 90, 97 <= value <= 122
    if (upper and scheme == C40) or (lower and scheme == TEXT):
        return ((value & 0x1F) + 13,)
    if upper or lower:
        return (2, value & 0x1F)  # Shift 3: the other case
    if value < 32:
        return (0, value)
    if value <= 47:
        return (1, value - 33)
    if value <= 64:
        return (1, value - 43)
    if value <= 95:
        return (1, value - 69)
    return (2, value - 96)  # ` { | } ~ DEL


def data_values(data: bytes, gs1: bool) -> list[int]:
    """The data as encodation values: bytes, with GS as FNC1 in GS1 mode; :class:`InvalidData`
    ``BAD_CHARACTER`` for a byte above 127."""
    if any(b > 127 for b in data):
        raise InvalidData("only ASCII data (bytes below 128) can be encoded", reason=Reason.BAD_CHARACTER)
    return [FNC1_VALUE if gs1 and b == GS else b for b in data]


# DP states: 0 is ASCII; 1 + 3 * (scheme - 1) + pending is C40/Text with 0..2 values of the current
# triple written; 7 + pending is EDIFACT with 0..3 values of the current group of four written.
STATES = 11
EDIFACT_STATE = 7
# Costs in twelfths of a codeword: ASCII codeword 12, C40/Text value 8 (3 per 2 codewords),
# EDIFACT value 9 (4 per 3 codewords).
CW, C40_VALUE, EDIFACT_VALUE = 12, 8, 9
# EDIFACT unlatch (value 31) after ``pending`` values: what it adds to close the group on a byte.
EDIFACT_UNLATCH_COST = (12, 15, 18, 9)
# Actions of the shortest path, kept to rebuild the codewords.
ACT_SINGLE, ACT_PAIR, ACT_LATCH, ACT_UNLATCH, ACT_VALUES, ACT_SHIFT_PAD, ACT_EDIFACT_UNLATCH = range(1, 8)


def _state(scheme: int, pending: int) -> int:
    return 1 + 3 * (scheme - 1) + pending


def scheme_of(state: int) -> int:
    return ASCII if state == 0 else EDIFACT if state >= EDIFACT_STATE else (state - 1) // 3 + 1


@dataclass(frozen=True, slots=True)
class Plan:
    """The cheapest ways to encode the data; costs in twelfths of a codeword."""

    cost: list[list[int]]
    """cost[i][state]: cheapest encoding of the first i values ending in ``state``."""
    back: list[list[tuple[int, int, int]]]
    """back[i][state] = (previous i, previous state, action)."""
    values: list[int]
    start: int
    """Codewords before the data (1: the leading FNC1 of GS1 DataMatrix)."""


def _relax(plan: Plan, i: int, s: int, cost: int, prev: tuple[int, int, int]) -> None:
    if cost < plan.cost[i][s]:
        plan.cost[i][s] = cost
        plan.back[i][s] = prev


def _is_digit(v: int) -> bool:
    return 48 <= v <= 57


def plan(data: bytes, gs1: bool) -> Plan:
    """Shortest path over (position, scheme, values pending in a group): the fewest codewords.

    EDIFACT (ASCII 32..94, 6 bits a character) ends with its unlatch value, written into the last
    group so that group never starts in the symbol's last two codewords (where readers fall back
    to ASCII): after 2 or 3 values it always fills 3 bytes, after 1 only with data still to come.
    """
    values = data_values(data, gs1)
    n = len(values)
    p = Plan(
        [[INF] * STATES for _ in range(n + 1)], [[(0, 0, 0)] * STATES for _ in range(n + 1)], values, int(gs1)
    )
    p.cost[0][0] = CW * p.start
    for i in range(n + 1):
        if i == n:  # two values of a triple left: complete it with Shift 1 (ISO 16022 5.2.5.2)
            for scheme in (C40, TEXT):
                s2 = _state(scheme, 2)
                _relax(p, n, _state(scheme, 0), p.cost[n][s2] + C40_VALUE, (n, s2, ACT_SHIFT_PAD))
        for scheme in (C40, TEXT):
            _relax(p, i, 0, p.cost[i][_state(scheme, 0)] + CW, (i, _state(scheme, 0), ACT_UNLATCH))
        for pending in (1, 2, 3) if i < n else (2, 3):
            s = EDIFACT_STATE + pending
            _relax(p, i, 0, p.cost[i][s] + EDIFACT_UNLATCH_COST[pending], (i, s, ACT_EDIFACT_UNLATCH))
        for s in (_state(C40, 0), _state(TEXT, 0), EDIFACT_STATE):
            _relax(p, i, s, p.cost[i][0] + CW, (i, 0, ACT_LATCH))
        if i == n:
            break
        v = values[i]
        here = p.cost[i][0]
        if i + 1 < n and _is_digit(v) and _is_digit(values[i + 1]):
            _relax(p, i + 2, 0, here + CW, (i, 0, ACT_PAIR))
        _relax(p, i + 1, 0, here + CW, (i, 0, ACT_SINGLE))
        for scheme in (C40, TEXT):
            k = len(c40_values(scheme, v))
            for pending in range(3):
                s = _state(scheme, pending)
                _relax(
                    p,
                    i + 1,
                    _state(scheme, (pending + k) % 3),
                    p.cost[i][s] + C40_VALUE * k,
                    (i, s, ACT_VALUES),
                )
        if 32 <= v <= 94:
            for pending in range(4):
                s = EDIFACT_STATE + pending
                nxt = EDIFACT_STATE + (pending + 1) % 4
                _relax(p, i + 1, nxt, p.cost[i][s] + EDIFACT_VALUE, (i, s, ACT_VALUES))
    return p


# Ways a codeword stream may end (ISO 16022 5.2.3, 5.2.5.2, 5.2.8.2).
END_ASCII, END_C40_EXACT, END_C40_TAIL, END_EDIFACT = 0, 1, 2, 3


def _tail(values: list[int], n: int) -> tuple[int, int]:
    """(start, codeword) of the last data as one ASCII codeword, or (-1, 0) if it takes more."""
    if n >= 2 and _is_digit(values[n - 2]) and _is_digit(values[n - 1]):
        return n - 2, DIGIT_PAIR + 10 * (values[n - 2] - 48) + values[n - 1] - 48
    if n >= 1:
        return n - 1, _ascii_codeword(values[n - 1])
    return -1, 0


def _ascii_codeword(v: int) -> int:
    return FNC1 if v == FNC1_VALUE else v + 1


def ends(p: Plan) -> tuple[int, int, int, int, int]:
    """Codeword counts of the ways to end, and the C40/Text state of the best exact end.

    ``(ascii, exact, exact_state, tail, edifact)``: ASCII ends fit any capacity at or above their
    count (padding follows); a C40/Text stream may end without unlatch only when it fills the
    symbol exactly, and so may one that finishes a triple and leaves one ASCII codeword (digit pair
    or character) for the last symbol character; an EDIFACT stream that ends on a full group fits
    any capacity at or above its count (readers return to ASCII for the last two codewords; from
    three up it is unlatched).
    """
    n = len(p.values)
    best_exact, exact_state = INF, 0
    for scheme in (C40, TEXT):
        s = _state(scheme, 0)
        if p.cost[n][s] < best_exact:
            best_exact, exact_state = p.cost[n][s], s
    tail = INF
    j, _ = _tail(p.values, n)
    if j >= 0:
        for scheme in (C40, TEXT):
            tail = min(tail, p.cost[j][_state(scheme, 0)] + CW)
    return p.cost[n][0] // CW, best_exact // CW, exact_state, tail // CW, p.cost[n][EDIFACT_STATE] // CW


def fits(end_counts: tuple[int, int, int, int, int], capacity: int) -> int:
    """Which end to use in a symbol of ``capacity`` data codewords, or -1 if none fits."""
    ascii_count, exact, _, tail, edifact = end_counts
    if ascii_count <= capacity:
        return END_ASCII
    if edifact <= capacity:
        return END_EDIFACT
    if exact == capacity:
        return END_C40_EXACT
    if tail == capacity:
        return END_C40_TAIL
    return -1


def _emit(p: Plan, i: int, s: int) -> list[int]:
    """The codewords of the cheapest path to (i, s), rebuilt from the back pointers."""
    steps: list[tuple[int, int, int]] = []
    while (i, s) != (0, 0):
        pi, ps, act = p.back[i][s]
        steps.append((pi, s, act))
        i, s = pi, ps
    out = [FNC1] * p.start
    pending: list[int] = []
    bits, nbits = 0, 0  # EDIFACT: 6-bit values packed MSB first
    for i, s, act in reversed(steps):
        scheme = scheme_of(s)
        if act == ACT_SINGLE:
            out.append(_ascii_codeword(p.values[i]))
        elif act == ACT_PAIR:
            out.append(DIGIT_PAIR + 10 * (p.values[i] - 48) + p.values[i + 1] - 48)
        elif act == ACT_LATCH:
            out.append({C40: LATCH_C40, TEXT: LATCH_TEXT, EDIFACT: LATCH_EDIFACT}[scheme])
        elif act == ACT_UNLATCH:
            out.append(UNLATCH)
        elif scheme == EDIFACT or act == ACT_EDIFACT_UNLATCH:
            bits, nbits = (
                bits << 6 | (p.values[i] & 0x3F if act == ACT_VALUES else EDIFACT_UNLATCH),
                nbits + 6,
            )
            if act == ACT_EDIFACT_UNLATCH:  # the group ends here: zero bits up to the byte
                bits, nbits = bits << (-nbits % 8), nbits + (-nbits % 8)
            while nbits >= 8:
                out.append(bits >> (nbits - 8) & 0xFF)
                nbits -= 8
            bits &= (1 << nbits) - 1
        else:
            pending.extend(c40_values(scheme, p.values[i]) if act == ACT_VALUES else (0,))
            while len(pending) >= 3:
                packed = 1600 * pending[0] + 40 * pending[1] + pending[2] + 1
                out += [packed >> 8, packed & 0xFF]
                del pending[:3]
    return out


def codewords(data: bytes, gs1: bool, size: int = -1, shape: int = SHAPE_ANY) -> tuple[int, list[int]]:
    """(size index, data codewords padded to capacity); ``size`` -1 picks the smallest that fits.

    Raises :class:`~linecode.errors.InvalidData` ``DOES_NOT_FIT`` when no allowed size holds the
    data (``BAD_CHARACTER`` for a byte above 127).
    """
    p = plan(data, gs1)
    counts = ends(p)
    for k in [size] if size >= 0 else candidates(shape):
        end = fits(counts, SIZES[k].data_codewords)
        if end >= 0:
            break
    else:
        raise InvalidData(f"data needs {min(counts[0], counts[4])} codewords", reason=Reason.DOES_NOT_FIT)
    n, capacity = len(p.values), SIZES[k].data_codewords
    if end == END_ASCII:
        out = _emit(p, n, 0)
    elif end == END_EDIFACT:
        out = _emit(p, n, EDIFACT_STATE)
        if capacity - len(out) >= 3:  # room for a whole group: readers need the unlatch
            out.append(EDIFACT_UNLATCH << 2)
    elif end == END_C40_EXACT:
        out = _emit(p, n, counts[2])
    else:
        j, last = _tail(p.values, n)
        best = min((_state(sc, 0) for sc in (C40, TEXT)), key=lambda s: p.cost[j][s])
        out = [*_emit(p, j, best), last]
    return k, pad(out, capacity)


def pad(cws: list[int], capacity: int) -> list[int]:
    """Fill to capacity: 129, then 129 + the 253-state randomisation of each position."""
    out = list(cws)
    if len(out) < capacity:
        out.append(PAD)
    while len(out) < capacity:
        position = len(out) + 1
        value = PAD + (149 * position) % 253 + 1
        out.append(value - 254 if value > 254 else value)
    return out


# --- Reed-Solomon -------------------------------------------------------------------------------

GF_EXP = [0] * 512
GF_LOG = [0] * 256
_x = 1
for _i in range(255):
    GF_EXP[_i] = _x
    GF_LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x12D
for _i in range(255, 512):
    GF_EXP[_i] = GF_EXP[_i - 255]


def gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else GF_EXP[GF_LOG[a] + GF_LOG[b]]


def generator(n: int) -> list[int]:
    """Coefficients of (x - 2^1)(x - 2^2)…(x - 2^n), highest power first (leading 1)."""
    g = [1]
    for i in range(1, n + 1):
        root = GF_EXP[i]
        g = [*g, 0]
        for j in range(len(g) - 1, 0, -1):
            g[j] ^= gf_mul(g[j - 1], root)
    return g


def ecc(data: list[int], n: int) -> list[int]:
    """The ``n`` check codewords of one block: the remainder of data·x^n by the generator."""
    g = generator(n)
    rem = [0] * n
    for d in data:
        f = d ^ rem[0]
        rem = [*rem[1:], 0]
        for j in range(n):
            rem[j] ^= gf_mul(f, g[j + 1])
    return rem


def interleave(size: SymbolSize, data: list[int]) -> list[int]:
    """Data then check codewords; block b holds every blocks-th codeword starting at b."""
    out = list(data)
    checks = [ecc(data[b :: size.blocks], size.ecc_per_block) for b in range(size.blocks)]
    for j in range(size.ecc_per_block):
        out += [checks[b][j] for b in range(size.blocks)]
    return out


# --- placement ----------------------------------------------------------------------------------


def placement(nrow: int, ncol: int) -> list[int]:
    """For each module of the mapping matrix (row-major): 8 * codeword + bit (bit 0 = MSB), or
    -1 / -2 for the light / dark filler modules some sizes leave in their lower right corner."""
    grid = [-3] * (nrow * ncol)

    def module(r: int, c: int, cw: int, bit: int) -> None:
        if r < 0:
            r += nrow
            c += 4 - (nrow + 4) % 8
        if c < 0:
            c += ncol
            r += 4 - (ncol + 4) % 8
        if r >= nrow:  # ISO/IEC 21471 annex E: some DMRE widths push a wrapped bit below the last row
            r -= nrow
        grid[r * ncol + c] = 8 * cw + bit

    def utah(r: int, c: int, cw: int) -> None:
        for bit, (dr, dc) in enumerate(
            ((-2, -2), (-2, -1), (-1, -2), (-1, -1), (-1, 0), (0, -2), (0, -1), (0, 0))
        ):
            module(r + dr, c + dc, cw, bit)

    def corner(cw: int, spots: tuple[tuple[int, int], ...]) -> None:
        for bit, (r, c) in enumerate(spots):
            module(r % nrow, c % ncol, cw, bit)

    lo, hi = nrow - 1, ncol - 1
    corners = (
        ((lo, 0), (lo, 1), (lo, 2), (0, hi - 1), (0, hi), (1, hi), (2, hi), (3, hi)),
        ((lo - 2, 0), (lo - 1, 0), (lo, 0), (0, hi - 3), (0, hi - 2), (0, hi - 1), (0, hi), (1, hi)),
        ((lo - 2, 0), (lo - 1, 0), (lo, 0), (0, hi - 1), (0, hi), (1, hi), (2, hi), (3, hi)),
        ((lo, 0), (lo, hi), (0, hi - 2), (0, hi - 1), (0, hi), (1, hi - 2), (1, hi - 1), (1, hi)),
    )
    cw, r, c = 0, 4, 0
    while True:
        if r == nrow and c == 0:
            corner(cw, corners[0])
            cw += 1
        if r == nrow - 2 and c == 0 and ncol % 4:
            corner(cw, corners[1])
            cw += 1
        if r == nrow - 2 and c == 0 and ncol % 8 == 4:
            corner(cw, corners[2])
            cw += 1
        if r == nrow + 4 and c == 2 and ncol % 8 == 0:
            corner(cw, corners[3])
            cw += 1
        while True:  # up and to the right
            if 0 <= r < nrow and 0 <= c < ncol and grid[r * ncol + c] == -3:
                utah(r, c, cw)
                cw += 1
            r, c = r - 2, c + 2
            if not (r >= 0 and c < ncol):
                break
        r, c = r + 1, c + 3
        while True:  # down and to the left
            if 0 <= r < nrow and 0 <= c < ncol and grid[r * ncol + c] == -3:
                utah(r, c, cw)
                cw += 1
            r, c = r + 2, c - 2
            if not (r < nrow and c >= 0):
                break
        r, c = r + 3, c + 1
        if not (r < nrow or c < ncol):
            break
    # Sizes whose mapping matrix is not a multiple of 8 modules fill the corner with a fixed pattern.
    for k, (rr, cc) in enumerate(((lo, hi), (lo - 1, hi - 1), (lo, hi - 1), (lo - 1, hi))):
        if grid[rr * ncol + cc] == -3:
            grid[rr * ncol + cc] = -2 if k < 2 else -1
    return grid


def symbol(size: SymbolSize, stream: list[int]) -> list[list[int]]:
    """The module matrix (1 = dark) of a full codeword stream: data regions and finder patterns."""
    grid = placement(size.mapping_rows, size.mapping_cols)
    out = [[0] * size.cols for _ in range(size.rows)]
    for y in range(size.rows):
        ry = y % (size.region_rows + 2)
        for x in range(size.cols):
            rx = x % (size.region_cols + 2)
            if rx == 0 or ry == size.region_rows + 1:
                out[y][x] = 1  # solid L: left column and bottom row
            elif ry == 0:
                out[y][x] = 1 - rx % 2  # clock track on top, dark first
            elif rx == size.region_cols + 1:
                out[y][x] = ry % 2  # clock track on the right
            else:
                my = y // (size.region_rows + 2) * size.region_rows + ry - 1
                mx = x // (size.region_cols + 2) * size.region_cols + rx - 1
                spot = grid[my * size.mapping_cols + mx]
                out[y][x] = (
                    1 if spot == -2 else 0 if spot == -1 else stream[spot >> 3] >> (7 - (spot & 7)) & 1
                )
    return out


def encode(data: bytes, gs1: bool, size: int = -1, shape: int = SHAPE_ANY) -> tuple[int, list[list[int]]]:
    """(size index, module matrix) of ``data``: the whole encoder in one call."""
    k, cws = codewords(data, gs1, size, shape)
    return k, symbol(SIZES[k], interleave(SIZES[k], cws))
