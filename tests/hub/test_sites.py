"""Sites of a hub, each a real site server over its own store, refilling their pools from a real
hub over PostgreSQL in the background while lines allocate."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linecode.errors import Exhausted
from linecode.hub.authority import Authority
from linecode.service.config import ServeConfig
from linecode.service.hub import HubServer
from linecode.service.metrics import Metrics
from linecode.service.server import LEASES_HEALTH, Running, start
from linecode.store import Store
from linecode.store.leases import holdings
from tests.factories import LEVELS, make_batch, make_product, run_linecode

SITES = ("S1", "S2", "S3")


@dataclass
class Site:
    site_id: str
    store: Store
    running: Running

    @property
    def refiller(self):  # type: ignore[no-untyped-def]
        return self.running.refiller

    def allocate(self, count: int, deadline_s: float = 20.0) -> list[str]:
        """Allocate as a PLC does: retry while the site waits for its next lease."""
        deadline = time.monotonic() + deadline_s
        while True:
            try:
                return list(self.store.allocate("B1", "unit", count).codes)
            except Exhausted as exc:
                assert exc.reason == "LEASE_EXHAUSTED", exc
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)


def site(tmp: Path, site_id: str, hub_port: int, *, low_water: int, lease_size: int) -> Site:
    store = Store.open(tmp / site_id, master_key=_KEY, sync=False)  # tmp/S1: a store of site S1
    config = ServeConfig(
        listen="127.0.0.1:0",
        hub_address=f"127.0.0.1:{hub_port}",
        hub_site_id=site_id,
        hub_low_water=low_water,
        hub_lease_size=lease_size,
    )
    running, _ = start(store, config)
    make_product(store)
    make_batch(store, "B1")
    return Site(site_id, store, running)


from linecode.serials import MasterKey  # noqa: E402

_KEY = MasterKey(bytes(range(32)))  # the sites share the master key (docs: key material)


@pytest.fixture
def hub(authority: Authority) -> Iterator[HubServer]:
    for level in LEVELS:
        authority.add_pool(level, list(SITES))
    running = HubServer(authority, "127.0.0.1:0")
    yield running
    running.stop(0)


def _close(sites: list[Site]) -> None:
    for s in sites:
        s.running.stop(0)
        s.store.close()


def test_three_sites_allocating_at_once_refill_from_the_hub_and_never_share_a_code(
    hub: HubServer, authority: Authority, dsn: str, tmp_path: Path
) -> None:
    sites = [site(tmp_path, s, hub.port, low_water=150, lease_size=100) for s in SITES]
    codes: dict[str, list[str]] = {s.site_id: [] for s in sites}
    try:

        def line(s: Site) -> None:
            while s.refiller.grants < 20 or len(codes[s.site_id]) < 2_500:
                codes[s.site_id] += s.allocate(37)

        threads = [threading.Thread(target=line, args=(s,)) for s in sites]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for s in sites:  # the refills come to rest: every grant asked is imported
            s.refiller.stop()
        everything = [c for batch in codes.values() for c in batch]
        assert len(everything) == len(set(everything))  # no code twice, across sites
        for s in sites:
            assert s.refiller.grants >= 20, s.refiller.grants
            for code in codes[s.site_id][::50]:  # each verifies where it was issued
                assert s.store.verify(code).genuine, code
        with psycopg.connect(dsn) as conn:
            granted = dict(
                conn.execute("SELECT pool, sum(end_index - start_index) FROM grants GROUP BY pool").fetchall()
            )
            per_site = {
                (site_id, pool): n
                for site_id, pool, n in conn.execute(
                    "SELECT site_id, pool, sum(end_index - start_index) FROM grants GROUP BY site_id, pool"
                )
            }
        consumed = {p["pool"]: p["consumed"] for p in authority.status()["pools"]}
        assert consumed == {pool: granted.get(pool, 0) for pool in consumed}  # consumed = sum of grants
        for s in sites:
            for held in holdings(s.store.pools()):  # what each site holds is what it was granted
                assert held.owned == per_site[s.site_id, held.pool]
    finally:
        _close(sites)


def test_with_the_hub_away_sites_issue_what_they_hold_then_say_lease_exhausted(
    authority: Authority, tmp_path: Path
) -> None:
    for level in LEVELS:
        authority.add_pool(level, ["S1"])
    hub = HubServer(authority, "127.0.0.1:0")
    port = hub.port
    s = site(tmp_path, "S1", port, low_water=200, lease_size=300)
    try:
        s.allocate(10)  # waits for the first lease
        deadline = time.monotonic() + 10
        while holdings(s.store.pools())[-1].remaining < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        hub.stop(0)
        held = next(h for h in holdings(s.store.pools()) if h.pool == "nmpa20/8600001").remaining
        assert held >= 200
        issued = s.allocate(held, deadline_s=0)  # the hub away: what the site holds still issues
        assert len(issued) == held
        with pytest.raises(Exhausted) as info:
            s.store.allocate("B1", "unit", 1)
        assert info.value.reason == "LEASE_EXHAUSTED" and "linecode leases" in (info.value.hint or "")
        # what the site holds shows in health, /metrics and `linecode leases`
        with grpc.insecure_channel(f"127.0.0.1:{s.running.port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            deadline = time.monotonic() + 5
            ask = health_pb2.HealthCheckRequest(service=LEASES_HEALTH + "nmpa20/8600001")
            while (
                check(ask).status != health_pb2.HealthCheckResponse.NOT_SERVING
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            assert check(ask).status == health_pb2.HealthCheckResponse.NOT_SERVING
            cases = health_pb2.HealthCheckRequest(service=LEASES_HEALTH + "nmpa20/8600003")
            assert check(cases).status == health_pb2.HealthCheckResponse.SERVING
        metrics = Metrics(s.store).registry
        assert metrics.get_sample_value("linecode_pool_remaining", {"pool": "nmpa20/8600001"}) == 0
        assert metrics.get_sample_value("linecode_pool_granted", {"pool": "nmpa20/8600001"}) >= 300
        shown = run_linecode("leases", "--data", str(s.store.path), "--json")
        assert shown.returncode == 0, shown.stderr
        units = next(p for p in json.loads(shown.stdout)["pools"] if p["pool"] == "nmpa20/8600001")
        assert units["remaining"] == 0 and units["ranges"] == [] and units["granted"] >= 300
        hub = HubServer(authority, f"127.0.0.1:{port}")  # back: the site refills by itself
        assert len(s.allocate(50, deadline_s=20)) == 50
    finally:
        hub.stop(0)
        _close([s])


def test_two_stores_of_one_site_and_a_refused_pool_share_nothing_and_hold_up_nothing(
    authority: Authority, tmp_path: Path
) -> None:
    """Two stores under one site id (a second server, a copy brought back) never get the same range;
    a pool the hub refuses this site holds up no other pool's refills; an allocation larger than
    what the site holds gets the site a lease that large."""
    authority.add_pool(LEVELS[0], ["S1"])  # only the units: the other levels' pools are refused
    hub = HubServer(authority, "127.0.0.1:0")
    a = site(tmp_path / "a", "S1", hub.port, low_water=100, lease_size=300)
    b = site(tmp_path / "b", "S1", hub.port, low_water=100, lease_size=300)
    try:
        assert a.store.store_id() != b.store.store_id()
        codes = a.allocate(250) + b.allocate(250)
        assert len(set(codes)) == 500  # the same site, two stores: no code twice
        big = a.allocate(2_000)  # more than any lease: the refiller takes what it asked for
        assert len(big) == 2_000 and not set(big) & set(codes)
        assert "no pool" in a.refiller.errors["nmpa20/8600002"]  # a refused pool is told; the units refilled
    finally:
        hub.stop(0)
        _close([a, b])
