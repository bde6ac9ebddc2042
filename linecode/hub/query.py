"""The hub answers ``QueryService`` across sites, as a site does for its own codes.

Every code some site's event named is a row of ``codes`` (``ingest.py``): a scan anywhere is
looked up by its key, whichever site made it. What a site answers from its key the hub cannot:
it holds no key material, so a code only allocated (no event has named it: never printed) is not
known to the hub, and an nmpa20 code's keyed check is not tried — a code is genuine to the hub when
a site shipped it. A code two sites shipped (which one serial space never makes) is answered
``DUPLICATE_AT_SITES`` naming them, never as either's.

Trees and paths are walked a level at a time (a pallet is 3 levels deep), with plain indexed
``SELECT``s, no recursive SQL (``docs/scale.md``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from psycopg_pool import ConnectionPool

from linecode.codes import code_key
from linecode.errors import InvalidArgument, LinecodeError, NotFound, shown
from linecode.reasons import Reason
from linecode.store import records
from linecode.store.model import (
    Batch,
    BatchState,
    CodeInfo,
    CountRow,
    Lock,
    Product,
    RegulatoryStatus,
    State,
    TreeNode,
    Verification,
)
from linecode.store.records import Row
from linecode.store.verification import info_of, judge

_CODE_COLUMNS = (
    "code, site_id, batch_id, level, state, status, lock, parent, children, partial, last_event_us"
)


@dataclass(frozen=True, slots=True)
class HubCode:
    """A code as the hub holds it: its key, the site that shipped it and its record there."""

    key: str
    site_id: str
    batch_id: str
    row: Row


class HubQuery:
    """Read-only look-ups over the hub's tables (one short transaction each)."""

    def __init__(self, db: ConnectionPool) -> None:
        self.db = db
        self._products: dict[tuple[str, str], Product] = {}
        """Products by (site, id): a product never changes once created."""

    # --- codes -------------------------------------------------------------------------------------

    def code(self, data: str) -> HubCode:
        """The code ``data`` (any spelling) names; raises :class:`NotFound` ``UNKNOWN_CODE``, or
        ``DUPLICATE_AT_SITES`` when two sites shipped it."""
        key = code_key(data)
        with self.db.connection() as conn:
            rows = conn.execute(f"SELECT {_CODE_COLUMNS} FROM codes WHERE code = %s", (key,)).fetchall()
        if not rows:
            raise NotFound(
                f"code {key} is not known to the hub: no site shipped an event naming it (a code only "
                "allocated, never printed, is known to its site alone)",
                reason=Reason.UNKNOWN_CODE,
                codes=[key],
            )
        if len(rows) > 1:
            raise InvalidArgument(
                f"code {key} was shipped by sites {', '.join(sorted(r[1] for r in rows))}: one code, two "
                "packs; expected a code of one site (report it: a forged or copied code)",
                reason=Reason.DUPLICATE_AT_SITES,
                codes=[key],
            )
        return _hub_code(rows[0])

    def info(self, data: str) -> CodeInfo:
        """Everything about one code (as ``Store.info``), whichever site made it."""
        found = self.code(data)
        return self._info(found, self._path(found))

    def verify(self, data: str) -> Verification:
        """A scanned code in any spelling: known to the hub, and usable? Never raises for bad input."""
        try:
            info = self.info(data)
        except LinecodeError as exc:
            return Verification(False, exc.reason, str(exc))
        return judge(data, info)

    def parent_of(self, data: str) -> CodeInfo | None:
        """The code ``data`` is packed in, or None."""
        found = self.code(data)
        return None if found.row.parent is None else self.info(found.row.parent)

    def children_of(self, data: str) -> list[str]:
        """The codes packed directly in ``data``."""
        found = self.code(data)
        with self.db.connection() as conn:
            return [
                c
                for (c,) in conn.execute(
                    "SELECT code FROM codes WHERE parent = %s AND site_id = %s ORDER BY code",
                    (found.key, found.site_id),
                )
            ]

    def tree(self, data: str) -> TreeNode:
        """``data`` and everything inside it, down to the units (a level at a time)."""
        found = self.code(data)
        top = found.key
        below: dict[str, list[tuple[str, int, State]]] = {}
        wanted = [top] if found.row.children else []
        seen = {top}  # a site's events could make a loop: each code is walked once
        with self.db.connection() as conn:
            while wanted:
                rows = conn.execute(
                    "SELECT parent, code, level, state FROM codes WHERE parent = ANY(%s) AND site_id = %s "
                    "ORDER BY parent, code",
                    (wanted, found.site_id),
                ).fetchall()
                wanted = []
                for parent, code, level, state in rows:
                    if code not in seen:
                        seen.add(code)
                        below.setdefault(parent, []).append((code, level, State(state)))
                        wanted.append(code)

        def node(code: str, level: int, state: State) -> TreeNode:
            return TreeNode(code, level, state, tuple(node(*c) for c in below.get(code, ())))

        return node(top, found.row.level, found.row.state)

    def counts(self, batch_id: str, site_id: str | None = None) -> list[CountRow]:
        """Codes of batch ``batch_id`` per level and state, summed over the sites that have it (or
        of ``site_id`` only): the named codes as the hub holds them, and the codes allocated but
        never named as ``allocated``."""
        with self.db.connection() as conn:
            sites = same_batch_sites(conn, batch_id, site_id)
            counted: dict[tuple[int, State], int] = {}
            for level, state, n in conn.execute(
                "SELECT level, state, count(*) FROM codes WHERE site_id = ANY(%s) AND batch_id = %s "
                "GROUP BY level, state",
                (sites, batch_id),
            ):
                counted[(level, State(state))] = counted.get((level, State(state)), 0) + n
            named = {}
            for level, n in conn.execute(
                "SELECT level, count(*) FROM codes WHERE site_id = ANY(%s) AND batch_id = %s GROUP BY level",
                (sites, batch_id),
            ):
                named[level] = n
            for level, allocated in conn.execute(
                "SELECT level, sum(end_index - start_index) FROM allocations WHERE site_id = ANY(%s) "
                "AND batch_id = %s GROUP BY level",
                (sites, batch_id),
            ):
                untouched = int(allocated) - named.get(level, 0)
                if untouched:
                    key = (level, State.ALLOCATED)
                    counted[key] = counted.get(key, 0) + untouched
            product = self._batch_product(conn, sites[0], batch_id)[1]
        return [
            CountRow(batch_id, level, product.spec(level).name, state, n)
            for (level, state), n in sorted(counted.items())
            if n
        ]

    # --- the parts ---------------------------------------------------------------------------------

    def _path(self, found: HubCode) -> tuple[str, ...]:
        path: list[str] = []
        parent = found.row.parent
        with self.db.connection() as conn:
            while parent is not None and parent != found.key and parent not in path:  # a loop ends it
                path.append(parent)
                row = conn.execute(
                    "SELECT parent FROM codes WHERE code = %s AND site_id = %s", (parent, found.site_id)
                ).fetchone()
                parent = row[0] if row else None
        return tuple(path)

    def _info(self, found: HubCode, path: tuple[str, ...]) -> CodeInfo:
        with self.db.connection() as conn:
            batch, product = self._batch_product(conn, found.site_id, found.batch_id)
            units = self._units(conn, found)
        return info_of(found.key, found.row, batch, product, path, units)

    def _units(self, conn: Any, found: HubCode) -> int:
        """Unit-level codes inside (1 for a unit), counted a level at a time."""
        if found.row.level == 1:
            return 1
        wanted = [found.key]
        seen = {found.key}  # a site's events could make a loop: each code is counted once
        units = 0
        while wanted:
            rows = conn.execute(
                "SELECT code, level FROM codes WHERE parent = ANY(%s) AND site_id = %s",
                (wanted, found.site_id),
            ).fetchall()
            rows = [(code, level) for code, level in rows if code not in seen]
            seen.update(code for code, _ in rows)
            units += sum(1 for _, level in rows if level == 1)
            wanted = [code for code, level in rows if level > 1]
        return units

    def _batch_product(self, conn: Any, site_id: str, batch_id: str) -> tuple[Batch, Product]:
        row = conn.execute(
            "SELECT detail, state, status, lock, product_id FROM batches "
            "WHERE site_id = %s AND batch_id = %s",
            (site_id, batch_id),
        ).fetchone()
        if row is None:
            raise NotFound(
                f"batch {shown(batch_id)} of site {site_id!r} is not known to the hub",
                reason=Reason.UNKNOWN_BATCH,
            )
        detail, state, status, lock, product_id = row
        batch = replace(
            records.batch_from_json(json.loads(detail)),
            state=BatchState(state),
            status=RegulatoryStatus(status),
            lock=Lock(lock),
        )
        product = self._products.get((site_id, product_id))
        if product is None:
            (text,) = conn.execute(
                "SELECT detail FROM products WHERE site_id = %s AND product_id = %s", (site_id, product_id)
            ).fetchone()
            product = self._products[(site_id, product_id)] = records.product_from_json(json.loads(text))
        return batch, product


def same_batch_sites(conn: Any, batch_id: str, site_id: str | None = None) -> list[str]:
    """The sites holding a batch ``batch_id`` (``site_id`` only, if given), in site order; several
    only if theirs is one batch — the same product (as each site defined it), batch number and
    dates — else :class:`InvalidArgument` ``AMBIGUOUS_BATCH`` (two sites' batches that merely share an
    id are never summed or exported as one). :class:`NotFound` ``UNKNOWN_BATCH`` for none."""
    rows = conn.execute(
        "SELECT b.site_id, b.detail, p.detail FROM batches b JOIN products p "
        "ON p.site_id = b.site_id AND p.product_id = b.product_id "
        "WHERE b.batch_id = %s AND (%s::text IS NULL OR b.site_id = %s) ORDER BY b.site_id",
        (batch_id, site_id or None, site_id or None),
    ).fetchall()
    if not rows:
        raise NotFound(f"batch {shown(batch_id)} is not known to the hub", reason=Reason.UNKNOWN_BATCH)
    kinds = {(_batch_identity(batch), _canonical(product)) for _, batch, product in rows}
    if len(kinds) > 1:
        raise InvalidArgument(
            f"sites {', '.join(r[0] for r in rows)} hold different batches under the id {shown(batch_id)} "
            "(product, batch number or dates differ); expected one batch: name the site",
            reason=Reason.AMBIGUOUS_BATCH,
            hint="name the site (site_id, --site)",
        )
    return [r[0] for r in rows]


def _batch_identity(detail: str) -> tuple[Any, ...]:
    """What makes two sites' batch records one batch."""
    batch = records.batch_from_json(json.loads(detail))
    return batch.product_id, batch.batch_number, batch.production_date, batch.expiry_date


def _canonical(detail: str) -> str:
    return json.dumps(json.loads(detail), sort_keys=True)


def _hub_code(row: Sequence[Any]) -> HubCode:
    code, site_id, batch_id, level, state, status, lock, parent, children, partial, last = row
    record = Row(
        level, State(state), RegulatoryStatus(status), Lock(lock), partial, 0, last, children, parent
    )
    return HubCode(code, site_id, batch_id, record)
