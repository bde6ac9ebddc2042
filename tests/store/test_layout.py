"""How code records are laid out in LMDB: by slot in allocation order, and what that promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lmdb
import pytest

from linecode.errors import ConfigError, NotFound
from linecode.serials import MasterKey
from linecode.store.database import Database
from linecode.store.records import new_row, slot_key

from .conftest import Line, open_durable_store

_READ_SLOTS = """
import json, struct, sys
import lmdb
env = lmdb.open(sys.argv[1], readonly=True, max_dbs=16)
db = env.open_db(b"code_slots", create=False)
with env.begin() as txn:
    print(json.dumps([struct.unpack(">Q", txn.get(c.encode(), db=db))[0] for c in sys.argv[2:]]))
"""


def _slots(path: Path, codes: list[str]) -> list[int]:
    """The slots the data dir files ``codes`` under, read with plain LMDB by another process."""
    out = subprocess.run(
        [sys.executable, "-c", _READ_SLOTS, str(path), *codes], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_codes_allocated_together_take_consecutive_slots(line: Line) -> None:
    bundles = line.commissioned("bundle", 3)
    units = line.commissioned("unit", 15)
    slots = _slots(line.store.path, bundles + units)
    assert slots == list(range(slots[0], slots[0] + 18))  # so a bundle's units share a page
    line.store.aggregate(bundles[0], units[:5])
    assert _slots(line.store.path, units[:5]) == slots[3:8]  # packing moves no record
    assert sorted(line.store.children_of(bundles[0])) == sorted(units[:5])
    assert all(line.store.parent_of(u) == bundles[0] for u in units[:5])


def test_filing_a_code_twice_names_the_clash_and_files_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "data", sync=False)
    try:
        db.write(lambda tx: _file(tx, ["A", "B"]))
        with pytest.raises(ValueError) as info:
            db.write(lambda tx: _file(tx, ["C", "A", "D"]))
        assert info.value.args[0] == ["A"]
        assert db.read(lambda tx: [tx.row(c) is not None for c in "ABCD"]) == [True, True, False, False]
        db.write(lambda tx: _file(tx, ["C"]))  # the next slot is free again
        with pytest.raises(ValueError) as info:
            db.write(lambda tx: _file(tx, ["E", "F", "E"]))
        assert info.value.args[0] == ["E"]  # given twice: its second slot would hold nothing
        assert db.read(lambda tx: [tx.row(c) is not None for c in "ABCEF"]) == [True] * 3 + [False] * 2
    finally:
        db.close()


def _file(tx, codes: list[str]) -> None:  # type: ignore[no-untyped-def]
    """File new codes, or raise ValueError naming those that could not be filed (nothing stored)."""
    clash = tx.insert_rows(codes, new_row(1, 1, 0).pack())
    if clash:
        raise ValueError(clash)


def test_a_slot_without_its_record_is_named_not_misread(tmp_path: Path) -> None:
    db = Database(tmp_path / "data", sync=False)
    try:
        db.write(lambda tx: _file(tx, ["A", "B"]))
        db.write(lambda tx: tx.txn.delete(slot_key(0), db=tx.db.dbs["code_records"]))
        for read in (lambda tx: tx.row("A"), lambda tx: tx.rows(["B", "A"])):
            with pytest.raises(NotFound) as info:
                db.read(read)
            assert info.value.reason == "BAD_SLOT" and list(info.value.codes) == ["A"]
    finally:
        db.close()


def _refused_as_another_layout(data: Path, master: MasterKey, says: str) -> None:
    """Opening ``data`` (for writing, and read-only) is refused with STORE_FORMAT and changes nothing."""
    before = (data / "data.mdb").read_bytes()
    for readonly in (False, True, False):  # the last: the refusal gave the writer lock back
        with pytest.raises(ConfigError) as info:
            open_durable_store(data, master, readonly=readonly)
        assert info.value.reason == "STORE_FORMAT"
        assert says in str(info.value)
    assert (data / "data.mdb").read_bytes() == before


@pytest.mark.parametrize("mark", [None, b"1", b"3"])
def test_a_store_of_another_layout_is_refused_and_left_alone(
    tmp_path: Path, master: MasterKey, mark: bytes | None
) -> None:
    data = tmp_path / "data"
    open_durable_store(data, master).close()  # a current store, then marked as another layout (or unmarked)
    env = lmdb.open(str(data), max_dbs=16)
    with env.begin(write=True) as txn:
        if mark is None:
            txn.delete(b"linecode-format")
        else:
            txn.put(b"linecode-format", mark)
    env.close()
    _refused_as_another_layout(
        data, master, "an earlier layout" if mark is None else f"layout '{mark.decode()}'"
    )


def test_a_store_of_the_layout_before_slots_is_refused_and_left_alone(
    tmp_path: Path, master: MasterKey
) -> None:
    data = tmp_path / "data"
    env = lmdb.open(str(data), max_dbs=4)
    with env.begin(write=True) as txn:  # records filed by code, in a database named "codes"
        txn.put(b"86000011234567890123", b"old record", db=env.open_db(b"codes", txn=txn))
    env.close()
    _refused_as_another_layout(data, master, "an earlier layout")
