# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Code record kernel: the children of one aggregation read, checked and repacked without ``Row``
objects.

The fast copy of ``linecode.store.records.pack_children_reference`` (read that first: it is the
specification; tests hold the two to each other value for value). Private: use
``Tx.pack_children``.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8String
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
    KEY = 20  # an nmpa20 key: 20 ASCII digits
    SLOT = 8  # a record's slot: u64 big-endian


cdef inline uint64_t little(const uint8_t* p, int n) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(n - 1, -1, -1):
        v = (v << 8) | p[i]
    return v


cdef inline bint plain_key(object text):
    cdef Py_ssize_t i
    cdef str s
    if type(text) is not str:
        return False
    s = <str>text
    if len(s) != KEY or not s.isascii():
        return False
    for i in range(KEY):
        if not (u'0' <= s[i] <= u'9'):
            return False
    return True


def pack_children(get, slots, codes, list children, str parent, bytes parent_slot, int level,
                  uint32_t batch_ref, int64_t time_us, int loose_state, int packed_state, int unlocked):
    """See ``records.pack_children_reference``."""
    cdef Py_ssize_t n = len(children), i, plen
    cdef object raw, slot
    cdef const uint8_t* p
    cdef uint8_t* q
    cdef uint64_t stamp = <uint64_t>time_us
    cdef int k
    for i in range(n):
        if not plain_key(children[i]):
            return None
    keys = [PyUnicode_AsUTF8String(children[i]) for i in range(n)]
    places = [None] * n
    raws = [None] * n
    for i in range(n):
        slot = get(keys[i], None, slots)
        if type(slot) is not bytes or PyBytes_GET_SIZE(slot) != SLOT:
            return None
        raw = get(slot, None, codes)
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
        places[i] = slot
        raws[i] = raw
    pkey = PyUnicode_AsUTF8String(parent)
    plen = PyBytes_GET_SIZE(pkey)
    rows = [None] * n
    links = [None] * n
    for i in range(n):
        new = PyBytes_FromStringAndSize(NULL, HEAD + plen)
        q = <uint8_t*>PyBytes_AS_STRING(new)
        memcpy(q, PyBytes_AS_STRING(raws[i]), HEAD)
        memcpy(q + HEAD, PyBytes_AS_STRING(pkey), plen)
        q[STATE] = <uint8_t>packed_state
        for k in range(8):
            q[LAST_EVENT + k] = <uint8_t>(stamp >> (8 * k))
        rows[i] = (places[i], new)
        links[i] = (parent_slot, keys[i])
    return rows, links
