# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Serial kernels: keyed Feistel permutation of indices onto serials, nmpa20 checks, formatting.

The fast copy of ``linecode/serials/reference.py`` (read that first: it is the specification).
Every bulk function releases the GIL. Private: use ``linecode.serials``, which checks what its
callers send (:class:`~linecode.errors.InvalidArgument`) before any call here; what this module
refuses with ``ValueError`` (a key's length, an index range, an array's shape) is a bug of that
caller, not data a user sent: no data makes a serial kernel fail, as none makes the reference's.
"""

cimport cython
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from *:
    """
    typedef unsigned __int128 lc_u128;
    """
    ctypedef unsigned long long lc_u128  # really unsigned __int128 in the generated C

cdef enum:
    ROUNDS = 10
    TABLE_LIMIT = 1 << 20  # memoise the round function when the low half has at most this many values
    EVEN_LIMIT = 1 << 16   # ... and the high half fits 16 bits (the even rounds' values)
    BLOCK = 512  # codes per inner block of the bulk loops

ROUNDS_PY = ROUNDS

cdef extern from "serials_kernels.h":
    uint64_t lc_siphash24(uint64_t k0, uint64_t k1, uint64_t m) nogil
    void lc_nmpa20_checks(uint64_t k0, uint64_t k1, uint64_t prefix, const uint64_t* serials,
                          uint32_t* out, size_t n) nogil
    void lc_feistel_tabled(const uint16_t* even, const uint32_t* odd, uint32_t mod_u, uint32_t mod_v,
                           int pairs, uint32_t* a, uint32_t* b, size_t n) nogil
    void lc_format_nmpa20(const char* identifier, const uint32_t* hi, const uint32_t* lo,
                          const uint32_t* check, uint8_t* out, size_t n) nogil


cdef inline uint64_t round_function(uint64_t k0, uint64_t k1, uint64_t i, uint64_t half,
                                    uint64_t modulus) noexcept nogil:
    cdef uint64_t base = (i << 56) | half
    cdef uint64_t hi = lc_siphash24(k0, k1, base)
    cdef uint64_t lo = lc_siphash24(k0, k1, base | (1ULL << 52))
    return <uint64_t>(((<lc_u128>hi << 64) | <lc_u128>lo) % <lc_u128>modulus)


cdef inline void split_key(bytes key, uint64_t* k0, uint64_t* k1):
    if len(key) != 16:
        raise ValueError(f"key must be 16 bytes, got {len(key)}")
    k0[0] = int.from_bytes(key[:8], "little")
    k1[0] = int.from_bytes(key[8:], "little")


def siphash24(bytes key, uint64_t message):
    """SipHash-2-4 of an 8-byte little-endian integer message (for tests against the reference)."""
    cdef uint64_t k0, k1
    split_key(key, &k0, &k1)
    return lc_siphash24(k0, k1, message)


@cython.final
cdef class Feistel:
    """The keyed permutation of ``[0, radix**length)`` (see reference.permute)."""

    cdef uint64_t k0, k1, mod_u, mod_v
    cdef readonly int radix, length
    cdef readonly object size  # radix**length, may exceed 2**64 (only indices must fit)
    cdef readonly bint tabled
    cdef object even_table, odd_table  # own the memory behind even and odd
    cdef const uint16_t* even  # round 2j: even[j * mod_v + half] = F(2j, half) mod mod_u
    cdef const uint32_t* odd   # round 2j+1: odd[j * mod_u + half] = F(2j+1, half) mod mod_v

    def __init__(self, bytes key, int radix, int length):
        cdef uint64_t j, h
        cdef uint16_t[::1] even
        cdef uint32_t[::1] odd
        split_key(key, &self.k0, &self.k1)
        self.radix = radix
        self.length = length
        cdef object big_u = (<object>radix) ** (length // 2)
        cdef object big_v = (<object>radix) ** (length - length // 2)
        if radix < 2 or length < 2 or big_v >= (1 << 52):
            raise ValueError(f"radix {radix} and length {length} need 2 <= radix and a half of "
                             "fewer than 2**52 values")
        self.mod_u = big_u
        self.mod_v = big_v
        self.size = big_u * big_v
        self.tabled = self.mod_v <= TABLE_LIMIT and self.mod_u <= EVEN_LIMIT
        if self.tabled:
            # Memoising the PRF over its whole (small) input domain: same values, table lookups.
            import numpy as np
            # One spare entry: the vector path reads 32 bits at the last 16-bit entry.
            self.even_table = np.zeros((ROUNDS // 2) * self.mod_v + 1, dtype=np.uint16)
            self.odd_table = np.empty((ROUNDS // 2) * self.mod_u, dtype=np.uint32)
            even = self.even_table
            odd = self.odd_table
            self.even = &even[0]
            self.odd = &odd[0]
            with nogil:
                for j in range(ROUNDS // 2):
                    for h in range(self.mod_v):
                        even[j * self.mod_v + h] = <uint16_t>round_function(
                            self.k0, self.k1, 2 * j, h, self.mod_u)
                    for h in range(self.mod_u):
                        odd[j * self.mod_u + h] = <uint32_t>round_function(
                            self.k0, self.k1, 2 * j + 1, h, self.mod_v)

    cdef inline void forward(self, uint64_t x, uint64_t* hi, uint64_t* lo) noexcept nogil:
        # The serial is (hi, lo): its u high and v low digits, never combined into one integer,
        # since radix**length may exceed 2**64.
        cdef uint64_t mod_u = self.mod_u, mod_v = self.mod_v
        cdef uint64_t a = x // mod_v, b = x % mod_v, c
        cdef uint64_t j
        cdef const uint16_t* even = self.even
        cdef const uint32_t* odd = self.odd
        if self.tabled:
            for j in range(ROUNDS // 2):
                c = a + even[j * mod_v + b]
                a = b
                b = c - mod_u if c >= mod_u else c
                c = a + odd[j * mod_u + b]
                a = b
                b = c - mod_v if c >= mod_v else c
        else:
            for j in range(ROUNDS // 2):
                c = (a + round_function(self.k0, self.k1, 2 * j, b, self.mod_u)) % self.mod_u
                a = b
                b = c
                c = (a + round_function(self.k0, self.k1, 2 * j + 1, b, self.mod_v)) % self.mod_v
                a = b
                b = c
        hi[0] = a
        lo[0] = b

    cdef inline void backward(self, uint64_t a, uint64_t b, uint64_t* hi, uint64_t* lo) noexcept nogil:
        cdef uint64_t c, f
        cdef int i
        cdef uint64_t m
        for i in range(ROUNDS - 1, -1, -1):
            m = self.mod_u if i % 2 == 0 else self.mod_v
            f = round_function(self.k0, self.k1, i, a, m)
            c = b
            b = a
            a = (c + m - f) % m
        hi[0] = a
        lo[0] = b

    def _check_range(self, start, count):
        if start < 0 or start + count > min(self.size, 1 << 64):
            raise ValueError(f"index range [{start}, {start + count}) is outside [0, {self.size})")

    def permute(self, index):
        """The serial (as a Python int) of ``index``."""
        cdef uint64_t hi, lo
        self._check_range(index, 1)
        self.forward(index, &hi, &lo)
        return (<object>hi) * (<object>self.mod_v) + (<object>lo)

    def unpermute(self, serial):
        """The index (a Python int, possibly >= 2**64 for a serial never issued) of ``serial``."""
        cdef uint64_t hi, lo
        if not 0 <= serial < self.size:
            raise ValueError(f"serial {serial} is outside [0, {self.size})")
        a, b = divmod(serial, <object>self.mod_v)
        self.backward(a, b, &hi, &lo)
        return (<object>hi) * (<object>self.mod_v) + (<object>lo)

    def fill_numbers(self, uint64_t start, uint64_t[::1] out):
        """out[k] = permute(start + k); needs radix**length <= 2**64."""
        cdef Py_ssize_t k, n = out.shape[0]
        cdef uint64_t hi, lo
        if self.size > (1 << 64):
            raise ValueError("serials of this domain do not fit 64 bits: use fill_text")
        cdef Py_ssize_t m, block = 0
        cdef uint32_t a[BLOCK]
        cdef uint32_t b[BLOCK]
        self._check_range(start, n)
        with nogil:
            if self.tabled:
                while block < n:
                    m = n - block if n - block < BLOCK else BLOCK
                    self.tabled_block(start + block, a, b, m)
                    for k in range(m):
                        out[block + k] = <uint64_t>a[k] * self.mod_v + b[k]
                    block += m
            else:
                for k in range(n):
                    self.forward(start + k, &hi, &lo)
                    out[k] = hi * self.mod_v + lo

    def fill_text(self, uint64_t start, uint8_t[:, ::1] out, bytes alphabet):
        """out[k] = permute(start + k) written as ``length`` characters of ``alphabet``."""
        cdef Py_ssize_t k, n = out.shape[0]
        cdef int p, width = self.length, v_digits = self.length - self.length // 2
        cdef uint64_t hi, lo, r = self.radix
        cdef const uint8_t* chars = alphabet
        if len(alphabet) != self.radix or out.shape[1] != width:
            raise ValueError("alphabet must have radix characters and out one column per character")
        self._check_range(start, n)
        with nogil:
            for k in range(n):
                self.forward(start + k, &hi, &lo)
                for p in range(width - 1, width - 1 - v_digits, -1):
                    out[k, p] = chars[lo % r]
                    lo //= r
                for p in range(width - 1 - v_digits, -1, -1):
                    out[k, p] = chars[hi % r]
                    hi //= r

    cdef void tabled_block(self, uint64_t first, uint32_t* a, uint32_t* b, size_t m) noexcept nogil:
        """a[k], b[k] = the halves of the serial of index first + k (tabled domains only)."""
        cdef uint64_t hi = first // self.mod_v, lo = first % self.mod_v
        cdef size_t k
        for k in range(m):
            a[k] = <uint32_t>hi
            b[k] = <uint32_t>lo
            lo += 1
            if lo == self.mod_v:
                lo = 0
                hi += 1
        lc_feistel_tabled(self.even, self.odd, <uint32_t>self.mod_u, <uint32_t>self.mod_v,
                          ROUNDS // 2, a, b, m)

    def fill_nmpa20(self, uint64_t start, uint8_t[:, ::1] out, bytes identifier, bytes check_key):
        """out[k] = the 20 ASCII digits of the nmpa20 code of index start + k."""
        cdef Py_ssize_t k, m, block, n = out.shape[0]
        cdef uint64_t ck0, ck1, prefix
        cdef uint32_t a[BLOCK]
        cdef uint32_t b[BLOCK]
        cdef uint32_t checks[BLOCK]
        cdef uint64_t serials[BLOCK]
        cdef const char* ident = identifier
        if self.radix != 10 or self.length != 9 or len(identifier) != 7 or out.shape[1] != 20:
            raise ValueError("fill_nmpa20 needs a 9-digit decimal domain, a 7-digit identifier "
                             "and 20 output columns")
        split_key(check_key, &ck0, &ck1)
        prefix = int(identifier) * 1_000_000_000
        self._check_range(start, n)
        with nogil:
            block = 0
            while block < n:
                m = n - block if n - block < BLOCK else BLOCK
                self.tabled_block(start + block, a, b, m)
                for k in range(m):
                    serials[k] = <uint64_t>a[k] * self.mod_v + b[k]
                lc_nmpa20_checks(ck0, ck1, prefix, serials, checks, m)
                lc_format_nmpa20(ident, a, b, checks, &out[block, 0], m)
                block += m


def nmpa20_checks(bytes check_key, uint64_t prefix, const uint64_t[::1] serials, uint32_t[::1] out):
    """out[k] = keyed check of identifier-prefix + serials[k] (prefix = identifier * 10**9)."""
    cdef uint64_t ck0, ck1
    cdef Py_ssize_t n = serials.shape[0]
    if out.shape[0] != n:
        raise ValueError("out must have one entry per serial")
    split_key(check_key, &ck0, &ck1)
    if n:
        with nogil:
            lc_nmpa20_checks(ck0, ck1, prefix, &serials[0], &out[0], n)


def nmpa20_check(bytes check_key, uint64_t prefix, uint64_t serial):
    """The keyed check of one code: ``nmpa20_checks`` of one serial, without arrays."""
    cdef uint64_t ck0, ck1
    cdef uint32_t out
    split_key(check_key, &ck0, &ck1)
    lc_nmpa20_checks(ck0, ck1, prefix, &serial, &out, 1)
    return out
