# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""QA audit kernels: read nmpa20 codes back, and the bitmap's test-and-set.

The fast copy of ``read_back_reference`` and ``test_and_set_reference`` in ``linecode/qa.py`` (read
those first: they are the specification). Both release the GIL, so threads can share the work (and
one bitmap: its test-and-set is atomic). Private: use ``linecode.qa``; what this module refuses with
``ValueError`` (a key's length, an array's shape, a value outside the bitmap) is a bug of that
caller, not data a user sent.
"""

from libc.stdint cimport int64_t, uint8_t, uint64_t

cdef extern from "audit_kernels.h":
    uint64_t lc_test_and_set(uint64_t* words, const uint64_t* values, size_t n) nogil
    uint64_t lc_read_back_nmpa20(const uint8_t* codes, size_t n, const uint8_t* identifier,
                                 uint64_t k0, uint64_t k1, uint64_t prefix, uint64_t* serials,
                                 size_t* kept, int64_t* counts) nogil


def test_and_set(uint64_t[::1] words, const uint64_t[::1] values):
    """Set bit ``v`` of ``words`` for each of ``values``; return how many were set already."""
    cdef Py_ssize_t n = values.shape[0]
    cdef uint64_t seen = 0
    if n == 0:
        return 0
    cdef uint64_t largest = 0, bits = <uint64_t>words.shape[0] * 64
    cdef Py_ssize_t k
    with nogil:
        for k in range(n):
            if values[k] > largest:
                largest = values[k]
    if largest >= bits:
        raise ValueError(f"value {largest} is outside the bitmap's {bits} bits")
    with nogil:
        seen = lc_test_and_set(&words[0], &values[0], n)
    return seen


def read_back_nmpa20(const uint8_t[:, ::1] codes, bytes identifier, bytes check_key,
                     uint64_t[::1] serials, int64_t[:, ::1] counts):
    """(invalid, kept): see ``linecode.qa.read_back_reference``; the serials of the ``kept`` codes
    under ``identifier`` go to ``serials[:kept]`` and serial digits are added to ``counts``."""
    cdef Py_ssize_t n = codes.shape[0]
    cdef size_t kept = 0
    cdef uint64_t invalid = 0, k0, k1, prefix
    cdef const uint8_t* ident = identifier
    if codes.shape[1] != 20 or serials.shape[0] < n or counts.shape[0] != 9 or counts.shape[1] != 10:
        raise ValueError("read_back_nmpa20 needs 20 columns, a serial slot per code and 9x10 counts")
    if len(identifier) != 7 or not identifier.isdigit():
        raise ValueError(f"identifier {identifier!r} is not 7 digits")
    if len(check_key) != 16:
        raise ValueError(f"key must be 16 bytes, got {len(check_key)}")
    k0 = int.from_bytes(check_key[:8], "little")
    k1 = int.from_bytes(check_key[8:], "little")
    prefix = int(identifier) * 1_000_000_000
    if n == 0:
        return 0, 0
    with nogil:
        invalid = lc_read_back_nmpa20(&codes[0, 0], n, <const uint8_t*>ident, k0, k1, prefix,
                                      &serials[0], &kept, &counts[0, 0])
    return invalid, kept
