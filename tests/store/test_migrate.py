"""``linecode migrate``: a store written by the linecode of layout 2 (a record per allocated code),
moved to layout 3 (allocations as ranges) explicitly, and answering every question as before.

``tests/data/layout2/store`` was written by that linecode (commit 3ceca7a) running
``tests/data/layout2/make.py``, which also kept what that store answered then (``expected.json``):
every code's record, the counters, each batch's reconciliation, the event log and the pools."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import shutil
from pathlib import Path
from typing import Any

import lmdb
import pytest

from linecode.errors import ConfigError
from linecode.serials import MasterKey
from linecode.store import EventKind, Origin, State, Store, WriterLock
from linecode.store.check import check
from linecode.store.database import Database
from linecode.store.records import parse_allocation_detail
from linecode.store.replay import differences
from tests.factories import run_linecode

FIXTURE = Path(__file__).parent.parent / "data" / "layout2"


def _layout2(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(FIXTURE / "store", data)
    return data


def _plain(value: Any) -> Any:
    """A record or event as ``make.py`` kept it: a dict of plain values."""
    fields = dataclasses.asdict(value)
    return json.loads(
        json.dumps({k: v.value if isinstance(v, enum.Enum) else v for k, v in fields.items()}, sort_keys=True)
    )


def _refused_as_layout_2(data: Path, master: MasterKey) -> None:
    with pytest.raises(ConfigError) as info:
        Store.open(data, master_key=master)
    assert info.value.reason == "STORE_FORMAT" and f"linecode migrate --data {data}" in str(info.value)


def test_a_layout_2_store_is_refused_until_migrated_and_then_answers_as_before(
    tmp_path: Path, master: MasterKey
) -> None:
    data = _layout2(tmp_path)
    original = (data / "data.mdb").read_bytes()
    _refused_as_layout_2(data, master)
    assert (data / "data.mdb").read_bytes() == original  # refused, and left as it was

    run = run_linecode("migrate", "--data", str(data), "--backup", str(tmp_path / "before"), "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    assert result["migrated"] and result["check"]["ok"], result
    assert result["events_rewritten"] == result["allocations"] == 17
    assert result["records_dropped"] == 332 and result["records_kept"] == 43  # 300 + 32 never touched
    backup = Database(tmp_path / "before", readonly=True, migrating=True)  # the store as it was
    try:
        assert backup.format == b"2"
    finally:
        backup.close()

    expected = json.loads((FIXTURE / "expected.json").read_text())
    with Store.open(data, master_key=master) as store:
        for batch in store.batches():
            records = sorted((_plain(r) for r in store.records(batch.batch_id)), key=lambda r: r["code"])
            assert records == expected["records"][batch.batch_id]
            assert repr(store.reconcile(batch.batch_id)) == expected["reconcile"][batch.batch_id]
        assert [_plain(c) for c in store.counts()] == expected["counts"]
        events = [_plain(e) for e in store.events()]
        assert len(events) == len(expected["events"])
        for now, then in zip(events, expected["events"], strict=True):
            if then["kind"] != EventKind.ALLOCATED.value:
                assert now == then
                continue
            # the same event, its codes given by its ranges: the codes they make are the ones it listed
            assert {**now, "codes": [], "detail": ""} == {**then, "codes": [], "detail": ""}
            pool, ranges, _level = parse_allocation_detail(now["detail"])
            assert now["codes"] == [] and pool == then["detail"].split(" ")[0]
            made = store._db.read(
                lambda tx, pool=pool, ranges=ranges: [
                    code for r in ranges for code in _made(tx, pool, r.start, r.count)
                ]
            )
            assert made == then["codes"]
        pools = store.pools()
        assert {n: {k: p[k] for k in ("free", "size", "used")} for n, p in pools.items()} == expected["pools"]
        assert pools["gs1/09501101530003"]["serial_alphabet"] == "0123456789ABCDEF"
        # a retry of an allocation made by layout 2 gets its codes and symbols
        again = store.allocate("G1", "unit", 30, origin=Origin(idempotency_key="gkey", line="L2"))
        assert again.replayed and list(again.codes) == expected["gs1_idem"]["codes"]
        assert list(again.symbols) == expected["gs1_idem"]["symbols"]
        # and the migrated store takes new work, its untouched codes too
        untouched = [r["code"] for r in expected["records"]["B1"] if r["state"] == State.ALLOCATED.value]
        store.report_events("printed", untouched[:3])
        assert [store.record(c).state for c in untouched[:4]] == [State.ENCODED] * 3 + [State.ALLOCATED]
        assert check(store).ok and not differences(store)

    rerun = run_linecode("migrate", "--data", str(data))
    assert rerun.returncode == 0 and "nothing to do" in rerun.stdout, rerun.stdout + rerun.stderr


def _made(tx: Any, pool: str, start: int, count: int) -> list[str]:
    from linecode.store import coderules

    rule = tx.pool_rule(pool)
    return coderules.keys(tx.db.master(), rule, start, count)


def test_a_migration_under_another_master_key_changes_nothing(tmp_path: Path, master: MasterKey) -> None:
    data = _layout2(tmp_path)
    original = _contents(data)
    run = run_linecode("migrate", "--data", str(data), env={**os.environ, "LINECODE_MASTER_KEY": "22" * 32})
    assert run.returncode == 2 and "MIGRATION_REFUSED" in run.stderr, run.stdout + run.stderr
    assert "not the codes its ranges" in run.stderr and "master key" in run.stderr
    assert _contents(data) == original  # every database and key as it was, no new one
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # and no backup left of an unchanged store
    _refused_as_layout_2(data, master)  # still layout 2
    assert run_linecode("migrate", "--data", str(data)).returncode == 0  # with its own key it goes


def _contents(data: Path) -> dict[bytes, list[tuple[bytes, bytes]]]:
    """Every database of the store and its entries, read with plain LMDB."""
    env = lmdb.open(str(data), readonly=True, max_dbs=32, lock=False)
    try:
        with env.begin() as txn:
            names = [bytes(k) for k, _ in txn.cursor()]
            out = {b"": [(bytes(k), bytes(v)) for k, v in txn.cursor()]}
            for name in names:
                try:
                    db = env.open_db(name, txn=txn, create=False)
                except lmdb.Error:
                    continue  # a plain key of the main database, not a database
                out[name] = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=db)]
        return out
    finally:
        env.close()


def test_migrate_of_a_mistyped_data_dir_makes_no_store(tmp_path: Path) -> None:
    run = run_linecode("migrate", "--data", str(tmp_path / "typo"))
    assert run.returncode == 2 and "NO_STORE" in run.stderr and not (tmp_path / "typo").exists()


def test_migrate_waits_for_the_server_to_stop(tmp_path: Path, master: MasterKey) -> None:
    data = _layout2(tmp_path)
    with WriterLock(data):
        run = run_linecode("migrate", "--data", str(data))
    assert run.returncode == 2 and "STORE_IN_USE" in run.stderr, run.stdout + run.stderr
    _refused_as_layout_2(data, master)
