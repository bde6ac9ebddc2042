"""libdmtx (through pylibdmtx's ctypes wrapper) as a second encoder and as an independent decoder.

Stock ``pylibdmtx.encode`` and ``decode`` do not expose libdmtx's FNC1 property, without which
libdmtx can neither write a GS1 DataMatrix nor report its separators. Here the property is set
through the wrapper: GS (0x1D) stands for FNC1 on the way in (a leading one makes the symbol GS1)
and comes back for every FNC1 on the way out.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
from pylibdmtx import wrapper as w

from linecode.errors import InvalidArgument
from linecode.reasons import Reason

GS = 0x1D
_AUTO = {  # our shape -> libdmtx's automatic size choice
    0: w.DmtxSymbolSize.DmtxSymbolShapeAuto,
    1: w.DmtxSymbolSize.DmtxSymbolSquareAuto,
    2: w.DmtxSymbolSize.DmtxSymbolRectAuto,
}


@contextmanager
def _owned(create: Any, destroy: Any, *args: Any) -> Iterator[Any]:
    handle = create(*args)
    if not handle:
        raise MemoryError(f"libdmtx: {create.__name__} failed")
    try:
        yield handle
    finally:
        destroy(ctypes.byref(handle))


def encode(data: bytes, gs1: bool, size: int = -1, shape: int = 0) -> npt.NDArray[np.bool_]:
    """The module matrix libdmtx makes of ``data`` (ASCII encodation, its own size choice unless
    ``size`` — an index into linecode's size table, which follows libdmtx's order — is given)."""
    payload = bytes([GS]) + data if gs1 else data
    with _owned(w.dmtxEncodeCreate, w.dmtxEncodeDestroy) as enc:
        w.dmtxEncodeSetProp(enc, w.DmtxProperty.DmtxPropScheme, w.DmtxScheme.DmtxSchemeAscii)
        w.dmtxEncodeSetProp(enc, w.DmtxProperty.DmtxPropSizeRequest, size if size >= 0 else _AUTO[shape])
        w.dmtxEncodeSetProp(enc, w.DmtxProperty.DmtxPropModuleSize, 1)
        w.dmtxEncodeSetProp(enc, w.DmtxProperty.DmtxPropMarginSize, 0)
        if gs1:
            w.dmtxEncodeSetProp(enc, w.DmtxProperty.DmtxPropFnc1, GS)
        buffer = ctypes.create_string_buffer(payload, len(payload))
        if not w.dmtxEncodeDataMatrix(enc, len(payload), ctypes.cast(buffer, w.c_ubyte_p)):
            raise InvalidArgument(
                f"libdmtx cannot encode {data!r} in the requested size",
                reason=Reason.DOES_NOT_FIT,
                hint="choose a larger size or leave the size free",
            )
        image = enc[0].image[0]
        rgb = np.ctypeslib.as_array(image.pxl, shape=(image.height * image.rowSizeBytes,))
        pixels = rgb.reshape(image.height, image.rowSizeBytes)[:, : image.width * image.bytesPerPixel]
        return np.asarray(pixels[:, :: image.bytesPerPixel] < 128).copy()


def decode(pixels: npt.NDArray[np.uint8], *, shrink: int = 1, timeout_ms: int = 2000) -> bytes | None:
    """The data of the first DataMatrix libdmtx finds in a grayscale image (0 = dark), FNC1 as GS.

    A GS1 symbol comes back as GS + element string (its leading FNC1 included); None when libdmtx
    finds or reads no symbol within ``timeout_ms``. ``shrink`` is libdmtx's own down-sampling
    (``dmtxread -S``): its edge finder misses some rectangles drawn with many pixels per module.
    """
    height, width = pixels.shape
    raw = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    buffer = ctypes.create_string_buffer(raw, len(raw))
    pack = w.DmtxPackOrder.DmtxPack8bppK
    with (
        _owned(
            w.dmtxImageCreate, w.dmtxImageDestroy, ctypes.cast(buffer, w.c_ubyte_p), width, height, pack
        ) as img,
        _owned(w.dmtxDecodeCreate, w.dmtxDecodeDestroy, img, shrink) as dec,
    ):
        w.dmtxDecodeSetProp(dec, w.DmtxProperty.DmtxPropFnc1, GS)
        deadline = w.dmtxTimeAdd(w.dmtxTimeNow(), timeout_ms)
        while True:
            region = w.dmtxRegionFindNext(dec, ctypes.byref(deadline))
            if not region:
                return None
            try:
                message = w.dmtxDecodeMatrixRegion(dec, region, w.DmtxUndefined)
                if message:
                    try:
                        return ctypes.string_at(message.contents.output, message.contents.outputIdx)
                    finally:
                        w.dmtxMessageDestroy(ctypes.byref(message))
            finally:
                w.dmtxRegionDestroy(ctypes.byref(region))
