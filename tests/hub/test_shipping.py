"""Sites ship every event to the hub: stored there once, in order, with what it makes of each
code; refused whole when it is not the site's to ship (real PostgreSQL, gRPC and stores)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import generate_latest

from linecode.errors import ConfigError, Exhausted
from linecode.hub.authority import Authority
from linecode.hub.query import HubQuery
from linecode.service.config import ServeConfig
from linecode.service.hub import HubServer
from linecode.service.metrics import Metrics
from linecode.service.server import SHIPPING_HEALTH, start
from linecode.service.ship import lag
from linecode.store import BatchState, CodeRule, EventKind, Level, State, Store, now_us, records
from linecode.store.leases import holdings
from linecode.v1 import hub_pb2, hub_pb2_grpc, query_pb2, query_pb2_grpc
from tests.factories import LEVELS, commissioned, make_batch, make_product
from tests.hub.shipping import (
    KEY,
    hub_codes,
    pack_batch,
    serve_site,
    site_codes,
    wait_exported,
    wait_leased,
    wait_shipped,
)


@pytest.fixture
def hub(authority: Authority) -> Iterator[HubServer]:
    for level in LEVELS:
        authority.add_pool(level, ["S1", "S2"])
    running = HubServer(authority, "127.0.0.1:0")
    yield running
    running.stop(0)


def test_a_sites_events_reach_the_hub_once_in_order_with_its_code_states(
    tmp_path: Path, hub: HubServer, dsn: str
) -> None:
    store, running = serve_site(tmp_path / "S1", "S1", hub.port)
    try:
        make_product(store)
        wait_leased(store)
        pack_batch(store, "B1")
        wait_shipped(store)
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SHIPPING_HEALTH), timeout=10
            )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        wait_exported(store, "B1")
        wait_shipped(store)
        with psycopg.connect(dsn) as conn:
            seqs = [s for (s,) in conn.execute("SELECT seq FROM events WHERE site_id = 'S1' ORDER BY seq")]
            batch = conn.execute("SELECT state FROM batches WHERE batch_id = 'B1'").fetchone()
        assert seqs == list(range(1, store.last_event_seq() + 1))
        assert batch == (int(BatchState.EXPORTED),)
        assert hub_codes(dsn, "S1") == site_codes(store)
        assert [e.detail for e in store.events("B1")][-1] == '{"destination": "hub"}'
    finally:
        running.stop(0)
        store.close()


def test_a_hub_away_then_back_gets_the_backlog(tmp_path: Path, authority: Authority, dsn: str) -> None:
    for level in LEVELS:
        authority.add_pool(level, ["S1"])
    hub = HubServer(authority, "127.0.0.1:0")
    port = hub.port
    store, running = serve_site(tmp_path / "S1", "S1", port)
    try:
        make_product(store)
        wait_leased(store)
        pack_batch(store, "B1", close=False)
        wait_shipped(store)
        hub.stop(0)
        pack_batch(store, "B2")
        assert store.shipped() < store.last_event_seq()  # the site works on without its hub
        behind, age = lag(store)
        assert behind == store.last_event_seq() - store.shipped() and age >= 0
        scraped = generate_latest(Metrics(store).registry).decode()
        assert f"linecode_ship_lag_events {float(behind)}" in scraped
        hub = HubServer(authority, f"127.0.0.1:{port}")
        wait_shipped(store)
        assert lag(store) == (0, 0.0)
        (s1,) = authority.status()["sites"]
        assert (s1["events"], s1["lag_events"]) == (store.last_event_seq(), 0), s1
        assert hub_codes(dsn, "S1") == site_codes(store)
    finally:
        running.stop(0)
        hub.stop(0)
        store.close()


def _ship(port: int, site: str, first: int, packed: list[bytes], names: dict[int, str]) -> hub_pb2.ShipAck:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = hub_pb2_grpc.HubServiceStub(channel)
        block = hub_pb2.EventBlock(first_seq=first, events=packed, batches=names)
        return stub.Ship(hub_pb2.Shipment(site_id=site, block=block), timeout=30)


def _refused(port: int, site: str, first: int, packed: list[bytes], names: dict[int, str]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        _ship(port, site, first, packed, names)
    return caught.value


def _hub_events(dsn: str) -> list[tuple[str, int]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT site_id, seq FROM events ORDER BY site_id, seq").fetchall()


def test_a_gap_a_regression_another_sites_log_and_foreign_codes_are_refused_whole(
    tmp_path: Path, hub: HubServer, authority: Authority, dsn: str
) -> None:
    """The site here ships by hand (no shipper), as a hostile or broken site could."""
    store = Store.open(tmp_path / "S1", master_key=KEY, sync=False)
    store.pools_from_hub = True
    make_product(store)
    for level in LEVELS:  # the site's leases, granted by the hub as its refiller would take them
        from linecode.store import IndexRange, Lease, coderules

        name = coderules.pool_name(level)
        grant = authority.grant("S1", name, 1000, f"k-{name}")
        store.import_lease(Lease(name, (IndexRange(grant.start, grant.end),)))
    pack_batch(store, "B1")
    packed, names, _levels = store.packed_events(0, max_events=100_000, max_bytes=1 << 30)
    port = hub.port

    gap = _refused(port, "S1", 2, packed[1:], names)
    assert gap.code() is grpc.StatusCode.FAILED_PRECONDITION and "SHIP_GAP" in str(gap.trailing_metadata())
    assert _hub_events(dsn) == []

    # another site's log: S2 may lease these pools too, but was granted none of these ranges
    other = _refused(port, "S2", 1, packed, names)
    assert other.code() is grpc.StatusCode.PERMISSION_DENIED, other.details()
    assert _hub_events(dsn) == []

    ack = _ship(port, "S1", 1, packed[:10], names)
    assert (ack.acked_seq, ack.stored) == (10, 10)
    again = _ship(port, "S1", 1, packed[:12], names)  # a retry after a lost answer, and two more
    assert (again.acked_seq, again.stored) == (12, 2)

    # a regression: event 12 again, but not the event the hub has
    forged = list(packed[:12])
    forged[11] = records.pack_event(
        now_us(), EventKind.DESTROYED, 0, "x", "L1", [store_code(store)], None, ""
    )
    conflict = _refused(port, "S1", 1, forged, names)
    assert conflict.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "SHIP_CONFLICT" in str(conflict.trailing_metadata())

    # a code of a pool nobody granted the site, in an otherwise right next event
    foreign = records.pack_event(
        now_us(), EventKind.DESTROYED, 1, "x", "L1", ["86999990000000010000"], None, ""
    )
    bad = _refused(port, "S1", 13, [foreign], {1: "B1"})
    assert bad.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "POOL_NOT_LEASED" in str(bad.trailing_metadata())

    # garbage, a truncated record, an unnamed batch, a time no store writes, a parent in itself
    some = store_code(store)
    for block, batch_names in (
        ([b"\x00" * 7], {}),
        ([packed[12][:-1]], names),
        ([packed[12]], {}),
        ([records.pack_event(2**62, EventKind.DESTROYED, 1, "x", "L1", [some], None, "")], {1: "B1"}),
        ([records.pack_event(now_us(), EventKind.AGGREGATED, 1, "x", "L1", [some], some, "")], {1: "B1"}),
    ):
        malformed = _refused(port, "S1", 13, block, batch_names)
        assert malformed.code() is grpc.StatusCode.INVALID_ARGUMENT, malformed.details()
    assert len(_hub_events(dsn)) == 12

    rest = _ship(port, "S1", 13, packed[12:], names)
    assert rest.acked_seq == len(packed)
    assert hub_codes(dsn, "S1") == site_codes(store)

    # a loop no store makes (a in b, then b in a) is stored, and the hub's walks of it still end
    a, b = list(store.codes("B1", "bundle"))[:2]
    loop = [
        records.pack_event(now_us(), EventKind.AGGREGATED, 1, "x", "L1", [b], a, ""),
        records.pack_event(now_us(), EventKind.AGGREGATED, 1, "x", "L1", [a], b, ""),
    ]
    _ship(port, "S1", len(packed) + 1, loop, {1: "B1"})
    query = HubQuery(authority.db)
    assert query.tree(a).code == a and query.info(a).units == 10 and query.info(b).path == (a,)
    store.close()


def store_code(store: Store) -> str:
    return next(iter(site_codes(store)))


def test_an_event_naming_every_code_of_a_large_batch_ships(tmp_path: Path, hub: HubServer, dsn: str) -> None:
    """A close releases every packed code in one event: 200,000 units in 40,000 bundles make one of
    ~5 MB, past gRPC's default 4 MiB message."""
    store, running = serve_site(tmp_path / "S1", "S1", hub.port)
    try:
        make_product(store, levels=LEVELS[:2])
        while not store.pools() or not all(h.remaining for h in holdings(store.pools())):
            time.sleep(0.02)
        make_batch(store, "BIG", planned=200_000)
        made: dict[str, list[str]] = {"unit": [], "bundle": []}
        for level, n in (("unit", 200_000), ("bundle", 40_000)):
            while len(made[level]) < n:
                try:
                    made[level] += store.allocate("BIG", level, min(50_000, n - len(made[level]))).codes
                except Exhausted:  # the site's leases come a grant at a time
                    time.sleep(0.05)
            for i in range(0, n, 50_000):
                store.report_events("printed", made[level][i : i + 50_000])
                store.report_events("verified", made[level][i : i + 50_000])
        units = made["unit"]
        for i, bundle in enumerate(made["bundle"]):
            store.aggregate(bundle, units[i * 5 : i * 5 + 5])
        store.close_batch("BIG")
        released = next(e for e in store.events("BIG") if e.kind is EventKind.RELEASED)
        assert len(records.pack_event(0, released.kind, 1, "", "", released.codes, None, "")) > 4 << 20
        wait_shipped(store, timeout=120)
        with psycopg.connect(dsn) as conn:
            held = conn.execute(
                "SELECT count(*) FROM codes WHERE site_id = 'S1' AND state = %s", (int(State.RELEASED),)
            ).fetchone()
        assert held == (240_000,)
    finally:
        running.stop(0)
        store.close()


def test_a_store_put_back_from_an_old_backup_is_refused_not_forked(
    tmp_path: Path, hub: HubServer, dsn: str
) -> None:
    """The hub has events the backup never had: the put-back store's new events carry those numbers,
    and the hub refuses them (SHIP_CONFLICT) rather than take a fork of the site's log."""
    store, running = serve_site(tmp_path / "S1", "S1", hub.port)
    make_product(store)
    wait_leased(store)
    pack_batch(store, "B1", close=False)
    wait_shipped(store)
    store.backup(tmp_path / "old")
    pack_batch(store, "B2", close=False)
    wait_shipped(store)
    held = _hub_events(dsn)
    running.stop(0)
    store.close()

    old, running = serve_site(tmp_path / "old", "S1", hub.port)
    try:
        before = old.shipped()
        pack_batch(old, "B3", close=False)
        deadline = time.monotonic() + 20
        while running.shipper.error is None or "unlike the hub" not in running.shipper.error:
            assert time.monotonic() < deadline, running.shipper.error
            time.sleep(0.05)
        assert running.shipper.refused and old.shipped() == before
        assert _hub_events(dsn) == held  # nothing of B3, nothing skipped
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SHIPPING_HEALTH), timeout=10
            )
        assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
    finally:
        running.stop(0)
        old.close()


def test_cases_and_pallets_of_one_sscc_prefix_keep_their_levels_at_the_hub(
    tmp_path: Path, authority: Authority, dsn: str
) -> None:
    """One SSCC pool for two levels: the hub cannot tell a case from a pallet by its code; the site
    says, and the hub's counts are the site's."""
    levels = (
        Level("unit", CodeRule.NMPA20, "8600001", 1),
        Level("case", CodeRule.SSCC, "06901234", 5),
        Level("pallet", CodeRule.SSCC, "06901234", 2),
    )
    for level in levels:
        authority.add_pool(level, ["S1"])
    hub = HubServer(authority, "127.0.0.1:0")
    store, running = serve_site(tmp_path / "S1", "S1", hub.port)
    try:
        make_product(store, levels=levels)
        wait_leased(store)
        make_batch(store, "B1")
        units = commissioned(store, "B1", "unit", 10)
        cases = commissioned(store, "B1", "case", 2)
        (pallet,) = commissioned(store, "B1", "pallet", 1)
        for i, case in enumerate(cases):
            store.aggregate(case, units[i * 5 : i * 5 + 5])
        store.aggregate(pallet, cases)
        wait_shipped(store)
        with psycopg.connect(dsn) as conn:
            at_hub = dict(conn.execute("SELECT code, level FROM codes WHERE site_id = 'S1'").fetchall())
        assert at_hub == {code: store.record(code).level for code in site_codes(store)}
        with grpc.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
            counts = query_pb2_grpc.QueryServiceStub(channel).BatchCounts(
                query_pb2.BatchCountsRequest(batch_id="B1")
            )
        assert [(r.level, r.state, r.count) for r in counts.rows] == [
            (r.level, int(r.state), r.count) for r in store.counts("B1")
        ]
    finally:
        running.stop(0)
        store.close()
        hub.stop(0)


def test_a_store_with_pools_of_its_own_does_not_become_a_site(tmp_path: Path, hub: HubServer) -> None:
    store = Store.open(tmp_path / "alone", master_key=KEY, sync=False)
    make_product(store)  # no [hub]: the store's own pools
    config = ServeConfig(listen="127.0.0.1:0", hub_address=f"127.0.0.1:{hub.port}", hub_site_id="S1")
    with pytest.raises(ConfigError) as refused:
        start(store, config)
    assert "pools of its own" in str(refused.value) and "nmpa20/8600001" in str(refused.value)
    store.close()
