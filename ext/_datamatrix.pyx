# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""DataMatrix ECC 200 kernels: encodation, Reed–Solomon, module placement, 1-bit PNG and PBM.

The fast copy of ``linecode/render/reference.py`` and, for the images,
``linecode/render/image_reference.py`` (read those first: they are the specification, and tests
hold this module to them codeword for codeword, module for module, byte for byte, and error for
error: data no symbol can hold raises :class:`linecode.errors.InvalidData`, as the reference does,
with the code's index in a bulk call; a call against a function's contract (a size index, an
array's shape) is a bug of the caller and raises ``ValueError``. Placement maps, generator
polynomials and Huffman codes are built once at import; every bulk function runs with the GIL
released. Private: use ``linecode.render``.
"""

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcmp, memcpy, memmove, memset

import numpy as np

from linecode.errors import InvalidData
from linecode.reasons import Reason

cdef enum:
    NSIZES = 48  # 30 of ISO/IEC 16022, then 18 DMRE of ISO/IEC 21471
    SIZE_SETS = 5  # reference.SIZE_SETS
    PAD = 129
    DIGIT_PAIR = 130
    LATCH_C40 = 230
    FNC1 = 232
    LATCH_TEXT = 239
    LATCH_EDIFACT = 240
    UNLATCH = 254
    EDIFACT_UNLATCH = 31
    GS = 0x1D
    FNC1_VALUE = 256
    C40 = 1
    TEXT = 2
    EDIFACT = 3
    STATES = 11
    EDIFACT_STATE = 7
    CW = 12  # costs in twelfths of a codeword, as reference.plan
    C40_VALUE = 8
    EDIFACT_VALUE = 9
    INF = 1 << 30
    ACT_SINGLE = 1
    ACT_PAIR = 2
    ACT_LATCH = 3
    ACT_UNLATCH = 4
    ACT_VALUES = 5
    ACT_SHIFT_PAD = 6
    ACT_EDIFACT_UNLATCH = 7
    END_ASCII = 0
    END_C40_EXACT = 1
    END_C40_TAIL = 2
    END_EDIFACT = 3
    MAX_CODEWORDS = 2178  # 144x144: 1558 data + 620 check
    MAX_DATA = 3116  # 1558 codewords of digit pairs: nothing longer fits any size
    SMALL = 256  # data up to this length works in stack buffers
    MAX_ECC = 68

cdef enum:  # status codes of the nogil encoder
    OK = 0
    NO_FIT = 1
    NOT_ASCII = 2

cdef enum:
    FORMAT_PNG = 0
    FORMAT_PBM = 1

PNG = FORMAT_PNG
PBM = FORMAT_PBM

cdef struct Size:
    int rows, cols, region_rows, region_cols, data_cw, ecc, blocks

SIZES = ()  # (rows, cols, region rows, region cols, data codewords, check codewords per block, blocks)

cdef Size SZ[NSIZES]
cdef int ORDER[SIZE_SETS][NSIZES]  # candidate sizes per size set (reference.candidates), in order
cdef int ORDER_N[SIZE_SETS]
cdef int32_t* MAPS[NSIZES]  # per module of the symbol: 8 * codeword + bit, or -1 light, -2 dark
cdef int EXP[512]
cdef int LOG[256]
cdef int GEN_LOG[MAX_ECC + 1][MAX_ECC + 1]  # log of generator coefficients 1..n (leading 1 dropped)
cdef uint8_t CVAL[3][257][2]  # C40/Text values of each data value (index 1: C40, 2: Text)
cdef uint8_t CLEN[3][257]
cdef int EDIFACT_UNLATCH_COST[4]
cdef uint32_t CRC_TABLE[256]
cdef uint32_t LIT_CODE[288]  # fixed Huffman codes, bit-reversed for deflate's LSB-first stream
cdef uint8_t LIT_BITS[288]
cdef uint32_t DIST_CODE[30]
cdef int LEN_BASE[29]
cdef int LEN_EXTRA[29]
cdef int DIST_BASE[30]
cdef int DIST_EXTRA[30]


# --- encodation ---------------------------------------------------------------------------------

cdef inline bint is_digit(int v) noexcept nogil:
    return 48 <= v <= 57


cdef inline int state_of(int scheme, int pending) noexcept nogil:
    return 1 + 3 * (scheme - 1) + pending


cdef inline void relax(int* cost, int* back, int i, int s, int c, int pi, int ps, int act) noexcept nogil:
    if c < cost[i * STATES + s]:
        cost[i * STATES + s] = c
        back[i * STATES + s] = (pi << 8) | (ps << 4) | act


cdef inline int scheme_of(int s) noexcept nogil:
    return 0 if s == 0 else (EDIFACT if s >= EDIFACT_STATE else (s - 1) // 3 + 1)


cdef void plan(const int* v, int n, int start, int* cost, int* back) noexcept nogil:
    """Shortest path over (position, scheme, values pending in a group), as reference.plan."""
    cdef int i, s, k, scheme, pending, here
    for i in range((n + 1) * STATES):
        cost[i] = INF
    cost[0] = CW * start
    for i in range(n + 1):
        if i == n:
            for scheme in range(C40, TEXT + 1):
                relax(cost, back, n, state_of(scheme, 0), cost[n * STATES + state_of(scheme, 2)] + C40_VALUE,
                      n, state_of(scheme, 2), ACT_SHIFT_PAD)
        for scheme in range(C40, TEXT + 1):
            relax(cost, back, i, 0, cost[i * STATES + state_of(scheme, 0)] + CW, i, state_of(scheme, 0),
                  ACT_UNLATCH)
        for pending in range(1 if i < n else 2, 4):
            s = EDIFACT_STATE + pending
            relax(cost, back, i, 0, cost[i * STATES + s] + EDIFACT_UNLATCH_COST[pending], i, s, ACT_EDIFACT_UNLATCH)
        relax(cost, back, i, state_of(C40, 0), cost[i * STATES] + CW, i, 0, ACT_LATCH)
        relax(cost, back, i, state_of(TEXT, 0), cost[i * STATES] + CW, i, 0, ACT_LATCH)
        relax(cost, back, i, EDIFACT_STATE, cost[i * STATES] + CW, i, 0, ACT_LATCH)
        if i == n:
            break
        here = cost[i * STATES]
        if i + 1 < n and is_digit(v[i]) and is_digit(v[i + 1]):
            relax(cost, back, i + 2, 0, here + CW, i, 0, ACT_PAIR)
        relax(cost, back, i + 1, 0, here + CW, i, 0, ACT_SINGLE)
        for scheme in range(C40, TEXT + 1):
            k = CLEN[scheme][v[i]]
            for pending in range(3):
                s = state_of(scheme, pending)
                if cost[i * STATES + s] < INF:  # unreachable states are common: skip their relaxing
                    relax(cost, back, i + 1, state_of(scheme, (pending + k) % 3),
                          cost[i * STATES + s] + C40_VALUE * k, i, s, ACT_VALUES)
        if 32 <= v[i] <= 94:
            for pending in range(4):
                s = EDIFACT_STATE + pending
                if cost[i * STATES + s] < INF:
                    relax(cost, back, i + 1, EDIFACT_STATE + (pending + 1) % 4,
                          cost[i * STATES + s] + EDIFACT_VALUE, i, s, ACT_VALUES)


cdef inline int ascii_codeword(int v) noexcept nogil:
    return FNC1 if v == FNC1_VALUE else v + 1


cdef int tail_of(const int* v, int n, int* cw) noexcept nogil:
    """Start of the last data as one ASCII codeword (written to cw), or -1."""
    if n >= 2 and is_digit(v[n - 2]) and is_digit(v[n - 1]):
        cw[0] = DIGIT_PAIR + 10 * (v[n - 2] - 48) + v[n - 1] - 48
        return n - 2
    if n >= 1:
        cw[0] = ascii_codeword(v[n - 1])
        return n - 1
    return -1


cdef void ends(const int* v, int n, const int* cost, int* counts) noexcept nogil:
    """counts = ascii, exact C40/Text, its state, tail, edifact ends (codewords), as reference.ends."""
    cdef int scheme, s, j, cw, best = INF, best_state = 0, tail = INF
    for scheme in range(C40, TEXT + 1):
        s = state_of(scheme, 0)
        if cost[n * STATES + s] < best:
            best = cost[n * STATES + s]
            best_state = s
    j = tail_of(v, n, &cw)
    if j >= 0:
        for scheme in range(C40, TEXT + 1):
            tail = min(tail, cost[j * STATES + state_of(scheme, 0)] + CW)
    counts[0] = cost[n * STATES] // CW
    counts[1] = best // CW
    counts[2] = best_state
    counts[3] = tail // CW
    counts[4] = cost[n * STATES + EDIFACT_STATE] // CW


cdef inline int fits(const int* counts, int capacity) noexcept nogil:
    if counts[0] <= capacity:
        return END_ASCII
    if counts[4] <= capacity:
        return END_EDIFACT
    if counts[1] == capacity:
        return END_C40_EXACT
    if counts[3] == capacity:
        return END_C40_TAIL
    return -1


cdef int emit(const int* v, int start, const int* back, int i, int s, int* steps, uint8_t* out) noexcept nogil:
    """Codewords of the cheapest path to (i, s); returns how many."""
    cdef int nsteps = 0, b, pi, ps, act, scheme, m = 0, k, packed, pending_n = 0, nbits = 0
    cdef uint32_t bits = 0
    cdef int pending[5]
    while i != 0 or s != 0:
        b = back[i * STATES + s]
        pi = b >> 8
        ps = (b >> 4) & 15
        act = b & 15
        steps[nsteps] = (pi << 8) | (s << 4) | act
        nsteps += 1
        i = pi
        s = ps
    if start:
        out[m] = FNC1
        m += 1
    while nsteps > 0:
        nsteps -= 1
        b = steps[nsteps]
        i = b >> 8
        s = (b >> 4) & 15
        act = b & 15
        scheme = scheme_of(s)
        if act == ACT_SINGLE:
            out[m] = ascii_codeword(v[i]); m += 1
        elif act == ACT_PAIR:
            out[m] = DIGIT_PAIR + 10 * (v[i] - 48) + v[i + 1] - 48; m += 1
        elif act == ACT_LATCH:
            out[m] = LATCH_C40 if scheme == C40 else (LATCH_TEXT if scheme == TEXT else LATCH_EDIFACT); m += 1
        elif act == ACT_UNLATCH:
            out[m] = UNLATCH; m += 1
        elif scheme == EDIFACT or act == ACT_EDIFACT_UNLATCH:
            bits = (bits << 6) | (<uint32_t>(v[i] & 0x3F) if act == ACT_VALUES else EDIFACT_UNLATCH)
            nbits += 6
            if act == ACT_EDIFACT_UNLATCH and nbits % 8:  # the group ends: zero bits up to the byte
                bits <<= 8 - nbits % 8
                nbits += 8 - nbits % 8
            while nbits >= 8:
                out[m] = (bits >> (nbits - 8)) & 0xFF; m += 1
                nbits -= 8
            bits &= (1U << nbits) - 1
        else:
            if act == ACT_VALUES:
                for k in range(CLEN[scheme][v[i]]):
                    pending[pending_n] = CVAL[scheme][v[i]][k]; pending_n += 1
            else:
                pending[pending_n] = 0; pending_n += 1
            if pending_n >= 3:
                packed = 1600 * pending[0] + 40 * pending[1] + pending[2] + 1
                out[m] = packed >> 8
                out[m + 1] = packed & 0xFF
                m += 2
                for k in range(pending_n - 3):
                    pending[k] = pending[k + 3]
                pending_n -= 3
    return m


cdef void pad(uint8_t* cws, int m, int capacity) noexcept nogil:
    cdef int position, value
    if m < capacity:
        cws[m] = PAD
        m += 1
    while m < capacity:
        position = m + 1
        value = PAD + (149 * position) % 253 + 1
        cws[m] = value - 254 if value > 254 else value
        m += 1


cdef int encode_codewords(const uint8_t* data, int n, bint gs1, int size, int shape, uint8_t* cws,
                          int* size_out) noexcept nogil:
    """Data codewords padded to capacity (status OK), like reference.codewords."""
    cdef int small_v[SMALL]
    cdef int small_cost[(SMALL + 1) * STATES]
    cdef int small_back[(SMALL + 1) * STATES]
    cdef int small_steps[3 * SMALL + 8]
    cdef int* v = small_v
    cdef int* cost = small_cost
    cdef int* back = small_back
    cdef int* steps = small_steps
    cdef int counts[5]
    cdef int i, k = -1, end = -1, m, j, cw = 0, best, status = OK
    for i in range(n):  # first, as reference.data_values: a byte above 127 is refused at any length
        if data[i] > 127:
            return NOT_ASCII
    if n > MAX_DATA:
        return NO_FIT
    if n > SMALL:
        v = <int*>malloc(n * sizeof(int))
        cost = <int*>malloc((n + 1) * STATES * sizeof(int))
        back = <int*>malloc((n + 1) * STATES * sizeof(int))
        steps = <int*>malloc((3 * n + 8) * sizeof(int))
    for i in range(n):
        v[i] = FNC1_VALUE if gs1 and data[i] == GS else <int>data[i]
    plan(v, n, gs1, cost, back)
    ends(v, n, cost, counts)
    if size >= 0:
        k = size
        end = fits(counts, SZ[k].data_cw)
    else:
        for i in range(ORDER_N[shape]):
            k = ORDER[shape][i]
            end = fits(counts, SZ[k].data_cw)
            if end >= 0:
                break
    if end < 0:
        status = NO_FIT
    else:
        if end == END_ASCII:
            m = emit(v, gs1, back, n, 0, steps, cws)
        elif end == END_EDIFACT:
            m = emit(v, gs1, back, n, EDIFACT_STATE, steps, cws)
            if SZ[k].data_cw - m >= 3:  # room for a whole group: readers need the unlatch
                cws[m] = EDIFACT_UNLATCH << 2
                m += 1
        elif end == END_C40_EXACT:
            m = emit(v, gs1, back, n, counts[2], steps, cws)
        else:
            j = tail_of(v, n, &cw)
            best = state_of(C40, 0)
            if cost[j * STATES + state_of(TEXT, 0)] < cost[j * STATES + best]:
                best = state_of(TEXT, 0)
            m = emit(v, gs1, back, j, best, steps, cws)
            cws[m] = cw
            m += 1
        pad(cws, m, SZ[k].data_cw)
        size_out[0] = k
    if n > SMALL:
        free(v); free(cost); free(back); free(steps)
    return status


# --- Reed-Solomon and placement -----------------------------------------------------------------

cdef void add_ecc(uint8_t* cws, int k) noexcept nogil:
    """Append the interleaved check codewords of every block after the data codewords."""
    cdef int blocks = SZ[k].blocks, necc = SZ[k].ecc, ndata = SZ[k].data_cw
    cdef int b, i, j, f, lf
    cdef uint8_t rem[MAX_ECC]
    cdef const int* g = GEN_LOG[necc]
    for b in range(blocks):
        memset(rem, 0, necc)
        i = b
        while i < ndata:
            f = cws[i] ^ rem[0]
            memmove(rem, rem + 1, necc - 1)
            rem[necc - 1] = 0
            if f:
                lf = LOG[f]
                for j in range(necc):
                    rem[j] ^= EXP[lf + g[j]]
            i += blocks
        for j in range(necc):
            cws[ndata + j * blocks + b] = rem[j]


cdef void place(const uint8_t* stream, int k, uint8_t* out) noexcept nogil:
    cdef const int32_t* spots = MAPS[k]
    cdef int i, spot
    for i in range(SZ[k].rows * SZ[k].cols):
        spot = spots[i]
        if spot >= 0:
            out[i] = (stream[spot >> 3] >> (7 - (spot & 7))) & 1
        else:
            out[i] = spot == -2


cdef int encode_one(const uint8_t* data, int n, bint gs1, int size, int shape, uint8_t* out,
                    int* size_out) noexcept nogil:
    """The module matrix (rows * cols bytes, 1 = dark) of one symbol; returns a status."""
    cdef uint8_t cws[MAX_CODEWORDS]
    cdef int status = encode_codewords(data, n, gs1, size, shape, cws, size_out)
    if status == OK:
        add_ecc(cws, size_out[0])
        place(cws, size_out[0], out)
    return status


cdef int build_map(int k, placement) except -1:
    """MAPS[k]: the mapping matrix spread over the data regions, finder patterns as fixed modules.

    The placement walk itself is the reference's: it runs once per size at import, never per
    symbol, so one copy of the standard's algorithm serves both (as do the other tables).
    """
    cdef Size z = SZ[k]
    cdef int x, y, rx, ry, my, mx, mcols = (z.cols // (z.region_cols + 2)) * z.region_cols
    cdef list grid = placement((z.rows // (z.region_rows + 2)) * z.region_rows, mcols)
    cdef int32_t* spots = <int32_t*>malloc(z.rows * z.cols * sizeof(int32_t))
    for y in range(z.rows):
        ry = y % (z.region_rows + 2)
        for x in range(z.cols):
            rx = x % (z.region_cols + 2)
            if rx == 0 or ry == z.region_rows + 1:
                spots[y * z.cols + x] = -2
            elif ry == 0:
                spots[y * z.cols + x] = -2 if rx % 2 == 0 else -1
            elif rx == z.region_cols + 1:
                spots[y * z.cols + x] = -2 if ry % 2 == 1 else -1
            else:
                my = y // (z.region_rows + 2) * z.region_rows + ry - 1
                mx = x // (z.region_cols + 2) * z.region_cols + rx - 1
                spots[y * z.cols + x] = grid[my * mcols + mx]
    MAPS[k] = spots
    return 0


# --- images -------------------------------------------------------------------------------------

cdef struct Buf:
    uint8_t* p
    Py_ssize_t n
    Py_ssize_t cap
    uint64_t acc  # deflate bit accumulator
    int nbits


cdef int reserve(Buf* b, Py_ssize_t extra) noexcept nogil:
    cdef Py_ssize_t cap
    cdef uint8_t* p
    if b.n + extra <= b.cap:
        return 0
    cap = max(2 * b.cap, b.n + extra + 4096)
    p = <uint8_t*>realloc(b.p, cap)
    if p == NULL:
        return -1
    b.p = p
    b.cap = cap
    return 0


cdef inline void put_bytes(Buf* b, const void* src, Py_ssize_t n) noexcept nogil:
    memcpy(b.p + b.n, src, n)
    b.n += n


cdef inline void put_u32(Buf* b, uint32_t x) noexcept nogil:
    b.p[b.n] = x >> 24
    b.p[b.n + 1] = (x >> 16) & 0xFF
    b.p[b.n + 2] = (x >> 8) & 0xFF
    b.p[b.n + 3] = x & 0xFF
    b.n += 4


cdef inline void put_bits(Buf* b, uint32_t value, int count) noexcept nogil:
    b.acc |= (<uint64_t>value) << b.nbits
    b.nbits += count
    while b.nbits >= 8:
        b.p[b.n] = b.acc & 0xFF
        b.n += 1
        b.acc >>= 8
        b.nbits -= 8


cdef inline void put_literal(Buf* b, int symbol) noexcept nogil:
    put_bits(b, LIT_CODE[symbol], LIT_BITS[symbol])


cdef void put_match(Buf* b, int length, int distance) noexcept nogil:
    cdef int code = 28
    while LEN_BASE[code] > length:
        code -= 1
    put_literal(b, 257 + code)
    put_bits(b, length - LEN_BASE[code], LEN_EXTRA[code])
    code = 29
    while DIST_BASE[code] > distance:
        code -= 1
    put_bits(b, DIST_CODE[code], 5)
    put_bits(b, distance - DIST_BASE[code], DIST_EXTRA[code])


cdef void put_references(Buf* b, Py_ssize_t total, int distance) noexcept nogil:
    cdef int take
    while total > 0:
        take = 258 if total > 258 else <int>total
        if 0 < total - take < 3:
            take = <int>total - 3
        put_match(b, take, distance)
        total -= take


cdef uint32_t crc32(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    cdef uint32_t crc = 0xFFFFFFFFU
    cdef Py_ssize_t i
    for i in range(n):
        crc = CRC_TABLE[(crc ^ p[i]) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFU


cdef void put_chunk_end(Buf* b, Py_ssize_t start) noexcept nogil:
    """Fill in the length of the chunk begun at ``start`` and append its CRC."""
    cdef Py_ssize_t length = b.n - start - 8
    cdef Py_ssize_t end = b.n
    b.n = start
    put_u32(b, <uint32_t>length)
    b.n = end
    put_u32(b, crc32(b.p + start + 4, length + 4))


cdef inline void fill_bits(uint8_t* row, int p0, int p1, bint dark_bit) noexcept nogil:
    """Make pixels p0..p1-1 (MSB first) dark: set their bits (PBM) or clear them (PNG)."""
    cdef int b0 = p0 >> 3, b1 = (p1 - 1) >> 3
    cdef uint8_t first = 0xFF >> (p0 & 7)
    cdef uint8_t last = (0xFF << (7 - ((p1 - 1) & 7))) & 0xFF
    if b0 == b1:
        first &= last
    if dark_bit:
        row[b0] |= first
    else:
        row[b0] &= ~first
    if b1 > b0:
        memset(row + b0 + 1, 0xFF if dark_bit else 0, b1 - b0 - 1)
        if dark_bit:
            row[b1] |= last
        else:
            row[b1] &= ~last


cdef void pack_row(const uint8_t* modules, int cols, int px, int q, int rowbytes, bint dark_bit,
                   uint8_t* row) noexcept nogil:
    """One pixel row of a module row (modules NULL: a quiet-zone row), MSB first; padding light.

    Works by runs of dark modules, so the cost follows the modules, not the pixels.
    """
    cdef int c = 0, start
    memset(row, 0 if dark_bit else 0xFF, rowbytes)
    if modules == NULL:
        return
    while c < cols:
        if not modules[c]:
            c += 1
            continue
        start = c
        while c < cols and modules[c]:
            c += 1
        fill_bits(row, (q + start) * px, (q + c) * px, dark_bit)


cdef void adler_sums(const uint8_t* p, Py_ssize_t n, uint64_t* plain_out, uint64_t* weighted_out) noexcept nogil:
    """The plain and weighted sums of p[0:n] that :func:`adler_apply` adds per copy."""
    cdef uint64_t plain = 0, weighted = 0
    cdef Py_ssize_t i
    for i in range(n):
        plain += p[i]
        weighted += <uint64_t>(n - i) * p[i]
    plain_out[0] = plain % 65521
    weighted_out[0] = weighted % 65521


cdef void adler_apply(uint32_t* a, uint32_t* s, uint64_t plain, uint64_t weighted, Py_ssize_t n,
                      int times) noexcept nogil:
    """Adler-32 after ``times`` copies of a block of ``n`` bytes with those sums, O(1) per copy
    (a module row is ``module_px`` identical pixel rows)."""
    cdef uint64_t aa = a[0], ss = s[0]
    cdef int t
    for t in range(times):
        ss = (ss + (<uint64_t>n % 65521) * aa + weighted) % 65521
        aa = (aa + plain) % 65521
    a[0] = <uint32_t>aa
    s[0] = <uint32_t>ss


cdef int write_image(const uint8_t* m, int rows, int cols, int px, int q, int fmt, Buf* b) noexcept nogil:
    """Append one PNG or PBM image of the matrix to ``b``; -1 when out of memory."""
    cdef int width = (cols + 2 * q) * px, height = (rows + 2 * q) * px
    cdef int rowbytes = (width + 7) >> 3, stride = rowbytes + 1, mr, x, run, y, status = 0
    cdef Py_ssize_t pending = 0, idat
    cdef uint32_t a = 1, s = 0
    cdef uint64_t plain = 0, weighted = 0
    cdef bint have_prev = False
    cdef const uint8_t* row_modules
    cdef const uint8_t* prev_modules = NULL
    cdef uint8_t* cur = <uint8_t*>malloc(2 * stride)
    cdef uint8_t* prev = cur + stride
    cdef uint8_t* tmp
    cdef char header[64]
    cdef int hlen
    if cur == NULL:
        return -1
    if fmt == FORMAT_PBM:
        hlen = format_pbm_header(header, width, height)
        if reserve(b, hlen + <Py_ssize_t>rowbytes * height) < 0:
            free(cur)
            return -1
        put_bytes(b, header, hlen)
        for mr in range(rows + 2 * q):
            pack_row(m + (mr - q) * cols if q <= mr < rows + q else NULL, cols, px, q, rowbytes, True, cur)
            for y in range(px):
                put_bytes(b, cur, rowbytes)
        free(cur)
        return 0
    if reserve(b, 64) < 0:
        free(cur)
        return -1
    put_bytes(b, b"\x89PNG\r\n\x1a\n", 8)
    put_u32(b, 13)
    put_bytes(b, b"IHDR", 4)
    put_u32(b, width)
    put_u32(b, height)
    put_bytes(b, b"\x01\x00\x00\x00\x00", 5)
    put_u32(b, crc32(b.p + b.n - 17, 17))
    idat = b.n
    put_bytes(b, b"\0\0\0\0IDAT\x78\x01", 10)
    b.acc = 0
    b.nbits = 0
    put_bits(b, 0b011, 3)
    for mr in range(rows + 2 * q):
        # Worst case of one module row: every byte a 9-bit literal, plus the pending references
        # (at most 4 bytes per 258 repeated bytes).
        if reserve(b, 2 * stride + 64 + 4 * (pending * stride // 258 + 1)) < 0:
            status = -1
            break
        row_modules = m + (mr - q) * cols if q <= mr < rows + q else NULL
        if have_prev and (
            row_modules == prev_modules
            or (row_modules != NULL and prev_modules != NULL and memcmp(row_modules, prev_modules, cols) == 0)
        ):  # the module row of the one before (a bar code's rows, the quiet zone): its pixels again
            adler_apply(&a, &s, plain, weighted, stride, px)
            pending += px
            continue
        prev_modules = row_modules
        cur[0] = 0
        pack_row(row_modules, cols, px, q, rowbytes, False, cur + 1)
        adler_sums(cur, stride, &plain, &weighted)
        adler_apply(&a, &s, plain, weighted, stride, px)
        if have_prev and memcmp(cur, prev, stride) == 0:
            pending += px
            continue
        if pending:
            put_references(b, pending * stride, stride)
        x = 0
        while x < stride:
            run = 1
            while x + run < stride and cur[x + run] == cur[x]:
                run += 1
            put_literal(b, cur[x])
            if run >= 4:
                put_references(b, run - 1, 1)
            else:
                for y in range(run - 1):
                    put_literal(b, cur[x])
            x += run
        pending = px - 1
        tmp = prev
        prev = cur
        cur = tmp
        have_prev = True
    if status == 0 and reserve(b, 64 + 4 * (pending * stride // 258 + 1)) == 0:
        if pending:
            put_references(b, pending * stride, stride)
        put_literal(b, 256)
        if b.nbits:
            put_bits(b, 0, 8 - b.nbits)
        put_u32(b, (s << 16) | a)
        put_chunk_end(b, idat)
        put_bytes(b, b"\0\0\0\0IEND\xaeB`\x82", 12)
    elif status == 0:
        status = -1
    free(cur if cur < prev else prev)
    return status


cdef int put_decimal(char* out, int n, int value) noexcept nogil:
    cdef char digits[12]
    cdef int k = 0
    while True:
        digits[k] = 48 + value % 10
        k += 1
        value //= 10
        if value == 0:
            break
    while k > 0:
        k -= 1
        out[n] = digits[k]
        n += 1
    return n


cdef int format_pbm_header(char* out, int width, int height) noexcept nogil:
    """``P4\\n<width> <height>\\n``: the header of a binary PBM."""
    cdef int n
    out[0] = 80  # P
    out[1] = 52  # 4
    out[2] = 10
    n = put_decimal(out, 3, width)
    out[n] = 32
    n = put_decimal(out, n + 1, height)
    out[n] = 10
    return n + 1


# --- Python entry points ------------------------------------------------------------------------

def candidates(int shape):
    """Size indices tried for size set ``shape`` (reference.SHAPE_*), in order."""
    return [ORDER[shape][i] for i in range(ORDER_N[shape])]


cdef void check_args(int size, int shape) except *:
    if not -1 <= size < NSIZES or not 0 <= shape < SIZE_SETS:
        raise ValueError(f"size {size} / shape {shape}: expected -1..{NSIZES - 1} and 0..{SIZE_SETS - 1}")


cdef void raise_status(int status, Py_ssize_t index) except *:
    """InvalidData naming the code by its index in a bulk call (``index`` -1: a call on one code)."""
    at = index if index >= 0 else None
    if status == NO_FIT:
        raise InvalidData("data does not fit", reason=Reason.DOES_NOT_FIT, index=at)
    if status == NOT_ASCII:
        raise InvalidData("only ASCII data (bytes below 128) can be encoded", reason=Reason.BAD_CHARACTER,
                          index=at)
    raise MemoryError


def codewords(bytes data, bint gs1, int size=-1, int shape=0):
    """(size index, padded data codewords) like reference.codewords."""
    cdef uint8_t cws[MAX_CODEWORDS]
    cdef int k = -1, status
    cdef const uint8_t* p = data
    check_args(size, shape)
    status = encode_codewords(p, len(data), gs1, size, shape, cws, &k)
    if status != OK:
        raise_status(status, -1)
    return k, list(cws[:SZ[k].data_cw])


cdef int needs_one(const uint8_t* data, int n, bint gs1, int* counts) noexcept nogil:
    """counts[0..2] = (ascii, exact, tail) codeword counts, as reference.ends; -1 if not ASCII."""
    cdef int small_v[SMALL]
    cdef int small_cost[(SMALL + 1) * STATES]
    cdef int small_back[(SMALL + 1) * STATES]
    cdef int* v = small_v
    cdef int* cost = small_cost
    cdef int* back = small_back
    cdef int i
    cdef int all_counts[5]
    for i in range(n):
        if data[i] > 127:
            return -1
    if n > MAX_DATA:
        counts[0] = counts[1] = counts[2] = INF
        return 0
    if n > SMALL:
        v = <int*>malloc(n * sizeof(int))
        cost = <int*>malloc((n + 1) * STATES * sizeof(int))
        back = <int*>malloc((n + 1) * STATES * sizeof(int))
    for i in range(n):
        v[i] = FNC1_VALUE if gs1 and data[i] == GS else <int>data[i]
    plan(v, n, gs1, cost, back)
    ends(v, n, cost, all_counts)
    counts[0] = min(all_counts[0], all_counts[4])  # both fit any capacity at or above their count
    counts[1] = all_counts[1]
    counts[2] = all_counts[3]
    if n > SMALL:
        free(v); free(cost); free(back)
    return 0


def needs(bytes data, bint gs1):
    """(ascii, exact, tail) codeword counts of the three ways to end (reference.ends)."""
    cdef int counts[3]
    cdef const uint8_t* p = data
    if needs_one(p, len(data), gs1, counts) < 0:
        raise_status(NOT_ASCII, -1)
    return counts[0], counts[1], counts[2]


def needs_many(const uint8_t[::1] flat, const int64_t[::1] offsets, bint gs1, int32_t[:, ::1] out):
    """out[i] = needs(code i) for a batch."""
    cdef Py_ssize_t i, count = offsets.shape[0] - 1, bad = -1
    cdef const uint8_t* base = &flat[0] if flat.shape[0] else NULL
    cdef int counts[3]
    if out.shape[0] != count or out.shape[1] != 3:
        raise ValueError("out must have shape (count, 3)")
    with nogil:
        for i in range(count):
            if needs_one(base + offsets[i], <int>(offsets[i + 1] - offsets[i]), gs1, counts) < 0:
                bad = i
                break
            out[i, 0] = counts[0]
            out[i, 1] = counts[1]
            out[i, 2] = counts[2]
    if bad >= 0:
        raise_status(NOT_ASCII, bad)


def encode(bytes data, bint gs1, int size=-1, int shape=0):
    """(size index, module matrix as uint8 rows x cols, 1 = dark)."""
    cdef uint8_t out[144 * 144]
    cdef int k = -1, status
    cdef const uint8_t* p = data
    cdef Py_ssize_t n = len(data)
    check_args(size, shape)
    with nogil:
        status = encode_one(p, <int>n, gs1, size, shape, out, &k)
    if status != OK:
        raise_status(status, -1)
    matrix = np.empty((SZ[k].rows, SZ[k].cols), dtype=np.uint8)
    cdef uint8_t[:, ::1] view = matrix
    memcpy(&view[0, 0], out, SZ[k].rows * SZ[k].cols)
    return k, matrix


def encode_many(const uint8_t[::1] flat, const int64_t[::1] offsets, bint gs1, int size, uint8_t[:, :, ::1] out):
    """out[i] = matrix of flat[offsets[i]:offsets[i+1]], all in size ``size``; raises on the first
    code that does not fit."""
    cdef Py_ssize_t i, count = offsets.shape[0] - 1, bad = -1
    cdef int k, status = OK
    cdef const uint8_t* base = &flat[0] if flat.shape[0] else NULL
    check_args(size, 0)
    if size < 0 or out.shape[0] != count or out.shape[1] != SZ[size].rows or out.shape[2] != SZ[size].cols:
        raise ValueError("encode_many needs a fixed size and out of shape (count, rows, cols)")
    with nogil:
        for i in range(count):
            status = encode_one(base + offsets[i], <int>(offsets[i + 1] - offsets[i]), gs1, size, 0,
                                &out[i, 0, 0], &k)
            if status != OK:
                bad = i
                break
    if bad >= 0:
        raise_status(status, bad)


def encode_many_smallest(const uint8_t[::1] flat, const int64_t[::1] offsets, bint gs1, int shape,
                         uint8_t[:, :, ::1] out, int32_t[::1] sizes):
    """Each code in its own smallest size of ``shape`` (sizes[i]); out[i] = its matrix when that size
    has out's rows and cols (a batch of one code format mostly does). One encodation per code."""
    cdef Py_ssize_t i, count = offsets.shape[0] - 1, bad = -1
    cdef int k, status = OK, rows = <int>out.shape[1], cols = <int>out.shape[2]
    cdef uint8_t modules[144 * 144]
    cdef const uint8_t* base = &flat[0] if flat.shape[0] else NULL
    check_args(-1, shape)
    if out.shape[0] != count or sizes.shape[0] != count:
        raise ValueError("out and sizes need one entry per code")
    with nogil:
        for i in range(count):
            status = encode_one(base + offsets[i], <int>(offsets[i + 1] - offsets[i]), gs1, -1, shape, modules, &k)
            if status != OK:
                bad = i
                break
            sizes[i] = k
            if SZ[k].rows == rows and SZ[k].cols == cols:
                memcpy(&out[i, 0, 0], modules, rows * cols)
    if bad >= 0:
        raise_status(status, bad)


def image(const uint8_t[:, ::1] matrix, int module_px, int quiet_zone, int fmt):
    """PNG (fmt 0) or PBM (fmt 1) bytes of a module matrix (image_reference.png, .pbm)."""
    cdef Buf b
    cdef int status
    if module_px < 1 or quiet_zone < 0 or fmt not in (FORMAT_PNG, FORMAT_PBM) or matrix.shape[1] < 1:
        raise ValueError("module_px >= 1, quiet_zone >= 0, fmt 0 or 1 and a non-empty matrix expected")
    b.p = NULL
    b.n = b.cap = 0
    with nogil:
        status = write_image(&matrix[0, 0], <int>matrix.shape[0], <int>matrix.shape[1], module_px, quiet_zone,
                             fmt, &b)
    try:
        if status < 0:
            raise MemoryError
        return PyBytes_FromStringAndSize(<char*>b.p, b.n)
    finally:
        free(b.p)


def render_many(const uint8_t[::1] flat, const int64_t[::1] offsets, bint gs1, int size, int shape,
                int module_px, int quiet_zone, int fmt):
    """Images of many codes (each the smallest size for its data unless ``size`` fixes one), as a
    list of bytes equal, image for image, to encode + image."""
    cdef Buf b
    cdef Py_ssize_t i, count = offsets.shape[0] - 1, bad = -1
    cdef int k, status = OK
    cdef uint8_t modules[144 * 144]
    cdef const uint8_t* base = &flat[0] if flat.shape[0] else NULL
    check_args(size, shape)
    if module_px < 1 or quiet_zone < 0 or fmt not in (FORMAT_PNG, FORMAT_PBM):
        raise ValueError("module_px >= 1, quiet_zone >= 0 and fmt 0 or 1 expected")
    ends = np.empty(count + 1, dtype=np.int64)
    cdef int64_t[::1] ends_view = ends
    b.p = NULL
    b.n = b.cap = 0
    ends_view[0] = 0
    with nogil:
        for i in range(count):
            status = encode_one(base + offsets[i], <int>(offsets[i + 1] - offsets[i]), gs1, size, shape,
                                modules, &k)
            if status == OK and write_image(modules, SZ[k].rows, SZ[k].cols, module_px, quiet_zone, fmt, &b) < 0:
                status = -1
            if status != OK:
                bad = i
                break
            ends_view[i + 1] = b.n
    try:
        if bad >= 0:
            raise_status(status, bad)
        return [PyBytes_FromStringAndSize(<char*>b.p + ends_view[i], ends_view[i + 1] - ends_view[i])
                for i in range(count)]
    finally:
        free(b.p)


# --- tables, built once -------------------------------------------------------------------------

cdef int build_tables() except -1:
    """Fill the C tables from the reference, which defines them (runs once, at import)."""
    # Imported here, at the end of this module's initialisation: the reference's package imports us.
    from linecode.render import image_reference
    from linecode.render import reference as ref
    cdef int i, j, k, n, shape, scheme
    cdef uint32_t crc, code, rev
    global SIZES
    SIZES = tuple((s.rows, s.cols, s.region_rows, s.region_cols, s.data_codewords, s.ecc_per_block, s.blocks)
                  for s in ref.SIZES)
    for k, row in enumerate(SIZES):
        SZ[k].rows, SZ[k].cols, SZ[k].region_rows, SZ[k].region_cols, SZ[k].data_cw, SZ[k].ecc, SZ[k].blocks = row
    if len(ref.SIZES) != NSIZES or ref.SIZE_SETS != SIZE_SETS:
        raise ImportError("linecode._datamatrix is out of date with linecode.render.reference: rebuild it")
    for shape in range(SIZE_SETS):
        order = ref.candidates(shape)
        ORDER_N[shape] = len(order)
        for i, k in enumerate(order):
            ORDER[shape][i] = k
    for i in range(4):
        EDIFACT_UNLATCH_COST[i] = ref.EDIFACT_UNLATCH_COST[i]
    for i in range(512):
        EXP[i] = ref.GF_EXP[i]
    for i in range(256):
        LOG[i] = ref.GF_LOG[i]
    for n in range(1, MAX_ECC + 1):
        for j, coefficient in enumerate(ref.generator(n)[1:]):
            GEN_LOG[n][j] = LOG[coefficient]
    for scheme in (C40, TEXT):
        for i in [*range(128), FNC1_VALUE]:
            values = ref.c40_values(scheme, i)
            CLEN[scheme][i] = len(values)
            for j, value in enumerate(values):
                CVAL[scheme][i][j] = value
    for i in range(256):
        crc = i
        for j in range(8):
            crc = (crc >> 1) ^ (0xEDB88320U if crc & 1 else 0)
        CRC_TABLE[i] = crc
    for i in range(288):
        code, n = image_reference.fixed_huffman_code(i)
        rev = 0
        for j in range(n):
            rev |= ((code >> j) & 1) << (n - 1 - j)
        LIT_CODE[i] = rev
        LIT_BITS[i] = n
    for i in range(30):
        rev = 0
        for j in range(5):
            rev |= ((i >> j) & 1) << (4 - j)
        DIST_CODE[i] = rev
        DIST_BASE[i] = image_reference.DISTANCE_BASE[i]
        DIST_EXTRA[i] = image_reference.DISTANCE_EXTRA[i]
    for i in range(29):
        LEN_BASE[i] = image_reference.LENGTH_BASE[i]
        LEN_EXTRA[i] = image_reference.LENGTH_EXTRA[i]
    for k in range(NSIZES):
        build_map(k, ref.placement)
    return 0


build_tables()
