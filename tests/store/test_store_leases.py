"""Serial leases between servers, pool exhaustion, and the data dir's storage guarantees."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from linecode.errors import AlreadyExists, ConfigError, Exhausted
from linecode.serials import MasterKey
from linecode.store import Lease, State, Store
from linecode.store.replay import differences
from tests.factories import make_batch, make_product

from .conftest import Line, open_durable_store, refused


def test_two_servers_split_a_pool_and_never_share_a_serial(
    line: Line, tmp_path: Path, master: MasterKey
) -> None:
    a = line.store
    lease = a.export_lease("nmpa20/8600001", 1000)
    assert lease.ranges[0].end == 10**9 and lease.count == 1000
    with open_durable_store(tmp_path / "b", master) as b:
        make_product(b, claim_pools=False)
        make_batch(b, "B1")
        refused(b, lambda: b.allocate("B1", "unit", 1), Exhausted, "POOL_EXHAUSTED")
        b.import_lease(lease.as_text())
        refused(b, lambda: b.import_lease(lease), AlreadyExists, "LEASE_OVERLAP")
        from_b = set(b.allocate("B1", "unit", 1000).codes)
        refused(b, lambda: b.allocate("B1", "unit", 1), Exhausted, "POOL_EXHAUSTED")
    from_a = set(a.allocate("B1", "unit", 5000).codes)
    assert not from_a & from_b
    # the exported range is never issued here, nor can it be imported back
    refused(a, lambda: a.import_lease(lease), AlreadyExists, "LEASE_OVERLAP")
    assert a.pools()["nmpa20/8600001"]["free"] == [[5000, 10**9 - 1000]]
    assert Lease.parse(lease.as_text()) == lease


def test_second_writer_is_refused_and_readonly_works_beside_it(line: Line, master: MasterKey) -> None:
    store = line.store
    units = line.commissioned("unit", 3)
    with pytest.raises(ConfigError) as info:
        Store.open(store.path, master_key=master)
    assert info.value.reason == "STORE_IN_USE"
    script = (
        "import sys; from linecode.store import Store\n"
        "s = Store.open(sys.argv[1], readonly=True)\n"
        "print(s.record(sys.argv[2]).state.label)\n"
        "try:\n    s.allocate('B1', 'unit', 1)\nexcept Exception as e:\n    print(e.reason)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(store.path), units[0]], capture_output=True, text=True
    )
    assert out.stdout.split() == ["commissioned", "READ_ONLY"], out.stderr


def test_map_grows_when_full(tmp_path: Path, master: MasterKey) -> None:
    with open_durable_store(tmp_path / "d", master, map_size=256 * 1024) as store:
        make_product(store)
        make_batch(store, "B1")
        codes = [c for _ in range(4) for c in store.allocate("B1", "unit", 5000).codes]
        assert len(set(codes)) == 20_000
        store.report_events("printed", codes)  # a record per code now
        assert store._db.env.info()["map_size"] > 256 * 1024
        assert not differences(store)


def test_full_store_fails_cleanly(tmp_path: Path, master: MasterKey) -> None:
    with open_durable_store(tmp_path / "d", master, map_size=256 * 1024, max_map_size=512 * 1024) as store:
        make_product(store)
        make_batch(store, "B1")
        kept = store.allocate("B1", "unit", 100).codes
        store.report_events("printed", kept)
        many = store.allocate("B1", "unit", 50_000).codes  # a range: it fits
        error = refused(store, lambda: store.report_events("printed", many), Exhausted, "STORE_FULL")
        assert "max_map_size" in str(error)
        assert store.record(kept[0]).state is State.ENCODED
        assert store.record(many[0]).state is State.ALLOCATED
        assert store.pools()["nmpa20/8600001"]["free"] == [[50_100, 10**9]]


def test_a_store_opens_only_with_the_master_key_it_was_written_with(
    tmp_path: Path, master: MasterKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a record per allocated code the key finds every unused code: a lost key must not be
    replaced silently by a new one, nor another key be taken for the store's own."""
    data = tmp_path / "d"
    with Store.open(data) as store:  # the key is made with the new store, in master.key
        make_product(store)
        make_batch(store, "B1")
        codes = store.allocate("B1", "unit", 5).codes
    (data / "master.key").rename(tmp_path / "kept.key")
    with pytest.raises(ConfigError) as info:
        Store.open(data)  # a store with data gets no new key
    assert info.value.reason == "NO_MASTER_KEY" and not (data / "master.key").exists()
    with pytest.raises(ConfigError) as info:
        Store.open(data, master_key=master)
    assert info.value.reason == "BAD_MASTER_KEY" and "another master key" in str(info.value)
    with pytest.raises(ConfigError):
        Store.open(data, readonly=True, master_key=master)
    monkeypatch.setenv("LINECODE_MASTER_KEY", "22" * 32)
    with Store.open(data, readonly=True) as reader, pytest.raises(ConfigError) as info:
        reader.record(codes[0])  # a read-only open takes the key when a code needs it: checked then
    assert info.value.reason == "BAD_MASTER_KEY"
    monkeypatch.delenv("LINECODE_MASTER_KEY")
    (tmp_path / "kept.key").rename(data / "master.key")
    with Store.open(data) as store:
        assert store.record(codes[0]).state.label == "allocated"
        store.report_events("printed", codes)


def test_a_copy_made_by_backup_is_another_store(line: Line, tmp_path: Path, master: MasterKey) -> None:
    """A site of a hub keys its grants by its store's id: a copy brought back must not ask for the
    ranges the original was granted after the copy was made."""
    original = line.store.store_id()
    codes = line.store.allocate(line.batch_id, "unit", 250_000).codes
    for at in range(0, len(codes), 50_000):  # records enough for a copy past LMDB's default 10 MiB map
        line.store.report_events("printed", codes[at : at + 50_000])
    line.store.backup(tmp_path / "copy")
    assert (tmp_path / "copy" / "data.mdb").stat().st_size > 10 << 20
    with Store.open(tmp_path / "copy", master_key=master) as copy:
        assert len(original) == 16 and copy.store_id() not in ("", original)
    assert line.store.store_id() == original
