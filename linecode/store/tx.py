"""``Tx``: a transaction as the store's rules see it — typed reads and writes of the named databases,
idempotency keys, and the check that a caller changes only its own lines' codes and batches."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import lmdb

from linecode import _records, bounds
from linecode.codes.keys import KeyParts, parts
from linecode.errors import AlreadyExists, InvalidArgument, InvalidCode, NotFound, PermissionDenied, shown
from linecode.reasons import Reason
from linecode.store import coderules, records
from linecode.store.model import Batch, Event, EventKind, Level, Lock, Product, Stamp, State, now_us
from linecode.store.records import AllocatedRange, Row

if TYPE_CHECKING:
    from linecode.store.database import Database

T = TypeVar("T")

MAX_KEY_BYTES = 511
"""LMDB's longest key (its default build). Nothing we file reaches it: ids, codes and idempotency
keys are bounded far below (``linecode.bounds``)."""


KEY_CHUNK = 2_000
"""Codes of an allocation made at a time when a batch's codes are walked."""

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

    __slots__ = (
        "_allocated",
        "_batches",
        "_counts",
        "_last_allocation",
        "_next_slot",
        "_pool_rules",
        "_products",
        "_seq",
        "_slots",
        "db",
        "lines",
        "txn",
    )

    def __init__(self, txn: lmdb.Transaction, db: Database, *, writing: bool = False) -> None:
        self.txn = txn
        self.db = db
        self._counts: dict[tuple[int, int, State], int] = {}
        """Counter changes not yet added to ``counts`` (:meth:`flush_counts`)."""
        self._slots: dict[str, bytes] | None = {} if writing else None
        """Writing: the slots of the codes read so far, so storing their records looks none up
        again. Reading keeps none (an export reads millions of records in one transaction)."""
        self._allocated: dict[str, Row] = {}
        """Writing: codes read so far that have no record of their own yet (allocated, no event of
        theirs): storing one files it in a new slot (:meth:`_known_slot`)."""
        self._last_allocation: AllocatedRange | None = None
        """The allocation found last (codes read together are mostly of one)."""
        self._pool_rules: dict[str, Level] = {}
        """Writing: the pool rules this transaction read (``Database.pool_rules`` takes read ones)."""
        self._next_slot: int | None = None
        """The slot the next code filed gets, once looked up."""
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
        """The record of ``code`` (None: never allocated here). A code allocated but without an
        event of its own has no record stored: it is answered from its allocation."""
        own = self.own_row(code)
        return own if own is not None else self._allocated_row(code)

    def own_row(self, code: str) -> Row | None:
        """The record of ``code`` if it has one of its own (None: none, allocated or not)."""
        slot = self._slot(code)
        if slot is None:
            return None
        raw = self._get()(slot, None, self.db.dbs["code_records"])
        return Row.unpack(raw) if raw is not None else _no_record(code, slot)

    def _allocated_row(self, code: str) -> Row | None:
        """The record an allocated code without one of its own stands for (None: not allocated);
        a copy each time: a writer remembers the code's record as its allocation made it (read
        twice in a request, say once for the caller's lines and once by its rule, the code is
        placed in its pool once)."""
        known = self._allocated.get(code)
        if known is None:
            found = self.allocation_of(code)
            if found is None:
                return None
            known = records.new_row(found.level, found.batch_ref, found.time_us)
            if self._slots is not None:
                self._allocated[code] = known
        return dataclasses.replace(known)

    def allocation_of(self, code: str) -> AllocatedRange | None:
        """The allocation ``code`` was handed out by (None: none here)."""
        for name, index in self.locate(code):
            if (found := self.allocation_at(name, index)) is not None:
                return found
        return None

    def locate(self, code: str) -> list[tuple[str, int]]:
        """The pool index ``code`` is in each pool here that could have made it (usually one, none
        for a code no index makes). The index is the code's serial put back through the pool's
        permutation (``coderules.index_of``); a wrong check makes no index."""
        try:
            key = parts(code)
        except InvalidCode:
            return []
        found = []
        for name, level in self._pools_of(key):
            index = coderules.index_of(self.db.master(), level, key)
            if index is not None:
                found.append((name, index))
        return found

    def _pools_of(self, key: KeyParts) -> list[tuple[str, Level]]:
        """The pools here whose rule could make ``key`` (an SSCC's company prefix has no fixed
        length, so several can), with their rules."""
        if key.rule != "sscc":
            names = [f"{key.rule}/{key.identifier}"]
        else:
            cursor = self.txn.cursor(db=self.db.dbs["pools"])
            names = []
            if cursor.set_range(b"sscc/"):
                for name in cursor.iternext(keys=True, values=False):
                    text = bytes(name).decode()
                    if not text.startswith("sscc/"):
                        break
                    if key.identifier.startswith(text[5:]):
                        names.append(text)
        return [(name, level) for name in names if (level := self.pool_rule(name)) is not None]

    def pool_rule(self, name: str) -> Level | None:
        """The code rule of pool ``name`` (None: no such pool here). Kept for the store's life once
        a read saw it committed (a pool's rule never changes); a writer keeps what it read for
        itself only, since its transaction may yet be thrown away."""
        level = self.db.pool_rules.get(name) or self._pool_rules.get(name)
        if level is None:
            pool = self.pool(name)
            if pool is None:
                return None
            level = coderules.rule_level(pool)
            (self._pool_rules if self._slots is not None else self.db.pool_rules)[name] = level
        return level

    def batch_rows(self, batch_ref: int, level: int) -> Iterator[tuple[str, Row]]:
        """Every code of a batch's level with its record (stored, or the one its allocation stands
        for), allocation by allocation in index order; the keys are made a chunk at a time."""
        master = self.db.master()
        get, index, store = self._get(), self.db.dbs["code_slots"], self.db.dbs["code_records"]
        for a in self.batch_allocations(batch_ref, level):
            rule = self.pool_rule(a.pool)
            if rule is None:
                raise NotFound(f"allocation {a} names no pool of this store", reason=Reason.UNKNOWN_POOL)
            fresh = records.new_row(a.level, a.batch_ref, a.time_us).pack()
            for start in range(a.start, a.end, KEY_CHUNK):
                for code in coderules.keys(master, rule, start, min(KEY_CHUNK, a.end - start)):
                    slot = get(code.encode(), None, index)
                    raw = fresh if slot is None else get(slot, None, store)
                    yield code, Row.unpack(raw) if raw is not None else _no_record(code, slot or b"")

    def allocation_at(self, pool: str, index: int) -> AllocatedRange | None:
        """The allocation of ``pool`` holding ``index`` (None: the index was not allocated here)."""
        last = self._last_allocation
        if last is not None and last.pool == pool and last.start <= index < last.end:
            return last  # the codes of one request are mostly of one allocation
        if not 0 <= index < 1 << 64:
            return None  # no pool hands out such an index (a wide GS1 serial domain can name one)
        cursor = self.txn.cursor(db=self.db.dbs["allocations"])
        key = records.allocation_key(pool, index)
        if cursor.set_range(key):
            if bytes(cursor.key()) != key and not cursor.prev():
                return None
        elif not cursor.last():
            return None
        found = AllocatedRange.unpack(cursor.key(), cursor.value())
        if found.pool == pool and found.start <= index < found.end:
            self._last_allocation = found  # filed allocations never change
            return found
        return None

    def put_allocation(self, allocation: AllocatedRange) -> None:
        """File a new allocation, and under its batch and level (:meth:`batch_allocations`)."""
        if self.lines is not None:
            self.may_change([allocation.batch_ref])
        key = allocation.key()
        if not self.txn.put(key, allocation.pack(), db=self.db.dbs["allocations"], overwrite=False):
            raise RuntimeError(f"allocation {allocation} is filed already; nothing was written")
        where = records.batch_level_key(allocation.batch_ref, allocation.level)
        self.txn.put(where, key, db=self.db.dbs["batch_ranges"], dupdata=True)

    def batch_allocations(self, batch_ref: int, level: int) -> list[AllocatedRange]:
        """The allocations of a batch's level, by pool and start index."""
        cursor = self.txn.cursor(db=self.db.dbs["batch_ranges"])
        if not cursor.set_key(records.batch_level_key(batch_ref, level)):
            return []
        get, db = self._get(), self.db.dbs["allocations"]
        out = []
        for key in cursor.iternext_dup():
            raw = get(bytes(key), None, db)
            if raw is None:
                raise NotFound(
                    f"batch ref {batch_ref} level {level} lists allocation "
                    f"{records.allocation_key_parts(key)}, which is not filed: the store is inconsistent",
                    reason=Reason.BAD_SLOT,
                )
            out.append(AllocatedRange.unpack(key, raw))
        return out

    def own_rows(self) -> Iterator[tuple[str, Row]]:
        """Every code with a record of its own (an event of its own), in key order, with it."""
        get, store = self._get(), self.db.dbs["code_records"]
        for key, slot in self.txn.cursor(db=self.db.dbs["code_slots"]):
            raw = get(bytes(slot), None, store)
            code = bytes(key).decode()
            yield code, Row.unpack(raw) if raw is not None else _no_record(code, bytes(slot))

    def allocations(self) -> Iterator[AllocatedRange]:
        """Every allocation, by pool and start index."""
        for key, value in self.txn.cursor(db=self.db.dbs["allocations"]):
            yield AllocatedRange.unpack(key, value)

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
                found.append(self._allocated_row(code))
            else:
                if known is not None:
                    known[code] = slot
                raw = get(slot, None, store)
                found.append(unpack(raw) if raw is not None else _no_record(code, slot))
        return found

    def _known_slot(self, code: str) -> bytes:
        """The slot of a code that must be stored: the rules look records up before changing them.
        An allocated code read here without a record of its own gets its slot now, and the record
        it stood for (which the caller then changes)."""
        slot = self._slot(code)
        if slot is not None:
            return slot
        row = self._allocated.pop(code, None)
        if row is None:
            raise LookupError(
                f"no record of {code!r} to update: read it first (codes are made by allocating)"
            )
        if self._next_slot is None:
            cursor = self.txn.cursor(db=self.db.dbs["code_records"])
            self._next_slot = records.slot_of(cursor.key()) + 1 if cursor.last() else 0
        slot = records.slot_key(self._next_slot)
        self._next_slot += 1
        if not self.txn.put(code.encode(), slot, db=self.db.dbs["code_slots"], overwrite=False):
            raise RuntimeError(f"code {code} was filed meanwhile; nothing was written")
        if not self.txn.put(slot, row.pack(), db=self.db.dbs["code_records"], append=True):
            raise RuntimeError(f"slot {records.slot_of(slot)} of {code} is not the last; nothing was written")
        assert self._slots is not None
        self._slots[code] = slot
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

    def packed_events_after(self, since: int, *, max_events: int, max_bytes: int) -> tuple[int, list[bytes]]:
        """The number of the first event after ``since`` and the events from it as stored
        (``records.pack_event``), oldest first, numbered without a gap: at least one if there is
        any, then up to ``max_events`` or ``max_bytes`` in all (how a site ships)."""
        cursor = self.txn.cursor(db=self.db.dbs["events"])
        out: list[bytes] = []
        if not cursor.set_range(records.seq_key(since + 1)):
            return since + 1, out
        first = records.seq_of(cursor.key())
        size = 0
        for key, raw in cursor.iternext(keys=True, values=True):
            size += len(raw)
            if out and (
                len(out) >= max_events or size > max_bytes or records.seq_of(key) != first + len(out)
            ):
                break
            out.append(bytes(raw))
        return first, out

    def shipped(self) -> int:
        """The last event the hub has acknowledged (0: none, or no hub)."""
        raw = self.txn.get(records.SHIPPED)
        return records.seq_of(raw) if raw else 0

    def set_shipped(self, seq: int) -> None:
        """Keep ``seq`` as the last event the hub has acknowledged."""
        self.txn.put(records.SHIPPED, records.seq_key(seq))

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
            packed = records.pack_answer(digest, result, now_us())
            self.txn.put(self._answer_key(key), packed, db=self.db.dbs["idempotency"])

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
