"""Fixtures of the store tests: a real LMDB store in a tmp dir with the test product (tests/factories.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from linecode.errors import LinecodeError
from linecode.serials import MasterKey
from linecode.store import Store
from linecode.store.replay import differences, stored
from tests.factories import commissioned, make_batch, make_product


@dataclass
class Line:
    """A store with one product and batch, and shortcuts to get codes into a given state."""

    store: Store
    batch_id: str = "B1"

    def commissioned(self, level: str, n: int, batch_id: str | None = None) -> list[str]:
        return commissioned(self.store, batch_id or self.batch_id, level, n)

    def bundle(self, batch_id: str | None = None) -> tuple[str, list[str]]:
        """A full bundle: its code and its 5 units."""
        (parent,) = self.commissioned("bundle", 1, batch_id)
        units = self.commissioned("unit", 5, batch_id)
        self.store.aggregate(parent, units)
        return parent, units


def open_durable_store(path: Path, master: MasterKey, **kw: Any) -> Store:
    """A store as a server opens it: every commit synced to disk (crash and sharing tests need it)."""
    return Store.open(path, master_key=master, **kw)


@pytest.fixture
def store(tmp_path: Path, master: MasterKey) -> Iterator[Store]:
    s = open_durable_store(tmp_path / "data", master)
    yield s
    s.close()


@pytest.fixture
def line(store: Store) -> Line:
    make_product(store)
    make_batch(store, "B1")
    return Line(store)


def snapshot(store: Store) -> tuple[int, list[Any], dict[str, Any], list[Any]]:
    """Everything a refused request must leave as it was."""
    return store.last_event_seq(), store.counts(), stored(store), store.batches()


def refused(
    store: Store,
    call: Callable[[], object],
    error: type[LinecodeError],
    reason: str,
    codes: list[str] | None = None,
) -> LinecodeError:
    """Run ``call``: expect ``error`` with ``reason`` (and exactly ``codes`` if given) and no change."""
    before = snapshot(store)
    with pytest.raises(error) as info:
        call()
    assert info.value.reason == reason, str(info.value)
    if codes is not None:
        assert sorted(info.value.codes) == sorted(codes), str(info.value)
    assert snapshot(store) == before
    assert not differences(store)
    return info.value


def in_one_group(store: Store, calls: list[Callable[[], object]]) -> tuple[list[object], int]:
    """Run ``calls`` (writes) queued behind a writer held busy, so that they form one group in this
    order: each one's result or error reason, and the commits they took."""
    writer_busy, go_on = threading.Event(), threading.Event()

    def hold_the_writer(tx: object) -> None:
        writer_busy.set()
        go_on.wait()

    outcomes: list[object] = [None] * len(calls)

    def call(i: int) -> None:
        try:
            outcomes[i] = calls[i]()
        except LinecodeError as exc:
            outcomes[i] = exc.reason

    blocker = threading.Thread(target=store._db.write, args=(hold_the_writer,))
    blocker.start()
    writer_busy.wait()
    threads = []
    for i in range(len(calls)):  # queued one after the other, so they form one group in this order
        threads.append(threading.Thread(target=call, args=(i,)))
        threads[-1].start()
        while store._db._queue.qsize() < i + 1:
            threading.Event().wait(0.001)
    commits = store.commits
    go_on.set()
    for t in [blocker, *threads]:
        t.join()
    return outcomes, store.commits - commits - 1  # less the blocker's own
