"""PrintService end to end: images come back, decode with zxing-cpp and libdmtx to the exact data."""

from __future__ import annotations

import grpc
import numpy as np
import zxingcpp

from linecode.codes import GS, Gs1Code
from linecode.render import formats, libdmtx
from linecode.v1 import print_pb2

from .conftest import EXPORT_BATCH, GS1_PRODUCT, Client, refused


def decoded(pixels_true_dark: np.ndarray) -> tuple[str, str]:
    """(zxing-cpp text with symbology, libdmtx bytes as text) of a True=dark image."""
    gray = np.where(pixels_true_dark, 0, 255).astype(np.uint8)
    gray = np.pad(gray, 10, constant_values=255)
    (result,) = zxingcpp.read_barcodes(gray)
    raw = libdmtx.decode(gray)
    assert raw is not None
    return result.symbology_identifier + result.text, raw.decode()


def test_render_image_of_an_allocated_code(client: Client) -> None:
    (code,) = client.codes("unit", 1)
    png = client.printer.RenderImage(
        print_pb2.RenderImageRequest(code=code, options=print_pb2.ImageOptions(module_px=4))
    )
    assert png.content_type == "image/png" and png.data.startswith(b"\x89PNG")
    zx, dmtx = decoded(formats.read_png(png.data))
    assert zx == "]d1" + code and dmtx == code
    matrix = client.printer.RenderImage(
        print_pb2.RenderImageRequest(
            code=code, options=print_pb2.ImageOptions(format=print_pb2.IMAGE_FORMAT_MATRIX)
        )
    )
    assert (matrix.rows, matrix.cols) == (16, 16) and len(matrix.data) == 256
    svg = client.printer.RenderImage(
        print_pb2.RenderImageRequest(
            code=code, options=print_pb2.ImageOptions(format=print_pb2.IMAGE_FORMAT_SVG)
        )
    )
    assert svg.content_type == "image/svg+xml" and b"<svg" in svg.data


def test_gs1_codes_render_as_gs1_datamatrix(client: Client) -> None:
    client.admin.CreateProduct(GS1_PRODUCT)
    client.admin.CreateBatch(EXPORT_BATCH)
    (block,) = client.allocate("unit", 3, batch="E1")
    assert block.codes[0].startswith("(01)09501101530003(21)")
    assert block.symbols[0] == f"0109501101530003{'21' + block.codes[0][22:]}{GS}17280131" + "10LOT7"
    image = client.printer.RenderImage(
        print_pb2.RenderImageRequest(code=block.codes[0], options=print_pb2.ImageOptions(module_px=3))
    )
    zx, dmtx = decoded(formats.read_png(image.data))
    assert zx.startswith("]d2") and Gs1Code.parse(zx[3:]) == Gs1Code.parse(block.symbols[0])
    assert dmtx == GS + block.symbols[0]  # libdmtx shows the leading FNC1 as GS


def test_stream_images_in_print_order(client: Client) -> None:
    blocks = client.allocate("unit", 600)
    codes = list(blocks[0].codes)
    stream = client.printer.StreamImages(
        print_pb2.StreamImagesRequest(
            range=print_pb2.IndexRangeSource(
                batch_id="B1", level="unit", first_index=blocks[0].first_index, count=600
            ),
            options=print_pb2.ImageOptions(format=print_pb2.IMAGE_FORMAT_PBM, module_px=2),
        )
    )
    blocks = list(stream)
    assert [len(b.images) for b in blocks] == [16] * 37 + [8]
    images = [image for b in blocks for image in b.images]
    assert [i.code for i in images] == codes and [i.index for i in images] == list(range(600))
    for image in images[::97]:
        zx, dmtx = decoded(formats.read_pbm(image.data))
        assert zx == "]d1" + image.code and dmtx == image.code


def test_stream_refusals(client: Client) -> None:
    blocks = client.allocate("unit", 10)
    past = print_pb2.IndexRangeSource(
        batch_id="B1", level="unit", first_index=blocks[0].first_index, count=11
    )
    refused(
        lambda: client.printer.StreamImages(print_pb2.StreamImagesRequest(range=past)),
        grpc.StatusCode.NOT_FOUND,
        "NOT_ALLOCATED",
    )
    refused(
        lambda: client.printer.StreamImages(print_pb2.StreamImagesRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "NO_SOURCE",
    )
    refused(
        lambda: client.printer.RenderImage(print_pb2.RenderImageRequest(code="86000019999999990000")),
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_CODE",
    )
    refused(
        lambda: client.printer.RenderImage(
            print_pb2.RenderImageRequest(
                code=blocks[0].codes[0], options=print_pb2.ImageOptions(rows=10, cols=10)
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DOES_NOT_FIT",
    )
