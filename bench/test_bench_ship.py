"""Shipping (issue 18): the hub's ingest through the real path, and a busy site's shipping lag.

``.venv/bin/pytest bench/test_bench_ship.py -p no:cacheprovider --benchmark-only -s -q``

* Ingest: a site's log shipped by its shipper over gRPC to ``linecode hub serve`` (its own process)
  over a throwaway PostgreSQL (durable commits), all on the VM's 2 cores — against the same hub
  taking the same kind of log one event per shipment, i.e. one transaction and one commit per event
  (a hub that inserts and commits one event at a time), in alternating pairs of one run, each pair
  two new sites. The log is a line's as the simulator makes it: per machine cycle a report of the
  bundle's 10 units printed and verified (two events of 10 codes) and the bundle's aggregation;
  cases and pallets likewise (demo product: 10 units a bundle, 10 bundles a case, 100 cases a
  pallet). A second pair runs logs of 100-code events (a PLC reporting in large blocks), where the
  one-at-a-time hub amortises its commit over more codes. Targets: >= 50,000 code-events/s and
  >= 20 x the one-at-a-time hub.
* Lag: one site server with 100 simulated lines at 600 packs/min (``linecode.sim``, in a process of
  its own) shipping to the hub; the commit-to-acknowledgement time of the oldest event of every
  shipment (the worst event of it), p50/p99. Target: p99 < 1 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import grpc
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from linecode import sim
from linecode.hub import schema
from linecode.hub.authority import Authority
from linecode.hub.cluster import Cluster
from linecode.serials import MasterKey
from linecode.service.config import ServeConfig
from linecode.service.server import start
from linecode.service.ship import Shipper
from linecode.sim.site import DEMO_PRODUCT_ID
from linecode.store import CodeRule, IndexRange, Lease, Level, Store, coderules
from linecode.store.leases import holdings
from linecode.v1 import hub_pb2_grpc
from tests.factories import hub_process, make_batch

PAIRS = int(os.environ.get("LINECODE_BENCH_PAIRS", "5"))
UNITS = int(os.environ.get("LINECODE_BENCH_SHIP_UNITS", "20000"))
ONE_AT_A_TIME_EVENTS = 600
"""Events the one-at-a-time hub is timed on per pair (at ~2 ms a commit: ~1 s)."""
LAG_LINES = int(os.environ.get("LINECODE_BENCH_LINES", "100"))
LAG_UNITS = int(os.environ.get("LINECODE_BENCH_UNITS", "300"))  # 30 s at 600 packs/min
KEY = MasterKey(b"s" * 32)
LEVELS = tuple(Level(lv.name, CodeRule(lv.rule), lv.identifier, lv.ratio) for lv in sim.DEMO_LEVELS)


@pytest.fixture(scope="module")
def hub() -> Iterator[tuple[str, int, Authority]]:
    with Cluster() as pg:
        with psycopg.connect(pg.dsn) as conn:
            schema.init(conn)
        with ConnectionPool(pg.dsn, min_size=1, max_size=2) as pool:
            authority = Authority(pool)
            sites = [f"{kind}{n}" for kind in ("B", "O", "b", "o") for n in range(PAIRS)] + ["LAG"]
            for level in LEVELS:
                authority.add_pool(level, sites)
            proc, port, _ = hub_process(pg.dsn)  # the hub is another machine's: not in this process
            try:
                yield pg.dsn, port, authority
            finally:
                proc.terminate()
                proc.wait(60)


def _site_log(tmp: Path, site: str, authority: Authority, per_event: int) -> Store:
    """A store of ``site`` holding a packed batch of ``UNITS`` units: leases granted by the hub,
    then a line's events (``per_event`` codes a report and an aggregation)."""
    store = Store.open(tmp / site, master_key=KEY, sync=False)
    store.pools_from_hub = True
    store.create_product("vaccine", sim.DEMO_NAME, sim.DEMO_MAH, LEVELS)
    for level in LEVELS:
        name = coderules.pool_name(level)
        grant = authority.grant(site, name, 1_000_000, f"{site}-{name}")
        store.import_lease(Lease(name, (IndexRange(grant.start, grant.end),)))
    make_batch(store, "B1", planned=UNITS)
    ratios = [lv.pack_ratio for lv in LEVELS]

    def commission(codes: list[str]) -> None:
        for i in range(0, len(codes), per_event):
            store.report_many([("printed", codes[i : i + per_event]), ("verified", codes[i : i + per_event])])

    below = list(store.allocate("B1", 1, UNITS).codes)
    commission(below)
    for number in range(2, len(LEVELS) + 1):
        ratio = ratios[number - 1]
        parents = list(store.allocate("B1", number, -(-len(below) // ratio)).codes)
        commission(parents)
        for i, parent in enumerate(parents):
            children = below[i * ratio : (i + 1) * ratio]
            store.aggregate(parent, children, partial=len(children) < ratio)
        below = parents
    return store


def _ship(store: Store, port: int, site: str, max_events: int, limit: int | None = None) -> tuple[int, float]:
    """Ship ``store``'s log (its first ``limit`` events) as its server's shipper does, ``max_events``
    a shipment: (code-events the hub stored, seconds)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = hub_pb2_grpc.HubServiceStub(channel)
        shipper = Shipper(store, channel, site, max_events=max_events, retention_days=0)
        end = store.last_event_seq() if limit is None else limit
        started = time.perf_counter()
        while store.shipped() < end:
            shipper.ship_once(stub)
        return shipper.code_events, time.perf_counter() - started


def _pairs(hub: tuple[str, int, Authority], per_event: int, tag: str) -> tuple[list[float], list[float]]:
    """``PAIRS`` alternating pairs: (batched code-events/s, one-at-a-time code-events/s)."""
    _dsn, port, authority = hub
    tmp = Path(tempfile.mkdtemp(prefix="linecode-bench-ship-"))
    batched: list[float] = []
    single: list[float] = []
    for n in range(PAIRS):
        fast = _site_log(tmp, f"{tag.upper()}{n}", authority, per_event)
        slow = _site_log(tmp, f"{tag}{n}", authority, per_event)
        stored, took = _ship(fast, port, f"{tag.upper()}{n}", 20_000)
        batched.append(stored / took)
        stored, took = _ship(slow, port, f"{tag}{n}", 1, ONE_AT_A_TIME_EVENTS)
        single.append(stored / took)
        fast.close()
        slow.close()
    return batched, single


@pytest.mark.parametrize("per_event", [10, 100], ids=["line-cycles", "large-blocks"])
def test_hub_ingest_against_one_event_per_transaction(benchmark, hub, per_event: int) -> None:  # type: ignore[no-untyped-def]
    results: dict[str, tuple[list[float], list[float]]] = {}

    def run() -> None:
        results["pairs"] = _pairs(hub, per_event, "b" if per_event == 10 else "o")

    benchmark.group = "hub ingest"
    benchmark.pedantic(run, rounds=1, iterations=1)
    batched, single = results["pairs"]
    ratios = sorted(round(b / s, 1) for b, s in zip(batched, single, strict=True))
    benchmark.extra_info.update(
        per_event=per_event,
        code_events_per_s=round(median(batched)),
        one_at_a_time_per_s=round(median(single)),
        ratio_by_pair=ratios,
    )
    print(
        f"\n{per_event}-code events: batched {median(batched):,.0f} code-events/s "
        f"(pairs {sorted(round(b) for b in batched)}), one event per transaction {median(single):,.0f}/s "
        f"(pairs {sorted(round(s) for s in single)}); ratio by pair {ratios}"
    )


def test_shipping_lag_with_100_lines_on_one_site(benchmark, hub) -> None:  # type: ignore[no-untyped-def]
    _dsn, port, _authority = hub
    tmp = Path(tempfile.mkdtemp(prefix="linecode-bench-lag-"))
    store = Store.open(tmp / "site", master_key=KEY)
    config = ServeConfig(
        listen="127.0.0.1:0",
        workers=64,
        hub_address=f"127.0.0.1:{port}",
        hub_site_id="LAG",
        hub_low_water=200_000,
        hub_lease_size=1_000_000,
    )
    running, _ = start(store, config)
    try:
        store.create_product(DEMO_PRODUCT_ID, sim.DEMO_NAME, sim.DEMO_MAH, LEVELS)
        deadline = time.monotonic() + 60
        while not all(h.remaining for h in holdings(store.pools())):
            assert time.monotonic() < deadline, "no leases"
            time.sleep(0.05)

        def lines() -> None:
            command = ("bench.ship_lines", f"127.0.0.1:{running.port}", str(LAG_LINES), str(LAG_UNITS))
            done = subprocess.run(
                [sys.executable, "-m", *command],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=Path(__file__).parents[1],
            )
            assert done.returncode == 0, done.stderr[-3000:]
            print("\n" + done.stdout.strip())

        benchmark.group = "shipping lag"
        benchmark.pedantic(lines, rounds=1, iterations=1)
        deadline = time.monotonic() + 120
        while store.shipped() < store.last_event_seq():
            assert time.monotonic() < deadline, "the backlog did not drain"
            time.sleep(0.05)
        lags = sorted(running.shipper.lag_observed)
        p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
        benchmark.extra_info.update(
            lines=LAG_LINES,
            shipments=len(lags),
            lag_p50_ms=round(p50 * 1e3, 1),
            lag_p99_ms=round(p99 * 1e3, 1),
        )
        print(
            f"{LAG_LINES} lines at 600 packs/min on one site: {store.last_event_seq():,} events in "
            f"{len(lags):,} shipments; lag p50 {p50 * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms, "
            f"max {lags[-1] * 1e3:.0f} ms"
        )
    finally:
        running.stop(0)
        store.close()
