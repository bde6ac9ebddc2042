"""Stub of the Cython DataMatrix kernels (ext/_datamatrix.pyx).

Data no symbol can hold raises :class:`linecode.errors.InvalidData` (``DOES_NOT_FIT``, or
``BAD_CHARACTER`` for a byte above 127), its ``index`` naming the code of a bulk call; a call
against a function's contract (a size index, an array's shape) raises ``ValueError``.
"""

import numpy as np
import numpy.typing as npt

PNG: int
PBM: int
SIZES: tuple[tuple[int, int, int, int, int, int, int], ...]

def candidates(shape: int) -> list[int]: ...
def codewords(data: bytes, gs1: bool, size: int = -1, shape: int = 0) -> tuple[int, list[int]]: ...
def needs(data: bytes, gs1: bool) -> tuple[int, int, int]: ...
def needs_many(
    flat: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], gs1: bool, out: npt.NDArray[np.int32]
) -> None: ...
def encode(data: bytes, gs1: bool, size: int = -1, shape: int = 0) -> tuple[int, npt.NDArray[np.uint8]]: ...
def encode_many(
    flat: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    gs1: bool,
    size: int,
    out: npt.NDArray[np.uint8],
) -> None: ...
def encode_many_smallest(
    flat: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    gs1: bool,
    shape: int,
    out: npt.NDArray[np.uint8],
    sizes: npt.NDArray[np.int32],
) -> None: ...
def image(matrix: npt.NDArray[np.uint8], module_px: int, quiet_zone: int, fmt: int) -> bytes: ...
def render_many(
    flat: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    gs1: bool,
    size: int,
    shape: int,
    module_px: int,
    quiet_zone: int,
    fmt: int,
) -> list[bytes]: ...
