"""The hub's ingest held to the store's model machine: random writes of every kind (by callers of
any line, retried, refused, with times of their own) shipped to a real PostgreSQL in random pieces,
some sent twice as after a lost answer; after every shipment the hub's code states are the replay of
what it acknowledged, and once everything is shipped they are the store's own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule
from psycopg_pool import ConnectionPool

from linecode.hub import schema
from linecode.hub.authority import Authority
from linecode.hub.cluster import Cluster
from linecode.hub.ingest import Block, Ingest
from linecode.store import Level, Store, coderules
from linecode.store.replay import read_snapshot, replay, stored
from tests.hub.shipping import hub_codes
from tests.store.linemachine import settings_for
from tests.store.test_model import StoreMachine

SITE = "M"
_CLUSTER: dict[str, str] = {}
_NAMES = itertools.count()


@pytest.fixture(autouse=True, scope="module")
def _cluster() -> Iterator[None]:
    with Cluster() as pg:
        _CLUSTER["dsn"] = pg.dsn
        yield


class HubMachine(StoreMachine):
    """The store's machine, its log shipped to a hub as it goes."""

    def open(self, levels: list[Level]) -> Store:
        store = super().open(levels)
        name = f"model_{next(_NAMES)}"
        with psycopg.connect(_CLUSTER["dsn"], autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        self.dsn = _CLUSTER["dsn"].replace("dbname=postgres", f"dbname={name}")
        with psycopg.connect(self.dsn) as conn:
            schema.init(conn)
        self.pool = ConnectionPool(self.dsn, min_size=1, max_size=2, open=True)
        authority = Authority(self.pool)
        for level in levels:  # the site's pools are its own from 0: the hub's first grant is that
            authority.add_pool(level, [SITE])
            grant = authority.grant(SITE, coderules.pool_name(level), 100_000, f"k-{level.name}")
            assert grant.start == 0
        self.ingest = Ingest(self.pool)
        self.acked = 0
        return store

    @precondition(lambda self: self.store is not None)
    @rule(data=st.data())
    def ship(self, data: st.DataObject) -> None:
        last = self.s.last_event_seq()
        first = data.draw(st.integers(max(1, self.acked - 3), self.acked + 1), label="first event shipped")
        if first > last:
            return
        n = data.draw(st.integers(1, last - first + 1), label="events shipped")
        packed, names, levels = self.s.packed_events(first - 1, max_events=n, max_bytes=1 << 30)
        ack = self.ingest.ship(SITE, Block(first, packed, names, levels), last)
        assert ack.acked == max(self.acked, first + len(packed) - 1)
        event("ship: a retry" if first <= self.acked else "ship: new events")
        self.acked = ack.acked
        shipped = read_snapshot(self.s, lambda tx: _replayed(tx, self.acked))
        assert hub_codes(self.dsn, SITE) == shipped

    def teardown(self) -> None:
        if self.store is not None:
            packed, names, levels = self.s.packed_events(self.acked, max_events=10**6, max_bytes=1 << 30)
            if packed:
                self.ingest.ship(SITE, Block(self.acked + 1, packed, names, levels))
            assert hub_codes(self.dsn, SITE) == stored(self.s)
            self.pool.close()
        super().teardown()


def _replayed(tx, upto: int):  # type: ignore[no-untyped-def]
    """The codes the first ``upto`` events named, with the state the replay gives them."""
    from linecode.store.replay import events_in

    codes, _batches = replay((e for e in events_in(tx) if e.seq <= upto), tx.locate)
    return dict(codes.named)


TestHubModel = pytest.mark.slow(HubMachine.TestCase)
TestHubModel.settings = settings_for(examples=20, steps=30)
