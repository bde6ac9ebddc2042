"""DataMatrix for the printers: linecode's kernel vs zxing-cpp vs pylibdmtx, on one core.

Two data sets of N codes each: nmpa20 (20 digits) and GS1 (GTIN, serial, expiry, batch). Two jobs:
the module matrix, and a 1-bit PNG at 10 px/module with a 1-module quiet zone. Every entry works
through the same N codes per round; codes/s = N / median.

* linecode bulk: ``render.matrices`` / ``render.render_many`` over the batch, one thread; "bulk
  dmre" the same with the DMRE sizes allowed (``dmre=True``).
* linecode one by one: ``render.matrix`` / ``render.render`` per code (validation included).
* zxing-cpp: ``create_barcode(..., gs1=)`` + ``to_image`` per code; for PNG the image is written as
  1-bit PNG with numpy + zlib (Pillow is not a dependency; zlib level 6 is what Pillow would use).
* pylibdmtx: libdmtx with FNC1 via our wrapper (``backend="libdmtx"``), same PNG writer as ours.
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
import zxingcpp

from linecode import render
from linecode.codes import Gs1Code, Gtin
from linecode.serials import MasterKey, Nmpa20Pool

N = int(os.environ.get("LINECODE_BENCH_SYMBOLS", 2000))
DATAMATRIX = zxingcpp.BarcodeFormat.DataMatrix


def nmpa20_codes() -> np.ndarray:
    return Nmpa20Pool(MasterKey(bytes(range(32))), "8612345").codes(0, N)


def gs1_codes() -> list[Gs1Code]:
    rng = np.random.default_rng(1)
    return [
        Gs1Code(
            Gtin.build(f"0695{rng.integers(10**8, 10**9)}"),
            f"{rng.integers(10**11, 10**12)}",
            "291231",
            "L2405A",
        )
        for _ in range(N)
    ]


DATA = {"nmpa20": (nmpa20_codes, False), "gs1": (gs1_codes, True)}


@pytest.fixture(params=list(DATA), scope="module")
def dataset(request: pytest.FixtureRequest) -> tuple[str, object, bool]:
    make, gs1 = DATA[request.param]
    return request.param, make(), gs1


def zxing_input(codes: object, gs1: bool) -> list[str]:
    if gs1:
        return [c.as_hri() for c in codes]  # type: ignore[attr-defined]
    return [c.decode() for c in codes]  # type: ignore[attr-defined]


def zlib_png(dark: np.ndarray) -> bytes:
    """A 1-bit grayscale PNG the usual way: packbits, filter byte 0 per row, zlib."""
    height, width = dark.shape
    rows = np.packbits(~dark, axis=1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _run(benchmark, group: str, name: str, fn) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = group
    benchmark.extra_info["symbols"] = N
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)
    benchmark.extra_info["symbols_per_s"] = round(N / benchmark.stats.stats.median)


def test_linecode_matrix_bulk(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    name, codes, gs1 = dataset
    _run(benchmark, f"matrix {name}", "linecode bulk", lambda: render.matrices(codes, gs1=gs1, threads=1))


def test_linecode_matrix_bulk_dmre(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    # DMRE sizes allowed (opt-in): a longer candidate list, the same encodation.
    name, codes, gs1 = dataset
    benchmark.extra_info["ours"] = False
    _run(
        benchmark,
        f"matrix {name}",
        "linecode bulk dmre",
        lambda: render.matrices(codes, gs1=gs1, dmre=True, threads=1),
    )


def test_linecode_one_by_one_matrix(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    name, codes, gs1 = dataset
    items = list(codes) if gs1 else [c.decode() for c in codes]
    benchmark.extra_info["ours"] = False  # the ratio line is for the bulk entry
    _run(benchmark, f"matrix {name}", "linecode", lambda: [render.matrix(c, gs1=gs1) for c in items])


def test_zxing_matrix(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    name, codes, gs1 = dataset
    items = zxing_input(codes, gs1)

    def work() -> None:
        for c in items:
            np.asarray(
                zxingcpp.create_barcode(c, DATAMATRIX, gs1=gs1).to_image(scale=1, add_quiet_zones=False)
            )

    _run(benchmark, f"matrix {name}", "zxing-cpp", work)


def test_pylibdmtx_matrix(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    name, codes, gs1 = dataset
    items = list(codes) if gs1 else [c.decode() for c in codes]
    _run(
        benchmark,
        f"matrix {name}",
        "pylibdmtx",
        lambda: [render.matrix(c, gs1=gs1, backend="libdmtx") for c in items],
    )


def test_linecode_png_bulk(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    name, codes, gs1 = dataset
    _run(
        benchmark,
        f"png {name}",
        "linecode bulk",
        lambda: render.render_many(codes, gs1=gs1, module_px=10, threads=1),
    )


def test_linecode_one_by_one_png(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    name, codes, gs1 = dataset
    items = list(codes) if gs1 else [c.decode() for c in codes]
    benchmark.extra_info["ours"] = False
    _run(
        benchmark, f"png {name}", "linecode", lambda: [render.render(c, gs1=gs1, module_px=10) for c in items]
    )


def test_zxing_png(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    name, codes, gs1 = dataset
    items = zxing_input(codes, gs1)

    def work() -> None:
        for c in items:
            image = zxingcpp.create_barcode(c, DATAMATRIX, gs1=gs1).to_image(scale=10, add_quiet_zones=False)
            zlib_png(np.pad(np.asarray(image) < 128, 10))  # 1-module quiet zone, as ours

    _run(benchmark, f"png {name}", "zxing-cpp", work)


def test_pylibdmtx_png(benchmark, dataset) -> None:  # type: ignore[no-untyped-def]
    name, codes, gs1 = dataset
    items = list(codes) if gs1 else [c.decode() for c in codes]
    _run(
        benchmark,
        f"png {name}",
        "pylibdmtx",
        lambda: [render.render(c, gs1=gs1, backend="libdmtx") for c in items],
    )
