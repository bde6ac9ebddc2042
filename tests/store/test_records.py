"""Code record kernel: the Cython copy of ``packed_into`` equals its reference, value for value."""

from __future__ import annotations

import dataclasses
import random

from linecode import _records
from linecode.store import Lock, RegulatoryStatus, State
from linecode.store.records import Row, packed_into, packed_into_reference

LOOSE, PACKED, UNLOCKED = State.COMMISSIONED, State.AGGREGATED, Lock.NORMAL
PARENT = "86000021234567890123"


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


def _both(raws: list[bytes | None], time_us: int) -> list[bytes] | None:
    args = (PARENT.encode(), 1, 7, time_us, LOOSE, PACKED, UNLOCKED)
    fast = _records.packed_into(list(raws), *args)
    assert fast == packed_into_reference(list(raws), *args)
    return fast


def test_kernel_equals_reference_on_random_records() -> None:
    rng = random.Random(2026)
    accepted = 0
    for _ in range(3000):
        n = rng.randrange(1, 13)
        raws: list[bytes | None] = [_row(rng, usual=rng.random() < 0.9).pack() for _ in range(n)]
        if rng.random() < 0.05:
            raws[rng.randrange(n)] = None
        if rng.random() < 0.05:
            raws[rng.randrange(n)] = b"\x01\x03"  # truncated
        accepted += _both(raws, rng.choice([1000, 1 << 40, -(1 << 63), (1 << 63) - 1])) is not None
    assert accepted > 100  # the accepting branch is exercised too


def test_each_check_declines_on_its_own() -> None:
    base = Row(1, LOOSE, RegulatoryStatus.NONE, UNLOCKED, False, 7, 1000, 0, None)
    assert _both([base.pack()], 1000) is not None  # a last event at the very time is fine
    for change in (
        {"level": 2},
        {"state": State.ENCODED},
        {"state": PACKED},
        {"lock": Lock.PENDING},
        {"batch_ref": 8},
        {"batch_ref": 7 + (1 << 8)},
        {"last_event_us": 1001},
        {"parent": PARENT},
    ):
        other = dataclasses.replace(base, **change)
        assert _both([base.pack(), other.pack()], 1000) is None, change
    assert _both([base.pack(), None], 1000) is None
    assert _records.packed_into([memoryview(base.pack())], PARENT.encode(), 1, 7, 1000, 3, 4, 0) is None


def test_packed_records_read_back_as_packed_rows() -> None:
    rows = [Row(1, LOOSE, RegulatoryStatus.SELF_CHECKED, UNLOCKED, True, 7, 5, 3, None) for _ in range(3)]
    packed = packed_into([r.pack() for r in rows], PARENT, 1, 7, 9)
    assert packed is not None
    for raw, row in zip(packed, rows, strict=True):
        assert Row.unpack(raw) == Row(1, PACKED, row.status, UNLOCKED, True, 7, 9, 3, PARENT)
