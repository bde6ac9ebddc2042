"""``Tx``: a transaction as the store's rules see it — typed reads and writes of the named databases,
idempotency keys, and the check that a caller changes only its own lines' codes and batches."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import lmdb

from linecode import _records, bounds
from linecode.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied, shown
from linecode.reasons import Reason
from linecode.store import records
from linecode.store.model import Batch, Event, EventKind, Lock, Product, Stamp, State
from linecode.store.records import Row

if TYPE_CHECKING:
    from linecode.store.database import Database

T = TypeVar("T")

MAX_KEY_BYTES = 511
"""LMDB's longest key (its default build). Nothing we file reaches it: ids, codes and idempotency
keys are bounded far below (``linecode.bounds``)."""


_Get = Callable[[bytes, None, Any], "bytes | None"]


def _no_record(code: str, slot: bytes) -> NoReturn:
    raise NotFound(
        f"code {code} is filed under slot {records.slot_of(slot)}, which holds no record: the store is "
        "inconsistent",
        reason=Reason.BAD_SLOT,
        codes=[code],
    )


def _missing(what: str, given: str, reason: Reason, hint: str) -> NoReturn:
    raise NotFound(f"no {what} {shown(given)} in this store", reason=reason, hint=hint)


def line_forbidden(line: str, lines: Iterable[str], named: Sequence[str] = ()) -> PermissionDenied:
    """The refusal of a write that would change codes or a batch of ``line`` by a caller limited to
    ``lines``; ``named``: those of the codes it named."""
    return PermissionDenied(
        f"the request would change codes or batches of line {line!r}; this caller may change those of "
        f"line(s) {', '.join(sorted(lines))} only",
        reason=Reason.ROLE_FORBIDS,
        codes=list(named)[:50],
        hint="work that spans lines needs a role naming all of them (line:L1,L2) or admin",
    )


class Tx:
    """A transaction as the store's modules see it: typed reads and writes of the named databases.

    The writer runs every request of a group that needs no savepoint on one ``Tx`` (see
    :meth:`Database._run_group`), so what it remembers (slots, batches and products by ref and id,
    the last event's number, the counters still to add) saves each later request of the group its
    look-ups. It stays true because every write of those goes through this object, and a failing
    request aborts the whole transaction, so nothing remembered outlives a write it saw."""

    __slots__ = ("_batches", "_counts", "_products", "_seq", "_slots", "db", "lines", "txn")

    def __init__(self, txn: lmdb.Transaction, db: Database, *, writing: bool = False) -> None:
        self.txn = txn
        self.db = db
        self._counts: dict[tuple[int, int, State], int] = {}
        """Counter changes not yet added to ``counts`` (:meth:`flush_counts`)."""
        self._slots: dict[str, bytes] | None = {} if writing else None
        """Writing: the slots of the codes read so far, so storing their records looks none up
        again. Reading keeps none (an export reads millions of records in one transaction)."""
        self._batches: dict[int, Batch] = {}
        self._products: dict[str, Product] = {}
        """Products read or stored by this transaction (the store's one cache across transactions
        is ``Database.decoded``; this saves a rule asking twice a look-up and a decode check)."""
        self._seq: int | None = None
        """The last event's sequence number, once this transaction has read or appended it."""
        self.lines: frozenset[str] | None = None
        """The packaging lines the running request may change codes and batches of (None: any). Set
        per request by ``Store``; every write of a code record or batch checks it
        (:meth:`may_change`), so a write can change no other line's codes, named or implied."""

    def may_change(self, refs: Iterable[int]) -> None:
        """Raise :class:`PermissionDenied` ``ROLE_FORBIDS`` unless every batch of ``refs`` is of one
        of :attr:`lines` (the codes are not named: the caller may not have named them)."""
        lines = self.lines
        if lines is None:
            return
        for ref in set(refs):
            if (line := self.batch_by_ref(ref).line) not in lines:
                raise line_forbidden(line, lines)

    def may_change_codes(self, keys: Sequence[str]) -> None:
        """:meth:`may_change` for the codes a request names, checked before any rule, so a caller
        learns nothing of another line's codes from a refusal but that they are not its own (codes
        not stored are left to the request's own NOT_FOUND)."""
        lines = self.lines
        if lines is None:
            return
        rows = self.rows(keys)
        for ref in {row.batch_ref for row in rows if row is not None}:
            if (line := self.batch_by_ref(ref).line) not in lines:
                named = [k for k, r in zip(keys, rows, strict=True) if r is not None and r.batch_ref == ref]
                raise line_forbidden(line, lines, named)

    # codes: ``code_slots`` files each code key under its slot and ``code_records`` holds the records
    # by slot (see ``records.slot_key``), as ``children`` holds each parent's child keys. Slots count
    # up in allocation order, so the records of codes allocated together (and so, on a line, usually
    # packed together) share pages, and so do the children of parents allocated together: a commit
    # writes a page per few aggregations instead of one per child code and one per parent.
    def _get(self) -> _Get:
        """``txn.get`` as it is here: the environment hands out ``bytes`` (``buffers=False``)."""
        return cast(_Get, self.txn.get)

    def _slot(self, code: str) -> bytes | None:
        """Where the record of ``code`` is filed (None: not stored)."""
        known = self._slots
        if known is not None and code in known:
            return known[code]
        slot = self._get()(code.encode(), None, self.db.dbs["code_slots"])
        if known is not None and slot is not None:
            known[code] = slot
        return slot

    def row(self, code: str) -> Row | None:
        """The record of ``code`` (None: not stored)."""
        slot = self._slot(code)
        if slot is None:
            return None
        raw = self._get()(slot, None, self.db.dbs["code_records"])
        return Row.unpack(raw) if raw is not None else _no_record(code, slot)

    def known_row(self, code: str) -> Row:
        """The record of ``code``; raises :class:`NotFound` ``UNKNOWN_CODE`` if there is none."""
        row = self.row(code)
        if row is None:
            raise NotFound(f"code {code} is not in this store", reason=Reason.UNKNOWN_CODE, codes=[code])
        return row

    def rows(self, codes: Sequence[str]) -> list[Row | None]:
        """The records of many codes (None for each one not stored)."""
        get = self._get()
        index = self.db.dbs["code_slots"]
        store = self.db.dbs["code_records"]
        known = self._slots
        unpack = Row.unpack
        found: list[Row | None] = []
        for code in codes:
            slot = get(code.encode(), None, index)
            if slot is None:
                found.append(None)
            else:
                if known is not None:
                    known[code] = slot
                raw = get(slot, None, store)
                found.append(unpack(raw) if raw is not None else _no_record(code, slot))
        return found

    def _known_slot(self, code: str) -> bytes:
        """The slot of a code that must be stored: the rules look records up before changing them."""
        slot = self._slot(code)
        if slot is None:
            raise LookupError(f"no record of {code!r} to update: codes are stored by allocating them")
        return slot

    def put_row(self, code: str, row: Row) -> None:
        """Store the changed record of a stored code (of a line the caller may change)."""
        if self.lines is not None:
            self.may_change([row.batch_ref])
        self.txn.put(self._known_slot(code), row.pack(), db=self.db.dbs["code_records"])

    def put_rows(self, codes: Sequence[str], rows: Sequence[Row]) -> None:
        """Store many records with one call into LMDB."""
        if self.lines is not None:
            self.may_change({row.batch_ref for row in rows})
        slot = self._known_slot
        cursor = self.txn.cursor(db=self.db.dbs["code_records"])
        cursor.putmulti([(slot(code), row.pack()) for code, row in zip(codes, rows, strict=True)])

    def insert_rows(self, codes: Sequence[str], record: bytes) -> list[str]:
        """File new codes, each with the packed ``record``, in the next slots. Returns the codes that
        could not be filed (stored already, or given twice); then the caller must fail its request,
        so that its transaction, with whatever this call did write, is thrown away."""
        if self.lines is not None:
            self.may_change([Row.unpack(record).batch_ref])
        cursor = self.txn.cursor(db=self.db.dbs["code_records"])
        first = records.slot_of(cursor.key()) + 1 if cursor.last() else 0
        slots = [records.slot_key(first + i) for i in range(len(codes))]
        keys = [code.encode() for code in codes]
        _, added = self.txn.cursor(db=self.db.dbs["code_slots"]).putmulti(
            list(zip(keys, slots, strict=True)), overwrite=False
        )
        if added != len(keys):
            # each key is filed now, but a clash under a slot this call did not give it
            get, index = self._get(), self.db.dbs["code_slots"]
            return [c for c, k, s in zip(codes, keys, slots, strict=True) if get(k, None, index) != s]
        cursor.putmulti([(slot, record) for slot in slots], append=True)
        return []

    def pack_children(
        self, children: list[str], parent: str, level: int, batch_ref: int, time_us: int
    ) -> records.PackedChildren | None:
        """Aggregation's usual case, read and checked in one go (writes nothing): the records and
        links :meth:`put_packed_children` stores for loose ``children`` put into ``parent`` at
        ``time_us``, or None unless they are plain keys of commissioned, unlocked codes of ``level``
        and batch ``batch_ref`` in no parent, none with an event after ``time_us`` (see
        ``records.pack_children_reference``)."""
        return _records.pack_children(
            self.txn.get,
            self.db.dbs["code_slots"],
            self.db.dbs["code_records"],
            children,
            parent,
            self._known_slot(parent),
            level,
            batch_ref,
            time_us,
            State.COMMISSIONED,
            State.AGGREGATED,
            Lock.NORMAL,
        )

    def put_packed_children(self, packed: records.PackedChildren, batch_ref: int, level: int) -> None:
        """Store what :meth:`pack_children` made, and count the children as aggregated."""
        if self.lines is not None:
            self.may_change([batch_ref])
        rows, links = packed
        self.txn.cursor(db=self.db.dbs["code_records"]).putmulti(rows)
        self._put_links(links)
        self.count_moved(batch_ref, level, State.COMMISSIONED, State.AGGREGATED, len(rows))

    def set_state(self, code: str, row: Row, state: State) -> None:
        """Move ``row`` to ``state`` and count it (does not store the row)."""
        self.count_moved(row.batch_ref, row.level, row.state, state, 1)
        row.state = state

    def count_moved(self, batch_ref: int, level: int, old: State, new: State, n: int) -> None:
        """Count ``n`` codes of a batch's level moving from state ``old`` to ``new``."""
        counts = self._counts
        was = (batch_ref, level, old)
        now = (batch_ref, level, new)
        counts[was] = counts.get(was, 0) - n
        counts[now] = counts.get(now, 0) + n

    def count_new(self, batch_ref: int, level: int, state: State, n: int) -> None:
        """Count ``n`` new codes of a batch's level in ``state``."""
        key = (batch_ref, level, state)
        self._counts[key] = self._counts.get(key, 0) + n

    def flush_counts(self) -> None:
        """Add the counter changes made so far to ``counts``."""
        db = self.db.dbs["counts"]
        get = self.txn.get
        put = self.txn.put
        for (batch_ref, level, state), delta in self._counts.items():
            if delta:
                key = records.count_key(batch_ref, level, state)
                put(key, records.pack_count(records.unpack_count(get(key, None, db)) + delta), db=db)
        self._counts.clear()

    def batch_counts(self, batch_ref: int) -> dict[tuple[int, State], int]:
        """The non-zero counters of a batch as this transaction stands: {(level, state): n}."""
        self.flush_counts()
        cursor = self.txn.cursor(db=self.db.dbs["counts"])
        prefix = records.batch_prefix(batch_ref)
        out: dict[tuple[int, State], int] = {}
        if cursor.set_range(prefix):
            for key, value in cursor:
                if not bytes(key).startswith(prefix):
                    break
                _, level, state = records.unpack_count_key(bytes(key))
                if n := records.unpack_count(value):
                    out[level, state] = n
        return out

    # hierarchy
    def children(self, parent: str) -> list[str]:
        """The keys packed directly in ``parent``, in key order."""
        slot = self._slot(parent)
        cursor = self.txn.cursor(db=self.db.dbs["children"])
        if slot is None or not cursor.set_key(slot):
            return []
        return [bytes(v).decode() for v in cursor.iternext_dup()]

    def link(self, parent: str, child: str) -> None:
        """Put ``child`` into ``parent``'s list of children."""
        self.txn.put(self._known_slot(parent), child.encode(), db=self.db.dbs["children"], dupdata=True)

    def link_all(self, parent: str, children: Sequence[str]) -> None:
        """Put many children into ``parent`` with one call into LMDB."""
        slot = self._known_slot(parent)
        self._put_links([(slot, child.encode()) for child in children])

    def _put_links(self, links: list[tuple[bytes, bytes]]) -> None:
        """Store (parent slot, child key) pairs with one call into LMDB."""
        self.txn.cursor(db=self.db.dbs["children"]).putmulti(links, dupdata=True)

    def unlink(self, parent: str, child: str) -> None:
        """Take ``child`` out of ``parent``'s list of children."""
        self.txn.delete(self._known_slot(parent), child.encode(), db=self.db.dbs["children"])

    def batch_codes(self, batch_ref: int, level: int) -> Iterator[str]:
        """The code keys of a batch's level, in key order."""
        cursor = self.txn.cursor(db=self.db.dbs["by_batch"])
        if cursor.set_key(records.batch_level_key(batch_ref, level)):
            for value in cursor.iternext_dup():
                yield bytes(value).decode()

    def batch_codes_after(self, batch_ref: int, level: int, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` code keys of a batch's level, those sorting after ``after`` (from the
        first if None): one chunk of :meth:`batch_codes` for a reader that lets go between chunks."""
        cursor = self.txn.cursor(db=self.db.dbs["by_batch"])
        key = records.batch_level_key(batch_ref, level)
        if after is None:
            found = cursor.set_key(key)
        else:
            # Duplicates are sorted: land on the first key >= after, step over it if it is after itself.
            found = cursor.set_range_dup(key, after.encode())
            if found and bytes(cursor.value()) == after.encode():
                found = cursor.next_dup()
        out: list[str] = []
        while found and len(out) < limit:
            out.append(bytes(cursor.value()).decode())
            found = cursor.next_dup()
        return out

    def add_to_batch(self, batch_ref: int, level: int, codes: list[str]) -> None:
        """File new codes under their batch and level (the index :meth:`batch_codes` reads)."""
        key = records.batch_level_key(batch_ref, level)
        db = self.db.dbs["by_batch"]
        cursor = self.txn.cursor(db=db)
        cursor.putmulti([(key, c.encode()) for c in codes], dupdata=True)

    # products and batches
    def _json_record(self, db: str, key: str, decode: Callable[[Any], T]) -> T | None:
        """The record under ``key`` in the JSON database ``db``, decoded (None if absent)."""
        encoded = key.encode()
        if not 0 < len(encoded) <= MAX_KEY_BYTES:
            return None  # LMDB cannot hold such a key, so no record has it
        raw = self.txn.get(encoded, db=self.db.dbs[db])
        return None if raw is None else self._decoded(db, raw, decode)

    def _json_records(self, db: str, decode: Callable[[Any], T]) -> list[T]:
        """Every record of the JSON database ``db``, decoded, in key order."""
        return [self._decoded(db, raw, decode) for _, raw in self.txn.cursor(db=self.db.dbs[db])]

    def _decoded(self, db: str, raw: bytes | memoryview, decode: Callable[[Any], T]) -> T:
        """``raw`` of ``db`` decoded, through the store's one cache (``Database.decoded``)."""
        decoded = self.db.decoded
        cache_key = (db, bytes(raw))
        known = decoded.get(cache_key)
        if known is None:
            known = decode(records.load_json(raw))
            if len(decoded) > 1024:
                decoded.clear()
            decoded[cache_key] = known
        return known  # type: ignore[no-any-return]

    def product(self, product_id: str) -> Product:
        """A product by id; raises :class:`NotFound` ``UNKNOWN_PRODUCT``."""
        product = self._products.get(product_id)
        if product is None:
            product = self._json_record("products", product_id, records.product_from_json)
            if product is None:
                _missing("product", product_id, Reason.UNKNOWN_PRODUCT, "create it first (create_product)")
            self._products[product_id] = product
        return product

    def has_product(self, product_id: str) -> bool:
        """Whether a product of this id exists."""
        return self._json_record("products", product_id, records.product_from_json) is not None

    def put_product(self, product: Product) -> None:
        """Store a new product."""
        self._products[product.product_id] = product
        self.txn.put(
            product.product_id.encode(),
            records.dump_json(records.product_to_json(product)),
            db=self.db.dbs["products"],
        )

    def products(self) -> list[Product]:
        """All products, by id."""
        return self._json_records("products", records.product_from_json)

    def batch(self, batch_id: str) -> Batch:
        """A batch by id; raises :class:`NotFound` ``UNKNOWN_BATCH``."""
        batch = self._json_record("batches", batch_id, records.batch_from_json)
        if batch is None:
            hint = "check the batch id, or create the batch first (create_batch)"
            _missing("batch", batch_id, Reason.UNKNOWN_BATCH, hint)
        return batch

    def has_batch(self, batch_id: str) -> bool:
        """Whether a batch of this id exists."""
        return self._json_record("batches", batch_id, records.batch_from_json) is not None

    def batch_id_of(self, ref: int) -> str:
        """The id of the batch of internal ref ``ref`` (records name their batch by ref)."""
        raw = self.txn.get(records.ref_key(ref), db=self.db.dbs["batch_refs"])
        if raw is None:
            raise NotFound(
                f"no batch with internal ref {ref}: the store is inconsistent", reason=Reason.BAD_REF
            )
        return bytes(raw).decode()

    def batch_by_ref(self, ref: int) -> Batch:
        """The batch of internal ref ``ref``, looked up once per transaction."""
        batch = self._batches.get(ref)
        if batch is None:
            batch = self._batches[ref] = self.batch(self.batch_id_of(ref))
        return batch

    def batch_refs(self) -> dict[int, str]:
        """Every batch's id by its internal ref."""
        cursor = self.txn.cursor(db=self.db.dbs["batch_refs"])
        return {int.from_bytes(k, "big"): bytes(v).decode() for k, v in cursor}

    def put_batch(self, batch: Batch) -> None:
        """Store a new or changed batch (of a line the caller may change)."""
        if self.lines is not None and batch.line not in self.lines:
            raise line_forbidden(batch.line, self.lines)
        self._batches[batch.ref] = batch
        self.txn.put(
            batch.batch_id.encode(),
            records.dump_json(records.batch_to_json(batch)),
            db=self.db.dbs["batches"],
        )
        self.txn.put(records.ref_key(batch.ref), batch.batch_id.encode(), db=self.db.dbs["batch_refs"])

    def batches(self) -> list[Batch]:
        """All batches, by id."""
        return self._json_records("batches", records.batch_from_json)

    def next_batch_ref(self) -> int:
        """The internal ref a new batch gets."""
        cursor = self.txn.cursor(db=self.db.dbs["batch_refs"])
        return int.from_bytes(cursor.key(), "big") + 1 if cursor.last() else 1

    # pools
    def pool(self, name: str) -> dict[str, Any] | None:
        """A serial pool's free and used index ranges (None: no such pool here)."""
        if not 0 < len(name.encode()) <= MAX_KEY_BYTES:
            return None  # no pool has such a name, and LMDB could not look it up
        raw = self.txn.get(name.encode(), db=self.db.dbs["pools"])
        return records.load_json(raw) if raw is not None else None  # type: ignore[no-any-return]

    def put_pool(self, name: str, data: dict[str, Any]) -> None:
        """Store a pool's ranges."""
        self.txn.put(name.encode(), records.dump_json(data), db=self.db.dbs["pools"])

    def pools(self) -> dict[str, dict[str, Any]]:
        """Every pool's ranges by name."""
        cursor = self.txn.cursor(db=self.db.dbs["pools"])
        return {bytes(k).decode(): records.load_json(v) for k, v in cursor}

    # events
    def append_event(
        self,
        at: Stamp,
        kind: EventKind,
        batch_ref: int,
        *,
        codes: tuple[str, ...] | list[str] = (),
        parent: str | None = None,
        detail: str = "",
    ) -> int:
        """Append one event; returns its sequence number. Its actor and line must fit their bounds
        (``linecode.bounds``): every write appends an event, so nothing unbounded is ever stored."""
        time_us, actor, line = at
        if (actor, line) != self.db.last_origin:  # a line's requests mostly come from one actor
            bounds.ACTOR.check(actor, "actor")
            bounds.LINE.check(line, "line")
            self.db.last_origin = (actor, line)
        events = self.db.dbs["events"]
        seq = (self._seq if self._seq is not None else self.last_seq()) + 1
        raw = records.pack_event(time_us, kind, batch_ref, actor, line, codes, parent, detail)
        if not self.txn.put(records.seq_key(seq), raw, db=events, append=True):  # LMDB: not after the last
            raise RuntimeError(f"event {seq} would not be the last in the event log; nothing was written")
        self._seq = seq
        return seq

    def event(self, seq: int) -> Event | None:
        """Event number ``seq`` (None if there is none)."""
        raw = self.txn.get(records.seq_key(seq), db=self.db.dbs["events"])
        if raw is None:
            return None
        ref = records.event_batch_ref(raw)
        return records.unpack_event(seq, raw, {ref: self.batch_id_of(ref)} if ref else {})

    def events_after(
        self, since: int, *, batch_ref: int | None, max_events: int, max_codes: int
    ) -> tuple[list[Event], int]:
        """The events after ``since`` (of batch ``batch_ref`` only, if given), up to ``max_events``
        looked at or ``max_codes`` codes held, and the last sequence number looked at (so a chunk
        of other batches' events still moves the reader on)."""
        cursor = self.txn.cursor(db=self.db.dbs["events"])
        out: list[Event] = []
        last = since
        if not cursor.set_range(records.seq_key(since + 1)):
            return out, last
        names = self.batch_refs()
        codes = 0
        for n, (key, raw) in enumerate(cursor):
            if n >= max_events or codes >= max_codes:
                break
            last = records.seq_of(key)
            if batch_ref is None or records.event_batch_ref(raw) == batch_ref:
                out.append(records.unpack_event(last, raw, names))
                codes += len(out[-1].codes)
        return out, last

    def last_seq(self) -> int:
        """The sequence number of the last event (0 if none)."""
        cursor = self.txn.cursor(db=self.db.dbs["events"])
        return records.seq_of(cursor.key()) if cursor.last() else 0

    # idempotency
    def recall(self, key: str | None, digest: str) -> dict[str, Any] | None:
        """The stored answer to ``key`` if this exact request (its :func:`request_digest`) was done
        before; raises if the key was used for a different request."""
        if key is None:
            return None
        if not key or not bounds.IDEMPOTENCY_KEY.fits(key) or key.startswith("lines:"):
            raise InvalidArgument(
                f"idempotency key {shown(key)}: expected {bounds.IDEMPOTENCY_KEY.describe()}, not "
                "starting 'lines:' (the prefix of line callers' own keys)",
                reason=Reason.BAD_IDEMPOTENCY_KEY,
                hint="a UUID or the line's own request number is plenty",
            )
        raw = self.txn.get(self._answer_key(key), db=self.db.dbs["idempotency"])
        if raw is None:
            return None
        body, result = records.unpack_answer(raw)
        if body != digest:
            raise AlreadyExists(
                f"idempotency key {shown(key)} was already used for a different request; "
                "expected the same key only for an exact retry",
                reason=Reason.IDEMPOTENCY_KEY_REUSED,
                hint="use a new idempotency key for a new request",
            )
        return result

    def remember(self, key: str | None, digest: str, result: dict[str, Any]) -> None:
        """File the answer to the request of ``key`` (if any) for its retries (:meth:`recall`)."""
        if key is not None:
            self.txn.put(
                self._answer_key(key), records.pack_answer(digest, result), db=self.db.dbs["idempotency"]
            )

    def _answer_key(self, key: str) -> bytes:
        """Where the answer to ``key`` is filed: callers limited to lines have a namespace per set of
        lines, so one line can neither take another's keys first nor probe which it has used."""
        if self.lines is None:
            return key.encode()
        scope = hashlib.sha256("\x00".join(sorted(self.lines)).encode()).hexdigest()[:16]
        return f"lines:{scope}|{key}".encode()


def request_digest(body: list[Any]) -> str:
    """What an idempotency record keeps of its request, to tell a retry from a reuse of the key.
    The caller computes it before queueing the write, so the writer thread does not. The body is
    encoded exactly as ``json.dumps(body)`` does (digests stored by earlier versions still match),
    by one encoder made once instead of one per call."""
    return hashlib.blake2b(_json_text(body).encode(), digest_size=16).hexdigest()


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default options, its C encoder built once (else ``json.dumps``)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.dumps
    # markers None: no circular check (bodies are built here, never circular), and nothing shared
    # between the threads that compute digests
    ascii_text = json.encoder.encode_basestring_ascii
    encode = make(None, json.JSONEncoder().default, ascii_text, None, ": ", ", ", False, False, True)
    return lambda body: "".join(encode(body, 0))


_json_text = _json_encoder()
