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
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import psycopg
import psycopg_pool
from psycopg_pool import ConnectionPool

from linecode.errors import (
    Aborted,
    AlreadyExists,
    ConfigError,
    Exhausted,
    InvalidArgument,
    LinecodeError,
    NotFound,
    PermissionDenied,
    shown,
)
from linecode.reasons import Reason
from linecode.store import coderules
from linecode.store.model import Level

_RETRIES = 8
"""Times a group of grants that lost a race on a key (or a serialisation failure) is tried again."""
log = logging.getLogger("linecode.hub")
_GATHER_S = 0.002
"""How long a group of grants waits for one more before it is committed."""
_MAX_GROUP = 256
"""Most grants one transaction takes."""


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


@dataclass
class _Ask:
    """A grant asked of this process, waiting for its group's commit."""

    site_id: str
    pool: str
    n: int
    key: str
    done: Future[Grant] = field(default_factory=Future)
    """Its outcome, once its group is committed (or refused)."""

    @property
    def request(self) -> str:
        """What a retry under the same key must ask again."""
        return f"{self.pool}|{self.n}"


def _reused(a: _Ask, first: str) -> AlreadyExists:
    return AlreadyExists(
        f"idempotency key {shown(a.key)} was already used by site {a.site_id!r} for another grant "
        f"({first}); expected the same key only for an exact retry",
        reason=Reason.IDEMPOTENCY_KEY_REUSED,
    )


def _not_allowed(a: _Ask, known: bool) -> LinecodeError:
    if not known:
        return NotFound(f"no pool {shown(a.pool)} on this hub", reason=Reason.UNKNOWN_POOL)
    return PermissionDenied(
        f"site {a.site_id!r} may not lease pool {a.pool!r}",
        reason=Reason.POOL_NOT_ALLOWED,
        hint=f"allow it on the hub: linecode hub pool add … --sites {a.site_id}",
    )


def _exhausted(pool: str, left: int, n: int) -> Exhausted:
    return Exhausted(
        f"pool {pool!r} has {left:,} indices left on the hub, {n:,} were asked for",
        reason=Reason.POOL_EXHAUSTED,
        hint="ask for fewer, or give the product a new identifier",
    )


class Authority:
    """Grants and pools over one PostgreSQL database (any number of hub processes may share it)."""

    def __init__(self, pool: ConnectionPool, limits: Limits = Limits()) -> None:
        limits.check()
        self.db = pool
        self.limits = limits
        self._queue: queue.SimpleQueue[_Ask] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None

    def grant(self, site_id: str, pool: str, count: int, key: str) -> Grant:
        """:meth:`submit`, waited for."""
        return self.submit(site_id, pool, count, key).result()

    def submit(self, site_id: str, pool: str, count: int, key: str) -> Future[Grant]:
        """Grant ``count`` indices of ``pool`` to ``site_id`` (within :attr:`limits`); a retry with
        ``key`` gets the same range. Raises :class:`InvalidArgument` ``BAD_COUNT`` /
        ``BAD_IDEMPOTENCY_KEY``, :class:`PermissionDenied` ``POOL_NOT_ALLOWED``, :class:`NotFound`
        ``UNKNOWN_POOL``, :class:`AlreadyExists` ``IDEMPOTENCY_KEY_REUSED``, :class:`Exhausted`
        ``POOL_EXHAUSTED``, :class:`Aborted` when the database did not answer; nothing is stored
        for a refusal.

        Grants asked at once share one transaction (:meth:`_drain`): one ``UPDATE`` of a pool's
        consumed index for all of them, one commit — a pool's row lock is held once per group, not
        once per site, so a hundred sites asking together wait for a few commits, not a hundred."""
        n = count
        if not self.limits.min_size <= n <= self.limits.max_size:
            raise InvalidArgument(
                f"a lease of {count:,} indices: expected {self.limits.min_size:,} to "
                f"{self.limits.max_size:,}",
                reason=Reason.BAD_COUNT,
                hint=f"GetLimits tells the limits; {self.limits.default_size:,} is the hub's suggestion",
            )
        for what, text in (("site id", site_id), ("pool", pool)):
            if not text or len(text) > 200 or not text.isprintable():
                raise InvalidArgument(
                    f"{what} {shown(text)}: expected 1 to 200 printable characters", reason=Reason.BAD_ID
                )
        if not key or len(key) > 200 or not key.isprintable():
            raise InvalidArgument(
                f"idempotency key {shown(key)}: expected 1 to 200 printable characters",
                reason=Reason.BAD_IDEMPOTENCY_KEY,
                hint="a grant needs a key, so a retry after a lost answer gets the same range",
            )
        ask = _Ask(site_id, pool, n, key)
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._drain, name="linecode-hub-grants", daemon=True)
                self._writer.start()
        self._queue.put(ask)
        return ask.done

    def _drain(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < _MAX_GROUP:
                try:
                    # the others of a burst arrive within moments: wait that long for them, so the
                    # burst shares a commit (and the pool row's lock once) instead of a few
                    group.append(self._queue.get(timeout=_GATHER_S))
                except queue.Empty:
                    break
            # an ask whose caller went away before its group began is dropped (nothing granted);
            # from here on it cannot be cancelled, so its answer, if lost, is found by its key
            group = [ask for ask in group if ask.done.set_running_or_notify_cancel()]
            if not group:
                continue
            try:
                outcomes = self._commit(group)
            except Exception as exc:  # the writer outlives any failure: its group is answered with it
                log.exception("a group of grants failed")
                failed: Exception = Aborted(
                    f"the hub could not grant ({type(exc).__name__}); retry with the same idempotency key"
                )
                outcomes = [failed] * len(group)
            for ask, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    ask.done.set_exception(outcome)
                else:
                    ask.done.set_result(outcome)

    def _commit(self, asks: list[_Ask]) -> list[Grant | Exception]:
        """The group's outcomes, committed in one transaction (retried whole when it lost a race
        with another hub process on a key, or a serialisation failure)."""
        for attempt in range(_RETRIES):
            try:
                with self.db.connection() as conn, conn.transaction():
                    return self._grant_all(conn, asks)
            except (psycopg.errors.UniqueViolation, psycopg.errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    return [
                        Aborted("grants kept colliding with another hub process's; retry with the same key")
                    ] * len(asks)
            except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:  # down, read-only, …
                gone: Exception = Aborted(
                    f"the hub's database did not answer ({type(exc).__name__}); the grant may or may not "
                    "have been made",
                    hint="retry with the same idempotency key: it gets the grant if it was made",
                )
                return [gone] * len(asks)
        raise AssertionError("unreachable")

    def _grant_all(self, conn: psycopg.Connection, asks: list[_Ask]) -> list[Grant | Exception]:
        pairs = sorted({(a.site_id, a.key) for a in asks})
        done = {
            (site, key): (pool, int(start), int(end), request, rule)
            for site, key, pool, start, end, request, rule in conn.execute(
                "SELECT g.site_id, g.idempotency_key, g.pool, g.start_index, g.end_index, g.request, p.rule "
                "FROM grants g JOIN pools p ON p.name = g.pool "
                "WHERE (g.site_id, g.idempotency_key) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                ([p[0] for p in pairs], [p[1] for p in pairs]),
            )
        }
        wanted = sorted({(a.site_id, a.pool) for a in asks})
        allowed = {
            (site, pool): rule
            for site, pool, rule in conn.execute(
                "SELECT s.site_id, s.pool, p.rule FROM site_pools s JOIN pools p ON p.name = s.pool "
                "WHERE (s.site_id, s.pool) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                ([w[0] for w in wanted], [w[1] for w in wanted]),
            )
        }
        known = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM pools WHERE name = ANY(%s)", (sorted({a.pool for a in asks}),)
            )
        }
        outcomes: list[Grant | Exception | None] = [None] * len(asks)
        fresh: dict[str, list[int]] = {}
        first: dict[tuple[str, str], int] = {}
        for i, a in enumerate(asks):
            kept = done.get((a.site_id, a.key))
            if kept is not None:
                outcomes[i] = (
                    Grant(kept[0], kept[1], kept[2], a.site_id, a.key, kept[4], replayed=True)
                    if kept[3] == a.request
                    else _reused(a, kept[3])
                )
            elif (a.site_id, a.key) in first:
                outcomes[i] = None  # the same key twice in the group: answered as the first, below
            elif (a.site_id, a.pool) not in allowed:
                outcomes[i] = _not_allowed(a, a.pool in known)
            else:
                first[a.site_id, a.key] = i
                fresh.setdefault(a.pool, []).append(i)
        granted: list[tuple[str, str, str, int, int, str]] = []
        for pool in sorted(fresh):  # one lock order for every process: no deadlock between them
            for k, (start, end) in self._take(conn, pool, [asks[i].n for i in fresh[pool]]):
                i = fresh[pool][k]
                a = asks[i]
                if start < 0:
                    outcomes[i] = _exhausted(pool, end, a.n)
                else:
                    outcomes[i] = Grant(pool, start, end, a.site_id, a.key, allowed[a.site_id, pool])
                    granted.append((a.site_id, a.key, pool, start, end, a.request))
        if granted:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO grants (site_id, idempotency_key, pool, start_index, end_index, request) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    granted,
                )
            conn.execute(
                "UPDATE sites SET last_contact = now() WHERE site_id = ANY(%s)",
                (sorted({g[0] for g in granted}),),
            )
        for i, a in enumerate(asks):
            if outcomes[i] is None:  # a key given twice in one group: the first's answer
                twin = outcomes[first[a.site_id, a.key]]
                if isinstance(twin, Grant):
                    outcomes[i] = (
                        Grant(twin.pool, twin.start, twin.end, a.site_id, a.key, twin.rule, replayed=True)
                        if asks[first[a.site_id, a.key]].request == a.request
                        else _reused(a, asks[first[a.site_id, a.key]].request)
                    )
                else:
                    outcomes[i] = twin
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    def _take(
        self, conn: psycopg.Connection, pool: str, sizes: list[int]
    ) -> list[tuple[int, tuple[int, int]]]:
        """Ranges of ``pool`` for ``sizes`` in order: one ``UPDATE`` for them all when they fit,
        else one each while they fit; (index into ``sizes``'s asks, (start, end)), ``start`` -1
        and ``end`` the indices left for one that does not fit."""
        total = sum(sizes)
        row = conn.execute(
            "UPDATE pools SET consumed = consumed + %s WHERE name = %s AND consumed + %s <= size "
            "RETURNING consumed",
            (total, pool, total),
        ).fetchone()
        out: list[tuple[int, tuple[int, int]]] = []
        if row is not None:
            start = int(row[0]) - total
            for k, n in enumerate(sizes):
                out.append((k, (start, start + n)))
                start += n
            return out
        for k, n in enumerate(sizes):
            row = conn.execute(
                "UPDATE pools SET consumed = consumed + %s WHERE name = %s AND consumed + %s <= size "
                "RETURNING consumed",
                (n, pool, n),
            ).fetchone()
            if row is None:
                left = conn.execute("SELECT size - consumed FROM pools WHERE name = %s", (pool,)).fetchone()
                out.append((k, (-1, int(left[0]) if left else 0)))
            else:
                out.append((k, (int(row[0]) - n, int(row[0]))))
        return out

    # --- pools and sites (the hub's operators) -----------------------------------------------------

    def add_pool(self, level: Level, sites: list[str]) -> str:
        """Register the pool of ``level``'s code rule (if new) and allow ``sites`` to lease it."""
        coderules.validate_level(level)
        name = coderules.pool_name(level)
        rule = coderules.pool_rule(level)
        with self.db.connection() as conn, conn.transaction():
            conn.execute("LOCK TABLE pools IN SHARE ROW EXCLUSIVE MODE")  # pools added one at a time
            names = [n for (n,) in conn.execute("SELECT name FROM pools")]
            clash = coderules.overlapping_pool(name, names)
            if clash is not None:
                raise InvalidArgument(
                    f"pool {name!r} would make some of the SSCCs of pool {clash!r}; expected SSCC "
                    "identifiers that do not nest",
                    reason=Reason.POOL_OVERLAP,
                )
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
        """Pools with their consumed index, and per site its grants, last contact and shipping: the
        events the hub holds, the site's last event as of its last shipment, the lag in events, and
        (while behind) the seconds since the hub last took events from it."""
        with self.db.connection() as conn:
            pools = [
                {"pool": name, "rule": rule, "size": int(size), "consumed": int(consumed)}
                for name, rule, size, consumed in conn.execute(
                    "SELECT name, rule, size, consumed FROM pools ORDER BY name"
                )
            ]
            sites = []
            for site, last, granted, indices, shipped, head, shipped_at, lag_s in conn.execute(
                "SELECT s.site_id, s.last_contact, count(g.*), "
                "coalesce(sum(g.end_index - g.start_index), 0), s.shipped_seq, s.head_seq, s.shipped_at, "
                "CASE WHEN s.head_seq > s.shipped_seq "
                "THEN extract(epoch FROM now() - coalesce(s.shipped_at, s.created_at)) ELSE 0 END "
                "FROM sites s LEFT JOIN grants g ON g.site_id = s.site_id "
                "GROUP BY s.site_id ORDER BY s.site_id"
            ):
                sites.append(
                    {
                        "site": site,
                        "last_contact": last.isoformat() if last else None,
                        "grants": int(granted),
                        "indices": int(indices),
                        "events": int(shipped),
                        "site_head": int(head),
                        "lag_events": int(head) - int(shipped),
                        "lag_seconds": round(float(lag_s), 3),
                        "last_shipment": shipped_at.isoformat() if shipped_at else None,
                    }
                )
        return {"pools": pools, "sites": sites}
