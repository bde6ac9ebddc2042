"""Exports from the hub (``linecode.hub.exports``): two sites ship to a hub (real PostgreSQL, gRPC and
site servers), then a batch of both is one schema-valid EPCIS document of exactly its events, a
cursor pulls every event exactly once while a site ships on, a bad cursor is refused, and the hub's
NMPA report of a batch is the site's own."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest

from linecode.export import write_epcis
from linecode.export.epcis import EXPORTED_KINDS, _event_id
from linecode.hub.authority import Authority
from linecode.hub.exports import Cursor, HubExports
from linecode.hub.ingest import EVENT_COLUMNS, event_of
from linecode.service.auth import Access
from linecode.service.hub import HubServer
from linecode.service.server import Running
from linecode.store import Store
from linecode.v1 import admin_pb2, hub_pb2, hub_pb2_grpc
from tests.factories import LEVELS, make_product, run_linecode
from tests.hub.shipping import pack_batch, serve_site, wait_exported, wait_leased, wait_shipped
from tests.test_export import report_from_xml, validate_epcis

EPCIS = admin_pb2.EXPORT_FORMAT_EPCIS


@dataclass
class Sites:
    """A hub and its two sites, S1 and S2, each having shipped a packed, closed batch B1; S1 also B2."""

    hub: HubServer
    dsn: str
    stores: dict[str, Store]
    paths: dict[str, Path]
    exports: HubExports


@pytest.fixture
def sites(tmp_path: Path, authority: Authority, dsn: str) -> Iterator[Sites]:
    for level in LEVELS:
        authority.add_pool(level, ["S1", "S2"])
    hub = HubServer(authority, "127.0.0.1:0")
    stores: dict[str, Store] = {}
    running: list[Running] = []
    try:
        for site in ("S1", "S2"):
            store, server = serve_site(tmp_path / site, site, hub.port)
            stores[site] = store
            running.append(server)
            make_product(store)
        for site, store in stores.items():
            wait_leased(store)
            pack_batch(store, "B1")
            if site == "S1":
                pack_batch(store, "B2", close=False)
        for store in stores.values():
            wait_exported(store, "B1")
            wait_shipped(store)
        yield Sites(hub, dsn, stores, {s: tmp_path / s for s in stores}, HubExports(authority.db))
    finally:
        for server in running:
            server.stop(0)
        for store in stores.values():
            store.close()
        hub.stop(0)


def hub_events(dsn: str) -> list[tuple[str, Any]]:
    """Every event the hub holds, by site and number, with its site."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY site_id, seq").fetchall()
    return [(row[0], event_of(row)) for row in rows]


def event_ids(document: dict[str, Any]) -> list[str]:
    return [event["eventID"] for event in document["epcisBody"]["eventList"]]


def site_epcis(store: Store, batch_id: str) -> dict[str, Any]:
    out = io.BytesIO()
    write_epcis(store, batch_id, out)
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


# --- gRPC ------------------------------------------------------------------------------------------


def export_batch(port: int, metadata: tuple[tuple[str, str], ...] = (), **fields: Any) -> tuple[bytes, Any]:
    """The document HubService.ExportBatch streams, and its summary."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = hub_pb2_grpc.HubServiceStub(channel)
        chunks = list(stub.ExportBatch(hub_pb2.HubExportRequest(**fields), timeout=60, metadata=metadata))
    assert chunks[-1].HasField("summary") and not chunks[-1].data
    return b"".join(c.data for c in chunks), chunks[-1].summary


def pull(
    port: int, cursor: str, max_events: int, metadata: tuple[tuple[str, str], ...] = ()
) -> tuple[bytes, Any]:
    """The document HubService.PullEvents streams, and its last chunk (next cursor, events, more)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = hub_pb2_grpc.HubServiceStub(channel)
        request = hub_pb2.PullRequest(cursor=cursor, max_events=max_events)
        chunks = list(stub.PullEvents(request, timeout=60, metadata=metadata))
    assert chunks[-1].HasField("summary") and not chunks[-1].data
    return b"".join(c.data for c in chunks), chunks[-1]


def refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


# --- a batch of several sites ----------------------------------------------------------------------


def test_a_batch_of_two_sites_is_one_schema_valid_epcis_document_of_exactly_its_events(sites: Sites) -> None:
    data, summary = export_batch(sites.hub.port, batch_id="B1", format=EPCIS)
    document = json.loads(data)
    validate_epcis(document)
    # The sites' own exports of B1, one each: the hub's names the same events by the same IDs.
    own = {site: event_ids(site_epcis(store, "B1")) for site, store in sites.stores.items()}
    assert event_ids(document) == own["S1"] + own["S2"]
    assert len(set(event_ids(document))) == len(event_ids(document))
    assert summary.batch_id == "B1" and summary.bytes_written == len(data)
    # exactly B1's exported events of the hub's table: nothing of B2 (S1) is in it
    expected = [e for _, e in hub_events(sites.dsn) if e.batch_id == "B1" and e.kind in EXPORTED_KINDS]
    assert sum(summary.events.values()) == len(expected) == len(document["epcisBody"]["eventList"])
    assert sorted(event_ids(document)) == sorted(_event_id(e) for e in expected)

    one, _ = export_batch(sites.hub.port, batch_id="B1", site_id="S2", format=EPCIS)
    assert event_ids(json.loads(one)) == own["S2"]
    b2, _ = export_batch(sites.hub.port, batch_id="B2", format=EPCIS)
    assert event_ids(json.loads(b2)) == event_ids(site_epcis(sites.stores["S1"], "B2"))

    unknown = refused(lambda: export_batch(sites.hub.port, batch_id="B9", format=EPCIS))
    assert unknown.code() is grpc.StatusCode.NOT_FOUND and "UNKNOWN_BATCH" in str(unknown.trailing_metadata())
    elsewhere = refused(lambda: export_batch(sites.hub.port, batch_id="B2", site_id="S2", format=EPCIS))
    assert elsewhere.code() is grpc.StatusCode.NOT_FOUND


def test_the_cli_exports_a_batch_and_pulls_with_a_cursor(sites: Sites, tmp_path: Path) -> None:
    out = tmp_path / "b1.jsonld"
    done = run_linecode("hub", "export", "--dsn", sites.dsn, "--batch", "B1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    validate_epcis(document)
    assert event_ids(document) == [
        i for s in ("S1", "S2") for i in event_ids(site_epcis(sites.stores[s], "B1"))
    ]

    cursor, taken = "", []
    for _ in range(100):  # until the cursor comes back as it went: nothing new
        page = tmp_path / "page.jsonld"
        done = run_linecode(
            "hub", "export", "--dsn", sites.dsn, "--after", cursor, "--max", "60", "--out", str(page)
        )
        assert done.returncode == 0, done.stderr
        (following,) = done.stderr.splitlines()
        taken += event_ids(json.loads(page.read_text()))
        if following == cursor:
            break
        cursor = following
    expected = [_event_id(e) for _, e in hub_events(sites.dsn) if e.kind in EXPORTED_KINDS]
    assert taken == expected

    report = tmp_path / "b1.xml"
    done = run_linecode(
        "hub",
        "export",
        "--dsn",
        sites.dsn,
        "--batch",
        "B1",
        "--site",
        "S2",
        "--format",
        "nmpa-xml",
        "--out",
        str(report),
    )
    assert done.returncode == 0, done.stderr
    assert report_from_xml(report.read_bytes())["relation_count"] == 11
    bad = run_linecode("hub", "export", "--dsn", sites.dsn, "--after", "nonsense")
    assert bad.returncode != 0 and "BAD_CURSOR" in bad.stderr


def positions(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("SELECT site_id, shipped_seq FROM sites").fetchall())


# --- pulling with a cursor -------------------------------------------------------------------------


def test_pulling_in_small_pages_while_a_site_ships_takes_every_event_once_in_order(sites: Sites) -> None:
    batches = [f"C{i}" for i in range(4)]

    def ship_on() -> None:
        for batch in batches:
            pack_batch(sites.stores["S2"], batch)
            time.sleep(0.2)  # the puller catches up, then more comes

    shipping = threading.Thread(target=ship_on)
    shipping.start()
    cursor = Cursor()
    pulls: list[tuple[list[tuple[str, int]], list[str]]] = []  # per pull: the events it took, its IDs
    caught_up = 0

    def pull_once() -> Any:
        nonlocal cursor
        data, last = pull(sites.hub.port, str(cursor), 7)
        document = json.loads(data)
        validate_epcis(document)
        assert last.events <= 7 and (last.events == 7 or not last.more)
        moved = Cursor.parse(last.next_cursor)
        took = [
            (site, seq)
            for site in sorted(moved.positions)
            for seq in range(cursor.after(site) + 1, moved.after(site) + 1)
        ]
        assert len(took) == last.events
        pulls.append((took, event_ids(document)))
        cursor = moved
        return last

    while shipping.is_alive():
        caught_up += not pull_once().more and shipping.is_alive()
    shipping.join()
    for batch in batches:
        wait_exported(sites.stores["S2"], batch)
    wait_shipped(sites.stores["S2"])
    while pull_once().events:
        pass

    held = {(site, e.seq): e for site, e in hub_events(sites.dsn)}
    took = [key for keys, _ in pulls for key in keys]
    # every event of the hub's table exactly once, each site's in its order
    assert sorted(took) == sorted(held) and len(set(took)) == len(took)
    for site in ("S1", "S2"):
        seqs = [seq for s, seq in took if s == site]
        assert seqs == list(range(1, len(seqs) + 1))
    # each document holds exactly the exported events the pull's cursor moved over, in that order
    for keys, ids in pulls:
        assert ids == [_event_id(held[k]) for k in keys if held[k].kind in EXPORTED_KINDS]
    assert cursor.positions == positions(sites.dsn)
    assert len(pulls) > 20 and caught_up, (len(pulls), caught_up)


def test_a_site_added_later_is_pulled_from_its_first_event(sites: Sites) -> None:
    first = sites.exports.pull("", io.BytesIO(), max_events=100_000)
    assert not first.more and first.cursor.positions == positions(sites.dsn)
    with psycopg.connect(sites.dsn) as conn:  # as a hub that gets a third site's log
        rows = conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE site_id = 'S2' ORDER BY seq"
        ).fetchall()
        conn.execute("INSERT INTO sites (site_id, shipped_seq) VALUES ('S0', %s)", (len(rows),))
        with conn.cursor().copy(f"COPY events ({EVENT_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(("S0", *row[1:]))
    out = io.BytesIO()
    again = sites.exports.pull(first.cursor, out, max_events=100_000)
    assert again.events == len(rows) and again.cursor.positions == positions(sites.dsn)
    assert again.summary.events and json.loads(out.getvalue())["epcisBody"]["eventList"]


def test_a_bad_cursor_is_refused(sites: Sites) -> None:
    known = str(Cursor({"S1": 3}))
    for cursor in (
        "nonsense",
        "c1.",
        "c1.***",
        known + "=",  # padding
        "c1." + "UzE6MDAz",  # "S1:003"
        str(Cursor({"S1": 3})).replace("c1.", "c2."),
        "c1.UzI6MSxTMTox",  # "S2:1,S1:1": out of order
        str(Cursor({"S9": 1})),  # no such site
        str(Cursor({"S1": 10**9})),  # past what the hub holds of S1
    ):
        error = refused(lambda c=cursor: pull(sites.hub.port, c, 10))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, cursor
        assert "BAD_CURSOR" in str(error.trailing_metadata()), (cursor, error.details())
        assert "cursor" in (error.details() or "")
    too_many = refused(lambda: pull(sites.hub.port, known, 10**6))
    assert "BAD_LIMIT" in str(too_many.trailing_metadata())
    _, last = pull(sites.hub.port, known, 10)
    assert last.events == 10 and Cursor.parse(last.next_cursor).positions == {"S1": 13}


def test_only_admin_and_qa_may_export(sites: Sites, authority: Authority) -> None:
    access = Access(None, tokens={"t-site": "site:S1", "t-qa": "qa", "t-admin": "admin"})
    guarded = HubServer(authority, "127.0.0.1:0", authorize=access)
    try:
        for token, allowed in (("t-site", False), ("t-qa", True), ("t-admin", True)):
            metadata = (("authorization", f"Bearer {token}"),)
            calls = (
                lambda m=metadata: export_batch(guarded.port, m, batch_id="B1", site_id="S1", format=EPCIS),
                lambda m=metadata: pull(guarded.port, "", 5, m),
            )
            for call in calls:
                if allowed:
                    call()
                else:
                    error = refused(call)
                    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
                    assert "ROLE_FORBIDS" in str(error.trailing_metadata())
        anonymous = refused(lambda: pull(guarded.port, "", 5))
        assert anonymous.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        guarded.stop(0)


# --- the NMPA batch report -------------------------------------------------------------------------


def relations(report: dict[str, Any]) -> dict[str, tuple[int, str, list[str]]]:
    return {r["parent"]: (int(r["level"]), r["level_name"], r["children"]) for r in report["relations"]}


def test_the_hubs_nmpa_report_of_a_batch_is_the_sites_own(sites: Sites, tmp_path: Path) -> None:
    own = tmp_path / "own.json"
    done = run_linecode(
        "export", "B1", "--format", "nmpa-json", "--data", str(sites.paths["S1"]), "-o", str(own)
    )
    assert done.returncode == 0, done.stderr
    site = json.loads(own.read_text())
    data, summary = export_batch(
        sites.hub.port, batch_id="B1", site_id="S1", format=admin_pb2.EXPORT_FORMAT_NMPA_JSON
    )
    hub = json.loads(data)
    assert relations(hub) == relations(site) and len(relations(hub)) == 11
    assert hub["production"] == site["production"]
    assert (hub["format"], hub["relation_count"], summary.relations) == (site["format"], 11, 11)
    xml, _ = export_batch(
        sites.hub.port, batch_id="B1", site_id="S1", format=admin_pb2.EXPORT_FORMAT_NMPA_XML
    )
    assert relations(report_from_xml(xml)) == relations(site)

    # B2 of S1 is open, with nothing released: its numbers are the site's too
    out = io.BytesIO()
    sites.exports.write_report("B2", out)  # one site holds B2: it need not be named
    b2 = json.loads(out.getvalue())
    from linecode.export.nmpa import production

    assert b2["production"] == production(sites.stores["S1"], "B2")
    ambiguous = refused(
        lambda: export_batch(sites.hub.port, batch_id="B1", format=admin_pb2.EXPORT_FORMAT_NMPA_JSON)
    )
    assert ambiguous.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "AMBIGUOUS_BATCH" in str(ambiguous.trailing_metadata())


# --- the hub's document stream ---------------------------------------------------------------------


def test_a_call_that_ends_early_stops_its_writer_and_a_writers_error_reaches_the_call() -> None:
    """``_written`` runs a blocking writer on a thread a few blocks ahead of its client: when the
    client goes, the writer's next write raises CANCELLED (no thread left waiting for room)."""
    from linecode.errors import Aborted, NotFound
    from linecode.reasons import Reason
    from linecode.service.hub import _written

    ended: list[BaseException] = []

    def endless(out: Any) -> str:
        try:
            while True:
                out.write(b"x" * 65536)
        except BaseException as exc:
            ended.append(exc)
            raise

    async def take_two() -> list[Any]:
        written = _written(endless)
        got = [await anext(written), await anext(written)]
        await written.aclose()
        return got

    assert [len(b) for b in asyncio.run(take_two())] == [65536, 65536]
    assert len(ended) == 1 and isinstance(ended[0], Aborted) and ended[0].reason == Reason.CANCELLED

    def fails(out: Any) -> str:
        out.write(b"head")
        raise NotFound("nothing here", reason=Reason.UNKNOWN_BATCH)

    async def take_all() -> list[Any]:
        return [item async for item in _written(fails)]

    with pytest.raises(NotFound):
        asyncio.run(take_all())

    async def whole() -> list[Any]:
        return [item async for item in _written(lambda out: out.write(b"doc") and "done")]

    assert asyncio.run(whole()) == [b"doc", "done"]
