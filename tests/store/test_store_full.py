"""A full store or disk: writes are refused (``RESOURCE_EXHAUSTED``) with nothing half-written,
reads go on, and writes work again once there is room.

All real: LMDB in tmp dirs, a small map for a full store, a real tmpfs for a full disk (mounted here
when the machine lets us), and a process's file size limit (``RLIMIT_FSIZE``) for a data file that
may not grow.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from linecode.errors import Exhausted
from linecode.serials import MasterKey
from linecode.store import Origin, Store
from linecode.store.model import Lock
from linecode.store.replay import differences
from tests.factories import commissioned, make_batch, make_product

from .conftest import in_one_group, open_durable_store

MiB = 1 << 20
CHILD = Path(__file__).with_name("full_child.py")


def raw(store: Store) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every key and value of every LMDB database of the store (the main one too: it holds each
    database's root), as stored: equal before and after means nothing at all was written."""
    db = store._db
    with db.reading() as txn:
        dump = {"": [(bytes(k), bytes(v)) for k, v in txn.cursor()]}
        for name, handle in db.dbs.items():
            dump[name] = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=handle)]
    return dump


def reads_go_on(store: Store, code: str) -> None:
    """The reads a line and QA rely on still answer."""
    assert store.record(code).state.label == "commissioned"
    assert store.verify(code).usable
    assert store.counts("B1")
    assert list(store.events("B1"))
    assert store._db._writer is not None and store._db._writer.is_alive()


def started(store: Store) -> str:
    """Product, batch and one commissioned unit: its code."""
    make_product(store)
    make_batch(store, "B1")
    (code,) = commissioned(store, "B1", "unit", 1)
    return code


def fill(store: Store, count: int = 20_000) -> Exhausted:
    """Allocate and print ever fewer units (an allocation is a range; a printed code has a record)
    until not even one fits: the last refusal."""
    while True:
        try:
            store.report_events("printed", store.allocate("B1", "unit", count).codes)
        except Exhausted as exc:
            if count == 1:
                return exc
            count = max(1, count // 4)


def test_a_full_map_refuses_the_whole_group_and_reads_go_on(tmp_path: Path, master: MasterKey) -> None:
    with open_durable_store(tmp_path / "d", master, map_size=MiB, max_map_size=2 * MiB) as store:
        code = started(store)
        printed = list(store.allocate("B1", "unit", 2000, origin=Origin(idempotency_key="first")).codes)
        full = fill(store)
        assert full.reason == "STORE_FULL"
        assert "max_map_size_mb" in str(full) and "nothing of the failed write was stored" in str(full)
        assert store._db.env.info()["map_size"] == 2 * MiB
        before = raw(store)
        outcomes, commits = in_one_group(
            store,
            [
                lambda: store.allocate("B1", "unit", 1, origin=Origin(idempotency_key="second")),
                lambda: store.report_events("printed", printed),
                lambda: store.allocate("B1", "unit", 5000),
                lambda: store.set_lock(Lock.PENDING, codes=[code], reason="QA hold"),
            ],
        )
        assert outcomes == ["STORE_FULL"] * 4 and commits == 0
        assert raw(store) == before  # events, records, counters, pools, idempotency keys: all as they were
        reads_go_on(store, code)
        assert not differences(store)
        # the writer is alive: the retry of an earlier request is answered from its stored answer
        assert (
            list(store.allocate("B1", "unit", 2000, origin=Origin(idempotency_key="first")).codes) == printed
        )

    # more room: the same store reopened with a larger maximum takes the writes that were refused
    with open_durable_store(tmp_path / "d", master, max_map_size=16 * MiB) as store:
        assert store.allocate("B1", "unit", 1, origin=Origin(idempotency_key="second")).codes
        store.report_events("printed", printed)
        assert len(store.allocate("B1", "unit", 5000).codes) == 5000
        assert store.record(printed[-1]).state.label == "encoded"
        reads_go_on(store, code)
        assert not differences(store)


def test_the_initial_map_size_is_capped_at_the_maximum(tmp_path: Path, master: MasterKey) -> None:
    with open_durable_store(
        tmp_path / "d", master, max_map_size=2 * MiB
    ) as store:  # map_size defaults to 1 GiB
        assert store._db.env.info()["map_size"] == 2 * MiB
        started(store)
        assert fill(store).reason == "STORE_FULL"


# --- a full disk --------------------------------------------------------------------------------


@contextmanager
def small_disk(where: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted on ``where``; skips the test where mounting is not permitted."""
    libc = ctypes.CDLL(None, use_errno=True)
    where.mkdir()
    if libc.mount(b"tmpfs", bytes(where), b"tmpfs", 0, f"size={size}".encode()) != 0:
        code = ctypes.get_errno()
        if code == errno.EPERM:
            pytest.skip("mounting a tmpfs is not permitted here (needs root or CAP_SYS_ADMIN)")
        raise OSError(code, f"mount tmpfs on {where}: {os.strerror(code)}")
    try:
        yield where
    finally:
        if libc.umount2(bytes(where), 0) != 0:
            libc.umount2(bytes(where), 2)  # MNT_DETACH: something still has it open; never leave it


def test_a_full_disk_refuses_writes_and_they_work_again_once_space_is_freed(
    tmp_path: Path, master: MasterKey
) -> None:
    with small_disk(tmp_path / "disk", 8 * MiB) as disk, open_durable_store(disk / "data", master) as store:
        code = started(store)
        printed = list(store.allocate("B1", "unit", 2000).codes)
        room = os.statvfs(disk)
        filler = disk / "filler"
        filler.write_bytes(bytes(room.f_bavail * room.f_frsize - 64 * 1024))  # 64 KiB left
        before = raw(store)
        outcomes, commits = in_one_group(
            store,
            [
                lambda: store.report_events("printed", printed),
                lambda: store.allocate("B1", "unit", 20_000, origin=Origin(idempotency_key="big")),
                lambda: store.set_lock(Lock.PENDING, codes=[code], reason="QA hold"),
            ],
        )
        assert outcomes == ["DISK_FULL"] * 3 and commits == 0
        with pytest.raises(Exhausted) as info:
            store.report_events("printed", printed)
        assert info.value.reason == "DISK_FULL"
        assert "no space left on the disk" in str(info.value) and "free space" in (info.value.hint or "")
        assert raw(store) == before
        reads_go_on(store, code)
        assert not differences(store)

        filler.unlink()  # space is back: the same writes go through, with no restart
        store.report_events("printed", printed)
        assert len(store.allocate("B1", "unit", 20_000, origin=Origin(idempotency_key="big")).codes) == 20_000
        assert store.record(printed[0]).state.label == "encoded"
        reads_go_on(store, code)
        assert not differences(store)


def test_a_data_file_at_the_file_size_limit_refuses_writes_until_it_is_lifted(
    tmp_path: Path, master: MasterKey
) -> None:
    """``RLIMIT_FSIZE`` in a child process (so this one's files are not limited): LMDB's writes past it
    come back short or with EFBIG; the child reports what it saw, then this process checks the store."""
    data = tmp_path / "d"
    with open_durable_store(data, master) as store:
        code = started(store)
    done = subprocess.run(
        [sys.executable, str(CHILD), str(data), code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["refused"] == ["DISK_FULL"] * 2, seen
    assert "file size limit" in seen["message"] and "ulimit -f" in seen["hint"]
    assert seen["unchanged"] and seen["reads"] and seen["writer_alive"]
    assert seen["after"] == 20_000  # the limit lifted, the refused allocation went through
    with open_durable_store(data, master) as store:
        assert sum(row.count for row in store.counts("B1") if row.level_name == "unit") == 22_001
        assert not differences(store)
