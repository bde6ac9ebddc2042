"""Stub of the Cython QA audit kernels (ext/_audit.pyx); their specification is
``linecode.qa.read_back_reference`` and ``linecode.qa.test_and_set_reference``."""

import numpy as np
import numpy.typing as npt

def test_and_set(words: npt.NDArray[np.uint64], values: npt.NDArray[np.uint64]) -> int: ...
def read_back_nmpa20(
    codes: npt.NDArray[np.uint8],
    identifier: bytes,
    check_key: bytes,
    serials: npt.NDArray[np.uint64],
    counts: npt.NDArray[np.int64],
) -> tuple[int, int]: ...
