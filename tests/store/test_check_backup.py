"""``linecode check`` and ``linecode backup`` on real stores: a healthy store in every state agrees with
itself, each kind of damage is found and named, and neither writer threads nor another process
writing make the check report anything or the backup miss an acknowledged write."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linecode.errors import AlreadyExists
from linecode.serials import MasterKey
from linecode.store import State, Store, WriterLock
from linecode.store import records as layout
from linecode.store.check import AREAS, check
from linecode.store.replay import differences
from linecode.store.tx import Tx
from tests.factories import make_batch, make_product, run_linecode

from .conftest import Line, open_durable_store

_linecode = run_linecode


def every_state(line: Line) -> dict[str, Any]:
    """A batch B1 with codes in every state and every kind of packing change, and a batch B2 closed
    (with an override) and marked exported; the codes the corruption tests touch."""
    store = line.store
    b1, units1 = line.bundle()
    b2, _ = line.bundle()
    b3, units3 = line.bundle()
    store.disaggregate(b3, units3[:2])  # b3 partial, two units loose
    (b4,) = line.commissioned("bundle", 1)
    store.reparent(b4, [units3[2]], partial=True)  # moved out of b3 into b4
    spare = line.commissioned("unit", 4)
    store.replace(b1, units1[0], spare[0])  # the old unit decommissioned
    (case,) = line.commissioned("case", 1)
    store.aggregate(case, [b1, b2], partial=True)
    (pallet,) = line.commissioned("pallet", 1)
    store.aggregate(pallet, [case], partial=True)
    store.report_events("sampled", [spare[1]])
    store.report_events("destroyed", [spare[2]])
    printed = list(store.allocate("B1", "unit", 6).codes)
    store.report_events("printed", printed[:4])
    store.report_events("verify_failed", printed[:2])  # 2 scrapped, 2 encoded, 2 allocated
    store.set_lock("pending", codes=[spare[3]], reason="QA hold")
    store.set_status("lot_released", batch_id="B1")
    store.export_lease("nmpa20/8600001", 500)
    make_batch(store, "B2")
    other, _ = line.bundle("B2")
    store.close_batch("B2", override_reason="loose bundle kept for the test")
    store.mark_exported("B2", "NMPA platform, receipt 42")
    return {"bundle": b1, "unit": units1[1], "case": case, "loose": spare[3], "other": other}


def test_a_healthy_store_in_every_state_agrees(line: Line) -> None:
    every_state(line)
    report = check(line.store)
    assert report.ok, report.findings
    assert report.total == 0 and not report.findings
    assert all(report.checked[area] > 0 for area in AREAS), report.checked
    assert report.last_event_seq == line.store.last_event_seq()
    states = {r.state for b in ("B1", "B2") for r in line.store.records(b)}
    assert states >= {
        State.ALLOCATED,
        State.ENCODED,
        State.COMMISSIONED,
        State.SCRAPPED,
        State.AGGREGATED,
        State.SAMPLED,
        State.DESTROYED,
        State.DECOMMISSIONED,
        State.RELEASED,
    }


def _slot(tx: Tx, code: str) -> bytes:
    slot = tx.txn.get(code.encode(), db=tx.db.dbs["code_slots"])
    assert slot is not None
    return bytes(slot)


def _row(tx: Tx, code: str) -> layout.Row:
    raw = tx.txn.get(_slot(tx, code), db=tx.db.dbs["code_records"])
    assert raw is not None
    return layout.Row.unpack(raw)


def wrong_counter(tx: Tx, codes: dict[str, Any]) -> None:
    key = layout.count_key(_row(tx, codes["loose"]).batch_ref, 1, State.COMMISSIONED)
    n = layout.unpack_count(tx.txn.get(key, db=tx.db.dbs["counts"]))
    tx.txn.put(key, layout.pack_count(n + 1), db=tx.db.dbs["counts"])


def dropped_child_link(tx: Tx, codes: dict[str, Any]) -> None:
    assert tx.txn.delete(_slot(tx, codes["bundle"]), codes["unit"].encode(), db=tx.db.dbs["children"])


def altered_record(tx: Tx, codes: dict[str, Any]) -> None:
    row = _row(tx, codes["loose"])
    row.state = State.SAMPLED  # as if sampled, but no event and no counter says so
    tx.txn.put(_slot(tx, codes["loose"]), row.pack(), db=tx.db.dbs["code_records"])


def freed_again(tx: Tx, codes: dict[str, Any]) -> None:
    pool = tx.pool("nmpa20/8600003")
    assert pool is not None
    tx.put_pool("nmpa20/8600003", {**pool, "free": [[0, 10**9]]})  # the case's index free again, though used


def forgot_used(tx: Tx, codes: dict[str, Any]) -> None:
    pool = tx.pool("nmpa20/8600003")
    assert pool is not None
    tx.put_pool("nmpa20/8600003", {**pool, "used": []})


def gap_in_the_log(tx: Tx, codes: dict[str, Any]) -> None:
    assert tx.txn.delete(layout.seq_key(2), db=tx.db.dbs["events"])  # B1's creation


def unlisted_allocation(tx: Tx, codes: dict[str, Any]) -> None:
    found = tx.allocation_of(codes["other"])
    assert found is not None
    key = layout.batch_level_key(found.batch_ref, found.level)
    assert tx.txn.delete(key, found.key(), db=tx.db.dbs["batch_ranges"])


def foreign_record(tx: Tx, codes: dict[str, Any]) -> None:
    row = _row(tx, codes["loose"])
    row.level = 2  # its allocation made it a unit
    tx.txn.put(_slot(tx, codes["loose"]), row.pack(), db=tx.db.dbs["code_records"])


def lost_allocation(tx: Tx, codes: dict[str, Any]) -> None:
    found = tx.allocation_of(codes["other"])
    assert found is not None
    assert tx.txn.delete(found.key(), db=tx.db.dbs["allocations"])


CORRUPTIONS: dict[str, tuple[Callable[[Tx, dict[str, Any]], None], str, Callable[[dict[str, Any]], str]]] = {
    "wrong counter": (
        wrong_counter,
        "counters",
        lambda c: "batch B1 level 1 (unit) commissioned: the counter says",
    ),
    "dropped child link": (
        dropped_child_link,
        "hierarchy",
        lambda c: f"{c['unit']} names parent {c['bundle']}, whose children index lacks it",
    ),
    "altered record": (altered_record, "records", lambda c: f"{c['loose']}: events say"),
    "pool freed again": (
        freed_again,
        "pools",
        lambda c: "pool nmpa20/8600003: used range 0-1 overlaps free range 0-1000000000",
    ),
    "pool forgot used": (
        forgot_used,
        "pools",
        lambda c: "(allocated) took indices 0-1, which the pool does not mark used",
    ),
    "gap in the log": (gap_in_the_log, "events", lambda c: "event 3 follows event 1"),
    "unlisted allocation": (
        unlisted_allocation,
        "index",
        lambda c: "of batch B2 level 2 is missing from that batch's index of allocations",
    ),
    "record of another level": (
        foreign_record,
        "index",
        lambda c: f"the record of {c['loose']} is of batch ref 1 level 2, but batch ref 1 level 1 made",
    ),
    "lost allocation": (lost_allocation, "pools", lambda c: "which is not kept"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_check_finds_and_names_each_kind_of_damage(line: Line, name: str) -> None:
    corrupt, area, says = CORRUPTIONS[name]
    codes = every_state(line)
    line.store._db.write(lambda tx: corrupt(tx, codes))
    report = check(line.store)
    assert not report.ok and report.disagreements[area] > 0, report.findings
    messages = [f.message for f in report.findings if f.area == area]
    assert any(says(codes) in m for m in messages), messages
    if name == "dropped child link":
        assert f"{codes['bundle']}: its record counts 5 children, its children index lists 4" in messages


def test_the_command_exits_1_naming_the_damage_and_0_on_a_healthy_store(line: Line) -> None:
    codes = every_state(line)
    data = str(line.store.path)
    healthy = _linecode("check", "--data", data)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "everything agrees" in healthy.stdout
    line.store._db.write(lambda tx: wrong_counter(tx, codes))
    line.store._db.write(lambda tx: dropped_child_link(tx, codes))
    found = _linecode("check", "--data", data)  # the store is still open for writing here
    assert found.returncode == 1, found.stdout + found.stderr
    assert "[counters] batch B1 level 1 (unit) commissioned: the counter says" in found.stdout
    assert f"[hierarchy] {codes['unit']} names parent {codes['bundle']}" in found.stdout
    out = _linecode("check", "--data", data, "--json", "--limit", "1")
    report = json.loads(out.stdout)
    assert out.returncode == 1 and not report["ok"]
    assert len(report["findings"]) == 1 and report["total"] >= 3
    assert report["disagreements"]["counters"] == 1 and report["disagreements"]["hierarchy"] >= 2
    missing = _linecode("check", "--data", str(line.store.path.parent / "nowhere"))
    assert missing.returncode == 2 and "NO_STORE" in missing.stderr


def test_backup_refuses_a_directory_with_files_and_copies_the_key(tmp_path: Path, master: MasterKey) -> None:
    data = tmp_path / "data"
    with Store.open(data) as store:  # the key comes from master.key, made on this first open
        make_product(store)
        make_batch(store, "B1")
        Line(store).bundle()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    env = {k: v for k, v in os.environ.items() if k != "LINECODE_MASTER_KEY"}
    refused = _linecode("backup", "--data", str(data), "-o", str(tmp_path / "full"), env=env)
    assert refused.returncode == 2 and "BACKUP_EXISTS" in refused.stderr
    assert "not empty" in refused.stderr
    with Store.open(data, readonly=True) as store, pytest.raises(AlreadyExists):
        store.backup(tmp_path / "full")

    done = _linecode("backup", "--data", str(data), "-o", str(tmp_path / "copy"), env=env)
    assert done.returncode == 0, done.stderr
    assert "copied master.key (0600)" in done.stdout
    key = tmp_path / "copy" / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() == (data / "master.key").read_bytes()
    with Store.open(tmp_path / "copy") as copy:  # writable, with the copied key
        assert copy.verify(next(iter(copy.codes("B1", "unit")))).usable
        assert check(copy).ok

    with_env = _linecode(
        "backup", "--data", str(tmp_path / "copy"), "-o", str(tmp_path / "again"),
        env={**env, "LINECODE_MASTER_KEY": "11" * 32},
    )  # fmt: skip
    assert with_env.returncode == 0 and "LINECODE_MASTER_KEY is set here" in with_env.stdout
    os.remove(tmp_path / "copy" / "master.key")
    keyless = _linecode(
        "backup", "--data", str(tmp_path / "copy"), "-o", str(tmp_path / "keyless"),
        env={**env, "LINECODE_MASTER_KEY": "11" * 32},
    )  # fmt: skip
    assert keyless.returncode == 0
    assert "the master key is NOT in the backup" in keyless.stdout
    assert "comes from LINECODE_MASTER_KEY" in keyless.stdout
    assert not (tmp_path / "keyless" / "master.key").exists()


WRITER = """
import os, sys
from linecode.serials import MasterKey
from linecode.store import Store
store = Store.open(sys.argv[1], shared=True, master_key=MasterKey(bytes(range(32))), sync=False)
try:
    print("writing", flush=True)
    while not os.path.exists(sys.argv[2]):
        codes = store.allocate("B1", "unit", 20).codes
        store.report_events("printed", codes)
        store.report_events("verified", codes[:15])
        store.report_events("verify_failed", codes[15:])
finally:
    store.close()
"""
"""Another process of the same server: writes until the file ``argv[2]`` exists."""


def _write_for_a_while(
    store: Store, stop: threading.Event, acked: list[int], errors: list[BaseException]
) -> None:
    """Fill bundles and cases, unpack some and report, until ``stop``; each acknowledged event's
    number goes into ``acked``."""
    line = Line(store)
    try:
        while not stop.is_set():
            (bundle,) = line.commissioned("bundle", 1)
            units = line.commissioned("unit", 5)
            acked.append(store.aggregate(bundle, units).event_seq)
            acked.append(store.disaggregate(bundle, units[:1]).event_seq)
            acked.append(store.report_events("sampled", units[:1]).event_seq)
    except BaseException as exc:
        errors.append(exc)
        raise


def test_check_and_backup_beside_writer_threads_and_a_writing_process(
    tmp_path: Path, master: MasterKey
) -> None:
    data = tmp_path / "data"
    with WriterLock(data):  # a server of several processes: this one and another both write
        store = open_durable_store(data, master, shared=True, sync=False)
        try:
            make_product(store)
            make_batch(store, "B1")
            stop_file = tmp_path / "stop"
            other = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(data), str(stop_file)], stdout=subprocess.PIPE, text=True
            )
            assert other.stdout is not None and other.stdout.readline() == "writing\n"
            stop = threading.Event()
            acked: list[int] = []
            errors: list[BaseException] = []
            writers = [
                threading.Thread(target=_write_for_a_while, args=(store, stop, acked, errors))
                for _ in range(4)
            ]
            for w in writers:
                w.start()
            try:
                seen: set[int] = set()
                deadline = time.monotonic() + 10
                while len(seen) < 12 and time.monotonic() < deadline:
                    report = check(store)  # in the writing process, beside its writer
                    assert report.ok, report.findings
                    seen.add(report.last_event_seq)
                    time.sleep(0.02)  # the writers' turn
                assert len(seen) == 12, "the writers did not move the store on between checks"
                beside = _linecode("check", "--data", str(data), "--json")  # another process
                assert beside.returncode == 0, beside.stdout + beside.stderr
                assert json.loads(beside.stdout)["ok"]
                acked_before = max(acked)
                last = store.backup(tmp_path / "backup")
                assert last >= acked_before
                acked_before_cli = max(acked)
                cli = _linecode("backup", "--data", str(data), "-o", str(tmp_path / "backup2"))
                assert cli.returncode == 0, cli.stderr
                assert store.last_event_seq() > acked_before_cli, "no writes went on during the backups"
            finally:
                stop.set()
                for w in writers:
                    w.join()
                stop_file.touch()
                assert other.wait(30) == 0
            assert not errors, errors
            assert not differences(store)
            for path, acked_upto in (
                (tmp_path / "backup", acked_before),
                (tmp_path / "backup2", acked_before_cli),
            ):
                with open_durable_store(path, master) as copy:
                    assert check(copy).ok
                    assert copy.last_event_seq() >= acked_upto
                    assert list(copy.events())[:acked_upto] == list(store.events())[:acked_upto]
        finally:
            store.close()
