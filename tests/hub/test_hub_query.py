"""The hub answers QueryService across sites as each site answers for its own codes (real
PostgreSQL, gRPC and site servers)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from linecode.hub.authority import Authority
from linecode.service import convert
from linecode.service.hub import HubServer
from linecode.store import Store
from linecode.v1 import query_pb2, query_pb2_grpc
from tests.factories import LEVELS, commissioned, make_batch, make_product
from tests.hub.shipping import pack_batch, serve_site, wait_leased, wait_shipped


@pytest.fixture
def two_sites(tmp_path: Path, authority: Authority) -> Iterator[tuple[HubServer, Store, Store]]:
    for level in LEVELS:
        authority.add_pool(level, ["S1", "S2"])
    hub = HubServer(authority, "127.0.0.1:0")
    sites = [serve_site(tmp_path / s, s, hub.port) for s in ("S1", "S2")]
    try:
        for store, _ in sites:
            make_product(store)
            wait_leased(store)
        pack_batch(sites[0][0], "B1")
        pack_batch(sites[1][0], "B2", close=False)
        for store, _ in sites:
            wait_shipped(store)
        yield hub, sites[0][0], sites[1][0]
    finally:
        for store, running in sites:
            running.stop(0)
            store.close()
        hub.stop(0)


def test_verify_trees_and_counts_at_the_hub_are_each_sites_own(
    two_sites: tuple[HubServer, Store, Store],
) -> None:
    hub, s1, s2 = two_sites
    with grpc.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
        query = query_pb2_grpc.QueryServiceStub(channel)
        for store, batch in ((s1, "B1"), (s2, "B2")):
            pallet = next(iter(store.codes(batch, "pallet")))
            unit = next(u for u in store.codes(batch, "unit") if store.record(u).parent is not None)
            assert query.GetTree(query_pb2.CodeRequest(code=pallet)) == convert.tree(store.tree(pallet))
            at_hub = query.Verify(query_pb2.VerifyRequest(data=unit))
            at_site = convert.code_info(store.info(unit))
            assert at_hub.genuine and at_hub.info == at_site, (at_hub, at_site)
            assert at_hub.usable == store.verify(unit).usable and at_hub.reason == store.verify(unit).reason
            parent = query.GetParent(query_pb2.CodeRequest(code=unit))
            assert parent == convert.code_info(store.info(store.record(unit).parent))
            bundle = store.record(unit).parent
            children = query.GetChildren(query_pb2.CodeRequest(code=bundle)).children
            assert sorted(children) == sorted(store.children_of(bundle))
            counts = query.BatchCounts(query_pb2.BatchCountsRequest(batch_id=batch))
            assert [(r.level, r.state, r.count) for r in counts.rows] == [
                (r.level, int(r.state), r.count) for r in store.counts(batch)
            ]
        # a forged code, and a code only allocated: unknown to the hub
        allocated = s2.allocate("B2", "unit", 1).codes[0]
        for data in ("86000010000000010000", allocated):
            answer = query.Verify(query_pb2.VerifyRequest(data=data))
            assert not answer.genuine and answer.reason in ("UNKNOWN_CODE", "BAD_CHECK", "INVALID_CODE"), (
                answer
            )
        with pytest.raises(grpc.RpcError) as missing:
            query.GetTree(query_pb2.CodeRequest(code=allocated))
        assert missing.value.code() is grpc.StatusCode.NOT_FOUND


def test_batches_that_only_share_an_id_are_never_summed(two_sites: tuple[HubServer, Store, Store]) -> None:
    hub, s1, s2 = two_sites
    make_batch(s2, "B1", expires=dt.date(2029, 6, 30))  # another batch under S1's batch id
    commissioned(s2, "B1", "unit", 3)
    wait_shipped(s2)
    with grpc.insecure_channel(f"127.0.0.1:{hub.port}") as channel:
        query = query_pb2_grpc.QueryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as ambiguous:
            query.BatchCounts(query_pb2.BatchCountsRequest(batch_id="B1"))
        assert ambiguous.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "AMBIGUOUS_BATCH" in str(ambiguous.value.trailing_metadata())
        for site, store in (("S1", s1), ("S2", s2)):
            counts = query.BatchCounts(query_pb2.BatchCountsRequest(batch_id="B1", site_id=site))
            assert [(r.level, r.state, r.count) for r in counts.rows] == [
                (r.level, int(r.state), r.count) for r in store.counts("B1")
            ]
