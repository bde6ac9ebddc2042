"""Code record kernel: the Cython copy of ``pack_children`` equals its reference, value for value."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb
import pytest

from linecode import _records
from linecode.store import Lock, RegulatoryStatus, State
from linecode.store.records import (
    PackedChildren,
    Row,
    pack_answer,
    pack_children_reference,
    slot_key,
    unpack_answer,
)

LOOSE, PACKED, UNLOCKED = State.COMMISSIONED, State.AGGREGATED, Lock.NORMAL
PARENT = "86000021234567890123"
PARENT_SLOT = b"\x00\x00\x00\x00\x00\x01\x02\x03"
NOT_PLAIN = ["8600 0012 3456 7890 123", "".join(chr(0xFF10 + int(d)) for d in PARENT), "(00)1"]
"""Codes that are not stored keys: HRI with spaces, full-width digits (str.isdigit() is true), SSCC."""


Codes = tuple[lmdb.Transaction, Any, Any]
"""A write transaction of a real LMDB, its code-to-slot database and its slot-to-record database."""


@pytest.fixture
def codes(tmp_path: Path) -> Iterator[Codes]:
    """:data:`Codes`, the transaction aborted at the end."""
    env = lmdb.open(str(tmp_path / "records"), max_dbs=2, sync=False)
    slots, records = env.open_db(b"code_slots"), env.open_db(b"code_records")
    txn = env.begin(write=True)
    yield txn, slots, records
    txn.abort()
    env.close()


def _row(rng: random.Random, *, usual: bool) -> Row:
    """A random code record; ``usual`` ones mostly pass the kernel's checks for level 1, batch 7."""
    if usual:
        status = rng.choice(list(RegulatoryStatus))
        time_us = rng.randrange(-(1 << 40), 1 << 40)
        return Row(1, LOOSE, status, UNLOCKED, rng.random() < 0.5, 7, time_us, rng.randrange(0, 12), None)
    return Row(
        rng.randrange(0, 5),
        rng.choice(list(State)),
        rng.choice(list(RegulatoryStatus)),
        rng.choice(list(Lock)),
        rng.random() < 0.5,
        rng.choice([7, 8, 7 + (1 << 24), (1 << 32) - 1]),
        rng.choice([0, 1000, 1001, -5, (1 << 63) - 1, -(1 << 63)]),
        rng.randrange(0, 1 << 32),
        rng.choice([None, PARENT, "(00)069012340000000017"]),
    )


def _both(codes: Codes, children: list[str], time_us: int) -> PackedChildren | None:
    txn, slots, records = codes
    args = (txn.get, slots, records, children, PARENT, PARENT_SLOT, 1, 7, time_us, LOOSE, PACKED, UNLOCKED)
    fast = _records.pack_children(*args)
    assert fast == pack_children_reference(*args)
    return fast


def _store(codes: Codes, key: str, raw: bytes) -> str:
    """File ``key`` with record ``raw`` (in a new slot; a key stored again keeps its slot)."""
    txn, slots, records = codes
    slot = txn.get(key.encode(), None, slots)
    if slot is None:
        slot = slot_key(txn.stat(records)["entries"])
        txn.put(key.encode(), slot, db=slots)
    txn.put(slot, raw, db=records)
    return key


def test_kernel_equals_reference_on_random_records(codes: Codes) -> None:
    rng = random.Random(2026)
    accepted = 0
    for i in range(3000):
        children = [
            _store(codes, f"860000{i:07d}{j:07d}", _row(rng, usual=rng.random() < 0.9).pack())
            for j in range(rng.randrange(1, 13))
        ]
        pick = rng.randrange(len(children))
        spoil = rng.random()
        if spoil < 0.03:
            children[pick] = f"860000{i:07d}9999999"  # not stored
        elif spoil < 0.06:
            _store(codes, children[pick], b"\x01\x03")  # truncated
        elif spoil < 0.09:
            children[pick] = rng.choice(NOT_PLAIN)
        elif spoil < 0.11:
            codes[0].put(children[pick].encode(), rng.choice([b"\x00" * 4, slot_key(1 << 40)]), db=codes[1])
            # a slot of the wrong size, or one with no record
        time_us = rng.choice([1000, 1 << 40, -(1 << 63), (1 << 63) - 1])
        accepted += _both(codes, children, time_us) is not None
    assert accepted > 100  # the accepting branch is exercised too


def test_each_check_declines_on_its_own(codes: Codes) -> None:
    base = Row(1, LOOSE, RegulatoryStatus.NONE, UNLOCKED, False, 7, 1000, 0, None)
    good = _store(codes, "86000010000000000001", base.pack())
    assert _both(codes, [good], 1000) is not None  # a last event at the very time is fine
    for n, change in enumerate(
        (
            {"level": 2},
            {"state": State.ENCODED},
            {"state": PACKED},
            {"lock": Lock.PENDING},
            {"batch_ref": 8},
            {"batch_ref": 7 + (1 << 8)},
            {"last_event_us": 1001},
            {"parent": PARENT},
        )
    ):
        bad = _store(codes, f"860000200000000000{n:02d}", dataclasses.replace(base, **change).pack())
        assert _both(codes, [good, bad], 1000) is None, change
    assert _both(codes, [good, "86000019999999999999"], 1000) is None  # not stored


def test_packed_records_read_back_as_packed_rows(codes: Codes) -> None:
    row = Row(1, LOOSE, RegulatoryStatus.SELF_CHECKED, UNLOCKED, True, 7, 5, 3, None)
    children = [_store(codes, f"8600001000000000000{j}", row.pack()) for j in range(3)]
    packed = _both(codes, children, 9)
    assert packed is not None
    stored, links = packed
    txn, slots, _ = codes
    assert [slot for slot, _ in stored] == [txn.get(c.encode(), None, slots) for c in children]
    assert links == [(PARENT_SLOT, c.encode()) for c in children]
    for _, raw in stored:
        assert Row.unpack(raw) == dataclasses.replace(row, state=PACKED, last_event_us=9, parent=PARENT)


@pytest.mark.parametrize(
    "result",
    [
        {"event_seq": 7, "parent": PARENT},
        {"event_seq": 8, "parent": None},
        {"event_seq": 9, "parent": '(01)09501101530003(21)A"B%/x'},
        {"event_seq": 10, "pool": "nmpa20/8600001", "ranges": [[0, 5]]},
    ],
)
def test_idempotency_answers_read_back_as_written(result: dict[str, Any]) -> None:
    digest = "0123456789abcdef0123456789abcdef"
    raw = pack_answer(digest, result)
    assert unpack_answer(raw) == (digest, result)
    assert unpack_answer(memoryview(raw)) == (digest, result)
