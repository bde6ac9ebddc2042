"""Stub of the Cython Code 128 kernels (ext/_code128.pyx).

Data it cannot encode raises :class:`linecode.errors.InvalidData` (``BAD_LENGTH`` for no data,
``DOES_NOT_FIT`` above :data:`MAX_DATA_CHARS`, ``BAD_CHARACTER`` for a byte above 127); a layout
against the contract (module size or height below 1, a negative quiet zone) raises ``ValueError``.
"""

import numpy as np
import numpy.typing as npt

MAX_DATA_CHARS: int

def symbol(data: bytes, gs1: bool) -> list[int]: ...
def widths(data: bytes, gs1: bool) -> list[int]: ...
def pixels(
    data: bytes, gs1: bool, module_px: int, quiet_zone: int, height_px: int
) -> npt.NDArray[np.uint8]: ...
