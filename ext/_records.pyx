# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Code record kernel: the children of one aggregation, checked and repacked without ``Row`` objects.

The fast copy of ``linecode.store.records.packed_into_reference`` (read that first: it is the
specification; tests hold the two to each other value for value). Private: use
``linecode.store.records.packed_into``.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

# The layout of records._CODE ("<BBBBBIqI"): level, state, status, lock, flags, batch ref,
# last event µs, children; the parent's key follows.
cdef enum:
    LEVEL = 0
    STATE = 1
    LOCK = 3
    BATCH_REF = 5
    LAST_EVENT = 9
    HEAD = 21


cdef inline uint64_t little(const uint8_t* p, int n) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(n - 1, -1, -1):
        v = (v << 8) | p[i]
    return v


def packed_into(list raws, bytes parent, int level, uint32_t batch_ref, int64_t time_us,
                int loose_state, int packed_state, int unlocked):
    """The records of ``raws`` once packed into ``parent`` at ``time_us`` (state ``packed_state``,
    last event ``time_us``, parent key ``parent``), or None unless every one is a stored
    (not None) record of ``level`` and batch ``batch_ref`` in state ``loose_state``, with lock
    ``unlocked``, in no parent, and last event at or before ``time_us``."""
    cdef Py_ssize_t n = len(raws), i, plen = PyBytes_GET_SIZE(parent)
    cdef object raw
    cdef const uint8_t* p
    cdef uint8_t* q
    cdef uint64_t stamp = <uint64_t>time_us
    cdef int k
    for i in range(n):
        raw = raws[i]
        if type(raw) is not bytes or PyBytes_GET_SIZE(raw) != HEAD:
            return None
        p = <const uint8_t*>PyBytes_AS_STRING(raw)
        if (
            p[LEVEL] != level
            or p[STATE] != loose_state
            or p[LOCK] != unlocked
            or <uint32_t>little(p + BATCH_REF, 4) != batch_ref
            or <int64_t>little(p + LAST_EVENT, 8) > time_us
        ):
            return None
    out = [None] * n
    for i in range(n):
        new = PyBytes_FromStringAndSize(NULL, HEAD + plen)
        q = <uint8_t*>PyBytes_AS_STRING(new)
        memcpy(q, PyBytes_AS_STRING(raws[i]), HEAD)
        memcpy(q + HEAD, PyBytes_AS_STRING(parent), plen)
        q[STATE] = <uint8_t>packed_state
        for k in range(8):
            q[LAST_EVENT + k] = <uint8_t>(stamp >> (8 * k))
        out[i] = new
    return out
