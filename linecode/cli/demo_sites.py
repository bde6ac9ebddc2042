"""``linecode demo --sites N``: the demo line at N sites of one hub, on this machine.

A throwaway PostgreSQL (:class:`~linecode.hub.cluster.Cluster`) with the hub's schema and the demo
product's pools allowed to sites ``S1`` … ``SN``; a hub on a free loopback port (in-process, as the
tests run it: HubService and QueryService across sites); N site servers, each over a temporary
store of its own with the one master key, leasing from the hub and shipping every event to it. Each
site runs the demo's simulated lines (:mod:`linecode.sim`) and closes its batches; once the hub has
acknowledged every site's last event, a summary says what the hub holds: codes and events per site,
the shipping lag (commit to the hub's acknowledgement, the shippers' own figure), codes the hub
found at two sites (none, or serial leases failed), and one pallet traced through the hub's
QueryService down to its units, compared with the site's own tree. Everything it started is stopped
and removed at the end, on an error or Ctrl-C (SIGINT, SIGTERM) too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linecode.hub.authority import Authority
    from linecode.hub.cluster import Cluster
    from linecode.service.server import Running
    from linecode.service.ship import Shipper
    from linecode.sim import LinePlan, LineStats
    from linecode.store import Store

SHIP_TIMEOUT_S = 60.0
"""Longest the demo waits, after the lines stop, for the hub to hold every site's last event."""
DUPLICATES_SQL = (
    "SELECT count(*) FROM (SELECT code FROM codes GROUP BY code HAVING count(DISTINCT site_id) > 1) d"
)
"""Codes the hub holds of two sites or more: 0 unless two sites were granted one index."""


@dataclass
class SiteRun:
    """One site of the demo: its store, its server and what its lines did."""

    site_id: str
    store: Store
    running: Running
    shipper: Shipper
    plans: list[LinePlan] = field(default_factory=list)
    stats: LineStats | None = None
    reconciled: bool = False

    @property
    def target(self) -> str:
        """The site server's address (loopback, the port it got)."""
        return f"127.0.0.1:{self.running.port}"


def run(args: argparse.Namespace) -> int:
    """The demo at ``args.sites`` sites of one hub; 0 when every batch reconciles, no code is at two
    sites and the hub's tree of the pallet is the site's."""
    from linecode.errors import InvalidArgument
    from linecode.hub.cluster import bin_dir

    if args.hub or args.data:
        given = "--hub" if args.hub else "--data"
        raise InvalidArgument(
            f"--sites {args.sites} with {given}: the sites' stores and their hub are made for the run and "
            "removed after it",
            hint=f"run `linecode demo {given} …` (one site) for that",
        )
    bin_dir()  # no PostgreSQL: say how to install it before anything is made
    started = time.perf_counter()
    with _interrupted_by_sigterm(), ExitStack() as stack:
        summary = _run(args, stack)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    print(f"wall     {summary['seconds']:.1f} s, everything stopped and removed")
    if args.json:
        print(json.dumps(summary, sort_keys=True, ensure_ascii=False))
    return 0 if summary["ok"] else 1


def _run(args: argparse.Namespace, stack: ExitStack) -> dict[str, Any]:
    import psycopg_pool

    from linecode import sim
    from linecode.cli.demo import wait_for_leases
    from linecode.cli.progress import progress_bar
    from linecode.hub import schema
    from linecode.hub.authority import Authority
    from linecode.hub.cluster import Cluster
    from linecode.service.hub import HubServer

    sites = [f"S{i + 1}" for i in range(args.sites)]
    root = Path(tempfile.mkdtemp(prefix="linecode-demo-sites-"))
    stack.callback(shutil.rmtree, root, ignore_errors=True)

    pg = Cluster()
    stack.callback(_close_cluster, pg)
    pg.start()
    pool = stack.enter_context(psycopg_pool.ConnectionPool(pg.dsn, min_size=1, max_size=8, open=True))
    with pool.connection() as conn:
        schema.init(conn)
    authority = Authority(pool)
    for level in _demo_levels():
        authority.add_pool(level, sites)
    hub = HubServer(authority, "127.0.0.1:0")
    stack.callback(hub.stop, 1.0)
    print(
        f"linecode demo — {len(sites)} sites of a hub on 127.0.0.1:{hub.port}; PostgreSQL in {pg.root}, "
        f"site stores in {root} (both removed at the end)"
    )
    print(
        f"product  {sim.DEMO_NAME} ({sim.DEMO_MAH}): "
        + " → ".join(f"{lv.name} x{lv.ratio}" if lv.ratio > 1 else lv.name for lv in sim.DEMO_LEVELS)
    )

    runs = [_start_site(stack, root / site, site, hub.port) for site in sites]
    year = time.strftime("%Y")
    for site in runs:
        site.plans = sim.Site(site.target).setup(
            args.lines, args.units, args.speed, prefix=f"{site.site_id}-B{year}"
        )
        wait_for_leases(site.store)
        print(
            f"{site.site_id:<8} server {site.target}, {args.lines} x {args.units:,} units at "
            f"{args.speed:,.0f} packs/min; batches {', '.join(p.batch_id for p in site.plans)}"
        )

    packs = len(runs) * args.lines * args.units
    packing = time.perf_counter()
    with progress_bar(packs, "packing", unit="pack") as bar:

        def on_image(image: Any) -> None:  # a print_pb2.Image
            if sim.is_unit(image.code):
                bar.update(1)

        results = asyncio.run(_pack(runs, on_image))
    seconds = time.perf_counter() - packing
    for site, stats in zip(runs, results, strict=True):
        site.stats = stats
        sim.Site(site.target).close(site.plans)
        site.reconciled = all(site.store.reconcile(p.batch_id).ok for p in site.plans)
    print(
        f"packed   {packs:,} packs at {len(runs)} sites in {seconds:.1f} s ({packs / seconds:,.0f} packs/s)"
    )

    shipping = time.perf_counter()
    _wait_shipped(runs)
    summary = _summary(runs, authority, pool, hub.port, packs, seconds, time.perf_counter() - shipping)
    return {**summary, "postgres_dir": str(pg.root), "stores_dir": str(root)}


def _demo_levels() -> list[Any]:
    """The demo product's levels, as the hub registers their pools (``hub pool add --demo-product``)."""
    from linecode.sim import DEMO_LEVELS
    from linecode.store import CodeRule, Level

    return [Level(lv.name, CodeRule(lv.rule), lv.identifier, lv.ratio) for lv in DEMO_LEVELS]


def _start_site(stack: ExitStack, data: Path, site_id: str, hub_port: int) -> SiteRun:
    """A site server over a new store in ``data``, a site of the hub on ``hub_port``; stopped (and
    its store closed) when ``stack`` closes. Every site's store gets the first one's master key, as
    the sites of one hub must (``docs/hub.md``)."""
    from linecode.service.config import ServeConfig
    from linecode.service.server import start
    from linecode.store import Store

    first = data.parent / "S1" / "master.key"
    if site_id != "S1" and first.exists():  # not there when LINECODE_MASTER_KEY is set: that key serves all
        data.mkdir(parents=True)
        shutil.copy2(first, data / "master.key")
    store = stack.enter_context(Store.open(data))
    config = ServeConfig(listen="127.0.0.1:0", hub_address=f"127.0.0.1:{hub_port}", hub_site_id=site_id)
    running, _ = start(store, config)
    stack.callback(running.stop, 2.0)
    assert running.shipper is not None, "a site server of a hub starts a shipper"
    return SiteRun(site_id, store, running, running.shipper)


async def _pack(runs: list[SiteRun], on_image: Callable[[Any], None]) -> list[LineStats]:
    """Every site's lines at once, on one event loop (each line its own connection)."""
    from linecode.sim import run_lines

    return list(await asyncio.gather(*(run_lines(s.target, s.plans, on_image=on_image) for s in runs)))


def _wait_shipped(runs: list[SiteRun]) -> None:
    """Until the hub has acknowledged every event of every site, the batches' EXPORTED marks too
    (a closed batch the hub holds whole is marked so, and that event shipped in turn)."""
    from linecode.errors import Aborted
    from linecode.store import BatchState

    deadline = time.monotonic() + SHIP_TIMEOUT_S
    while True:
        behind = [
            s
            for s in runs
            if s.store.shipped() < s.store.last_event_seq()
            or any(s.store.batch(p.batch_id).state is not BatchState.EXPORTED for p in s.plans)
        ]
        if not behind:
            return
        if time.monotonic() > deadline:
            raise Aborted(
                f"the hub has not acknowledged every event in {SHIP_TIMEOUT_S:.0f} s: "
                + ", ".join(
                    f"{s.site_id} {s.store.shipped():,} of {s.store.last_event_seq():,} "
                    f"({s.shipper.error or 'no error'})"
                    for s in behind
                )
            )
        time.sleep(0.05)


def _summary(
    runs: list[SiteRun],
    authority: Authority,
    pool: Any,
    hub_port: int,
    packs: int,
    packing_s: float,
    drain_s: float,
) -> dict[str, Any]:
    """Print what the hub holds of the sites; the summary as the JSON line gives it."""
    from linecode.sim import percentile

    status = {s["site"]: s for s in authority.status()["sites"]}
    with pool.connection() as conn:
        codes = dict(conn.execute("SELECT site_id, count(*) FROM codes GROUP BY site_id").fetchall())
        (duplicates,) = conn.execute(DUPLICATES_SQL).fetchone()
    per_site: list[dict[str, Any]] = []
    for site in runs:
        held = status[site.site_id]
        per_site.append(
            {
                "site": site.site_id,
                "codes": int(codes.get(site.site_id, 0)),
                "events_shipped": int(held["events"]),
                "lag_events": int(held["lag_events"]),
                "shipments": len(site.shipper.lag_observed),
                "reconciled": site.reconciled,
            }
        )
        print(
            f"{'shipped' if site is runs[0] else '':<8} {site.site_id}: {per_site[-1]['codes']:,} codes, "
            f"{held['events']:,} events at the hub, {held['lag_events']} behind "
            f"(batches {'reconciled' if site.reconciled else 'NOT reconciled'})"
        )
    lags = sorted(v for s in runs for v in s.shipper.lag_observed)
    lag_p99_ms = percentile(lags, 0.99) * 1000
    total_codes = sum(s["codes"] for s in per_site)
    total_events = sum(s["events_shipped"] for s in per_site)
    print(
        f"total    {total_codes:,} codes and {total_events:,} events at the hub from {len(runs)} sites; "
        f"all acknowledged {drain_s:.1f} s after the lines stopped"
    )
    print(
        f"lag      shipping p99 {lag_p99_ms:.1f} ms from commit to the hub's acknowledgement "
        f"({len(lags):,} shipments)"
    )
    print(f"dupes    {duplicates} codes found at two sites")
    pallet = _trace_pallet(runs[0], hub_port)
    print(
        f"pallet   {pallet['code']} of {pallet['site']}: the hub traced it to {pallet['units']:,} units "
        f"({pallet['codes']:,} codes in its tree; a full pallet holds {full_pallet_units():,}); "
        + ("the same tree as the site's" if pallet["same_as_site"] else "NOT the site's tree")
    )
    ok = all(s["reconciled"] and s["lag_events"] == 0 for s in per_site) and duplicates == 0
    ok = ok and bool(pallet["same_as_site"]) and pallet["units"] > 0
    return {
        "sites": len(runs),
        "codes": total_codes,
        "events_shipped": total_events,
        "lag_p99_ms": round(lag_p99_ms, 2),
        "shipments": len(lags),
        "duplicates": int(duplicates),
        "pallet": pallet,
        "per_site": per_site,
        "packs": packs,
        "packs_per_s": round(packs / packing_s, 1),
        "ok": ok,
    }


def _trace_pallet(site: SiteRun, hub_port: int) -> dict[str, Any]:
    """The site's first pallet as the hub's QueryService (gRPC, the hub's port) traces it, its units
    counted, and whether the site's own QueryService gives the same tree."""
    from linecode.sim import tree_at, tree_size

    assert site.stats is not None and site.stats.top
    code = site.stats.top[0]
    at_hub, at_site = tree_at(f"127.0.0.1:{hub_port}", code), tree_at(site.target, code)
    return {
        "code": code,
        "site": site.site_id,
        "units": tree_size(at_hub, unit_only=True),
        "codes": tree_size(at_hub, unit_only=False),
        "same_as_site": at_hub == at_site,
    }


def full_pallet_units() -> int:
    """Units on a full pallet of the demo product (the product of its pack ratios)."""
    from linecode.sim import DEMO_LEVELS

    return math.prod(lv.ratio for lv in DEMO_LEVELS)


def _close_cluster(pg: Cluster) -> None:
    """Stop and remove the cluster, also when its start was cut short (Ctrl-C): PostgreSQL may be up
    then though the cluster does not know it yet (its pid file says so)."""
    from linecode.errors import ConfigError

    if (pg.data / "postmaster.pid").exists():
        pg.running = True
    with suppress(ConfigError):  # it was not up after all; the directory goes either way
        pg.close()


@contextmanager
def _interrupted_by_sigterm() -> Iterator[None]:
    """SIGTERM ends the demo as Ctrl-C does (KeyboardInterrupt), so everything it started is stopped
    and removed on the way out; the previous handler comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
