"""Exports from the hub: what the sites shipped, for upstream systems (``docs/exports.md``, Hub exports).

The documents are the sites' own (``linecode.export``: the same writers, so the same identifiers,
event IDs and report fields); only where the events, batches and codes are read from differs:

* :meth:`HubExports.write_epcis` — a batch as one EPCIS 2.0 document over every site that holds a
  batch of that id (or one site): each site's events of the batch in its log order, site by site;
* :meth:`HubExports.pull` — every site's events after a :class:`Cursor`, at most ``max_events``
  of them, as an EPCIS 2.0 document, and the cursor to pull from next;
* :meth:`HubExports.write_report` — the NMPA batch report of one site's batch: production data from
  the batch and product the site shipped and the hub's code states, packaging relations from the
  ``codes`` table's ``parent`` column.

Everything streams: events are read a page at a time (each page a short read of one site's rows by
its key, no hub-wide order and no long transaction), report parents through a server-side cursor.

Why a cursor of per-site positions never skips an event: a site's events reach the hub in its log
order, one shipment per transaction, and a site's shipments are stored one after the other (each
locks the site's row, ``ingest.py``). So at any moment the events the hub has committed of a site
are exactly its events ``1 … shipped_seq``, with no gap, and a later read sees that prefix or a
longer one. A pull that took a site's events up to ``n`` has taken every event of that site up to
``n`` there will ever be, and the next pull goes on from ``n + 1``: no event is skipped or taken
twice, however sites ship meanwhile. The cursor needs no hub-wide sequence (a bottleneck on
distributed PostgreSQL, where the events are spread by site): it is one position per site, and a
site the cursor does not name — one added since — is read from its first event.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO
from urllib.parse import quote, unquote

import psycopg
from psycopg_pool import ConnectionPool

from linecode import bounds
from linecode.errors import InvalidArgument, NotFound, shown
from linecode.export.epcis import EXPORTED_KINDS, format_offset, write_events
from linecode.export.nmpa import REPORT_FORMATS, Relation, production_of, write_report
from linecode.export.sink import ExportSummary
from linecode.hub.ingest import EVENT_COLUMNS, event_of
from linecode.hub.query import same_batch_sites
from linecode.reasons import Reason
from linecode.store import records
from linecode.store.model import (
    Batch,
    BatchState,
    Event,
    LevelReconciliation,
    Lock,
    Product,
    RegulatoryStatus,
    State,
)
from linecode.store.reconcile import level_reconciliation

FORMATS = ("epcis", *REPORT_FORMATS)
"""What :meth:`HubExports.write_batch` writes: ``epcis``, ``nmpa-json``, ``nmpa-xml``."""
DEFAULT_PULL = 1_000
"""Events a pull takes when the caller does not say."""
MAX_PULL = 100_000
"""Most events one pull may take."""
CURSOR_PREFIX = "c1."
"""Every cursor but the empty one starts so (the form's version)."""
MAX_CURSOR = 1 << 20
"""Longest cursor text read (a hundred thousand sites' positions fit)."""

_PAGE_EVENTS = 1_000
"""Events read at a time."""
_PAGE_CODES = 100_000
"""Codes read at a time, at most (a page holds at least one event, whatever it names)."""
_PARENT_CHUNK = 100
"""Parents whose children are read at once."""
_SEQ = re.compile(r"[1-9][0-9]{0,18}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_IN_USE = (State.COMMISSIONED, State.AGGREGATED, State.RELEASED)


@dataclass(frozen=True)
class Cursor:
    """Where a puller is: per site, the last event number it has taken (a site not named: none).

    Its text (:meth:`__str__`, :meth:`parse`) is ``c1.`` and the base64url (no padding) of
    ``SITE:SEQ,SITE:SEQ…`` — site ids percent-encoded, sorted, each seq 1 or more — and the empty
    text for the cursor before every event. A caller keeps it as it is; :meth:`parse` reads only the
    form :meth:`__str__` writes.

    >>> str(Cursor({"S2": 55, "S1": 120}))
    'c1.UzE6MTIwLFMyOjU1'
    >>> Cursor.parse("c1.UzE6MTIwLFMyOjU1").positions
    {'S1': 120, 'S2': 55}
    >>> str(Cursor.parse(""))
    ''
    """

    positions: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {s: n for s, n in sorted(self.positions.items()) if n})

    def __str__(self) -> str:
        if not self.positions:
            return ""
        plain = ",".join(f"{quote(site, safe='')}:{seq}" for site, seq in self.positions.items())
        return CURSOR_PREFIX + base64.urlsafe_b64encode(plain.encode()).decode().rstrip("=")

    def after(self, site_id: str) -> int:
        """The last event of ``site_id`` taken (0: none)."""
        return self.positions.get(site_id, 0)

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor ``text`` spells; :class:`InvalidArgument` ``BAD_CURSOR`` for any other text."""
        if text == "":
            return cls()
        if len(text) > MAX_CURSOR:
            raise _bad_cursor(f"cursor of {len(text):,} characters: expected at most {MAX_CURSOR:,}")
        body = text.removeprefix(CURSOR_PREFIX)
        if body == text or not body or not _B64URL.fullmatch(body):
            raise _bad_cursor(
                f"cursor {shown(text)} is not of the form {CURSOR_PREFIX}<base64url>: expected the text a "
                "pull returned, or empty for the first pull"
            )
        try:
            plain = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _bad_cursor(f"cursor {shown(text)} is not base64url of UTF-8 text") from None
        positions: dict[str, int] = {}
        for part in plain.split(","):
            site, colon, seq = part.partition(":")
            try:
                name = unquote(site, errors="strict")
            except UnicodeDecodeError:
                raise _bad_cursor(f"cursor {shown(text)} names a site that is not UTF-8") from None
            if not colon or not _SEQ.fullmatch(seq) or int(seq) >= 1 << 63:
                raise _bad_cursor(
                    f"cursor {shown(text)} holds {shown(part)}: expected SITE:SEQ, SEQ a number from 1"
                )
            if not 0 < len(name) <= 200 or not name.isprintable():
                raise _bad_cursor(f"cursor {shown(text)} names site {shown(name)}: expected a site id")
            if name in positions:
                raise _bad_cursor(f"cursor {shown(text)} names site {shown(name)} twice")
            positions[name] = int(seq)
        cursor = cls(positions)
        if str(cursor) != text:  # sites out of order, another percent-encoding, base64 padding …
            raise _bad_cursor(f"cursor {shown(text)} is not written as a pull writes it; expected {cursor}")
        return cursor


def _bad_cursor(message: str) -> InvalidArgument:
    return InvalidArgument(
        message,
        reason=Reason.BAD_CURSOR,
        hint="pull with the cursor the last pull returned, as it is (empty: from every site's first event)",
    )


@dataclass(frozen=True)
class Pulled:
    """What a pull took: how many events (of every kind; the document holds those with an EPCIS
    counterpart), the cursor to pull from next, and whether the hub held more when it began."""

    cursor: Cursor
    events: int
    more: bool
    summary: ExportSummary


@dataclass(frozen=True)
class _Held:
    """A batch of one site as the hub holds it; ``last_seq``: the site's last event of it."""

    site_id: str
    batch: Batch
    last_seq: int


class HubExports:
    """The hub's exports over its database (see the module's docstring); thread-safe, each call
    takes connections of ``db`` as it needs them."""

    def __init__(self, db: ConnectionPool) -> None:
        self.db = db

    def write_batch(
        self,
        batch_id: str,
        out: BinaryIO | TextIO,
        *,
        export_format: str = "epcis",
        site_id: str = "",
        utc_offset: dt.timedelta = dt.timedelta(0),
    ) -> ExportSummary:
        """:meth:`write_epcis` or :meth:`write_report` by ``export_format`` (one of :data:`FORMATS`;
        else :class:`InvalidArgument` ``BAD_EXPORT_FORMAT``)."""
        if export_format == "epcis":
            return self.write_epcis(batch_id, out, site_id=site_id, utc_offset=utc_offset)
        if export_format in REPORT_FORMATS:
            return self.write_report(batch_id, out, report_format=export_format, site_id=site_id)
        raise InvalidArgument(
            f"export format {shown(export_format)}: expected one of {', '.join(FORMATS)}",
            reason=Reason.BAD_EXPORT_FORMAT,
        )

    def write_epcis(
        self,
        batch_id: str,
        out: BinaryIO | TextIO,
        *,
        site_id: str = "",
        utc_offset: dt.timedelta = dt.timedelta(0),
    ) -> ExportSummary:
        """Write the events of batch ``batch_id`` of every site that holds one (of ``site_id`` only,
        if given) as one EPCIS 2.0 document to ``out``, streaming: site by site (in site id order),
        each site's events of the batch in its log order, up to the last the hub had when the
        export began. ``out`` and ``utc_offset`` (every event's ``eventTimeZoneOffset``: the hub
        does not know the sites' own) as :func:`linecode.export.write_epcis`; the summary's
        ``last_event_seq`` is 0 (positions are per site). Raises :class:`NotFound`
        ``UNKNOWN_BATCH`` when no site (or not ``site_id``) has shipped the batch."""
        format_offset(utc_offset)  # refused before anything is read
        held = self._held(batch_id, site_id)

        def events() -> Iterator[tuple[Event, Batch]]:
            for one in held:
                after = 0
                while after < one.last_seq:
                    page = self._page(one.site_id, one.batch.batch_id, after, one.last_seq, _PAGE_EVENTS)
                    if not page:
                        break
                    for event in page:
                        yield event, one.batch
                    after = page[-1].seq

        return write_events(events(), out, ExportSummary(batch_id, "epcis"), utc_offset=utc_offset)

    def pull(
        self,
        cursor: Cursor | str,
        out: BinaryIO | TextIO,
        *,
        max_events: int = DEFAULT_PULL,
        utc_offset: dt.timedelta = dt.timedelta(0),
    ) -> Pulled:
        """Write the events after ``cursor`` — of every site, at most ``max_events``, by site id and
        each site's event number — as one EPCIS 2.0 document to ``out``, streaming; the cursor to
        pull from next is in the answer (unchanged when there was nothing new). Events of kinds with
        no EPCIS counterpart count towards ``max_events`` and move the cursor, but are only counted
        in the summary (``skipped``). Raises :class:`InvalidArgument` ``BAD_CURSOR`` for a cursor no
        pull of this hub wrote (malformed, naming a site the hub does not know, or a position past
        the events the hub holds of a site), ``BAD_LIMIT`` for ``max_events`` outside 1 …
        :data:`MAX_PULL`."""
        start = cursor if isinstance(cursor, Cursor) else Cursor.parse(cursor)
        if not 0 < max_events <= MAX_PULL:
            raise InvalidArgument(
                f"a pull of {max_events:,} events: expected 1 to {MAX_PULL:,}", reason=Reason.BAD_LIMIT
            )
        format_offset(utc_offset)
        with self.db.connection() as conn:
            shipped = {site: int(seq) for site, seq in conn.execute("SELECT site_id, shipped_seq FROM sites")}
        for site, seq in start.positions.items():
            if site not in shipped:
                raise _bad_cursor(f"the cursor names site {shown(site)}, which this hub does not know")
            if seq > shipped[site]:
                raise _bad_cursor(
                    f"the cursor is at event {seq} of site {shown(site)}, but the hub holds its events to "
                    f"{shipped[site]} only: a cursor of another hub, or of this hub's database before it "
                    "was put back"
                )
        positions = dict(start.positions)
        taken = 0

        def events() -> Iterator[tuple[Event, Batch | None]]:
            nonlocal taken
            batches: dict[str, Batch] = {}
            for site in sorted(shipped):
                while taken < max_events and positions.get(site, 0) < shipped[site]:
                    limit = min(_PAGE_EVENTS, max_events - taken)
                    page = self._page(site, None, positions.get(site, 0), shipped[site], limit)
                    if not page:
                        break
                    wanted = {e.batch_id for e in page if e.batch_id is not None} - batches.keys()
                    batches |= self._batches(site, wanted)
                    for event in page:
                        positions[site] = event.seq  # before the writer has it: on error, no cursor
                        taken += 1
                        yield event, batches.get(event.batch_id or "")
                batches.clear()  # batch ids are per site

        summary = write_events(events(), out, ExportSummary("", "epcis"), utc_offset=utc_offset)
        more = any(positions.get(site, 0) < seq for site, seq in shipped.items())
        return Pulled(Cursor(positions), taken, more, summary)

    def write_report(
        self,
        batch_id: str,
        out: BinaryIO | TextIO,
        *,
        report_format: str = "nmpa-json",
        site_id: str = "",
    ) -> ExportSummary:
        """Write the NMPA batch report (``nmpa-json`` or ``nmpa-xml``, as
        :func:`linecode.export.write_nmpa_json` writes it) of batch ``batch_id`` of ``site_id`` —
        of the one site that holds it, if not given — to ``out``, streaming; read in one read-only
        snapshot of the hub's database. Relations are listed by parent code (in code order; the
        site lists them in index order). Raises :class:`NotFound` ``UNKNOWN_BATCH``,
        :class:`InvalidArgument` ``AMBIGUOUS_BATCH`` when several sites hold a batch of that id and
        no site is named, ``BAD_EXPORT_FORMAT``."""
        if report_format not in REPORT_FORMATS:
            raise InvalidArgument(
                f"report format {shown(report_format)}: expected one of {', '.join(REPORT_FORMATS)}",
                reason=Reason.BAD_EXPORT_FORMAT,
            )
        held = self._held(batch_id, site_id)
        if len(held) > 1:
            raise InvalidArgument(
                f"batch {shown(batch_id)} is held of sites {', '.join(h.site_id for h in held)}; a batch "
                "report is of one site's batch: expected a site",
                reason=Reason.AMBIGUOUS_BATCH,
                hint="name the site (--site, site_id)",
            )
        site = held[0].site_id
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            (one,) = self._held(batch_id, site, conn)  # in the snapshot the report is read in
            row = conn.execute(
                "SELECT detail FROM products WHERE site_id = %s AND product_id = %s",
                (site, one.batch.product_id),
            ).fetchone()
            if row is None:
                raise NotFound(
                    f"the hub holds no product {shown(one.batch.product_id)} of site {shown(site)}, the "
                    f"product of its batch {shown(batch_id)}",
                    reason=Reason.UNKNOWN_PRODUCT,
                )
            product = records.product_from_json(json.loads(row[0]))
            production = production_of(one.batch, product, _reconcile(conn, site, one.batch, product))
            relations = _relations(conn, site, batch_id, product)
            return write_report(
                report_format, production, relations, out, ExportSummary(batch_id, report_format)
            )

    def _held(self, batch_id: str, site_id: str, conn: psycopg.Connection | None = None) -> list[_Held]:
        """The batches of id ``batch_id`` the hub holds (of ``site_id`` only, if given), by site."""
        bounds.ID.check(batch_id, "batch id")
        if site_id and (len(site_id) > 200 or not site_id.isprintable()):
            raise InvalidArgument(
                f"site id {shown(site_id)}: expected 1 to 200 printable characters", reason=Reason.BAD_ID
            )
        query = "SELECT site_id, detail, state, status, lock, last_seq FROM batches WHERE batch_id = %s" + (
            " AND site_id = %s" if site_id else ""
        )
        args = (batch_id, site_id) if site_id else (batch_id,)
        if conn is None:
            with self.db.connection() as own:
                rows = own.execute(query, args).fetchall()
        else:
            rows = conn.execute(query, args).fetchall()
        if not rows:
            where = f"site {shown(site_id)}" if site_id else "any site"
            raise NotFound(
                f"the hub holds no batch {shown(batch_id)} of {where}",
                reason=Reason.UNKNOWN_BATCH,
                hint="check the batch id (and site); a batch reaches the hub when its site ships it",
            )
        if len(rows) > 1:  # several sites: one batch packed at each, or batches that share an id
            if conn is None:
                with self.db.connection() as own:
                    same_batch_sites(own, batch_id)
            else:
                same_batch_sites(conn, batch_id)
        return sorted(
            (
                _Held(site, _batch(detail, state, status, lock), int(last))
                for site, detail, state, status, lock, last in rows
            ),
            key=lambda held: held.site_id,
        )

    def _batches(self, site_id: str, names: set[str]) -> dict[str, Batch]:
        if not names:
            return {}
        with self.db.connection() as conn:
            return {
                name: _batch(detail, state, status, lock)
                for name, detail, state, status, lock in conn.execute(
                    "SELECT batch_id, detail, state, status, lock FROM batches "
                    "WHERE site_id = %s AND batch_id = ANY(%s)",
                    (site_id, sorted(names)),
                )
            }

    def _page(self, site_id: str, batch_id: str | None, after: int, upto: int, limit: int) -> list[Event]:
        """Events of ``site_id`` (of ``batch_id`` only, if given) numbered ``after < seq <= upto``,
        oldest first: ``limit`` at most, and no more than :data:`_PAGE_CODES` codes (at least one
        event). The codes of events with no EPCIS counterpart are left out (the export skips them)."""
        args = (_EXPORTED, site_id, after, upto, *([batch_id] if batch_id else []), limit, _PAGE_CODES)
        with self.db.connection() as conn:
            return [event_of(row) for row in conn.execute(_PAGE_OF_BATCH if batch_id else _PAGE, args)]


_EXPORTED = sorted(int(kind) for kind in EXPORTED_KINDS)
_COLUMNS = EVENT_COLUMNS.replace("codes, n_codes", "CASE WHEN exported THEN codes ELSE '' END, n_codes")
_PAGE = f"""
SELECT {_COLUMNS} FROM (
    SELECT *, sum(CASE WHEN exported THEN n_codes ELSE 0 END) OVER (ORDER BY seq) AS named
    FROM (
        SELECT *, kind = ANY(%s::smallint[]) AS exported FROM events
        WHERE site_id = %s AND seq > %s AND seq <= %s{{batch}}
        ORDER BY seq LIMIT %s
    ) AS page
) AS counted
WHERE named - CASE WHEN exported THEN n_codes ELSE 0 END < %s
ORDER BY seq
"""
_PAGE_OF_BATCH = _PAGE.replace("{batch}", " AND batch_id = %s")
_PAGE = _PAGE.replace("{batch}", "")


def _batch(detail: str, state: int, status: int, lock: int) -> Batch:
    """A batch as its site made it (``detail``), with its state, status and lock now."""
    made = records.batch_from_json(json.loads(detail))
    return dataclasses.replace(
        made, state=BatchState(state), status=RegulatoryStatus(status), lock=Lock(lock), ref=0
    )


def _reconcile(
    conn: psycopg.Connection, site_id: str, batch: Batch, product: Product
) -> list[LevelReconciliation]:
    """The SPEC §4 numbers of each level of a batch from the hub's codes and allocations, by the
    store's rule (``linecode.store.reconcile``): a code the site allocated but no event named is
    unused, and has no row here."""
    allocated: dict[int, int] = dict(
        conn.execute(
            "SELECT level, sum(end_index - start_index) FROM allocations "
            "WHERE site_id = %s AND batch_id = %s GROUP BY level",
            (site_id, batch.batch_id),
        ).fetchall()
    )
    ratios = [level.pack_ratio for level in product.levels]
    groups = conn.execute(
        "SELECT level, state, parent IS NOT NULL, children = 0, children < (%s::integer[])[level], partial, "
        "lock <> %s, count(*) FROM codes WHERE site_id = %s AND batch_id = %s "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7",
        (ratios, int(Lock.NORMAL), site_id, batch.batch_id),
    ).fetchall()
    batch_locked = batch.lock is not Lock.NORMAL
    levels = []
    for number, spec in enumerate(product.levels, start=1):
        states = dict.fromkeys(State, 0)
        n = dict.fromkeys(
            ("aggregated", "loose", "top", "empty", "partial_declared", "partial_undeclared", "locked"), 0
        )
        for level, state_value, packed, empty, short, partial, locked, count in groups:
            if level != number:
                continue
            state = State(state_value)
            states[state] += count
            # as reconcile._classify, for ``count`` codes alike
            if packed:
                n["aggregated"] += count
            elif state in (State.COMMISSIONED, State.RELEASED):
                n["top" if number == product.top else "loose"] += count
            if number > 1 and state in _IN_USE:
                if empty:
                    n["empty"] += count
                elif short:
                    n["partial_declared" if partial else "partial_undeclared"] += count
            if state in _IN_USE and (locked or batch_locked):
                n["locked"] += count
        states[State.ALLOCATED] += int(allocated.get(number, 0)) - sum(states.values())  # never named
        levels.append(level_reconciliation(number, spec.name, states, n))
    return levels


def _relations(conn: psycopg.Connection, site_id: str, batch_id: str, product: Product) -> Iterator[Relation]:
    """Every code of the batch above the unit level that holds children, level by level and in code
    order, with its children (in code order): parents through a server-side cursor, the children
    of :data:`_PARENT_CHUNK` parents at a time."""
    for number in range(2, product.top + 1):
        name = product.spec(number).name
        with conn.cursor(name=f"linecode_parents_{number}") as parents:
            parents.itersize = 1_000
            parents.execute(
                "SELECT code FROM codes WHERE site_id = %s AND batch_id = %s AND level = %s AND children > 0 "
                'ORDER BY code COLLATE "C"',
                (site_id, batch_id, number),
            )
            while chunk := [code for (code,) in parents.fetchmany(_PARENT_CHUNK)]:
                children: dict[str, list[str]] = {code: [] for code in chunk}
                for parent, child in conn.execute(
                    "SELECT parent, code FROM codes WHERE site_id = %s AND parent = ANY(%s) "
                    'ORDER BY code COLLATE "C"',
                    (site_id, chunk),
                ):
                    children[parent].append(child)
                for parent in chunk:
                    yield Relation(parent, number, name, children[parent])
