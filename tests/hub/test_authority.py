"""The lease authority on a real PostgreSQL: the schema's versions, grants and their refusals, and
grants from many threads at once never overlapping."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from linecode.errors import (
    AlreadyExists,
    ConfigError,
    Exhausted,
    InvalidArgument,
    LinecodeError,
    NotFound,
    PermissionDenied,
)
from linecode.hub import schema
from linecode.hub.authority import Authority, _Ask
from linecode.store import CodeRule, Level

UNITS = Level("unit", CodeRule.NMPA20, "8600001")
CASES = Level("case", CodeRule.SSCC, "06901234", pack_ratio=4)


def test_init_applies_the_migrations_once_and_refuses_a_newer_schema(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        with pytest.raises(ConfigError) as info:
            schema.require_current(conn)
        assert info.value.reason == "HUB_SCHEMA" and "hub init" in (info.value.hint or "")
        assert schema.init(conn) == (0, schema.VERSION)
        assert schema.init(conn) == (schema.VERSION, schema.VERSION)
        schema.require_current(conn)
        conn.execute("INSERT INTO linecode_schema (version) VALUES (%s)", (schema.VERSION + 1,))
        conn.commit()
        for call in (schema.init, schema.require_current):
            with pytest.raises(ConfigError) as info:
                call(conn)
            assert info.value.reason == "HUB_SCHEMA" and "newer than this hub knows" in str(info.value)


def test_a_grant_is_a_new_range_and_its_retry_the_same_one(authority: Authority) -> None:
    pool = authority.add_pool(UNITS, ["S1", "S2"])
    first = authority.grant("S1", pool, 500, "S1/1")
    assert (first.start, first.end, first.replayed) == (0, 500, False)
    assert first.rule == {"rule": "nmpa20", "identifier": "8600001"}
    again = authority.grant("S1", pool, 500, "S1/1")
    assert (again.start, again.end, again.replayed) == (0, 500, True)
    other = authority.grant("S2", pool, 1_000, "S1/1")  # another site's key space
    assert (other.start, other.end) == (500, 1_500)
    assert _consumed(authority, pool) == 1_500


def _consumed(authority: Authority, pool: str) -> int:
    return next(p["consumed"] for p in authority.status()["pools"] if p["pool"] == pool)


def _refused(authority: Authority, call: Callable[[], Any], error: type[LinecodeError], reason: str) -> str:
    before = authority.status()
    with pytest.raises(error) as info:
        call()
    assert info.value.reason == reason, info.value
    assert authority.status() == before  # nothing stored
    return str(info.value)


def test_bad_grants_are_refused_precisely_and_store_nothing(authority: Authority) -> None:
    units = authority.add_pool(UNITS, ["S1"])
    cases = authority.add_pool(CASES, ["S2"])
    authority.grant("S1", units, 100, "k1")
    for count in (-1, 0, 9, 100_001, 10**30):
        message = _refused(
            authority, lambda c=count: authority.grant("S1", units, c, "k2"), InvalidArgument, "BAD_COUNT"
        )
        assert "expected 10 to 100,000" in message
    _refused(
        authority, lambda: authority.grant("S1", units, 200, "k1"), AlreadyExists, "IDEMPOTENCY_KEY_REUSED"
    )
    _refused(authority, lambda: authority.grant("S1", cases, 100, "k3"), PermissionDenied, "POOL_NOT_ALLOWED")
    _refused(authority, lambda: authority.grant("S9", units, 100, "k3"), PermissionDenied, "POOL_NOT_ALLOWED")
    _refused(authority, lambda: authority.grant("S1", "nmpa20/8699999", 100, "k3"), NotFound, "UNKNOWN_POOL")
    for key in ("", "x" * 201, "a\nb"):
        _refused(
            authority,
            lambda k=key: authority.grant("S1", units, 100, k),
            InvalidArgument,
            "BAD_IDEMPOTENCY_KEY",
        )


def test_a_pool_used_up_on_the_hub_says_so(authority: Authority) -> None:
    small = Level("pallet", CodeRule.SSCC, "069012345678", pack_ratio=2)  # 10**5 serial references
    pool = authority.add_pool(small, ["S1"])
    authority.grant("S1", pool, 99_990, "k1")
    authority.grant("S1", pool, 10, "k2")
    message = _refused(
        authority, lambda: authority.grant("S1", pool, 10, "last"), Exhausted, "POOL_EXHAUSTED"
    )
    assert "0 indices left" in message


def test_a_pool_keeps_its_rule(authority: Authority) -> None:
    authority.add_pool(Level("unit", CodeRule.GS1, "09501101530003", serial_length=10), ["S1"])
    with pytest.raises(InvalidArgument) as info:
        authority.add_pool(Level("unit", CodeRule.GS1, "09501101530003", serial_length=12), ["S1"])
    assert info.value.reason == "POOL_RULE_MISMATCH"


def test_grants_from_many_threads_at_once_never_overlap(authority: Authority) -> None:
    pool = authority.add_pool(UNITS, ["S1", "S2", "S3"])
    got: list[tuple[str, str, int, int]] = []
    lock = threading.Lock()

    def site(site_id: str, worker: int) -> None:
        for n in range(15):
            key = f"{site_id}/{n % 10}/{worker % 2}"  # workers 0 and 2 (1 and 3) race on each key
            g = authority.grant(site_id, pool, 100 + (n % 10), key)
            with lock:
                got.append((site_id, key, g.start, g.end))

    threads = [threading.Thread(target=site, args=(s, w)) for s in ("S1", "S2", "S3") for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ranges = {(site, key): (start, end) for site, key, start, end in got}
    assert all(ranges[site, key] == (start, end) for site, key, start, end in got)  # one range a key
    spans = sorted(ranges.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # no index twice
    assert _consumed(authority, pool) == sum(end - start for start, end in spans)  # nothing lost


def test_sscc_pools_that_would_share_codes_are_refused(authority: Authority) -> None:
    authority.add_pool(CASES, ["S1"])
    with pytest.raises(InvalidArgument) as info:
        authority.add_pool(Level("case", CodeRule.SSCC, "069012345", pack_ratio=4), ["S1"])
    assert info.value.reason == "POOL_OVERLAP"


def test_a_grant_whose_caller_left_first_is_dropped_and_the_next_ones_go_on(authority: Authority) -> None:
    pool = authority.add_pool(UNITS, ["S1"])
    authority._queue.put(_stalled := _Ask("S1", pool, 100, "gone"))  # queued behind nothing: taken at once
    _stalled.done.cancel()  # its caller went away before the writer (started by the next grant) took it
    for n in range(3):
        assert authority.submit("S1", pool, 100, f"k{n}").result(timeout=10).count == 100
    with psycopg.connect(authority.db.conninfo) as conn:
        keys = {k for (k,) in conn.execute("SELECT idempotency_key FROM grants")}
    assert {"k0", "k1", "k2"} <= keys


def test_hub_inits_at_once_on_a_new_database_all_succeed(dsn: str) -> None:
    errors: list[BaseException] = []

    def init() -> None:
        try:
            with psycopg.connect(dsn) as conn:
                schema.init(conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=init) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with psycopg.connect(dsn) as conn:
        assert schema.version(conn) == schema.VERSION
