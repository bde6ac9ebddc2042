"""Pure-Python reference of the Code 128 kernel: the readable specification.

``linecode._code128`` (Cython) is the fast copy; tests hold it to these functions symbol character
for symbol character, width for width and pixel for pixel, and to the data they refuse (the same
:class:`~linecode.errors.InvalidData`). Everything follows ISO/IEC 15417:2007:

* :data:`PATTERNS` — the 106 symbol characters (6 elements, 11 modules each) and the stop pattern
  (7 elements, 13 modules: the stop character and its termination bar), bar first.
* :func:`plan` — encodation with the three code sets: A (upper case and control characters), B
  (upper and lower case), C (digit pairs), FNC1 in all three. A shortest-path search over
  (position, current code set) with start characters, code-set changes (latches) and single-
  character shifts A↔B, so the number of symbol characters — and the symbol's width, 11 modules
  each — is the minimum over every encodation the standard allows. Ties go to the path found
  first (the loops' order), which the kernel follows too.
* :func:`symbol` — start character, data (FNC1 in first position for GS1-128; in GS1 mode every GS
  byte is written as FNC1), the modulo-103 check character, stop.
* :func:`widths` / :func:`pixels` — the bar and space widths and the 1-bit image rows.

Data is ASCII (bytes 0..127): FNC4 (ISO/IEC 8859-1 above 127) is not used for our codes.
"""

from __future__ import annotations

from linecode.errors import InvalidData
from linecode.reasons import Reason

# Element widths (bar, space, bar, ...) of symbol values 0..105, then the stop pattern (106).
_TABLE = (
    "212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 221312 231212 "
    "112232 122132 122231 113222 123122 123221 223211 221132 221231 213212 223112 312131 "
    "311222 321122 321221 312212 322112 322211 212123 212321 232121 111323 131123 131321 "
    "112313 132113 132311 211313 231113 231311 112133 112331 132131 113123 113321 133121 "
    "313121 211331 231131 213113 213311 213131 311123 311321 331121 312113 312311 332111 "
    "314111 221411 431111 111224 111422 121124 121421 141122 141221 112214 112412 122114 "
    "122411 142112 142211 241211 221114 413111 241112 134111 111242 121142 121241 114212 "
    "124112 124211 411212 421112 421211 212141 214121 412121 111143 111341 131141 114113 "
    "114311 411113 411311 113141 114131 311141 411131 211412 211214 211232 2331112"
)
PATTERNS: tuple[str, ...] = tuple(_TABLE.split())

SET_A, SET_B, SET_C = 0, 1, 2
"""Code sets; the start character of set ``s`` is ``START + s``."""
START = 103
STOP = 106
FNC1 = 102
SHIFT = 98
LATCH = (101, 100, 99)
"""The code-set change character to set A, B, C (the same value from either other set)."""
FNC1_VALUE = 256
"""FNC1 among the data values handed to the encodation (above every byte)."""
GS = 0x1D
MAX_DATA = 512
"""Longest data the encoder takes, in characters (no scanner reads a symbol this long)."""
INF = 1 << 30
EMIT, SHIFTED, LATCHED, STARTED = 1, 2, 3, 4
"""Steps of a plan: a character in the current set (a digit pair in C), a shifted character, a
code-set change, the start character."""
END_ORDER = (SET_B, SET_C, SET_A)
"""Which final code set wins a tie of equally short encodations (set B, the usual default)."""


def values(data: bytes, gs1: bool) -> list[int]:
    """The data values to encode: bytes, and FNC1 (:data:`FNC1_VALUE`) first and for every GS in
    GS1 mode. Raises :class:`InvalidData` for no data, data too long or a byte above 127."""
    if not data:
        raise InvalidData("no data: Code 128 needs at least one character", reason=Reason.BAD_LENGTH)
    if len(data) > MAX_DATA:
        raise InvalidData(f"data of {len(data)} characters: at most {MAX_DATA}", reason=Reason.DOES_NOT_FIT)
    if max(data) > 127:
        raise InvalidData("only ASCII data (bytes below 128) can be encoded", reason=Reason.BAD_CHARACTER)
    if not gs1:
        return list(data)
    return [FNC1_VALUE] + [FNC1_VALUE if b == GS else b for b in data]


def _in_set(v: int, s: int) -> bool:
    """One data value written as one character of code set A or B."""
    return v == FNC1_VALUE or (v < 96 if s == SET_A else v >= 32)


def _digit(v: int) -> bool:
    return 48 <= v <= 57


def plan(v: list[int]) -> tuple[list[list[int]], list[list[tuple[int, int, int]]]]:
    """(cost, back) of the shortest-path search: ``cost[i][s]`` the fewest symbol characters
    (start included) that encode ``v[:i]`` and leave code set ``s`` current; ``back[i][s]`` the
    step that got there, as (previous position, previous set, step kind)."""
    n = len(v)
    cost = [[INF] * 3 for _ in range(n + 1)]
    back = [[(0, 0, 0)] * 3 for _ in range(n + 1)]

    def relax(i: int, s: int, c: int, step: tuple[int, int, int]) -> None:
        if c < cost[i][s]:
            cost[i][s] = c
            back[i][s] = step

    for s in range(3):
        relax(0, s, 1, (0, s, STARTED))
    for i in range(n):
        before = list(cost[i])  # a change from a set reached by a change is never shorter
        for s in range(3):
            for t in range(3):
                if t != s:
                    relax(i, t, before[s] + 1, (i, s, LATCHED))
        for s in range(3):
            c = cost[i][s]
            if s == SET_C:
                if v[i] == FNC1_VALUE:
                    relax(i + 1, s, c + 1, (i, s, EMIT))
                elif i + 1 < n and _digit(v[i]) and _digit(v[i + 1]):
                    relax(i + 2, s, c + 1, (i, s, EMIT))
            elif _in_set(v[i], s):
                relax(i + 1, s, c + 1, (i, s, EMIT))
            else:  # a shift writes the one character from the other of A and B
                relax(i + 1, s, c + 2, (i, s, SHIFTED))
    return cost, back


def _value(v: int) -> int:
    """The symbol value of data value ``v`` in code set A or B (the sets share 32..95)."""
    if v == FNC1_VALUE:
        return FNC1
    return v + 64 if v < 32 else v - 32


def encodation(data: bytes, gs1: bool) -> list[int]:
    """Start character and data characters (code-set changes, shifts, FNC1), shortest possible."""
    v = values(data, gs1)
    n = len(v)
    cost, back = plan(v)
    s = min(END_ORDER, key=lambda t: cost[n][t])
    out: list[int] = []
    i = n
    while True:
        pi, ps, step = back[i][s]
        if step == STARTED:
            out.append(START + s)
            break
        if step == LATCHED:
            out.append(LATCH[s])
        elif step == SHIFTED:
            out += [_value(v[pi]), SHIFT]  # reversed below
        elif s == SET_C:
            out.append(FNC1 if v[pi] == FNC1_VALUE else (v[pi] - 48) * 10 + v[pi + 1] - 48)
        else:
            out.append(_value(v[pi]))
        i, s = pi, ps
    out.reverse()
    return out


def check_character(chars: list[int]) -> int:
    """The symbol check character of start + data characters: (start + Σ position * value) mod 103."""
    return (chars[0] + sum(k * c for k, c in enumerate(chars[1:], 1))) % 103


def symbol(data: bytes, gs1: bool) -> list[int]:
    """Every symbol character: start, data, check character, stop (106)."""
    chars = encodation(data, gs1)
    return [*chars, check_character(chars), STOP]


def widths(data: bytes, gs1: bool) -> list[int]:
    """Bar and space widths in modules, bar first, from the start character to the termination bar."""
    return [int(w) for c in symbol(data, gs1) for w in PATTERNS[c]]


def pixels(data: bytes, gs1: bool, module_px: int, quiet_zone: int, height_px: int) -> list[list[bool]]:
    """The image (rows of pixels, ``True`` = dark): ``quiet_zone`` light modules either side of the
    bars, ``module_px`` pixels per module, ``height_px`` identical rows."""
    row = [False] * (quiet_zone * module_px)
    for k, w in enumerate(widths(data, gs1)):
        row += [k % 2 == 0] * (w * module_px)
    row += [False] * (quiet_zone * module_px)
    return [list(row) for _ in range(height_px)]
