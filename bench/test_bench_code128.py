"""Code 128 PNG for the printers, without text, on one core: linecode vs python-barcode vs zint.

N nmpa20 codes per round (20 digits: Code 128 set C, 145 modules), each drawn as a 1-bit PNG at
3 px per module, 10-module quiet zones, bars ``HEIGHT_PX`` tall — the same image from every
entry (python-barcode: 0.254 mm modules at 300 dpi; zint: scale 1.5 = 3 px, 10 X whitespace).

* linecode: ``code128.render(code, gs1=False, ...)`` per code (validation included), at a height
  of 90 px (a multiple of the module size: the writer scales module rows) and at 100 px (every
  pixel row drawn).
* python-barcode (PyPI ``python-barcode``, Pillow's ``ImageWriter(mode="1")``, ``write_text``
  off), the usual pure-Python choice.
* zint through ``zint-bindings`` (libzint 2.x in C: its PNG writer), skipped if not installed.

The entries run in the same rounds, alternating which goes first, so a noisy neighbour on the VM
hits them alike; the printed ratios are per pair (their time / ours in the same round). Ours is the
benchmarked call; the others run in its setup: before it in even rounds, after it in odd ones.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from statistics import median

import pytest

from linecode.render import code128
from linecode.serials import MasterKey, Nmpa20Pool

N = int(os.environ.get("LINECODE_BENCH_SYMBOLS", 2000))
ROUNDS = int(os.environ.get("LINECODE_BENCH_ROUNDS", 7))
MODULE_PX, QUIET_ZONE = 3, 10


def codes() -> list[str]:
    return [c.decode() for c in Nmpa20Pool(MasterKey(bytes(range(32))), "8612345").codes(0, N)]


def linecode_png(height_px: int) -> Callable[[str], bytes]:
    def draw(code: str) -> bytes:
        return code128.render(
            code, gs1=False, fmt="png", module_px=MODULE_PX, height_px=height_px, quiet_zone=QUIET_ZONE
        )

    return draw


def python_barcode_png(height_px: int) -> Callable[[str], bytes]:
    barcode = pytest.importorskip("barcode")
    from barcode.writer import ImageWriter

    options = {
        "write_text": False,
        "dpi": 300,
        "module_width": 0.254,  # mm: 3 dots at 300 dpi
        "module_height": height_px * 25.4 / 300,
        "quiet_zone": QUIET_ZONE * 0.254,
        "margin_top": 0,
        "margin_bottom": 0,
    }

    def draw(code: str) -> bytes:
        out = io.BytesIO()
        barcode.get("code128", code, writer=ImageWriter(mode="1")).write(out, options=options)
        return out.getvalue()

    return draw


def zint_png(height_px: int) -> Callable[[str], bytes] | None:
    try:
        import zint
    except ImportError:
        return None
    symbol = zint.Symbol()
    symbol.symbology = zint.Symbology.CODE128
    symbol.show_text = False
    symbol.scale = MODULE_PX / 2  # zint draws 2 px per X at scale 1
    symbol.height = height_px / MODULE_PX  # in X
    symbol.whitespace_width = QUIET_ZONE
    symbol.output_options = zint.OutputOptions.BARCODE_MEMORY_FILE
    symbol.outfile = "out.png"

    def draw(code: str) -> bytes:
        symbol.clear()  # else zint stacks each new symbol under the last
        symbol.encode(code.encode())
        symbol.print()
        return bytes(symbol.memfile)

    return draw


def one_round(draw: Callable[[str], bytes], batch: list[str]) -> float:
    t = time.perf_counter()
    for code in batch:
        draw(code)
    return time.perf_counter() - t


@pytest.mark.parametrize("height_px", [90, 100])
def test_linecode_code128_png(benchmark, height_px: int) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    batch = codes()
    entries = {"linecode": linecode_png(height_px), "python-barcode": python_barcode_png(height_px)}
    if (z := zint_png(height_px)) is not None:
        entries["zint"] = z
    width = (145 + 2 * QUIET_ZONE) * MODULE_PX
    for name, draw in entries.items():  # warm up, and the same image from everyone
        image = Image.open(io.BytesIO(draw(batch[0])))
        # python-barcode converts mm to pixels and draws one pixel short
        assert abs(image.size[0] - width) <= 1 and image.size[1] == height_px, (name, image.size)
    ours = entries.pop("linecode")
    theirs: dict[str, list[float]] = {name: [] for name in entries}
    started = 0

    def others() -> None:
        for name, draw in entries.items():
            theirs[name].append(one_round(draw, batch))

    def setup() -> tuple[tuple[()], dict[str, object]]:
        # Round k pairs ours with one run of each other entry: before ours in even rounds, after
        # it (run here, at the start of round k + 1) in odd ones.
        nonlocal started
        if started > 0 and started % 2 == 0:
            others()  # the "after" run of the odd round just finished
        if started % 2 == 0:
            others()
        started += 1
        return (), {}

    benchmark.group = f"Code 128 PNG, {N} nmpa20 codes, 3 px/module, {height_px} px bars, one core"
    benchmark.pedantic(lambda: one_round(ours, batch), setup=setup, rounds=ROUNDS, iterations=1)
    if ROUNDS % 2 == 0:
        others()  # the last round was odd
    mine = benchmark.stats.stats.data
    pairs = {n: sorted(round(t / o, 1) for t, o in zip(r, mine, strict=True)) for n, r in theirs.items()}
    times = {"linecode": mine, **theirs}
    benchmark.extra_info.update(
        alternatives={name: median(runs) for name, runs in theirs.items()},
        codes_per_s={name: round(N / median(t)) for name, t in times.items()},
        pair_ratios=pairs,
    )
    print(
        f"\nCode 128 PNG, {height_px} px: "
        + ", ".join(f"{name} {N / median(t):,.0f}/s" for name, t in times.items())
        + "; their time / ours by round: "
        + "; ".join(f"{name} {r} (median {median(r)})" for name, r in pairs.items())
    )
    if height_px % MODULE_PX == 0:  # the target (>= 10x python-barcode) is for the scaled path
        assert median(pairs["python-barcode"]) >= 10
