"""The ``Store`` facade: the whole line store as one typed Python API.

Everything the gRPC layer (and the CLI, and the tests) does goes through these methods. Writes
return only once durable (group commit, see ``database.py``); reads see the last committed state.
Codes are accepted in any form a scanner or a person produces and resolved to their one canonical
key (:meth:`Store.key`, ``linecode.codes.keys``) before any rule runs; a request naming one code
twice, in any spelling, is refused. Codes are returned as their keys. A write given ``lines`` (the
packaging lines its caller may touch) is refused with ``ROLE_FORBIDS`` if it would change any code
or batch of another line, decided inside its write transaction (``Tx.lines``). Times are integer
microseconds UTC; a write without a time uses the moment the writer runs it, so default times
never go backwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from linecode import bounds
from linecode.codes import CodeKey, code_key
from linecode.errors import (
    AlreadyExists,
    Exhausted,
    InvalidArgument,
    LinecodeError,
    Precondition,
    TimeWentBackwards,
    shown,
)
from linecode.reasons import Reason
from linecode.serials import MasterKey
from linecode.serials.keys import KEY_FILE_NAME
from linecode.store import aggregation, coderules, leases, lifecycle, reconcile, records, retention
from linecode.store.database import DEFAULT_MAP_SIZE, DEFAULT_MAX_MAP_SIZE, DEFAULT_MAX_READERS, Database
from linecode.store.model import (
    ANYONE,
    Allocation,
    Batch,
    Change,
    CodeInfo,
    CodeRecord,
    CodeRule,
    CountRow,
    Event,
    EventKind,
    IndexRange,
    Lease,
    Level,
    LineEvent,
    Lock,
    Marking,
    Origin,
    Packed,
    Product,
    ReconciliationReport,
    RegulatoryStatus,
    Stamp,
    State,
    TreeNode,
    Verification,
    now_us,
)
from linecode.store.records import Row
from linecode.store.tx import KEY_CHUNK, Tx, line_forbidden, request_digest
from linecode.store.verification import Lookups

if TYPE_CHECKING:
    from typing_extensions import Unpack

T = TypeVar("T")
_EVENT_CHUNK = 1000
# Events of a bulk report carry thousands of codes: a chunk also ends once it holds this many codes,
# so a reader (an export of a million-code batch) never holds more than about this many at a time.
_EVENT_CHUNK_CODES = 10_000
_PARENT_CHUNK = 100
"""Codes :meth:`Store.parents` looks at per read transaction."""
_GENERATION_THREADS = 2
_THREADED_FROM = 100_000
"""Allocations of this many codes or more are made on ``_GENERATION_THREADS`` threads."""


class Store:
    """A packaging line's codes, hierarchy and events in one LMDB data dir.

    Open with :meth:`open`; use as a context manager or call :meth:`close`. One server writes to a
    data dir at a time (one process, or the worker processes of one supervisor, each opened
    ``shared``); any number may open it read-only beside it.
    """

    def __init__(self, db: Database, master: MasterKey | None, key_file: Path) -> None:
        self._db = db
        self._master = master
        self._key_file = key_file
        self._batch_ids: dict[int, str] = {}
        self._look = Lookups(db, lambda: self.master)
        db.master = lambda: self.master
        self.lease_demand: dict[str, int] = {}
        """On a site of a hub: per pool, the most indices an allocation asked for and the site did
        not hold (its refiller asks the hub for at least that much)."""
        self.pools_from_hub = False
        """A site of a hub (``[hub]`` in the server's config): new pools are not claimed but filled
        with the hub's grants, and one run dry says ``LEASE_EXHAUSTED``."""

    # --- opening ----------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        data_dir: Path | str,
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
        readonly: bool = False,
        group_commit: bool = True,
        sync: bool = True,
        shared: bool = False,
        max_readers: int = DEFAULT_MAX_READERS,
        master_key: MasterKey | None = None,
    ) -> Store:
        """Open (or create) the store in ``data_dir``. Raises :class:`~linecode.errors.ConfigError`:
        ``STORE_IN_USE`` if another writer has the data dir, ``STORE_FORMAT`` if the store was
        written in another layout (left as it is).

        * ``master_key``: the serials' master key; else ``LINECODE_MASTER_KEY``, else
          ``<data_dir>/master.key`` (created on the first writable open).
        * ``map_size``: the initial LMDB map size; it doubles whenever a write finds it full, up to
        * ``max_map_size``: beyond it a write fails with :class:`~linecode.errors.Exhausted` and
          nothing of it is stored.
        * ``readonly``: no writer lock, e.g. to inspect beside a running server.
        * ``shared``: one of several writing processes of one server, whose supervisor holds the
          data dir's :class:`~linecode.store.writer_lock.WriterLock` (else ``STORE_NOT_LOCKED``); the map is
          reserved at ``max_map_size`` from the start, and the lock held (shared) until :meth:`close`.
        * ``max_readers``: LMDB reader slots for all processes together (the first opener's counts).
        * ``group_commit=False``: each write committed on its own (only to compare, in benchmarks).
        * ``sync=False``: no fsync (tests only: a crash may then lose acknowledged writes).
        """
        path = Path(data_dir)
        db = Database(
            path,
            map_size=map_size,
            max_map_size=max_map_size,
            readonly=readonly,
            group_commit=group_commit,
            sync=sync,
            shared=shared,
            max_readers=max_readers,
        )
        try:
            # a key is made for a new store only: one with data needs the key it was written with
            create = db.is_empty()
            master = master_key or (None if readonly else MasterKey.load(path / KEY_FILE_NAME, create=create))
            if master is not None:
                db.check_key(master)
        except LinecodeError:
            db.close()
            raise
        return cls(db, master, path / KEY_FILE_NAME)

    def close(self) -> None:
        """Finish queued writes and close the data dir."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        """The data dir."""
        return self._db.path

    @property
    def commits(self) -> int:
        """Durable LMDB commits made by this process so far (group commit shares them)."""
        return self._db.commits

    @property
    def master(self) -> MasterKey:
        """The master key (loaded lazily when the store is read-only)."""
        if self._master is None:
            master = MasterKey.load(self._key_file, create=False)
            self._db.check_key(master)
            self._master = master
        return self._master

    # --- keys -------------------------------------------------------------------------------------

    def key(self, text: str) -> CodeKey:
        """The one canonical key of a code in any accepted spelling (SPEC §1, "one code, one key"):
        every method here resolves the codes it is given through this before any rule runs.
        Raises :class:`~linecode.errors.InvalidCode` for text that is no code's spelling."""
        return code_key(text)

    def keys(self, texts: Iterable[str], role: str = "code") -> list[CodeKey]:
        """The keys of ``texts``; a code named twice, in any spelling, is refused
        (:class:`InvalidArgument` ``DUPLICATE_CODE``, or ``DUPLICATE_CHILD`` for ``role="child"``)."""
        keys = self._canonical(texts)
        lifecycle.no_duplicates(keys, role)
        return keys

    def _canonical(self, texts: Iterable[str]) -> list[CodeKey]:
        texts = list(texts)
        joined = "".join(texts)
        if joined.isdigit() and joined.isascii() and set(map(len, texts)) == {20} and "0" not in joined[::20]:
            # The hot path: nmpa20 codes as the line sends them (20 digits each, none of the ambiguous
            # 00/01 ones) are their own keys; checked for all of them at once, as code_key does each.
            keys = cast(list[CodeKey], texts)
        else:
            keys = [code_key(text) for text in texts]
        return keys

    def _write(self, fn: Callable[[Tx], T], lines: frozenset[str] | None) -> T:
        """``fn`` as one write request whose changes must all be of ``lines`` (None: any line)."""
        if lines is None:
            return self._db.write(fn)

        def scoped(tx: Tx) -> T:
            tx.lines = lines
            try:
                return fn(tx)
            finally:
                tx.lines = None

        return self._db.write(scoped)

    def _write_once(
        self,
        body: list[Any],
        origin: Origin,
        run: Callable[[Tx, Stamp], T],
        *,
        answer: Callable[[T], dict[str, Any]],
        replay: Callable[[Tx, dict[str, Any]], T],
        first: Callable[[Tx], object] | None = None,
    ) -> T:
        """Run a write once per idempotency key: ``run`` at the origin's stamp, its ``answer`` kept
        under the key; a retry gets ``replay`` of that answer and writes nothing. ``body`` (codes as
        keys, so a retry in other spellings is the same request) tells a retry from a reuse of the
        key; ``first`` runs before either (the caller's lines, checked before a replay tells the
        answer). Without a time of its own the write takes the store's (see :func:`_at_own_time`)."""
        key, time_us, actor, line = origin.idempotency_key, origin.time_us, origin.actor, origin.line
        lifecycle.check_time(time_us)
        digest = request_digest(body)

        def write(not_before: int) -> T:
            def fn(tx: Tx) -> T:  # on the writer's thread: kept lean, it bounds the store's throughput
                if first is not None:
                    first(tx)
                stored = tx.recall(key, digest)
                if stored is not None:
                    return replay(tx, stored)
                t = time_us if time_us is not None else max(now_us(), not_before)
                result = run(tx, Stamp(t, actor, line))
                tx.remember(key, digest, answer(result))
                return result

            return self._write(fn, origin.lines)

        return _at_own_time(write, own=time_us is None)

    # --- products and batches ---------------------------------------------------------------------

    def create_product(
        self,
        product_id: str,
        name: str,
        mah: str,
        levels: Sequence[Level],
        *,
        mixed_pallets: bool = False,
        claim_pools: bool | None = None,
        origin: Origin = ANYONE,
    ) -> Product:
        """Register a product and its packaging hierarchy (level 1, the unit, first).

        Each level's serial pool is created if new; ``claim_pools=True`` gives this server the whole
        serial domain of new pools, ``False`` leaves them empty until a lease is imported (a second
        server of a pool, SPEC §7); the default is True but on a site of a hub
        (:attr:`pools_from_hub`), whose pools fill with the hub's grants. Raises
        :class:`AlreadyExists` for a known ``product_id`` (unless
        it is a retry with the ``origin``'s idempotency key: it gets the product).
        """
        _check_id("product id", product_id)
        bounds.NAME.check(name, "product name")
        bounds.NAME.check(mah, "MAH")
        if not levels:
            raise InvalidArgument("a product needs at least one level", reason=Reason.BAD_PRODUCT)
        if len({lv.name for lv in levels}) != len(levels):
            raise InvalidArgument(
                f"product {product_id!r}: level names must be distinct", reason=Reason.BAD_PRODUCT
            )
        for level in levels:
            if not level.name.strip():
                raise InvalidArgument(
                    f"product {product_id!r}: a level has no name", reason=Reason.BAD_PRODUCT
                )
            bounds.LEVEL.check(level.name, "level name")
            coderules.validate_level(level)
        levels = [replace(lv, pack_ratio=1) if i == 0 else lv for i, lv in enumerate(levels)]
        claim = not self.pools_from_hub if claim_pools is None else claim_pools
        product = Product(product_id, name, mah, tuple(levels), mixed_pallets)
        encoded = records.product_to_json(product)

        def run(tx: Tx, at: Stamp) -> Product:
            if tx.has_product(product_id):
                raise AlreadyExists(f"product {product_id!r} exists already", reason=Reason.PRODUCT_EXISTS)
            tx.put_product(product)
            for level in product.levels:
                leases.create_pool(tx, level, claim=claim, hub=self.pools_from_hub)
            detail = records.dump_json(encoded).decode()
            tx.append_event(at._replace(line=""), EventKind.PRODUCT_CREATED, 0, detail=detail)
            return product

        return self._write_once(
            ["create_product", encoded, claim, origin.time_us],
            origin,
            run,
            answer=lambda _: {},
            replay=lambda tx, _: tx.product(product_id),
        )

    def product(self, product_id: str) -> Product:
        """A product by id; raises :class:`NotFound`."""
        return self._db.read(lambda tx: tx.product(product_id))

    def products(self) -> list[Product]:
        """All products."""
        return self._db.read(lambda tx: tx.products())

    def create_batch(
        self,
        product_id: str,
        batch_number: str,
        *,
        production_date: dt.date,
        expiry_date: dt.date,
        line: str,
        planned_quantity: int,
        batch_id: str | None = None,
        origin: Origin = ANYONE,
    ) -> Batch:
        """Open a batch of a product on packaging ``line``. ``batch_id`` defaults to the batch number
        and must be new (:class:`AlreadyExists` ``BATCH_EXISTS``, unless it is a retry with the
        ``origin``'s idempotency key: it gets the batch as it stands)."""
        batch_id = batch_id or batch_number
        _check_id("batch number", batch_number)
        _check_id("batch id", batch_id)
        bounds.LINE.check(line, "line")
        if not line.strip() or line != line.strip():
            raise InvalidArgument(
                f"batch {batch_id!r}: line {shown(line)} is blank or has spaces around it; expected the "
                "id of the packaging line the batch is made on, as roles name it (line:<id>)",
                reason=Reason.BAD_LINE,
            )
        if expiry_date <= production_date:
            raise InvalidArgument(
                f"batch {batch_id!r}: expiry {expiry_date} is not after production {production_date}",
                reason=Reason.BAD_DATES,
            )
        if planned_quantity < 0:
            raise InvalidArgument(
                f"batch {batch_id!r}: planned quantity {planned_quantity} < 0", reason=Reason.BAD_QUANTITY
            )
        for level in self.product(product_id).levels:
            if level.rule is CodeRule.GS1:
                from linecode.codes.gs1 import validate_cset82

                validate_cset82("GS1 batch (10)", batch_number)

        def run(tx: Tx, at: Stamp) -> Batch:
            tx.product(product_id)
            if tx.has_batch(batch_id):
                raise AlreadyExists(
                    f"batch {batch_id!r} exists already",
                    reason=Reason.BATCH_EXISTS,
                    hint="pass a distinct batch_id when two products share a batch number",
                )
            batch = Batch(
                batch_id,
                product_id,
                batch_number,
                production_date,
                expiry_date,
                line,
                planned_quantity,
                ref=tx.next_batch_ref(),
                last_event_us=at.time_us,
            )
            tx.put_batch(batch)
            detail = records.dump_json(records.batch_to_json(batch)).decode()
            tx.append_event(at._replace(line=line), EventKind.BATCH_CREATED, batch.ref, detail=detail)
            return batch

        body = [
            "create_batch",
            product_id,
            batch_number,
            batch_id,
            production_date.isoformat(),
            expiry_date.isoformat(),
            line,
            planned_quantity,
            origin.time_us,
        ]
        return self._write_once(
            body, origin, run, answer=lambda _: {}, replay=lambda tx, _: tx.batch(batch_id)
        )

    def batch(self, batch_id: str) -> Batch:
        """A batch by id (current state, status and lock); raises :class:`NotFound`."""
        return self._db.read(lambda tx: tx.batch(batch_id))

    def batches(self) -> list[Batch]:
        """All batches."""
        return self._db.read(lambda tx: tx.batches())

    # --- allocation and leases --------------------------------------------------------------------

    def allocate(self, batch_id: str, level: int | str, count: int, *, origin: Origin = ANYONE) -> Allocation:
        """Hand ``count`` new codes of ``level`` (number or name) of ``batch_id`` to the line.

        The pool's index range is reserved and recorded as allocated to the batch in one durable
        transaction before this returns, so no code is ever handed out twice; the codes are made
        from it when the returned :class:`Allocation` is first asked for them. Repeating a call with
        the same idempotency key returns the same codes. Raises :class:`NotFound`,
        :class:`Precondition` (batch not open), :class:`Exhausted` (pool has no indices left here),
        :class:`~linecode.errors.PermissionDenied` (the batch is not of the origin's ``lines``).
        The event records the origin's line, else the batch's.
        """
        batch = self.batch(batch_id)
        if origin.lines is not None and batch.line not in origin.lines:
            # Before its product's levels are told, and before a replay would hand out its codes (a
            # batch's line never changes, so this needs no transaction; the new records are checked
            # again as they are written).
            raise line_forbidden(batch.line, origin.lines)
        product = self.product(batch.product_id)
        number = product.level(level)
        spec = product.spec(number)
        pool = coderules.pool_name(spec)

        def make(start: int, n: int) -> Packed:
            threads = _GENERATION_THREADS if n >= _THREADED_FROM else 1
            return coderules.generate_packed(self.master, spec, batch, start, n, threads=threads)

        def made(ranges: tuple[IndexRange, ...], seq: int, replayed: bool) -> Allocation:
            return Allocation(batch_id, number, spec.name, pool, ranges, seq, replayed, make)

        def run(tx: Tx, at: Stamp) -> Allocation:
            at = at._replace(line=at.line or batch.line)
            try:
                taken, seq = leases.allocate(tx, tx.batch(batch_id), number, count, at=at)
            except Exhausted as exc:
                if exc.reason == Reason.LEASE_EXHAUSTED:  # the refiller gets at least this much
                    self.lease_demand[pool] = max(self.lease_demand.get(pool, 0), count)
                raise
            return made(tuple(taken), seq, False)

        return self._write_once(
            ["allocate", batch_id, number, count],
            origin,
            run,
            answer=lambda a: {
                "ranges": records.ranges_to_json(a.ranges),
                "pool": a.pool,
                "event_seq": a.event_seq,
            },
            replay=lambda tx, stored: made(
                tuple(records.ranges_from_json(stored["ranges"])), stored["event_seq"], True
            ),
        )

    def export_lease(self, pool: str, count: int, *, origin: Origin = ANYONE) -> Lease:
        """Carve ``count`` indices off this server's part of ``pool`` for another server (SPEC §7).

        They are never issued here afterwards. Give the returned lease (``Lease.as_text()``) to the
        other server's :meth:`import_lease`. Raises :class:`Exhausted` if this server owns fewer.
        A retry with the same idempotency key returns the same lease (a lease lost in transit
        would otherwise leave its indices unusable everywhere).
        """
        return self._write_once(
            ["export_lease", pool, count],
            origin,
            lambda tx, at: leases.export_lease(tx, pool, count, at=at._replace(line="")),
            answer=lambda lease: {"lease": lease.as_text()},
            replay=lambda tx, stored: Lease.parse(stored["lease"]),
        )

    def import_lease(self, lease: Lease | str, *, origin: Origin = ANYONE) -> int:
        """Add a lease exported by the pool's owner to this server's part of the pool; the sequence
        number of the event recording it (a retry with the same idempotency key gets it again).

        The pool must exist here (create the product with ``claim_pools=False``). Raises
        :class:`AlreadyExists` if a range overlaps anything this server owns or has used.
        """
        parsed = Lease.parse(lease) if isinstance(lease, str) else lease
        return self._write_once(
            ["import_lease", parsed.as_text()],
            origin,
            lambda tx, at: leases.import_lease(tx, parsed, at=at._replace(line="")),
            answer=lambda seq: {"event_seq": seq},
            replay=lambda tx, stored: int(stored["event_seq"]),
        )

    def pools(self) -> dict[str, dict[str, Any]]:
        """Each pool's size, free ranges (still issuable here) and used ranges (issued or exported)."""
        return self._db.read(lambda tx: tx.pools())

    # --- life cycle -------------------------------------------------------------------------------

    def _write_change(
        self,
        body: list[Any],
        origin: Origin,
        keys: Sequence[CodeKey],
        run: Callable[[Tx, Stamp], Change],
        named: Sequence[CodeKey] | None = None,
    ) -> Change:
        """:meth:`_write_once` for a write answered with a :class:`Change`. ``body`` ends with the
        origin's time; ``keys`` are the codes the answer names, ``named`` every code the request
        names (default ``keys``): with the origin's ``lines``, they must all be of those lines before
        any rule is checked (the codes the write implies are checked as it changes them)."""
        named = keys if named is None else named
        return self._write_once(
            [*body, origin.time_us],
            origin,
            run,
            answer=_change_answer,
            replay=lambda tx, stored: Change(
                stored["event_seq"], tuple(keys), stored["parent"], replayed=True
            ),
            first=None if origin.lines is None else lambda tx: tx.may_change_codes(named),
        )

    def report_events(
        self, event: LineEvent | str, codes: Sequence[str], *, origin: Origin = ANYONE
    ) -> Change:
        """Report one line event for many codes at once (thousands per call), all or nothing.

        ``printed`` (allocated → encoded), ``verified`` (encoded → commissioned), ``verify_failed``
        (→ scrapped), ``sampled``, ``destroyed``, ``decommissioned``. A code in any other state
        fails the whole call with :class:`Precondition` reason ``ILLEGAL_TRANSITION`` naming each
        offending code and its current state.
        """
        return self.report_many([(event, codes)], origin=origin)

    def report_many(
        self, groups: Sequence[tuple[LineEvent | str, Sequence[str]]], *, origin: Origin = ANYONE
    ) -> Change:
        """Several line events in one atomic write, applied in order — e.g. one machine cycle's
        ``printed``, ``verified`` and ``verify_failed`` codes. All or nothing, one event per group
        (empty groups are skipped); the answer names the last event and every code. A code may be
        in several groups (printed, then verified), but only once in each (``DUPLICATE_CODE``)."""
        parsed = [(_line_event(event), self.keys(codes)) for event, codes in groups]
        parsed = [(kind, codes) for kind, codes in parsed if codes] or parsed[:1]
        if not parsed:
            raise InvalidArgument(
                "no codes in the event report; expected at least one", reason=Reason.NO_CODES
            )
        every = [code for _, codes in parsed for code in codes]

        def run(tx: Tx, at: Stamp) -> Change:
            changes = [lifecycle.report(tx, kind, codes, at=at) for kind, codes in parsed]
            return Change(changes[-1].event_seq, tuple(k for c in changes for k in c.codes))

        return self._write_change(
            ["report", [[kind.value, codes] for kind, codes in parsed]], origin, every, run
        )

    def set_status(self, status: RegulatoryStatus | str, **marking: Unpack[Marking]) -> Change:
        """Set the NMPAB/T 1004 regulatory status of some codes, or of a whole batch (see
        :class:`Marking`). A batch status shows on every code of it that has none of its own.
        A retry with the same idempotency key gets the first answer and writes nothing."""
        value = status if isinstance(status, RegulatoryStatus) else _enum(RegulatoryStatus, status, "status")
        return self._set_marks(value, None, **marking)

    def set_lock(self, lock: Lock | str, **marking: Unpack[Marking]) -> Change:
        """Lock (待定 pending, 待召回 to-be-recalled, 异常 abnormal) or unlock (正常 normal) some codes or a
        whole batch (see :class:`Marking`). A locked code cannot be aggregated or released; a batch
        lock locks all its codes. A retry with the same idempotency key gets the first answer and
        writes nothing."""
        value = lock if isinstance(lock, Lock) else _enum(Lock, lock, "lock")
        return self._set_marks(None, value, **marking)

    def _set_marks(
        self,
        status: RegulatoryStatus | None,
        lock: Lock | None,
        *,
        codes: Sequence[str] | None = None,
        batch_id: str | None = None,
        reason: str = "",
        origin: Origin = ANYONE,
    ) -> Change:
        if (codes is None) == (batch_id is None):
            raise InvalidArgument(
                "give either codes or batch_id, not both or neither", reason=Reason.BAD_TARGET
            )
        bounds.TEXT.check(reason, "reason")
        keys = self.keys(codes or [])
        body = ["marks", keys, batch_id, status, lock, reason]
        if batch_id is not None:
            return self._write_change(
                body,
                origin,
                [],
                lambda tx, at: lifecycle.set_batch_marks(
                    tx, batch_id, status=status, lock=lock, reason=reason, at=at
                ),
            )
        return self._write_change(
            body,
            origin,
            keys,
            lambda tx, at: lifecycle.set_code_marks(tx, keys, status=status, lock=lock, reason=reason, at=at),
        )

    # --- aggregation ------------------------------------------------------------------------------

    def aggregate(
        self, parent: str, children: Sequence[str], *, partial: bool = False, origin: Origin = ANYONE
    ) -> Change:
        """Pack ``children`` into ``parent``, atomically, with every rule of SPEC §4.

        Refusals (nothing written): :class:`InvalidArgument` ``NO_CHILDREN``, ``DUPLICATE_CHILD``,
        ``PARENT_IN_CHILDREN``; :class:`NotFound` ``UNKNOWN_PARENT``/``UNKNOWN_CODE``;
        :class:`Precondition` ``BATCH_NOT_OPEN``, ``PARENT_NOT_COMMISSIONED``,
        ``CHILD_ALREADY_AGGREGATED``, ``CHILD_SCRAPPED``/``SAMPLED``/``DESTROYED``/``DECOMMISSIONED``,
        ``CHILD_NOT_COMMISSIONED``, ``CODE_LOCKED``, ``LEVEL_MISMATCH``, ``BATCH_MISMATCH``,
        ``OVER_PACK_RATIO``, ``PARTIAL_NOT_DECLARED``, ``TIME_WENT_BACKWARDS``; each names the
        offending codes in ``error.codes``. The same idempotency key with the same request returns
        the first answer (``replayed=True``) and writes nothing; with another request it raises
        :class:`AlreadyExists` ``IDEMPOTENCY_KEY_REUSED``.
        """
        return self._pack("aggregate", parent, children, partial, origin)

    def _pack(self, op: str, parent: str, children: Sequence[str], partial: bool, origin: Origin) -> Change:
        """:meth:`aggregate` or (``op="reparent"``) :meth:`reparent`: the same rules, but a reparent
        takes children out of the parents they are in first."""
        pkey, kids = self._family(parent, children)
        move = op == "reparent"
        return self._write_change(
            [op, pkey, kids, partial],
            origin,
            kids,
            lambda tx, at: aggregation.aggregate(tx, pkey, kids, partial=partial, at=at, move=move),
            [pkey, *kids],
        )

    def _family(self, parent: str, children: Iterable[str]) -> tuple[CodeKey, list[CodeKey]]:
        """The keys of a parent and of its children, each named once (``DUPLICATE_CHILD``), the
        parent not among them (``PARENT_IN_CHILDREN``)."""
        pkey, *kids = self._canonical([parent, *children])
        lifecycle.no_duplicates(kids, "child")
        if pkey in kids:
            raise InvalidArgument(
                f"code {pkey} is given as its own child", reason=Reason.PARENT_IN_CHILDREN, codes=[pkey]
            )
        return pkey, kids

    def disaggregate(
        self, parent: str, children: Sequence[str] | None = None, *, origin: Origin = ANYONE
    ) -> Change:
        """Take some (or, with ``children=None``, all) children out of ``parent``; they become loose
        commissioned codes. Raises :class:`Precondition` ``NOT_A_CHILD`` for codes not in the parent."""
        pkey, kids = self._family(parent, children or [])
        some = None if children is None else kids
        return self._write_change(
            ["disaggregate", pkey, some],
            origin,
            kids,
            lambda tx, at: aggregation.disaggregate(tx, pkey, some, at=at),
            [pkey, *kids],
        )

    def reparent(
        self, new_parent: str, children: Sequence[str], *, partial: bool = False, origin: Origin = ANYONE
    ) -> Change:
        """Move children from their current parents (or loose) into ``new_parent`` in one atomic step.

        Records a DISAGGREGATED event per old parent and one AGGREGATED event; every rule of
        :meth:`aggregate` applies except "not already in a parent"."""
        return self._pack("reparent", new_parent, children, partial, origin)

    def replace(
        self,
        parent: str,
        old_child: str,
        new_child: str,
        *,
        old_child_to: State = State.DECOMMISSIONED,
        origin: Origin = ANYONE,
    ) -> Change:
        """Rework: take ``old_child`` out of ``parent`` and put the loose, commissioned ``new_child`` in.

        ``old_child`` ends ``decommissioned`` (default), ``destroyed`` or loose ``commissioned``."""
        pkey, (old, new) = self._family(parent, [old_child, new_child])
        return self._write_change(
            ["replace", pkey, old, new, old_child_to],
            origin,
            [new],
            lambda tx, at: aggregation.replace(tx, pkey, old, new, old_child_to=old_child_to, at=at),
            [pkey, old, new],
        )

    # --- queries ----------------------------------------------------------------------------------

    def _read_code(self, code: str, fn: Callable[[Tx, str, Row], T]) -> T:
        return self._read_key(self.key(code), fn)

    def _read_key(self, key: CodeKey, fn: Callable[[Tx, str, Row], T]) -> T:
        return self._db.read(lambda tx: fn(tx, key, tx.known_row(key)))

    def record(self, code: str) -> CodeRecord:
        """The stored record of a code; raises :class:`NotFound`."""
        return self._read_code(code, lambda tx, key, row: self._public(tx, key, row))

    def parent_of(self, code: str) -> str | None:
        """The parent a code is packed in, or None."""
        return self._read_code(code, lambda tx, key, row: row.parent)

    def children_of(self, code: str) -> list[str]:
        """The codes packed directly in ``code``."""
        return self._read_code(code, lambda tx, key, row: tx.children(key) if row.children else [])

    def tree(self, code: str) -> TreeNode:
        """``code`` and everything inside it, down to the units."""
        return self._read_code(code, aggregation.tree)

    def path_to_top(self, code: str) -> list[str]:
        """Parent, grandparent, … of ``code`` up to the top (empty for a code in no parent)."""
        return self._read_code(code, aggregation.path_to_top)

    def info(self, code: str) -> CodeInfo:
        """Everything about one code: level, state, effective status and lock, batch, path, counts."""
        return self._look.info(self.key(code))

    def _public(self, tx: Tx, key: str, row: Row) -> CodeRecord:
        return CodeRecord(
            code=key,
            level=row.level,
            batch_id=self._batch_id(tx, row.batch_ref),
            state=row.state,
            status=row.status,
            lock=row.lock,
            parent=row.parent,
            children=row.children,
            partial=row.partial,
            last_event_us=row.last_event_us,
        )

    def _batch_id(self, tx: Tx, ref: int) -> str:
        # Refs never change once committed, and reads only see committed data: safe to cache.
        if ref not in self._batch_ids:
            self._batch_ids[ref] = tx.batch_id_of(ref)
        return self._batch_ids[ref]

    def records(self, batch_id: str) -> Iterator[CodeRecord]:
        """Every code record of a batch, level by level (one read transaction per level)."""
        batch = self.batch(batch_id)
        for level in range(1, self.product(batch.product_id).top + 1):
            yield from self._db.read(partial(self._level_records, ref=batch.ref, level=level))

    def codes(self, batch_id: str, level: int | str) -> Iterator[str]:
        """The keys of every code of one level (number or name) of a batch, allocation by allocation
        in index order.

        The codes are made from the batch's allocations a chunk at a time, so walking a
        million-code level holds neither the store nor more than a chunk of keys in memory.
        """
        for chunk in self._key_chunks(batch_id, level):
            yield from chunk

    def _key_chunks(self, batch_id: str, level: int | str) -> Iterator[list[str]]:
        """:meth:`codes` a chunk at a time (made outside any transaction)."""
        batch = self.batch(batch_id)
        number = self.product(batch.product_id).level(level)

        def allocations(tx: Tx) -> list[tuple[Level, int, int]]:
            found = []
            for a in tx.batch_allocations(batch.ref, number):
                rule = tx.pool_rule(a.pool)
                if rule is None:
                    raise LookupError(
                        f"allocation {a} names no pool of this store: the store is inconsistent"
                    )
                found.append((rule, a.start, a.end))
            return found

        for rule, start, end in self._db.read(allocations):
            for first in range(start, end, KEY_CHUNK):
                yield coderules.keys(self.master, rule, first, min(KEY_CHUNK, end - first))

    def parents(
        self, batch_id: str, level: int | str, walked: Callable[[int], object] | None = None
    ) -> Iterator[tuple[str, list[str]]]:
        """Each code of one level of a batch that holds children, with them (in key order): a
        chunk of the level's codes per read transaction, and a code without a record of its own
        (nothing happened to it, so it holds nothing) costs a look-up of its key only.
        ``walked`` is told how many of the level's codes each chunk looked at."""
        for chunk in self._key_chunks(batch_id, level):
            for at in range(0, len(chunk), _PARENT_CHUNK):  # a hundred parents' children at once
                keys = chunk[at : at + _PARENT_CHUNK]
                found = self._db.read(partial(_parents_in, keys))
                if walked is not None:
                    walked(len(keys))
                yield from found

    def _level_records(self, tx: Tx, *, ref: int, level: int) -> list[CodeRecord]:
        return [self._public(tx, k, r) for k, r in tx.batch_rows(ref, level)]

    def counts(self, batch_id: str | None = None) -> list[CountRow]:
        """Codes per batch, level and state (non-zero only), from counters kept on every write."""

        def run(tx: Tx) -> list[CountRow]:
            batches = [tx.batch(batch_id)] if batch_id is not None else tx.batches()
            rows = []
            for batch in sorted(batches, key=lambda b: b.ref):
                product = tx.product(batch.product_id)
                for (level, state), n in sorted(reconcile.counted(tx, batch).items()):
                    rows.append(CountRow(batch.batch_id, level, product.spec(level).name, state, n))
            return rows

        return self._db.read(run)

    def reconcile(self, batch_id: str) -> ReconciliationReport:
        """The reconciliation numbers of a batch as it stands now (writes nothing)."""
        return self._db.read(lambda tx: reconcile.reconcile(tx, tx.batch(batch_id)))

    def close_batch(
        self, batch_id: str, override_reason: str | None = None, *, origin: Origin = ANYONE
    ) -> ReconciliationReport:
        """Reconcile and close a batch; packed, unlocked codes become ``released``.

        With a discrepancy (loose codes, printed-but-unverified codes, empty or undeclared partial
        parents) it raises :class:`Precondition` ``BATCH_DISCREPANCY`` naming the codes, unless
        ``override_reason`` is given: then it closes and records the reason in the BATCH_CLOSED
        event. The report lists the discrepancies either way. Unused codes are reported, never
        reissued. A retry with the same idempotency key writes nothing and gets the close's
        report (its numbers, state and export as they stand at the retry).
        """
        lifecycle.check_time(origin.time_us)  # before the reason, as every write checks its time first
        if override_reason is not None:
            bounds.TEXT.check(override_reason, "override reason")
        return self._write_once(
            ["close_batch", batch_id, override_reason, origin.time_us],
            origin,
            lambda tx, at: reconcile.close(tx, batch_id, override_reason, at=at),
            answer=reconcile.close_answer,
            replay=lambda tx, stored: reconcile.as_closed(tx, batch_id, stored),
            first=None if origin.lines is None else lambda tx: tx.may_change([tx.batch(batch_id).ref]),
        )

    def mark_exported(self, batch_id: str, destination: str, *, origin: Origin = ANYONE) -> Change:
        """Record that a closed batch's data was delivered to ``destination`` (e.g. the regulator's
        platform and its receipt number): the batch becomes ``exported`` and a BATCH_EXPORTED event
        says where its data went. Exporting a document does not do this by itself: only the caller
        knows the delivery succeeded. Delivered again, the batch gets one more event; a retry with
        the same idempotency key gets the first answer (``replayed``) and writes nothing.

        Raises :class:`Precondition` ``BATCH_NOT_CLOSED`` (an open batch) or ``TIME_WENT_BACKWARDS``
        (a time sent, earlier than the batch's last event), :class:`NotFound` ``UNKNOWN_BATCH``,
        :class:`InvalidArgument` ``BAD_DESTINATION`` (blank or over 1000 characters) and
        :class:`AlreadyExists` ``IDEMPOTENCY_KEY_REUSED``."""
        if not destination.strip() or not bounds.TEXT.fits(destination):
            raise InvalidArgument(
                f"the destination of the export {shown(destination)} is blank, too long or holds control "
                f"characters; expected where the batch's data went, {bounds.TEXT.describe()}",
                reason=Reason.BAD_DESTINATION,
                hint="e.g. the regulator's platform and the receipt number of the submission",
            )
        return self._write_change(
            ["mark_exported", batch_id, destination],
            origin,
            [],
            lambda tx, at: Change(reconcile.mark_exported(tx, batch_id, destination, at=at), ()),
        )

    def events(self, batch_id: str | None = None, since: int = 0) -> Iterator[Event]:
        """Events with sequence number > ``since``, oldest first, optionally of one batch only.

        Reads in chunks (one short read transaction each), so a slow consumer never holds the store.
        """
        ref = None
        if batch_id is not None:
            ref = self.batch(batch_id).ref
            if batch_id in self._db.read(lambda tx: retention.Pruned.of(tx).batches):
                raise Precondition(
                    f"the events of batch {batch_id!r} were pruned here once the hub held them; expected "
                    "a batch whose history this site still keeps",
                    reason=Reason.EVENTS_PRUNED,
                    hint="export it from the hub: linecode hub export --batch …",
                )
        seq = since
        while True:
            chunk, last = self._db.read(
                partial(
                    Tx.events_after,
                    since=seq,
                    batch_ref=ref,
                    max_events=_EVENT_CHUNK,
                    max_codes=_EVENT_CHUNK_CODES,
                )
            )
            yield from chunk
            chunk = []  # release it before reading the next one, so two never sit in memory together
            if last == seq:
                return
            seq = last

    def packed_events(self, since: int, *, max_events: int, max_bytes: int) -> Outgoing:
        """The events after ``since`` as the store keeps them (``records.pack_event``), up to
        ``max_events`` or ``max_bytes`` (at least one if there is any), the ids of the batch numbers
        they hold, and the level of each code they name of a pool several levels draw from: what a
        site ships to its hub. Raises :class:`Precondition` ``EVENTS_PRUNED`` if retention pruned
        the event after ``since`` (a hub that lost events the site no longer has)."""

        def run(tx: Tx) -> Outgoing:
            first, packed = tx.packed_events_after(since, max_events=max_events, max_bytes=max_bytes)
            if packed and first != since + 1:
                raise Precondition(
                    f"events {since + 1}-{first - 1} were pruned here after the hub acknowledged them, "
                    f"but the hub asks for them again (it holds {since} only); nothing was shipped",
                    reason=Reason.EVENTS_PRUNED,
                    hint="the hub's database lost events it acknowledged: see docs/hub.md, disaster recovery",
                )
            refs = {records.event_batch_ref(raw) for raw in packed} - {0}
            names = tx.batch_refs()
            return Outgoing(packed, {ref: names[ref] for ref in refs}, _shared_levels(tx, packed))

        return self._db.read(run)

    def prune(self, retention_days: int) -> retention.Pruned:
        """Prune the shipped events and the idempotency answers older than ``retention_days``
        (``retention.py`` says which, and what is kept forever); what was pruned."""
        return retention.prune(self, now_us() - retention_days * retention.DAY_US)

    def shipped(self) -> int:
        """The last event the hub has acknowledged (0: none yet, or a store of no hub)."""
        return self._db.read(lambda tx: tx.shipped())

    def set_shipped(self, seq: int) -> None:
        """Keep, durably, that the hub has every event to ``seq`` (never moves back, never past the
        log's end)."""

        def run(tx: Tx) -> None:
            if seq > tx.last_seq():
                raise Precondition(
                    f"the hub acknowledged event {seq}, past this store's last ({tx.last_seq()}); "
                    "expected the hub to hold this store's events only",
                    reason=Reason.SHIP_CONFLICT,
                    hint="this store is not the one that shipped to the hub: rebuild it from the hub",
                )
            if seq > tx.shipped():
                tx.set_shipped(seq)

        self._db.write(run)

    def last_event_seq(self) -> int:
        """Sequence number of the latest event (0 if none)."""
        return self._db.read(lambda tx: tx.last_seq())

    def verify(self, data: str) -> Verification:
        """What a scanned code is: genuine (known here, right keyed check), its state, batch, expiry,
        path, and whether it is usable (in use, not locked, not expired). Never raises for bad input;
        the answer says why."""
        return self._look.verify(data)

    def symbol(self, code: str) -> tuple[str, bool]:
        """What a printer puts into the DataMatrix of an issued code (any accepted form of it), and
        whether it is a GS1 symbol. Raises :class:`NotFound` for a code this store never issued."""
        return self._look.symbol(self.key(code))

    def lines_of(self, codes: Sequence[str]) -> set[str]:
        """The packaging lines of the batches of ``codes`` (one read transaction); raises
        :class:`NotFound` for a code this store never issued."""

        keys = [self.key(code) for code in codes]

        def run(tx: Tx) -> set[str]:
            rows = lifecycle.require(tx, keys)[1]
            return {tx.batch_by_ref(ref).line for ref in {row.batch_ref for row in rows}}

        return self._db.read(run)

    def store_id(self) -> str:
        """This store's random id: a copy made by :meth:`backup` is another store, with another."""
        return self._db.store_id()

    def used_bytes(self) -> int:
        """Bytes of the data file in use: LMDB pages up to the last one written."""
        return self._db.used_bytes()

    def clear_stale_readers(self) -> int:
        """Free the LMDB reader slots of processes that died mid-read; how many (see ``Database``)."""
        return self._db.clear_stale_readers()

    def on_commit(self, listener: Callable[[int], object]) -> None:
        """Call ``listener`` with the number of write requests in every durable commit."""
        self._db.commit_listeners.append(listener)

    def allocated_symbols(
        self, batch_id: str, level: int | str, first_index: int, count: int
    ) -> tuple[list[str], list[str], bool]:
        """Keys and symbol data of the codes of pool indices ``first_index`` .. ``+ count - 1`` of a
        batch's level, in print order, and whether they are GS1. Every one must have been allocated
        to that batch (:class:`NotFound` ``NOT_ALLOCATED`` names the first that was not)."""
        return self._look.allocated_symbols(batch_id, level, first_index, count)

    def backup(self, path: Path | str) -> int:
        """A consistent, compacted copy of the store as it stands in ``path``, a new or empty
        directory; the number of the last event it holds (every write acknowledged before the call is
        in it). Works read-only beside a running server. The master key is not part of it: copy
        ``master.key`` along (``linecode backup`` does). Raises :class:`AlreadyExists`
        ``BACKUP_EXISTS`` for a directory with files in it, ``ConfigError`` ``BACKUP_FAILED``."""
        return self._db.backup(Path(path))


class Outgoing(NamedTuple):
    """Events as a site ships them (``Store.packed_events``)."""

    events: list[bytes]
    batches: dict[int, str]
    """The batch numbers inside the events, named."""
    levels: dict[str, int]
    """The level of each code the events name of a pool several levels draw from."""


def _shared_levels(tx: Tx, packed: list[bytes]) -> dict[str, int]:
    """The level of each code ``packed`` names whose pool several levels draw from (none, usually:
    then nothing is unpacked)."""
    drawn: dict[str, set[int]] = {}
    for product in tx.products():
        for n, level in enumerate(product.levels, start=1):
            drawn.setdefault(coderules.pool_name(level), set()).add(n)
    shared = {pool for pool, numbers in drawn.items() if len(numbers) > 1}
    if not shared:
        return {}
    out: dict[str, int] = {}
    for raw in packed:
        event = records.unpack_event(0, raw, {})
        for code in (*event.codes, event.parent) if event.parent else event.codes:
            if code not in out and coderules.pool_of(code, shared) is not None:
                row = tx.row(code)
                if row is not None:
                    out[code] = row.level
    return out


def _parents_in(keys: list[str], tx: Tx) -> list[tuple[str, list[str]]]:
    found = []
    for key in keys:
        row = tx.own_row(key)
        if row is not None and row.children:
            found.append((key, tx.children(key)))
    return found


def _line_event(event: LineEvent | str) -> LineEvent:
    try:
        return LineEvent(event)
    except ValueError:
        raise InvalidArgument(
            f"unknown line event {event!r}; expected one of {', '.join(e.value for e in LineEvent)}",
            reason=Reason.UNKNOWN_EVENT,
        ) from None


def _at_own_time(write: Callable[[int], T], *, own: bool) -> T:
    """``write(not_before)``, the time of its events chosen by the caller or, if ``own``, by the store:
    the server's clock, or ``not_before`` when later. A write at the store's own time refused because
    a code or batch it touches has a later event (a line controller's clock a little ahead of the
    server's) is made again at that event's time, and again while each refusal names a later one (a
    write may check its records in steps: old parents, groups of a report, codes then batch): the
    log stays in order per code and batch. A refused write wrote nothing, so writing again is safe.
    Refused for good only when that event is more than ``MAX_AHEAD_US`` ahead of the server's clock
    (its clock was stepped back), or after ``_OWN_TIME_TRIES`` writes (other lines keep moving the
    codes on)."""
    not_before = 0
    for _ in range(_OWN_TIME_TRIES - 1):
        try:
            return write(not_before)
        except TimeWentBackwards as exc:
            if not own or exc.latest_us <= not_before or exc.latest_us > now_us() + lifecycle.MAX_AHEAD_US:
                raise
            not_before = exc.latest_us
    return write(not_before)


_OWN_TIME_TRIES = 16
"""Writes of one request at the store's own time at most."""


def _check_id(what: str, value: str) -> None:
    if not value.strip() or not bounds.ID.fits(value):
        raise InvalidArgument(
            f"{what} {shown(value)}: expected {bounds.ID.describe()}, not all spaces",
            reason=Reason.BAD_ID,
        )


def _enum(cls: Any, value: str, what: str) -> Any:
    try:
        return cls[value.upper()]
    except KeyError:
        for member in cls:
            if getattr(member, "chinese", None) == value:
                return member
        raise InvalidArgument(
            f"unknown {what} {value!r}; expected one of {', '.join(m.label for m in cls)}",
            reason=Reason.UNKNOWN_LOCK if what == "lock" else Reason.UNKNOWN_STATUS,
        ) from None


def _change_answer(change: Change) -> dict[str, Any]:
    """What an idempotency record keeps of a write answered with a :class:`Change`."""
    return {"event_seq": change.event_seq, "parent": change.parent}
