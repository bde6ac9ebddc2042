"""The tests' products, batches and commissioned codes, made one way.

The test product is the demo's (:mod:`linecode.sim`: its name, holder, levels and identifiers) with
small pack ratios, so that a full pallet holds 40 units. The store, CLI and export tests, the crash
child, the model machines, the service tests (as Admin messages, ``tests/service/conftest.py``) and
the store benchmark take their products, batches and commissioned codes from here; pytest puts the
checkout on ``sys.path`` (``pythonpath`` in pyproject.toml), so ``tests.factories`` imports anywhere
it runs.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from linecode.sim import DEMO_LEVELS, DEMO_MAH, DEMO_NAME
from linecode.store import Batch, CodeRule, Level, Product, Store

PRODUCT = "vaccine"
LEVELS = tuple(
    Level(lv.name, CodeRule(lv.rule), lv.identifier, ratio)
    for lv, ratio in zip(DEMO_LEVELS, (1, 5, 4, 2), strict=True)
)
"""The demo product's levels: 5 units to a bundle, 4 bundles to a case, 2 cases to an SSCC pallet."""
EXPORT = "export"
EXPORT_LEVELS = (
    Level("unit", CodeRule.GS1, "09501101530003"),
    Level("case", CodeRule.GS1, "19501101530000", pack_ratio=10),
)
"""A GS1 product: GTIN-14 unit and case codes, 12-digit serials."""
MADE, EXPIRES = dt.date(2026, 1, 5), dt.date(2028, 1, 4)
"""A test batch's production and expiry dates."""


def product(
    product_id: str = PRODUCT,
    levels: Sequence[Level] = LEVELS,
    *,
    name: str = DEMO_NAME,
    mah: str = DEMO_MAH,
    mixed_pallets: bool = False,
) -> Product:
    """The test product, or another of the given levels: a value, not stored."""
    return Product(product_id, name, mah, tuple(levels), mixed_pallets)


def make_product(
    store: Store,
    product_id: str = PRODUCT,
    levels: Sequence[Level] = LEVELS,
    *,
    claim_pools: bool | None = None,
    **fields: Any,
) -> Product:
    """Create ``product(product_id, levels, **fields)`` in ``store``."""
    p = product(product_id, levels, **fields)
    return store.create_product(
        p.product_id, p.name, p.mah, p.levels, mixed_pallets=p.mixed_pallets, claim_pools=claim_pools
    )


def make_batch(
    store: Store,
    batch_id: str,
    product: str = PRODUCT,
    *,
    made: dt.date = MADE,
    expires: dt.date = EXPIRES,
    line: str = "L1",
    planned: int = 1000,
) -> Batch:
    """Open batch ``batch_id`` (its batch number too) of ``product`` in ``store``."""
    return store.create_batch(
        product, batch_id, production_date=made, expiry_date=expires, line=line, planned_quantity=planned
    )


def commissioned(store: Store, batch_id: str, level: str, n: int) -> list[str]:
    """``n`` new codes of ``level`` in ``batch_id``, reported printed and verified: their keys."""
    codes = list(store.allocate(batch_id, level, n).codes)
    store.report_events("printed", codes)
    store.report_events("verified", codes)
    return codes


TEST_KEY_HEX = bytes(range(32)).hex()
"""The tests' master key (the ``master`` fixture's) as ``LINECODE_MASTER_KEY`` spells it."""


def run_linecode(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, **options: Any
) -> subprocess.CompletedProcess[str]:
    """The ``linecode`` command in a process of its own, as a user beside a running server runs it;
    with the tests' master key unless ``env`` is given (a store places its codes in their pools by
    the key, so the commands that read codes need the key the store was written with)."""
    if env is None:
        env = {**os.environ, "LINECODE_MASTER_KEY": TEST_KEY_HEX}
    return subprocess.run(
        [sys.executable, "-m", "linecode", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **options,
    )


def hub_process(
    dsn: str, listen: str = "127.0.0.1:0", processes: int = 1
) -> tuple[subprocess.Popen[str], int, str]:
    """``linecode hub serve`` over ``dsn`` as a process of its own, once it listens: the process,
    its port and the line it announced itself with."""
    command = ["hub", "serve", "--dsn", dsn, "--listen", listen, "--processes", str(processes)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "linecode", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"^linecode hub serving on [^:]+:(\d+)", line)
    assert found is not None, f"not a hub serving line: {line!r}"
    return proc, int(found.group(1)), line
