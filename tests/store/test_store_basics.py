"""Products, batches, allocation and the code life cycle, through a real LMDB store."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecode.codes import Gs1Code, Sscc
from linecode.errors import (
    AlreadyExists,
    InvalidArgument,
    InvalidCode,
    NotFound,
    PermissionDenied,
    Precondition,
)
from linecode.store import CodeRule, EventKind, Level, LineEvent, Lock, Origin, RegulatoryStatus, State, Store
from linecode.store.lifecycle import MAX_AHEAD_US
from linecode.store.model import now_us
from linecode.store.replay import differences
from linecode.store.tx import MAX_KEY_BYTES, request_digest
from tests.factories import EXPORT, LEVELS, PRODUCT, make_batch, make_product

from .conftest import Line, refused


def test_product_and_batch_are_stored_and_unique(line: Line) -> None:
    store = line.store
    product = store.product(PRODUCT)
    assert [lv.name for lv in product.levels] == ["unit", "bundle", "case", "pallet"]
    assert product.level("case") == 3 and product.top == 4
    assert store.batch("B1").line == "L1"
    refused(store, lambda: store.create_product(PRODUCT, "x", "y", LEVELS), AlreadyExists, "PRODUCT_EXISTS")
    refused(store, lambda: make_batch(store, "B1"), AlreadyExists, "BATCH_EXISTS")
    unknown = refused(store, lambda: make_batch(store, "B2", product="nope"), NotFound, "UNKNOWN_PRODUCT")
    assert unknown.hint == "create it first (create_product)"
    with pytest.raises(InvalidCode):
        store.create_product("p2", "x", "y", [Level("unit", CodeRule.NMPA20, "86")])


def test_creations_and_leases_take_their_origin_like_every_write(store: Store) -> None:
    """Products, batches and imported leases are written once per idempotency key like every other
    write: a retry after a lost answer gets the first answer; the key again for another request is
    refused; the origin's actor and time are what their events record."""
    who = Origin(actor="admin-wang", idempotency_key="p-1")
    first = store.create_product(PRODUCT, "Demo vaccine", "Demo Bio", LEVELS, origin=who)
    assert store.create_product(PRODUCT, "Demo vaccine", "Demo Bio", LEVELS, origin=who) == first
    refused(
        store,
        lambda: store.create_product(PRODUCT, "Other name", "Demo Bio", LEVELS, origin=who),
        AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    )
    at = now_us() - 5_000_000
    opened = Origin(actor="admin-wang", time_us=at, idempotency_key="b-1")
    for _ in range(2):  # the second is the retry: the same batch, no second event
        batch = store.create_batch(
            PRODUCT,
            "B1",
            production_date=dt.date(2026, 1, 5),
            expiry_date=dt.date(2028, 1, 4),
            line="L1",
            planned_quantity=1000,
            origin=opened,
        )
    assert batch.last_event_us == at
    created = [e for e in store.events() if e.kind in (EventKind.PRODUCT_CREATED, EventKind.BATCH_CREATED)]
    assert [(e.kind, e.actor, e.line) for e in created] == [
        (EventKind.PRODUCT_CREATED, "admin-wang", ""),
        (EventKind.BATCH_CREATED, "admin-wang", "L1"),
    ]
    assert created[1].time_us == at
    refused(store, lambda: make_batch(store, "B1"), AlreadyExists, "BATCH_EXISTS")  # no key: a second create
    lease = store.export_lease("nmpa20/8600001", 100, origin=Origin(idempotency_key="l-1"))
    assert store.export_lease("nmpa20/8600001", 100, origin=Origin(idempotency_key="l-1")) == lease


def test_allocation_hands_out_fresh_codes_past_every_earlier_range(line: Line) -> None:
    store = line.store
    first = store.allocate("B1", "unit", 1000)
    second = store.allocate("B1", 1, 500)
    assert len(set(first.codes + second.codes)) == 1500
    assert first.ranges[0].start == 0 and second.ranges[0].start == first.ranges[0].end
    assert all(len(c) == 20 and c.startswith("8600001") for c in first.codes)
    assert store.record(first.codes[0]).state is State.ALLOCATED
    assert store.pools()["nmpa20/8600001"]["free"] == [[1500, 10**9]]


def test_allocation_survives_reopen_and_never_reissues(line: Line, master) -> None:  # type: ignore[no-untyped-def]
    store = line.store
    codes = set(store.allocate("B1", "unit", 300).codes)
    path = store.path
    store.close()
    again = Store.open(path, master_key=master)
    try:
        more = again.allocate("B1", "unit", 300).codes
        assert not codes & set(more)
    finally:
        again.close()
    line.store = Store.open(path, master_key=master)  # the fixture closes it


def test_allocation_is_idempotent_per_key(line: Line) -> None:
    store = line.store
    a = store.allocate("B1", "unit", 10, origin=Origin(idempotency_key="k1"))
    b = store.allocate("B1", "unit", 10, origin=Origin(idempotency_key="k1"))
    assert b.replayed and b.codes == a.codes and b.event_seq == a.event_seq
    refused(
        store,
        lambda: store.allocate("B1", "unit", 11, origin=Origin(idempotency_key="k1")),
        AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    )
    refused(store, lambda: store.allocate("B1", "unit", 0), InvalidArgument, "BAD_COUNT")
    refused(store, lambda: store.allocate("B1", "crate", 1), InvalidArgument, "UNKNOWN_LEVEL")
    refused(store, lambda: store.allocate("B9", "unit", 1), NotFound, "UNKNOWN_BATCH")


def test_gs1_and_sscc_levels(store: Store) -> None:
    levels = [
        Level("unit", CodeRule.GS1, "09501101530003", serial_alphabet="0123456789ABCDEF", serial_length=10),
        Level("pallet", CodeRule.SSCC, "06901234", pack_ratio=3),
    ]
    make_product(store, EXPORT, levels)
    make_batch(store, "L26A", product=EXPORT)
    units = store.allocate("L26A", "unit", 3)
    parsed = Gs1Code.parse(units.symbols[0])
    assert parsed.batch == "L26A" and parsed.expiry == "280104"
    assert units.codes[0] == f"(01)09501101530003(21){parsed.serial}"
    assert store.record(units.symbols[0]).code == units.codes[0]  # the scanned element string finds it
    pallets = store.allocate("L26A", "pallet", 1)
    sscc = Sscc.parse(pallets.codes[0])
    assert sscc.value.startswith("06901234") and pallets.symbols[0] == "00" + sscc.value
    assert store.record(sscc.value).level == 2


def test_codes_nobody_allocated_are_unknown_whatever_their_serial(store: Store) -> None:
    """A code is found through its pool index: a serial of a wide GS1 domain (36^20 values, indices
    past any pool's 2^64) or a wrong SSCC check digit is no allocated code, and the answer says so
    instead of failing."""
    wide = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    levels = [
        Level("unit", CodeRule.GS1, "09501101530003", serial_alphabet=wide, serial_length=20),
        Level("pallet", CodeRule.SSCC, "06901234", pack_ratio=3),
    ]
    make_product(store, EXPORT, levels)
    make_batch(store, "L26A", product=EXPORT)
    (unit,) = store.allocate("L26A", "unit", 1).codes
    (pallet,) = store.allocate("L26A", "pallet", 1).codes
    assert store.record(unit).state is State.ALLOCATED and store.record(pallet).level == 2
    digits = pallet[4:]
    wrong_check = digits[:17] + str((int(digits[17]) + 1) % 10)
    for code in ("(01)09501101530003(21)" + "Z" * 20, "(00)" + wrong_check):
        assert not store.verify(code).genuine, code
        with pytest.raises((NotFound, InvalidCode)):  # unknown here, or (a bad check) no code's spelling
            store.record(code)


def test_line_events_walk_the_life_cycle(line: Line) -> None:
    store = line.store
    codes = list(store.allocate("B1", "unit", 6).codes)
    store.report_events(LineEvent.PRINTED, codes)
    store.report_events("verified", codes[:4])
    store.report_events("verify_failed", codes[4:5])
    store.report_events("sampled", codes[:1])
    store.report_events("destroyed", codes[1:2])
    states = [store.record(c).state for c in codes]
    assert states == [
        State.SAMPLED,
        State.DESTROYED,
        State.COMMISSIONED,
        State.COMMISSIONED,
        State.SCRAPPED,
        State.ENCODED,
    ]
    counts = {(r.level_name, r.state): r.count for r in store.counts("B1")}
    assert counts[("unit", State.COMMISSIONED)] == 2 and counts[("unit", State.ENCODED)] == 1
    kinds = [e.kind for e in store.events("B1")]
    assert kinds[-5:] == [
        EventKind.ENCODED,
        EventKind.COMMISSIONED,
        EventKind.SCRAPPED,
        EventKind.SAMPLED,
        EventKind.DESTROYED,
    ]
    assert not differences(store)


def test_illegal_transitions_are_refused_with_the_current_state(line: Line) -> None:
    store = line.store
    codes = list(store.allocate("B1", "unit", 3).codes)
    error = refused(
        store, lambda: store.report_events("verified", codes), Precondition, "ILLEGAL_TRANSITION", codes
    )
    assert "is allocated" in str(error) and "expected encoded" in str(error)
    store.report_events("printed", codes[:1])
    # all or nothing: one printed code spoils the bulk report, the other two stay allocated
    refused(
        store, lambda: store.report_events("printed", codes), Precondition, "ILLEGAL_TRANSITION", codes[:1]
    )
    refused(
        store, lambda: store.report_events("printed", [codes[1], codes[1]]), InvalidArgument, "DUPLICATE_CODE"
    )
    refused(store, lambda: store.report_events("printed", ["86000010000000000000"]), NotFound, "UNKNOWN_CODE")
    refused(store, lambda: store.report_events("shipped", codes), InvalidArgument, "UNKNOWN_EVENT")


def test_event_time_never_goes_backwards(line: Line) -> None:
    store = line.store
    codes = list(store.allocate("B1", "unit", 2).codes)
    printed = now_us() + 60_000_000  # a line clock a minute ahead
    store.report_events("printed", codes, origin=Origin(time_us=printed))
    refused(
        store,
        lambda: store.report_events("verified", codes, origin=Origin(time_us=printed - 1)),
        Precondition,
        "TIME_WENT_BACKWARDS",
        codes,
    )


def test_event_times_far_ahead_or_before_the_epoch_are_refused(line: Line) -> None:
    store = line.store
    codes = list(store.allocate("B1", "unit", 2).codes)
    seconds = now_us() // 1_000_000
    for wrong in (now_us() + MAX_AHEAD_US + 60_000_000, 2**64 - 1, 0, -5, seconds, seconds * 1000):
        refused(
            store,
            lambda t=wrong: store.report_events("printed", codes, origin=Origin(time_us=t)),
            InvalidArgument,
            "BAD_TIME",
        )
    store.report_events(
        "printed", codes, origin=Origin(time_us=now_us() + MAX_AHEAD_US - 60_000_000)
    )  # a clock a bit ahead


def test_ids_and_idempotency_keys_lmdb_cannot_hold_are_refused(line: Line) -> None:
    store = line.store
    (unit,) = line.commissioned("unit", 1)
    for key in ("", "k" * (MAX_KEY_BYTES + 1)):
        refused(
            store,
            lambda k=key: store.set_lock("pending", codes=[unit], origin=Origin(idempotency_key=k)),
            InvalidArgument,
            "BAD_IDEMPOTENCY_KEY",
        )
    for batch_id in ("", "   ", "b" * 101, "药" * 101, "B\n1"):
        refused(store, lambda b=batch_id: make_batch(store, b), InvalidArgument, "BAD_ID")
    for product_id in ("", "药" * 200):
        refused(
            store, lambda p=product_id: store.create_product(p, "n", "m", LEVELS), InvalidArgument, "BAD_ID"
        )
    make_batch(store, "批" * 100)  # the longest id, in any script, fits an LMDB key
    for batch_id in ("", "b" * 600):
        refused(store, lambda b=batch_id: store.batch(b), NotFound, "UNKNOWN_BATCH")


def test_status_and_locks_per_code_and_per_batch(line: Line) -> None:
    store = line.store
    units = line.commissioned("unit", 2)
    store.set_status("lot_released", codes=units[:1], reason="批签发")
    store.set_status(RegulatoryStatus.SELF_CHECKED, batch_id="B1")
    assert store.info(units[0]).status is RegulatoryStatus.LOT_RELEASED
    assert store.info(units[1]).status is RegulatoryStatus.SELF_CHECKED  # the batch's
    store.set_lock("待召回", codes=units[:1], reason="cold chain")
    assert store.info(units[0]).lock is Lock.TO_BE_RECALLED
    store.set_lock(Lock.ABNORMAL, batch_id="B1")
    assert store.info(units[1]).lock is Lock.ABNORMAL and store.batch("B1").lock is Lock.ABNORMAL
    refused(store, lambda: store.set_lock("frozen", codes=units), InvalidArgument, "UNKNOWN_LOCK")
    refused(store, lambda: store.set_lock(Lock.NORMAL), InvalidArgument, "BAD_TARGET")
    assert not differences(store)


def test_a_retried_lock_or_status_writes_nothing_new(line: Line) -> None:
    store = line.store
    units = line.commissioned("unit", 2)
    first = store.set_lock("pending", codes=units, reason="QA hold", origin=Origin(idempotency_key="hold-1"))
    store.set_lock("normal", codes=units[:1], reason="released by QA")
    seq = store.last_event_seq()
    again = store.set_lock("pending", codes=units, reason="QA hold", origin=Origin(idempotency_key="hold-1"))
    assert again.replayed and again.event_seq == first.event_seq and store.last_event_seq() == seq
    assert store.info(units[0]).lock is Lock.NORMAL  # the retry did not lock it again
    refused(
        store,
        lambda: store.set_lock("abnormal", codes=units, origin=Origin(idempotency_key="hold-1")),
        AlreadyExists,
        "IDEMPOTENCY_KEY_REUSED",
    )
    status = store.set_status("damaged", batch_id="B1", origin=Origin(idempotency_key="st-1"))
    assert (
        store.set_status("damaged", batch_id="B1", origin=Origin(idempotency_key="st-1")).event_seq
        == status.event_seq
    )
    assert store.last_event_seq() == status.event_seq
    assert not differences(store)


def test_verify_tells_genuine_from_forged(line: Line) -> None:
    store = line.store
    (unit,) = line.commissioned("unit", 1)
    ok = store.verify(unit)
    assert ok.genuine and ok.usable and ok.info is not None and ok.info.batch_id == "B1"
    forged = unit[:16] + f"{(int(unit[16:]) + 1) % 10000:04d}"
    assert store.verify(forged).reason == "BAD_CHECK"
    assert store.verify("hello").reason in {"BAD_CHARACTER", "UNKNOWN_AI", "BAD_SYNTAX"}
    never_issued = store.allocate("B1", "unit", 1).codes[0]
    assert store.verify(never_issued).reason == "NOT_IN_USE"
    store.set_lock("pending", codes=[unit])
    assert store.verify(unit).reason == "LOCKED"


def test_twenty_digits_starting_00_are_the_sscc_and_no_nmpa20_identifier_starts_so(store: Store) -> None:
    """20 plain digits starting 00 (01) would be an nmpa20 code or an SSCC (GS1) element string: no
    nmpa20 identifier may start so, so each spelling has one key whatever products exist."""
    for identifier in ("0012345", "0198765"):
        levels = (Level("unit", CodeRule.NMPA20, identifier),)
        refused(
            store,
            lambda lv=levels: store.create_product("zeros", "Zero vaccine", "Demo Bio", lv),
            InvalidArgument,
            "AMBIGUOUS_IDENTIFIER",
        )
    levels = (
        Level("unit", CodeRule.NMPA20, "8612345"),
        Level("pallet", CodeRule.SSCC, "06901234", pack_ratio=2),
    )
    make_product(store, "p", levels)
    make_batch(store, "Z1", "p")
    (unit,) = store.allocate("Z1", "unit", 1).codes
    (pallet,) = store.allocate("Z1", "pallet", 1).codes
    element = "00" + pallet[4:]
    assert store.key(element) == pallet and store.key(pallet[4:]) == pallet
    assert store.record(element).code == pallet
    refused(
        store,
        lambda: store.set_lock("pending", codes=[pallet, element]),
        InvalidArgument,
        "DUPLICATE_CODE",
        [pallet],
    )
    change = store.report_events("printed", [element, f"{unit[:7]} {unit[7:16]} {unit[16:]}"])
    assert change.codes == (pallet, unit)
    refused(store, lambda: store.report_many([]), InvalidArgument, "NO_CODES")
    refused(store, lambda: store.export_lease("", 1), NotFound, "UNKNOWN_POOL")
    assert not differences(store)


def test_an_origins_lines_are_a_frozenset_whatever_collection_is_given(line: Line) -> None:
    one: Any = "L1"  # one line id, not its letters
    many: Any = ["L1", "L2"]
    assert Origin(lines=many).lines == frozenset({"L1", "L2"})
    assert Origin(lines=one).lines == frozenset({"L1"})
    assert Origin().lines is None
    store = line.store
    make_batch(store, "B2", line="L2")
    only_l1 = Origin(lines=one)
    refused(store, lambda: store.allocate("B2", "unit", 1, origin=only_l1), PermissionDenied, "ROLE_FORBIDS")
    assert store.allocate("B1", "unit", 1, origin=only_l1).codes


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_JSON, max_size=6))
def test_request_digests_are_those_of_json_dumps(body: list[Any]) -> None:
    """Idempotency records keep the digest of the request's JSON text; it must stay the one
    ``json.dumps`` gives, or keys stored by an earlier version would no longer match their retries."""
    assert request_digest(body) == hashlib.blake2b(json.dumps(body).encode(), digest_size=16).hexdigest()


def test_sscc_pools_that_would_share_codes_are_refused(store: Store) -> None:
    """An SSCC identifier nested in another (one company prefix extends the other) would make some
    of the same SSCCs: the store could not tell whose they are, so the second is refused."""
    make_product(store, EXPORT, [Level("pallet", CodeRule.SSCC, "06901234")])
    for nested in ("0690123", "069012345"):
        with pytest.raises(InvalidArgument) as info:
            make_product(store, f"P{nested}", [Level("pallet", CodeRule.SSCC, nested)])
        assert info.value.reason == "POOL_OVERLAP" and "sscc/06901234" in str(info.value)
    make_product(store, "other", [Level("pallet", CodeRule.SSCC, "16901234")])  # another extension
    assert sorted(store.pools()) == ["sscc/06901234", "sscc/16901234"]
