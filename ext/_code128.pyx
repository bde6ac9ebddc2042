# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Code 128 / GS1-128 kernels: shortest encodation, check character, bar widths, image rows.

The fast copy of ``linecode/render/code128_reference.py`` (read it first: it is the specification,
and tests hold this module to it symbol character for symbol character, width for width, pixel for
pixel and error for error: data it refuses raises the same :class:`linecode.errors.InvalidData`).
The shortest-path search and the drawing run with the GIL released. Private: use
``linecode.render.code128``.
"""

from libc.stdint cimport uint8_t
from libc.string cimport memcpy, memset

import numpy as np

from linecode.errors import InvalidData
from linecode.reasons import Reason

cdef enum:
    SET_A = 0
    SET_B = 1
    SET_C = 2
    START = 103
    STOP = 106
    FNC1 = 102
    SHIFT = 98
    FNC1_VALUE = 256
    GS = 0x1D
    MAX_DATA = 512  # reference.MAX_DATA
    MAX_CHARS = 2 * MAX_DATA + 8  # every value (FNC1 first included) shifted, start, check, stop
    INF = 1 << 30
    EMIT = 1
    SHIFTED = 2
    LATCHED = 3
    STARTED = 4

cdef enum:  # status codes of the nogil encoder
    OK = 0
    EMPTY = 1
    TOO_LONG = 2
    NOT_ASCII = 3

MAX_DATA_CHARS = MAX_DATA

cdef uint8_t WIDTHS[107][7]  # element widths of each symbol value; 6 each, 7 for the stop pattern
cdef int LATCH[3]
LATCH[:] = [101, 100, 99]
cdef int END_ORDER[3]
END_ORDER[:] = [SET_B, SET_C, SET_A]

_PATTERNS = (
    "212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 221312 231212 "
    "112232 122132 122231 113222 123122 123221 223211 221132 221231 213212 223112 312131 "
    "311222 321122 321221 312212 322112 322211 212123 212321 232121 111323 131123 131321 "
    "112313 132113 132311 211313 231113 231311 112133 112331 132131 113123 113321 133121 "
    "313121 211331 231131 213113 213311 213131 311123 311321 331121 312113 312311 332111 "
    "314111 221411 431111 111224 111422 121124 121421 141122 141221 112214 112412 122114 "
    "122411 142112 142211 241211 221114 413111 241112 134111 111242 121142 121241 114212 "
    "124112 124211 411212 421112 421211 212141 214121 412121 111143 111341 131141 114113 "
    "114311 411113 411311 113141 114131 311141 411131 211412 211214 211232 2331112"
).split()
for _k, _p in enumerate(_PATTERNS):
    for _j, _w in enumerate(_p):
        WIDTHS[_k][_j] = int(_w)


cdef inline bint is_digit(int v) noexcept nogil:
    return 48 <= v <= 57


cdef inline bint in_set(int v, int s) noexcept nogil:
    if v == FNC1_VALUE:
        return True
    return v < 96 if s == SET_A else v >= 32


cdef inline int value_ab(int v) noexcept nogil:
    if v == FNC1_VALUE:
        return FNC1
    return v + 64 if v < 32 else v - 32


cdef inline void relax(int* cost, int* back, int i, int s, int c, int pi, int ps, int step) noexcept nogil:
    cdef int k = 3 * i + s
    if c < cost[k]:
        cost[k] = c
        back[3 * k] = pi
        back[3 * k + 1] = ps
        back[3 * k + 2] = step


cdef int encode_chars(const uint8_t* data, int n, bint gs1, int* chars) noexcept nogil:
    """Write the symbol's characters (start … check, stop) to ``chars``: their count, or -status."""
    cdef int v[MAX_DATA + 1]
    cdef int cost[3 * (MAX_DATA + 2)]
    cdef int back[9 * (MAX_DATA + 2)]
    cdef int before[3]
    cdef int m = 0, i, s, t, c, pi, ps, step, count, check, k
    if n == 0:
        return -EMPTY
    if n > MAX_DATA:
        return -TOO_LONG
    if gs1:
        v[0] = FNC1_VALUE
        m = 1
    for i in range(n):
        if data[i] > 127:
            return -NOT_ASCII
        if gs1 and data[i] == GS:
            v[m] = FNC1_VALUE
        else:
            v[m] = data[i]
        m += 1
    for i in range(3 * (m + 1)):
        cost[i] = INF
    for s in range(3):
        relax(cost, back, 0, s, 1, 0, s, STARTED)
    for i in range(m):
        for s in range(3):
            before[s] = cost[3 * i + s]
        for s in range(3):
            for t in range(3):
                if t != s:
                    relax(cost, back, i, t, before[s] + 1, i, s, LATCHED)
        for s in range(3):
            c = cost[3 * i + s]
            if s == SET_C:
                if v[i] == FNC1_VALUE:
                    relax(cost, back, i + 1, s, c + 1, i, s, EMIT)
                elif i + 1 < m and is_digit(v[i]) and is_digit(v[i + 1]):
                    relax(cost, back, i + 2, s, c + 1, i, s, EMIT)
            elif in_set(v[i], s):
                relax(cost, back, i + 1, s, c + 1, i, s, EMIT)
            else:
                relax(cost, back, i + 1, s, c + 2, i, s, SHIFTED)
    s = END_ORDER[0]
    for k in range(1, 3):
        if cost[3 * m + END_ORDER[k]] < cost[3 * m + s]:
            s = END_ORDER[k]
    count = cost[3 * m + s]
    i = m
    k = count  # fill backwards: chars[0] is the start character
    while True:
        pi = back[3 * (3 * i + s)]
        ps = back[3 * (3 * i + s) + 1]
        step = back[3 * (3 * i + s) + 2]
        if step == STARTED:
            k -= 1
            chars[k] = START + s
            break
        if step == LATCHED:
            k -= 1
            chars[k] = LATCH[s]
        elif step == SHIFTED:
            k -= 2
            chars[k] = SHIFT
            chars[k + 1] = value_ab(v[pi])
        elif s == SET_C:
            k -= 1
            chars[k] = FNC1 if v[pi] == FNC1_VALUE else (v[pi] - 48) * 10 + v[pi + 1] - 48
        else:
            k -= 1
            chars[k] = value_ab(v[pi])
        i = pi
        s = ps
    check = chars[0]
    for k in range(1, count):
        check += k * chars[k]
    chars[count] = check % 103
    chars[count + 1] = STOP
    return count + 2


cdef int modules_of(const int* chars, int count) noexcept nogil:
    """Width in modules of the symbol characters (11 each, 13 for the stop pattern)."""
    return 11 * count + 2


cdef void draw_row(const int* chars, int count, int module_px, int quiet_zone, uint8_t* row) noexcept nogil:
    """One image row (1 = dark), ``module_px`` pixels per module, quiet zones either side."""
    cdef int x = quiet_zone * module_px, k, j, w, nel
    cdef bint dark = True
    memset(row, 0, (modules_of(chars, count) + 2 * quiet_zone) * module_px)
    for k in range(count):
        nel = 7 if chars[k] == STOP else 6
        for j in range(nel):
            w = WIDTHS[chars[k]][j] * module_px
            if dark:
                memset(row + x, 1, w)
            x += w
            dark = not dark


cdef void raise_status(int status) except *:
    if status == -EMPTY:
        raise InvalidData("no data: Code 128 needs at least one character", reason=Reason.BAD_LENGTH)
    if status == -TOO_LONG:
        raise InvalidData(f"data longer than {MAX_DATA} characters", reason=Reason.DOES_NOT_FIT)
    raise InvalidData("only ASCII data (bytes below 128) can be encoded", reason=Reason.BAD_CHARACTER)


cdef int encode_nogil(bytes data, bint gs1, int* chars) except -1:
    cdef const uint8_t* p = data
    cdef int n = len(data), count
    with nogil:
        count = encode_chars(p, n, gs1, chars)
    if count < 0:
        raise_status(count)
    return count


# --- Python entry points ------------------------------------------------------------------------

def symbol(bytes data, bint gs1):
    """Every symbol character (start, data, check, stop), like reference.symbol."""
    cdef int chars[MAX_CHARS]
    cdef int count = encode_nogil(data, gs1, chars)
    return [chars[k] for k in range(count)]


def widths(bytes data, bint gs1):
    """Bar and space widths in modules, bar first, like reference.widths."""
    cdef int chars[MAX_CHARS]
    cdef int count = encode_nogil(data, gs1, chars)
    return [WIDTHS[chars[k]][j] for k in range(count) for j in range(7 if chars[k] == STOP else 6)]


def pixels(bytes data, bint gs1, int module_px, int quiet_zone, int height_px):
    """The image as a (height_px x width) uint8 array, 1 = dark, like reference.pixels.

    Encodes and draws with the GIL released; the array is C-contiguous, ready for the image writers.
    """
    cdef int chars[MAX_CHARS]
    cdef const uint8_t* p = data
    cdef int n = len(data), count, width, y
    cdef uint8_t[:, ::1] out
    cdef uint8_t* base
    if module_px < 1 or quiet_zone < 0 or height_px < 1:
        raise ValueError(f"module_px {module_px}, quiet_zone {quiet_zone}, height_px {height_px}: "
                         "expected >= 1, >= 0, >= 1")
    with nogil:
        count = encode_chars(p, n, gs1, chars)
    if count < 0:
        raise_status(count)
    width = (modules_of(chars, count) + 2 * quiet_zone) * module_px
    image = np.empty((height_px, width), dtype=np.uint8)
    out = image
    base = &out[0, 0]
    with nogil:
        draw_row(chars, count, module_px, quiet_zone, base)
        for y in range(1, height_px):
            memcpy(base + <Py_ssize_t>y * width, base, width)
    return image
