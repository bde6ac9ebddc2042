# cython: boundscheck=False, wraparound=False
"""Codes on the wire: a packed ``CodeBlock`` (fixed-width ASCII entries in one bytes value) back to
a list of strings. Specification: ``linecode.client.unpacked_reference`` (held value for value and
error for error by the tests)."""

from cpython.unicode cimport PyUnicode_DecodeASCII


def unpacked(bytes data, Py_ssize_t width):
    """The entries of ``data``, each ``width`` ASCII characters, as strings."""
    cdef Py_ssize_t n = len(data), k
    cdef const char* p = data
    if width <= 0 or n % width:
        raise ValueError(f"packed codes of {n} bytes do not divide into entries of width {width}")
    cdef list out = [None] * (n // width)
    try:
        for k in range(n // width):
            out[k] = PyUnicode_DecodeASCII(p + k * width, width, NULL)
    except UnicodeDecodeError:
        data.decode("ascii")  # the same error, its position counted in the whole block
        raise
    return out
