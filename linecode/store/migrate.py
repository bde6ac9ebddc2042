"""``linecode migrate``: a store of layout 2 (a record per allocated code) moved to layout 3
(allocations as index ranges), explicitly, never on its own.

What changes, in one LMDB write transaction (a crash leaves layout 2 as it was):

* each pool record gets the code rule of the levels drawing from it (``coderules.pool_rule``);
* each ALLOCATED event's codes become its ranges: the codes the event lists must be exactly the
  codes its ranges make under the store's master key (else nothing is changed: a wrong key, or a
  damaged log), and the event keeps pool, ranges and level (``records.allocation_detail``) under
  its number, time, actor and line;
* each allocation is filed as a range (``allocations``, ``batch_ranges``);
* the record of every code that is still as its allocation made it (no event of its own) is
  dropped: the store answers for it from its allocation; every other record stays in its slot;
* the per-code batch index (``by_batch``) is dropped, and the store marked layout 3.

Before that the store is backed up (a compacted copy, ``Database.backup``; the command copies
``master.key`` along), and after it checked (``check.py``, by the command).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from linecode.errors import ConfigError, NotFound
from linecode.reasons import Reason
from linecode.serials import MasterKey
from linecode.serials.keys import KEY_FILE_NAME
from linecode.store import coderules, records
from linecode.store.database import FORMAT, KEY_CHECK, MIGRATABLE, NEW_IN_FORMAT, Database, key_check
from linecode.store.model import EventKind, Lease, Level
from linecode.store.records import AllocatedRange, Row
from linecode.store.tx import Tx


@dataclass(frozen=True)
class Migration:
    """What ``migrate`` did."""

    path: Path
    backup: Path | None
    """Where the store was copied before it was changed (None: nothing to do)."""
    allocations: int = 0
    """Allocations filed as ranges."""
    events: int = 0
    """ALLOCATED events rewritten to their ranges."""
    records_dropped: int = 0
    """Records of codes still as their allocation made them."""
    records_kept: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    """Bytes of the store in use (LMDB pages), before and after (a compacted copy: ``linecode backup``)."""

    @property
    def done(self) -> bool:
        """False when the store was of the current layout already."""
        return self.backup is not None


def migrate(path: Path | str, master: MasterKey | None = None, backup: Path | str | None = None) -> Migration:
    """Move the store in ``path`` from layout 2 to 3 (see the module), after backing it up to
    ``backup`` (default: ``<path>.layout2-<time>`` beside it). A store of layout 3 is left alone.
    ``master``: the store's master key (default: as ``Store.open`` finds it). Raises
    :class:`ConfigError` ``STORE_IN_USE`` while a server has the data dir, ``STORE_FORMAT`` for any
    other layout, ``MIGRATION_REFUSED`` when the log does not match its ranges (nothing changed)."""
    path = Path(path)
    if not (path / "data.mdb").exists():  # a mistyped --data must not become a new, empty store
        raise NotFound(
            f"no linecode store in {path}: data.mdb is missing",
            reason=Reason.NO_STORE,
            hint="check --data: it names the data dir of the server that wrote the store",
        )
    db = Database(path, migrating=True, sync=True)
    try:
        if db.format == FORMAT:
            return Migration(path, None)
        assert db.format == MIGRATABLE
        key = master or MasterKey.load(path / KEY_FILE_NAME, create=False)
        db.master = lambda: key
        copy = Path(backup) if backup is not None else _beside(path)
        db.backup(copy)
        before = db.used_bytes()
        try:
            counts = db.write(lambda tx: _forward(tx, key))
        except ConfigError:
            shutil.rmtree(copy, ignore_errors=True)  # refused: the store is as it was, so is its copy
            raise
        return Migration(path, copy, *counts, bytes_before=before, bytes_after=db.used_bytes())
    finally:
        db.close()


def _beside(path: Path) -> Path:
    """A new directory beside the data dir for its copy: ``<name>.layout2-<time>[-n]``."""
    stem = f"{path.name}.layout{MIGRATABLE.decode()}-{time.strftime('%Y%m%dT%H%M%S')}"
    copy, n = path.with_name(stem), 1
    while copy.exists():
        n += 1
        copy = path.with_name(f"{stem}-{n}")
    return copy


def _refused(message: str) -> ConfigError:
    return ConfigError(
        f"{message}; the store was not changed",
        reason=Reason.MIGRATION_REFUSED,
        hint="check that the master key is the store's own (LINECODE_MASTER_KEY or master.key)",
    )


def _forward(tx: Tx, master: MasterKey) -> tuple[int, int, int, int]:
    """Layout 2 → 3 in ``tx``: (allocations, events, records dropped, records kept)."""
    for name in NEW_IN_FORMAT:  # made in this transaction: a refusal leaves no trace of them
        tx.db.dbs[name] = tx.db.env.open_db(name.encode(), txn=tx.txn, dupsort=name == "batch_ranges")
    _pool_rules(tx)
    names = {name: ref for ref, name in tx.batch_refs().items()}
    allocations = events = 0
    cursor = tx.txn.cursor(db=tx.db.dbs["events"])
    rewritten: list[tuple[bytes, bytes]] = []
    for key, raw in cursor:
        if records.event_kind(raw) is not EventKind.ALLOCATED:
            continue
        seq = records.seq_of(key)
        event = records.unpack_event(seq, raw, {ref: name for name, ref in names.items()})
        lease = Lease.parse(event.detail)
        ref = names[event.batch_id or ""]
        level = _level_of(tx, event.codes, seq)
        rule = tx.pool_rule(lease.pool)
        if rule is None:
            raise _refused(f"event {seq} allocated from pool {lease.pool!r}, which the store does not have")
        made: list[str] = []
        for r in lease.ranges:
            made += coderules.keys(master, rule, r.start, r.count)
        if made != list(event.codes):
            raise _refused(
                f"event {seq} lists codes that are not the codes its ranges ({lease.as_text()}) make under "
                "this master key"
            )
        for r in lease.ranges:
            tx.put_allocation(AllocatedRange(lease.pool, r.start, r.count, ref, level, event.time_us, seq))
            allocations += 1
        rewritten.append(
            (
                bytes(key),
                records.pack_event(
                    event.time_us,
                    event.kind,
                    ref,
                    event.actor,
                    event.line,
                    (),
                    event.parent,
                    records.allocation_detail(lease.pool, lease.ranges, level),
                ),
            )
        )
        events += 1
    for key, raw in rewritten:
        tx.txn.put(key, raw, db=tx.db.dbs["events"])
    dropped = kept = 0
    store = tx.db.dbs["code_records"]
    cursor = tx.txn.cursor(db=tx.db.dbs["code_slots"])
    more = cursor.first()
    while more:  # one record at a time: a store of tens of millions of codes fits in memory
        code, slot = bytes(cursor.key()).decode(), bytes(cursor.value())
        record = tx.txn.get(slot, db=store)
        if record is None:
            raise _refused(f"code {code} is filed under a slot that holds no record")
        row = Row.unpack(record)
        found = tx.allocation_of(code)
        if found is None or (found.batch_ref, found.level) != (row.batch_ref, row.level):
            raise _refused(f"code {code} has a record but no allocation of its batch and level made it")
        if row == records.new_row(found.level, found.batch_ref, found.time_us):
            tx.txn.delete(slot, db=store)
            more = cursor.delete()  # and on to the next
            dropped += 1
        else:
            kept += 1
            more = cursor.next()
    tx.txn.drop(tx.db.dbs["by_batch"], delete=True)
    tx.txn.put(b"linecode-format", FORMAT)
    tx.txn.put(KEY_CHECK, key_check(master))  # the key the codes were just proven to be made with
    return allocations, events, dropped, kept


def _pool_rules(tx: Tx) -> None:
    """Give each pool record the code rule of its levels (refused if two levels disagree)."""
    rules: dict[str, Level] = {}
    for product in tx.products():
        for level in product.levels:
            name = coderules.pool_name(level)
            first = rules.setdefault(name, level)
            if coderules.pool_rule(first) != coderules.pool_rule(level):
                raise _refused(
                    f"levels of pool {name!r} make its codes by two rules ({coderules.pool_rule(first)} and "
                    f"{coderules.pool_rule(level)}), so an index would be two codes"
                )
    for name in tx.pools():
        clash = coderules.overlapping_pool(name, tx.pools())
        if clash is not None:
            raise _refused(
                f"pools {name!r} and {clash!r} make some of the same SSCCs (one company prefix extends "
                "the other), which layout 3 cannot tell apart; finish their batches with the linecode "
                "that wrote them"
            )
    for name, pool in tx.pools().items():
        if name not in rules:
            raise _refused(f"pool {name!r} is drawn from by no product's level")
        tx.put_pool(name, {**pool, **coderules.pool_rule(rules[name])})


def _level_of(tx: Tx, codes: tuple[str, ...], seq: int) -> int:
    """The level of the codes an ALLOCATED event of layout 2 lists (from their records)."""
    get = tx.txn.get
    levels = set()
    for code in codes[:1] + codes[-1:]:
        slot = get(code.encode(), db=tx.db.dbs["code_slots"])
        raw = None if slot is None else get(slot, db=tx.db.dbs["code_records"])
        if raw is None:
            raise _refused(f"event {seq} allocated {code}, which has no record")
        levels.add(Row.unpack(raw).level)
    if len(levels) != 1:
        raise _refused(f"event {seq} allocated codes of several levels")
    return levels.pop()


def describe(result: Migration) -> str:
    """One paragraph for the command's output."""
    if not result.done:
        return f"the store in {result.path} is of layout {FORMAT.decode()} already: nothing to do"
    return (
        f"migrated {result.path} from layout {MIGRATABLE.decode()} to {FORMAT.decode()}: "
        f"{result.allocations:,} allocations filed as ranges, {result.events:,} ALLOCATED events "
        f"rewritten to their ranges, {result.records_dropped:,} records of codes without an event of "
        f"their own dropped ({result.records_kept:,} kept); {result.bytes_before:,} bytes in use before, "
        f"{result.bytes_after:,} after (`linecode backup` makes a compacted copy); the store as it was "
        f"is in {result.backup}"
    )
