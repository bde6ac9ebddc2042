"""Labels for label printers (``linecode.render.label``), one core: labels per second.

N case labels (nmpa20: DataMatrix + Code 128 + 4 text lines) and N pallet labels (SSCC: DataMatrix +
GS1-128 + text), 203 dpi, built-in layouts, from facts already read (the store's part is
``Store.info``, measured in the store's benchmarks). Entries: ZPL with the printer drawing the
symbols, ZPL with our bitmaps as ``^GFA`` graphic fields, and the 1-bit PNG preview. labels/s =
N / median.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from linecode.codes import Sscc
from linecode.render.label import LabelFacts, default_layout, label
from linecode.serials import MasterKey, Nmpa20Pool

N = int(os.environ.get("LINECODE_BENCH_LABELS", 200))
EXPIRY = dt.date(2028, 1, 4)


def case_facts() -> list[LabelFacts]:
    codes = Nmpa20Pool(MasterKey(bytes(range(32))), "8600003").codes(0, N)
    return [
        LabelFacts(c.decode(), "case", "Demo vaccine 0.5 ml", "B1", EXPIRY, c.decode(), False) for c in codes
    ]


def pallet_facts() -> list[LabelFacts]:
    out = []
    for n in range(N):
        sscc = Sscc.build(0, "6901234", f"{n:09d}")
        out.append(
            LabelFacts(
                sscc.as_hri(), "pallet", "Demo vaccine 0.5 ml", "B1", EXPIRY, sscc.as_element_string(), True
            )
        )
    return out


@pytest.mark.parametrize("level", ["case", "pallet"])
@pytest.mark.parametrize(("profile", "fmt"), [("printer", "zpl"), ("graphic", "zpl"), (None, "png")])
def test_linecode_labels(benchmark, level: str, profile: str | None, fmt: str) -> None:  # type: ignore[no-untyped-def]
    facts = case_facts() if level == "case" else pallet_facts()
    layout = default_layout(level, facts[0].rule)
    benchmark.group = f"label {level} {fmt} {profile or ''}".strip()

    def run() -> int:
        return sum(len(label(layout, f, profile, fmt)) for f in facts)  # type: ignore[arg-type]

    size = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info["labels_per_s"] = round(N / median)
    benchmark.extra_info["bytes_per_label"] = size // N
    print(f"\n{benchmark.group}: {N / median:,.0f} labels/s, {size // N:,} bytes/label")
