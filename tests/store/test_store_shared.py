"""One store written from several processes (a server with ``processes = N``): the writer lock stays
with the supervisor, serials never repeat across processes, idempotency holds across them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from linecode.errors import ConfigError
from linecode.serials import MasterKey
from linecode.store import WriterLock
from linecode.store.replay import differences
from tests.factories import make_batch, make_product

from .conftest import Line, open_durable_store


def test_a_shared_open_needs_the_writer_lock_held(tmp_path: Path, master: MasterKey) -> None:
    with pytest.raises(ConfigError) as info:
        open_durable_store(tmp_path / "data", master, shared=True)
    assert info.value.reason == "STORE_NOT_LOCKED"
    # The check took no lock: a plain writer opens the data dir afterwards.
    open_durable_store(tmp_path / "data", master).close()


def test_the_writer_lock_refuses_a_second_server(tmp_path: Path, master: MasterKey) -> None:
    with WriterLock(tmp_path / "data"):
        with pytest.raises(ConfigError) as info:
            open_durable_store(tmp_path / "data", master)
        assert info.value.reason == "STORE_IN_USE"
        with pytest.raises(ConfigError) as info:
            WriterLock(tmp_path / "data")
        assert info.value.reason == "STORE_IN_USE"
        open_durable_store(tmp_path / "data", master, shared=True).close()
    open_durable_store(tmp_path / "data", master).close()  # released


CHILD = Path(__file__).with_name("shared_child.py")


def test_processes_share_one_store_without_repeating_a_serial(tmp_path: Path, master: MasterKey) -> None:
    path = tmp_path / "data"
    with WriterLock(path):
        store = open_durable_store(path, master, shared=True)
        try:
            make_product(store)
            make_batch(store, "B1")
            line = Line(store)
            (bundle,) = line.commissioned("bundle", 1)
            units = line.commissioned("unit", 5)
            events_before = store.last_event_seq()
            children = [
                subprocess.Popen(
                    [sys.executable, str(CHILD), str(path), bundle, *units], stdout=subprocess.PIPE, text=True
                )
                for _ in range(2)
            ]
            outputs = [child.communicate(timeout=120)[0] for child in children]
            assert [child.returncode for child in children] == [0, 0]
            results = [(answer["codes"], answer["packed"]) for answer in map(json.loads, outputs)]
            issued = [code for codes, _ in results for code in codes]
            assert len(issued) == 2 * 40 * 25
            assert len(set(issued)) == len(issued), "a serial was issued twice"
            assert results[0][1] == results[1][1]  # the same answer to both
            assert results[0][1][1] == sorted(units) == sorted(store.children_of(bundle))
            # 80 allocations and one aggregation: the retry of the other process wrote nothing.
            assert store.last_event_seq() - events_before == 81
            assert not differences(store)
        finally:
            store.close()


def test_the_reader_slot_of_a_process_killed_mid_read_is_freed(tmp_path: Path, master: MasterKey) -> None:
    path = tmp_path / "data"
    with open_durable_store(path, master) as store:
        die_reading = (
            "import os, signal, sys; from linecode.store import Store; "
            "s = Store.open(sys.argv[1], readonly=True); txn = s._db.env.begin(); "
            "os.kill(os.getpid(), signal.SIGKILL)"
        )
        child = subprocess.run([sys.executable, "-c", die_reading, str(path)], timeout=60)
        assert child.returncode == -9
        assert store.clear_stale_readers() == 1
        assert store.clear_stale_readers() == 0
