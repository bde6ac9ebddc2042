"""Durable aggregation throughput: group commit vs one transaction per call, and point look-ups.

Every write is durable (LMDB ``sync=True``: fdatasync before the call returns). ``CALLERS`` threads
send aggregations of ``RATIO`` units into a bundle at once, as the PLCs of a line would; the
group-commit store shares each fsync among everyone waiting, the naive store (``group_commit=False``)
commits every call alone. Figures go to bench/RESULTS.md (Store section).

Run: ``./dev bench -k store`` (``LINECODE_BENCH_CALLERS``, ``LINECODE_BENCH_PARENTS``,
``LINECODE_BENCH_DIR`` to put the data dir on another disk).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linecode.serials import MasterKey
from linecode.store import CodeRule, Level, Store

CALLERS = int(os.environ.get("LINECODE_BENCH_CALLERS", 64))
PARENTS = int(os.environ.get("LINECODE_BENCH_PARENTS", 2000))
RATIO = 10
ROUNDS = 5
"""Rounds per side (each a fresh store); the median is reported. The VM's noise moves single rounds
by ±30 %, so three were too few to tell a ratio of 5 from one of 6."""
LOOKUPS = 20_000
LEVELS = (
    Level("unit", CodeRule.NMPA20, "8600001"),
    Level("bundle", CodeRule.NMPA20, "8600002", pack_ratio=RATIO),
)


def _line(group_commit: bool) -> tuple[Store, list[str], list[str]]:
    """A fresh durable store with PARENTS bundles and PARENTS * RATIO units, all commissioned."""
    root = os.environ.get("LINECODE_BENCH_DIR")
    data = Path(tempfile.mkdtemp(prefix="linecode-bench-", dir=root))
    store = Store.open(data, master_key=MasterKey(bytes(32)), group_commit=group_commit)
    store.create_product("p", "Bench vaccine", "Demo Bio", LEVELS)
    store.create_batch(
        "p",
        "B1",
        production_date=dt.date(2026, 1, 1),
        expiry_date=dt.date(2028, 1, 1),
        line="L1",
        planned_quantity=PARENTS * RATIO,
    )
    parents = list(store.allocate("B1", "bundle", PARENTS).codes)
    units = list(store.allocate("B1", "unit", PARENTS * RATIO).codes)
    for codes in (parents, units):
        store.report_events("printed", codes)
        store.report_events("verified", codes)
    return store, parents, units


def _discard(store: Store) -> None:
    """Close a bench store and delete its data dir (each round makes a fresh one of a few MB)."""
    store.close()
    shutil.rmtree(store.path, ignore_errors=True)


class _Callers:
    """CALLERS threads, each a PLC sending its share of the bundles one after the other, started and
    waiting at a gate: :meth:`run` (the timed part) opens it and waits for the last of them, so
    starting 64 threads is not counted as aggregation time."""

    def __init__(self, store: Store, parents: list[str], units: list[str]) -> None:
        self.gate = threading.Event()
        self.errors: list[BaseException] = []

        def plc(first: int) -> None:
            self.gate.wait()
            try:
                for i in range(first, len(parents), CALLERS):
                    children = units[RATIO * i : RATIO * (i + 1)]
                    store.aggregate(parents[i], children, idempotency_key=f"plc-{i}")
            except BaseException as exc:  # re-raised by run(), in the benchmark's thread
                self.errors.append(exc)

        self.threads = [threading.Thread(target=plc, args=(first,)) for first in range(CALLERS)]
        for thread in self.threads:
            thread.start()

    def run(self) -> None:
        self.gate.set()
        for thread in self.threads:
            thread.join()
        if self.errors:
            raise self.errors[0]


def _cpu_probe() -> float:
    """Seconds a fixed bit of pure Python takes right now: the VM's CPU speed drifts in phases of
    tens of seconds, and group commit (CPU-bound) follows it while the naive way (fsync-bound)
    hardly does, so each side's figure is printed with the probe taken before its rounds."""
    start = time.perf_counter()
    total = 0
    for i in range(200_000):
        total += i & 7
    return time.perf_counter() - start


def _bench_links(benchmark, group_commit: bool) -> None:  # type: ignore[no-untyped-def]
    lines: list[tuple[Store, list[str], list[str]]] = []
    probes: list[float] = []

    def setup() -> tuple[tuple[_Callers], dict[str, object]]:
        probes.append(_cpu_probe())
        lines.append(_line(group_commit))
        lines[-1][0].commits_before = lines[-1][0].commits  # type: ignore[attr-defined]
        return (_Callers(*lines[-1]),), {}

    benchmark.group = f"store: durable aggregation, {CALLERS} callers, {PARENTS} x {RATIO} links"
    benchmark.pedantic(_Callers.run, setup=setup, rounds=ROUNDS)
    store, parents, _ = lines[-1]
    benchmark.extra_info["ours"] = group_commit
    benchmark.extra_info["links_per_s"] = round(PARENTS * RATIO / benchmark.stats.stats.median)
    benchmark.extra_info["requests_per_commit"] = round(PARENTS / (store.commits - store.commits_before), 1)  # type: ignore[attr-defined]
    benchmark.extra_info["cpu_probe_ms"] = round(statistics.median(probes) * 1e3, 2)
    print(
        f"\n{'group commit' if group_commit else 'naive'}: {benchmark.extra_info['links_per_s']:,} links/s, "
        f"{benchmark.extra_info['requests_per_commit']} requests per commit, "
        f"CPU probe {benchmark.extra_info['cpu_probe_ms']} ms (higher: a slower CPU phase)"
    )
    for store, parents, _ in lines:
        assert all(store.record(p).children == RATIO for p in parents[-10:])
        _discard(store)


def test_linecode_group_commit_links(benchmark) -> None:  # type: ignore[no-untyped-def]
    _bench_links(benchmark, group_commit=True)


def test_naive_one_transaction_per_call_links(benchmark) -> None:  # type: ignore[no-untyped-def]
    _bench_links(benchmark, group_commit=False)


@pytest.fixture(scope="module")
def packed() -> Iterator[tuple[Store, list[str]]]:
    store, parents, units = _line(group_commit=True)
    _Callers(store, parents, units).run()
    yield store, units[:LOOKUPS]
    _discard(store)


def test_linecode_parent_lookups(benchmark, packed) -> None:  # type: ignore[no-untyped-def]
    store, units = packed

    def lookups() -> None:
        for unit in units:
            store.parent_of(unit)

    benchmark.group = f"store: parent_of, {len(units)} look-ups"
    benchmark.pedantic(lookups, rounds=5)
    benchmark.extra_info["lookups_per_s"] = round(len(units) / benchmark.stats.stats.median)
