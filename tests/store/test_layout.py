"""How codes are laid out in LMDB: allocations as ranges, a code's record filed by slot at its
first event, and what that promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import lmdb
import pytest

from linecode.errors import ConfigError, NotFound, Precondition
from linecode.serials import MasterKey
from linecode.store import State, Store
from linecode.store.records import slot_key

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


def test_codes_reported_together_take_consecutive_slots(line: Line) -> None:
    bundles = line.commissioned("bundle", 3)
    units = line.commissioned("unit", 15)
    slots = _slots(line.store.path, bundles + units)
    assert slots == list(range(slots[0], slots[0] + 18))  # so a bundle's units share a page
    line.store.aggregate(bundles[0], units[:5])
    assert _slots(line.store.path, units[:5]) == slots[3:8]  # packing moves no record
    assert sorted(line.store.children_of(bundles[0])) == sorted(units[:5])
    assert all(line.store.parent_of(u) == bundles[0] for u in units[:5])


def _filed(store: Store) -> int:
    """How many codes have a record of their own."""
    return store._db.read(lambda tx: tx.txn.stat(tx.db.dbs["code_slots"])["entries"])  # type: ignore[no-any-return]


def test_an_allocation_files_no_code_and_a_code_is_filed_at_its_first_event(line: Line) -> None:
    store = line.store
    codes = store.allocate(line.batch_id, "unit", 100_000).codes
    assert _filed(store) == 0  # one range, whatever its size
    assert store.record(codes[70_000]).state is State.ALLOCATED  # answered from the allocation
    store.report_events("printed", codes[:10])
    assert _filed(store) == 10 and _slots(store.path, codes[:10]) == list(range(10))
    with pytest.raises(NotFound):  # a failing request files nothing, not even the codes it read
        store.report_events("printed", [codes[10], "86000011234567890123"])
    with pytest.raises(Precondition):
        store.report_events("verified", [codes[11], codes[0]])
    assert _filed(store) == 10 and store.record(codes[11]).state is State.ALLOCATED
    store.report_events("printed", [codes[11]])  # the next slot is the next one
    assert _slots(store.path, [codes[11]]) == [10]


def test_a_slot_without_its_record_is_named_not_misread(line: Line) -> None:
    a, b = line.store.allocate(line.batch_id, "unit", 2).codes
    line.store.report_events("printed", [a, b])
    line.store._db.write(lambda tx: tx.txn.delete(slot_key(0), db=tx.db.dbs["code_records"]))
    for read in (lambda tx: tx.row(a), lambda tx: tx.rows([b, a])):
        with pytest.raises(NotFound) as info:
            line.store._db.read(read)
        assert info.value.reason == "BAD_SLOT" and list(info.value.codes) == [a]


def _refused_as_another_layout(data: Path, master: MasterKey, says: str) -> None:
    """Opening ``data`` (for writing, and read-only) is refused with STORE_FORMAT and changes nothing."""
    before = (data / "data.mdb").read_bytes()
    for readonly in (False, True, False):  # the last: the refusal gave the writer lock back
        with pytest.raises(ConfigError) as info:
            open_durable_store(data, master, readonly=readonly)
        assert info.value.reason == "STORE_FORMAT"
        assert says in str(info.value)
    assert (data / "data.mdb").read_bytes() == before


@pytest.mark.parametrize("mark", [None, b"1", b"4"])
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


def test_a_store_of_layout_2_is_refused_naming_the_command_that_migrates_it(
    tmp_path: Path, master: MasterKey
) -> None:
    data = tmp_path / "data"
    open_durable_store(data, master).close()
    env = lmdb.open(str(data), max_dbs=16)
    with env.begin(write=True) as txn:
        txn.put(b"linecode-format", b"2")
    env.close()
    _refused_as_another_layout(data, master, f"run `linecode migrate --data {data}`")


def test_a_store_of_the_layout_before_slots_is_refused_and_left_alone(
    tmp_path: Path, master: MasterKey
) -> None:
    data = tmp_path / "data"
    env = lmdb.open(str(data), max_dbs=4)
    with env.begin(write=True) as txn:  # records filed by code, in a database named "codes"
        txn.put(b"86000011234567890123", b"old record", db=env.open_db(b"codes", txn=txn))
    env.close()
    _refused_as_another_layout(data, master, "an earlier layout")
