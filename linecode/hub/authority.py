"""The lease authority: every pool's consumed index in PostgreSQL, and grants of index ranges to
sites, each one transaction, idempotent with the site's key.

A grant (:meth:`Authority.grant`) in one READ COMMITTED transaction: the site's earlier grant under
the same key is the answer if there is one (the same request, else ``IDEMPOTENCY_KEY_REUSED``);
else the site must be allowed the pool, and ``UPDATE pools SET consumed = consumed + n … RETURNING``
moves the pool's consumed index (the row lock orders concurrent grants of a pool), and the grant is
inserted under ``(site_id, idempotency_key)``. Two concurrent grants with one key: the second's
insert fails on the key, its whole transaction (its ``UPDATE`` too) rolls back, and it is retried,
finding the first. So an index is granted once, ever; a grant whose answer is lost is found again by
its key, and one never asked again wastes its range only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from linecode.errors import (
    AlreadyExists,
    ConfigError,
    Exhausted,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    shown,
)
from linecode.reasons import Reason
from linecode.store import coderules
from linecode.store.model import Level

_RETRIES = 8
"""Times a grant that lost a race on its own key (or a serialisation failure) is tried again."""


@dataclass(frozen=True)
class Limits:
    """The range sizes the hub grants, announced to sites (``HubService.Limits``)."""

    min_size: int = 1_000
    max_size: int = 10_000_000
    default_size: int = 100_000

    def check(self) -> None:
        if not 1 <= self.min_size <= self.default_size <= self.max_size:
            raise ConfigError(
                f"lease sizes min {self.min_size}, default {self.default_size}, max {self.max_size}: "
                "expected 1 <= min <= default <= max",
                reason=Reason.BAD_CONFIG,
            )


@dataclass(frozen=True)
class Grant:
    """Indices ``start`` ≤ i < ``end`` of ``pool`` granted to ``site_id`` under ``key``."""

    pool: str
    start: int
    end: int
    site_id: str
    key: str
    rule: dict[str, Any]
    """The pool's code rule (``coderules.pool_rule``): the site checks it is its own level's."""
    replayed: bool = False

    @property
    def count(self) -> int:
        return self.end - self.start


class Authority:
    """Grants and pools over one PostgreSQL database (any number of hub processes may share it)."""

    def __init__(self, pool: ConnectionPool, limits: Limits = Limits()) -> None:
        limits.check()
        self.db = pool
        self.limits = limits

    def grant(self, site_id: str, pool: str, count: int, key: str) -> Grant:
        """Grant ``count`` indices of ``pool`` (0: the default size) to ``site_id``; a retry with
        ``key`` gets the same range. Raises :class:`InvalidArgument` ``BAD_COUNT`` /
        ``BAD_IDEMPOTENCY_KEY``, :class:`PermissionDenied` ``POOL_NOT_ALLOWED``, :class:`NotFound`
        ``UNKNOWN_POOL``, :class:`AlreadyExists` ``IDEMPOTENCY_KEY_REUSED``, :class:`Exhausted`
        ``POOL_EXHAUSTED``; nothing is stored for a refusal."""
        n = count or self.limits.default_size
        if not self.limits.min_size <= n <= self.limits.max_size:
            raise InvalidArgument(
                f"a lease of {count:,} indices: expected {self.limits.min_size:,} to "
                f"{self.limits.max_size:,} (or 0 for the hub's default)",
                reason=Reason.BAD_COUNT,
                hint=f"the hub grants {self.limits.min_size:,} to {self.limits.max_size:,} at a time",
            )
        if not key or len(key) > 200 or not key.isprintable():
            raise InvalidArgument(
                f"idempotency key {shown(key)}: expected 1 to 200 printable characters",
                reason=Reason.BAD_IDEMPOTENCY_KEY,
                hint="a grant needs a key, so a retry after a lost answer gets the same range",
            )
        request = f"{pool}|{n}"
        for attempt in range(_RETRIES):
            try:
                with self.db.connection() as conn, conn.transaction():
                    return self._grant(conn, site_id, pool, n, key, request)
            except (psycopg.errors.UniqueViolation, psycopg.errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _grant(
        self, conn: psycopg.Connection, site_id: str, pool: str, n: int, key: str, request: str
    ) -> Grant:
        done = conn.execute(
            "SELECT g.pool, g.start_index, g.end_index, g.request, p.rule FROM grants g "
            "JOIN pools p ON p.name = g.pool WHERE g.site_id = %s AND g.idempotency_key = %s",
            (site_id, key),
        ).fetchone()
        if done is not None:
            if done[3] != request:
                raise AlreadyExists(
                    f"idempotency key {shown(key)} was already used by site {site_id!r} for another grant "
                    f"({done[3]}); expected the same key only for an exact retry",
                    reason=Reason.IDEMPOTENCY_KEY_REUSED,
                )
            return Grant(done[0], int(done[1]), int(done[2]), site_id, key, done[4], replayed=True)
        allowed = conn.execute(
            "SELECT p.rule FROM site_pools s JOIN pools p ON p.name = s.pool "
            "WHERE s.site_id = %s AND s.pool = %s",
            (site_id, pool),
        ).fetchone()
        if allowed is None:
            known = conn.execute("SELECT 1 FROM pools WHERE name = %s", (pool,)).fetchone()
            if known is None:
                raise NotFound(f"no pool {shown(pool)} on this hub", reason=Reason.UNKNOWN_POOL)
            raise PermissionDenied(
                f"site {site_id!r} may not lease pool {pool!r}",
                reason=Reason.POOL_NOT_ALLOWED,
                hint=f"allow it on the hub: linecode hub pool add … --sites {site_id}",
            )
        moved = conn.execute(
            "UPDATE pools SET consumed = consumed + %s WHERE name = %s AND consumed + %s <= size "
            "RETURNING consumed",
            (n, pool, n),
        ).fetchone()
        if moved is None:
            left = conn.execute("SELECT size - consumed FROM pools WHERE name = %s", (pool,)).fetchone()
            raise Exhausted(
                f"pool {pool!r} has {int(left[0]) if left else 0:,} indices left on the hub, "
                f"{n:,} were asked for",
                reason=Reason.POOL_EXHAUSTED,
                hint="ask for fewer, or give the product a new identifier",
            )
        end = int(moved[0])
        conn.execute(
            "INSERT INTO grants (site_id, idempotency_key, pool, start_index, end_index, request) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (site_id, key, pool, end - n, end, request),
        )
        conn.execute("UPDATE sites SET last_contact = now() WHERE site_id = %s", (site_id,))
        return Grant(pool, end - n, end, site_id, key, allowed[0])

    # --- pools and sites (the hub's operators) -----------------------------------------------------

    def add_pool(self, level: Level, sites: list[str]) -> str:
        """Register the pool of ``level``'s code rule (if new) and allow ``sites`` to lease it."""
        coderules.validate_level(level)
        name = coderules.pool_name(level)
        rule = coderules.pool_rule(level)
        with self.db.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO pools (name, rule, size) VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
                (name, json.dumps(rule), coderules.pool_size(level)),
            )
            kept = conn.execute("SELECT rule FROM pools WHERE name = %s", (name,)).fetchone()
            if kept is not None and kept[0] != rule:
                raise InvalidArgument(
                    f"pool {name!r} exists on the hub with the rule {kept[0]}; expected the same rule",
                    reason=Reason.POOL_RULE_MISMATCH,
                )
            for site in sites:
                conn.execute("INSERT INTO sites (site_id) VALUES (%s) ON CONFLICT DO NOTHING", (site,))
                conn.execute(
                    "INSERT INTO site_pools (site_id, pool) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (site, name),
                )
        return name

    def status(self) -> dict[str, Any]:
        """Pools with their consumed index, and per site its grants and last contact."""
        with self.db.connection() as conn:
            pools = [
                {"pool": name, "rule": rule, "size": int(size), "consumed": int(consumed)}
                for name, rule, size, consumed in conn.execute(
                    "SELECT name, rule, size, consumed FROM pools ORDER BY name"
                )
            ]
            sites = []
            for site, last, granted, indices in conn.execute(
                "SELECT s.site_id, s.last_contact, count(g.*), "
                "coalesce(sum(g.end_index - g.start_index), 0) FROM sites s "
                "LEFT JOIN grants g ON g.site_id = s.site_id GROUP BY s.site_id ORDER BY s.site_id"
            ):
                sites.append(
                    {
                        "site": site,
                        "last_contact": last.isoformat() if last else None,
                        "grants": int(granted),
                        "indices": int(indices),
                    }
                )
        return {"pools": pools, "sites": sites, "limits": self.limits.__dict__}
