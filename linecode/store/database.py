"""A data dir's LMDB environment and its one writer: group commit, growing the map, a full disk, backup.

Group commit (one writer thread, one ``fsync`` per group, savepoints only after a failure), the data
dir's files and writing from several processes: ``docs/store.md``.
"""

from __future__ import annotations

import _thread
import errno
import logging
import os
import queue
import resource
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import lmdb

from linecode.errors import AlreadyExists, ConfigError, Exhausted, NotFound
from linecode.reasons import Reason
from linecode.serials import MasterKey
from linecode.store.model import Level
from linecode.store.tx import Tx
from linecode.store.writer_lock import LOCK_FILE, join_writer_lock, take_writer_lock

T = TypeVar("T")

DEFAULT_MAP_SIZE = 1 << 30
"""Initial map size (1 GiB); grows by doubling when full, up to ``max_map_size``."""
DEFAULT_MAX_MAP_SIZE = 1 << 40
"""Largest map size (1 TiB); the initial size is capped at it. Address space only: the file grows
as data is written."""
MAX_GROUP = 512
"""Most requests one group commit takes (bounds how long a caller waits behind others)."""
FORMAT = b"3"
"""The store's layout, kept under :data:`_FORMAT_KEY` in LMDB's main database: 3 = allocations kept
as index ranges (``allocations``, ``batch_ranges``), a code's record written at its first event;
records filed by slot (``code_slots``, ``code_records``, ``children`` by the parent's slot) as in 2,
where every allocated code had its record and its entry in ``by_batch`` (``linecode migrate``
moves a store from 2 to 3: ``store/migrate.py``)."""
MIGRATABLE = b"2"
"""The layout ``linecode migrate`` moves forward."""
NEW_IN_FORMAT = ("allocations", "batch_ranges")
"""The databases :data:`FORMAT` has and :data:`MIGRATABLE` had not."""
_FORMAT_KEY = b"linecode-format"
_STORE_ID = b"linecode-store-id"
"""Under it in the main database: this store's random id (a copy made by ``backup`` gets a new one).
A site of a hub keys its grants with it, so two stores of one site never ask for the same range."""
KEY_CHECK = b"linecode-key-check"
"""Under it in the main database: a value derived from the store's master key, so a store opened
with another key (a lost ``master.key`` replaced, another site's) is refused instead of answering
every allocated code as unknown."""
DEFAULT_MAX_READERS = 512
"""LMDB reader slots, shared by every process that has the environment open (the first opener sets
it): a read transaction holds one, and so does each spare one py-lmdb keeps for reuse."""
_DBS = (
    "products",  # product id -> JSON
    "batches",  # batch id -> JSON
    "batch_refs",  # u32 ref -> batch id
    "pools",  # pool name -> JSON: free and used index ranges
    "code_slots",  # code key -> u64 slot (first written first), for codes with an event of their own
    "code_records",  # u64 slot -> packed Row
    "children",  # parent's slot -> child keys (dupsort)
    "allocations",  # pool name + 0 + u64 start index -> records.AllocatedRange
    "batch_ranges",  # u32 batch ref + u8 level -> allocation keys (dupsort)
    "events",  # u64 sequence -> packed event
    "counts",  # u32 batch ref + u8 level + u8 state -> i64
    "idempotency",  # idempotency key -> request digest and answer (records.pack_answer)
)
_DUPSORT = {"children", "batch_ranges", "by_batch"}
_NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
"""What LMDB reports when the data file cannot grow: a write past the space left comes back short,
which LMDB reports as EIO (so an EIO counts only when the disk or the file size limit is reached)."""
_NEARLY_FULL = 1 << 20
"""Free bytes on the data dir's file system below which an EIO on writing counts as a full disk."""

log = logging.getLogger("linecode.store")


class Database:
    """One data dir's LMDB environment: reads from any thread, writes through the group-commit writer."""

    def __init__(
        self,
        path: Path,
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
        readonly: bool = False,
        group_commit: bool = True,
        sync: bool = True,
        shared: bool = False,
        max_readers: int = DEFAULT_MAX_READERS,
        migrating: bool = False,
    ) -> None:
        """``migrating``: open a store of layout :data:`MIGRATABLE` too (``store/migrate.py`` only)."""
        self.path = Path(path)
        self.readonly = readonly
        self.max_map_size = max_map_size
        map_size = min(map_size, max_map_size)
        self._lock_fd: int | None = None
        if shared:
            self._lock_fd = join_writer_lock(self.path / LOCK_FILE)
            map_size = max_map_size
        elif readonly:
            if not (self.path / "data.mdb").exists():
                raise NotFound(
                    f"no linecode store in {self.path}: data.mdb is missing",
                    reason=Reason.NO_STORE,
                    hint="check --data; a store is created by the server or `linecode demo --data DIR`",
                )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = take_writer_lock(self.path / LOCK_FILE)
        try:
            self.env = lmdb.open(
                str(self.path),
                map_size=map_size,
                max_dbs=len(_DBS) + 2,
                readonly=readonly,
                sync=sync,
                metasync=sync,
                max_readers=max_readers,
                max_spare_txns=16,
            )
            found = _check_format(self.env, self.path, readonly, migrating)
            self.format = found
            self.dbs: dict[str, Any] = {}
            older = found == MIGRATABLE  # its new databases are made by the migration's own transaction
            for name in _DBS + (("by_batch",) if older else ()):
                if older and name in NEW_IN_FORMAT:
                    continue
                if readonly:
                    self.dbs[name] = self.env.open_db(name.encode(), create=False, dupsort=name in _DUPSORT)
                else:
                    self.dbs[name] = self.env.open_db(name.encode(), dupsort=name in _DUPSORT)
        except (ConfigError, lmdb.Error) as exc:
            if hasattr(self, "env"):
                self.env.close()
            self._release_lock()
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(
                f"cannot open the LMDB store in {self.path}: {exc}", reason=Reason.STORE_UNREADABLE
            ) from exc
        self._readers = 0
        self._resizing = False
        self._guard = threading.Condition()
        self._group = group_commit
        self._inline = threading.Lock()
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._unanswered: list[_Request] = []
        """Committed requests whose callers are still to be woken (see ``_answer``)."""
        self.commits = 0
        """Durable commits so far (for the benchmark's "requests per commit")."""
        self.last_origin = ("", "")
        """The actor and line of an event last found within their bounds (``Tx.append_event``)."""
        self.decoded: dict[tuple[str, bytes], Any] = {}
        """The store's one cache of products and batches: decoded records by their database and
        stored bytes. The same bytes always mean the same record, so it saves a JSON decode per
        request without ever serving a stale record (those of a rolled-back write only linger unused)."""
        self.master: Callable[[], MasterKey] = _no_master
        """The serials' master key (the ``Store`` sets it): a code with no record of its own is found
        through its pool index, which only the key can tell (``Tx.row``)."""
        self.pool_rules: dict[str, Level] = {}
        """The code rule of each pool met so far (a pool's rule never changes once it exists)."""
        self.commit_listeners: list[Callable[[int], object]] = []
        """Told the number of requests of every durable commit (metrics of group commit)."""
        if not readonly and group_commit:
            self._writer = threading.Thread(target=self._drain, name="linecode-store-writer", daemon=True)
            self._writer.start()

    def store_id(self) -> str:
        """This store's random id, made on first asking (see :data:`_STORE_ID`)."""
        with self.reading() as txn:
            found = txn.get(_STORE_ID)
        if found is None:
            if self.readonly:
                return ""
            with self.env.begin(write=True) as txn:
                found = txn.get(_STORE_ID)
                if found is None:
                    found = secrets.token_hex(8).encode()
                    txn.put(_STORE_ID, found)
        return bytes(found).decode()

    def is_empty(self) -> bool:
        """True while nothing was ever written but the layout's mark (no event, so no product)."""
        with self.reading() as txn:
            return int(txn.stat(self.dbs["events"])["entries"]) == 0

    def check_key(self, master: MasterKey) -> None:
        """Raise :class:`ConfigError` ``BAD_MASTER_KEY`` unless ``master`` is the key this store
        was written with; a store that has not kept its key's check yet keeps it now (unless it
        is opened read-only)."""
        expected = key_check(master)
        with self.reading() as txn:
            kept = txn.get(KEY_CHECK)
        if kept is None:
            if not self.readonly:
                with self.env.begin(write=True) as txn:
                    txn.put(KEY_CHECK, expected)
            return
        if bytes(kept) != expected:
            raise ConfigError(
                f"the store in {self.path} was written with another master key than the one given "
                f"({master!r}); every code it issued would be unknown under this one, so it is not opened",
                reason=Reason.BAD_MASTER_KEY,
                hint="use the store's own key: its master.key, or LINECODE_MASTER_KEY as the server had it",
            )

    # --- reading --------------------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[lmdb.Transaction]:
        """A read transaction; short-lived, so the map can grow between reads."""
        with self._guard:
            while self._resizing:
                self._guard.wait()
            self._readers += 1
        try:
            txn = self._begin_read()
            try:
                yield txn
            finally:
                txn.abort()
        finally:
            with self._guard:
                self._readers -= 1
                if not self._readers:
                    self._guard.notify_all()

    def _begin_read(self) -> lmdb.Transaction:
        try:
            return self.env.begin(buffers=False)
        except lmdb.MapResizedError:
            # The writer (another process) grew the map: adopt the new size and go on.
            self.env.set_mapsize(0)
            return self.env.begin(buffers=False)

    def read(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` on a read-only :class:`Tx`."""
        with self.reading() as txn:
            return fn(Tx(txn, self))

    # --- writing --------------------------------------------------------------------------------

    def write(self, fn: Callable[[Tx], T]) -> T:
        """Run ``fn`` in a write transaction; returns once its effect is durable (or raises, having
        written nothing)."""
        if self.readonly:
            raise ConfigError(
                f"the store in {self.path} is open read-only",
                reason=Reason.READ_ONLY,
                hint="open it without readonly",
            )
        if self._writer is None:
            with self._inline:
                outcome = self._commit([fn])[0]
        else:
            request = _Request(fn)
            self._queue.put(request)
            request.done.acquire()  # released by the writer once the outcome is durable
            outcome = request.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    def _drain(self) -> None:
        while True:
            if self._queue.empty():
                self._answer()  # nothing to overlap the answers with: give them now
            first = self._queue.get()
            if first is None:
                self._answer()
                return
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            commits = self.commits
            try:
                outcomes = self._commit([request.fn for request in group])
            except Exception as exc:  # e.g. the store is full: every request of the group gets it
                outcomes = [exc] * len(group)
            for request, outcome in zip(group, outcomes, strict=True):
                request.outcome = outcome
            self._unanswered.extend(group)
            if stop or self.commits == commits:
                self._answer()  # nothing was committed (all failed): no fsync to hide the answers in
            if stop:
                return

    def _answer(self) -> None:
        """Wake the callers whose requests are committed (durable, or failed).

        The writer calls this just before it commits the next group: the commit's ``fsync`` leaves
        the GIL free for a millisecond or more, and the woken callers (and whoever called them)
        then do their Python in that gap instead of competing with the writer while it runs the
        next group. With no next group waiting, it answers at once."""
        for request in self._unanswered:
            request.done.release()
        self._unanswered.clear()

    def _commit(self, fns: list[Callable[[Tx], Any]]) -> list[Any]:
        """Run ``fns`` in one durable transaction, a failing one rolled back alone; outcome per function."""
        while True:
            try:
                return self._commit_once(fns)
            except lmdb.MapFullError:
                self._grow()
            except lmdb.Error as exc:
                full = self._disk_full(exc)
                if full is None:
                    raise
                log.warning("write refused: %s", full, extra={"reason": full.reason})
                raise full from exc

    def _commit_once(self, fns: list[Callable[[Tx], Any]]) -> list[Any]:
        failed: dict[int, Exception] = {}
        plain = len(fns)  # requests before this index run without a savepoint
        while True:
            outcomes = self._run_group(fns, failed, plain)
            if outcomes is not None:
                return outcomes
            plain = min(failed)  # only ever moves left, so this loop ends

    def _run_group(
        self, fns: list[Callable[[Tx], Any]], failed: dict[int, Exception], plain: int
    ) -> list[Any] | None:
        """One attempt at committing ``fns``: the outcome per function, or None when a function
        failed outside a savepoint (it is then added to ``failed`` and nothing was written)."""
        if len(failed) == len(fns):
            return [failed[i] for i in range(len(fns))]
        outcomes: list[Any] = []
        txn = self.env.begin(write=True)
        shared = Tx(txn, self, writing=True)  # for the requests before ``plain``
        try:
            for i, fn in enumerate(fns):
                if i in failed:
                    outcomes.append(failed[i])
                elif i < plain:
                    try:
                        outcomes.append(fn(shared))
                    except Exception as exc:
                        if _fails_group(exc):
                            raise
                        txn.abort()
                        failed[i] = exc
                        return None
                else:
                    shared.flush_counts()  # its request may read them; no writes here while it is open
                    child = self.env.begin(write=True, parent=txn)
                    try:
                        outcomes.append(_run(fn, child, self))
                    except Exception as exc:
                        child.abort()
                        if _fails_group(exc):
                            raise
                        outcomes.append(exc)
                    else:
                        child.commit()
            if len(failed) == len(fns):
                txn.abort()  # nothing to store, so no fsync to wait for
                return outcomes
            shared.flush_counts()
            self._answer()
            txn.commit()
        except BaseException:
            txn.abort()
            raise
        self.commits += 1
        for listener in self.commit_listeners:
            listener(len(fns))
        return outcomes

    def _grow(self) -> None:
        self._answer()  # growing waits for readers: never while a committed caller is kept waiting
        size = self.env.info()["map_size"]
        if size >= self.max_map_size:
            if self.clear_stale_readers():
                return  # the pages their snapshots held can be reused now: try again
            full = Exhausted(
                f"the store in {self.path} is full at its maximum map size of {size:,} bytes; "
                "nothing of the failed write was stored, reads go on",
                reason=Reason.STORE_FULL,
                hint="raise max_map_size ([store] max_map_size_mb of linecode serve) and restart; "
                "make sure the disk has room for it",
            )
            log.warning("write refused: %s", full, extra={"reason": full.reason})
            raise full
        with self._guard:
            self._resizing = True
            while self._readers:
                self._guard.wait()
            try:
                self.env.set_mapsize(min(size * 2, self.max_map_size))
            finally:
                self._resizing = False
                self._guard.notify_all()

    def _disk_full(self, exc: lmdb.Error) -> Exhausted | None:
        """``exc`` as the error a caller gets when the data file cannot grow (None if it is another
        failure). LMDB aborted the transaction, so nothing of it was stored."""
        code = getattr(exc, "code", 0)
        if code not in _NO_ROOM_ERRNOS:
            return None
        data = self.path / "data.mdb"
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if code == errno.EFBIG or (
            code == errno.EIO and limit != resource.RLIM_INFINITY and data.stat().st_size >= limit
        ):
            return Exhausted(
                f"the store's data file {data} cannot grow past this process's file size limit of "
                f"{limit:,} bytes ({exc}); nothing of the failed write was stored, reads go on",
                reason=Reason.DISK_FULL,
                hint="raise the file size limit of the server (ulimit -f, LimitFSIZE=) and retry",
            )
        disk = os.statvfs(self.path)
        free = disk.f_bavail * disk.f_frsize
        if code == errno.EIO and free >= _NEARLY_FULL:
            return None  # an I/O error on a disk with room: not ours to explain
        return Exhausted(
            f"no space left on the disk of the store in {self.path} ({free:,} bytes free; {exc}); "
            "nothing of the failed write was stored, reads go on",
            reason=Reason.DISK_FULL,
            hint="free space on that disk (or move the data dir to a larger one) and retry; "
            "writes work again as soon as there is room",
        )

    def used_bytes(self) -> int:
        """Bytes of the data file in use: LMDB pages up to the last one written."""
        return int((self.env.info()["last_pgno"] + 1) * self.env.stat()["psize"])

    def clear_stale_readers(self) -> int:
        """Free the reader slots of processes that died inside a read transaction (a slot left behind
        pins its snapshot, so the file grows instead of reusing pages); how many were freed."""
        return int(self.env.reader_check())

    def backup(self, path: Path) -> int:
        """Copy the store as it stands, compacted, into ``path`` (a new or empty directory, made if
        missing): LMDB's copy within one read transaction, so the copy is one moment's store while
        writers go on, and needs no writer lock. Made durable (fsync) before it returns the number of
        the last event the copy holds."""
        target = Path(path)
        try:
            target.mkdir(parents=True, exist_ok=True)
            if any(target.iterdir()):
                raise AlreadyExists(
                    f"the backup directory {target} is not empty; expected a new or empty directory",
                    reason=Reason.BACKUP_EXISTS,
                    hint="name a new directory for each backup, or remove the old one first",
                )
            with self.reading() as txn:
                last = Tx(txn, self).last_seq()
                self.env.copy(str(target), compact=True, txn=txn)
            room = (target / "data.mdb").stat().st_size + (64 << 20)  # the copy's size and a page or two
            copy = lmdb.open(str(target), max_dbs=len(_DBS) + 2, subdir=True, map_size=room)
            try:  # a store brought back from a copy is another store: it asks a hub for new ranges
                with copy.begin(write=True) as ctxn:
                    ctxn.put(_STORE_ID, secrets.token_hex(8).encode())
            finally:
                copy.close()
            for name in (target / "data.mdb", target):
                fd = os.open(name, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except (OSError, lmdb.Error) as exc:
            raise ConfigError(
                f"cannot back up the store in {self.path} to {target}: {exc}",
                reason=Reason.BACKUP_FAILED,
                hint="check the path, its rights and the free space there; remove a partial copy first",
            ) from exc
        return last

    def close(self) -> None:
        """Finish queued writes, stop the writer and close the environment."""
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        self.env.close()
        self._release_lock()

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def key_check(master: MasterKey) -> bytes:
    """What a store keeps to know its master key again (a one-way derivation of it)."""
    return master.derive("store/key-check")


def _no_master() -> MasterKey:
    raise ConfigError("this store was opened without its master key", reason=Reason.NO_MASTER_KEY)


def _check_format(env: lmdb.Environment, path: Path, readonly: bool, migrating: bool) -> bytes:
    """Mark a new store with :data:`FORMAT` and return the layout found; refuse one written in
    another layout (every store written since carries the mark, so one with data and without it is
    older than the mark) unless ``migrating`` and it is :data:`MIGRATABLE`."""
    with env.begin(write=not readonly) as txn:
        found = txn.get(_FORMAT_KEY)
        if found is None and not txn.cursor().first():
            if not readonly:
                txn.put(_FORMAT_KEY, FORMAT)
            return FORMAT
    if found == FORMAT or (migrating and found == MIGRATABLE):
        return bytes(found)
    written = "an earlier layout" if found is None else f"layout {bytes(found).decode(errors='replace')!r}"
    if found == MIGRATABLE:
        raise ConfigError(
            f"the store in {path} is in {written} (a record per allocated code); this linecode reads "
            f"layout {FORMAT.decode()!r} (allocations kept as index ranges) only, and changes nothing "
            "until the store is migrated",
            reason=Reason.STORE_FORMAT,
            hint=f"stop its server and run `linecode migrate --data {path}`; it backs the store up first",
        )
    raise ConfigError(
        f"the store in {path} is in {written}; this linecode reads layout {FORMAT.decode()!r} "
        f"(allocations kept as index ranges) and migrates layout {MIGRATABLE.decode()!r} only",
        reason=Reason.STORE_FORMAT,
        hint="finish its batches with the linecode that wrote it, or start a new data dir",
    )


class _Request:
    """A queued write and, once the writer has committed it, its outcome (result or exception).

    A bare lock as the signal instead of a ``Future``: a caller costs one lock allocation and the
    writer one release, which matters when dozens of callers share one commit."""

    __slots__ = ("done", "fn", "outcome")

    def __init__(self, fn: Callable[[Tx], Any]) -> None:
        self.fn = fn
        self.outcome: Any = None
        self.done = _thread.allocate_lock()
        self.done.acquire()


def _fails_group(exc: Exception) -> bool:
    """Whether ``exc`` is the store's failure rather than its request's: the map is full or the
    file cannot grow (LMDB writes dirty pages out early in a large transaction, so a put can meet a
    full disk too). The whole group's transaction is then thrown away and the group retried or
    refused as a whole."""
    return isinstance(exc, lmdb.MapFullError) or (
        isinstance(exc, lmdb.Error) and getattr(exc, "code", 0) in _NO_ROOM_ERRNOS
    )


def _run(fn: Callable[[Tx], Any], txn: lmdb.Transaction, db: Database) -> Any:
    """``fn`` on a :class:`Tx` of its own (in a savepoint)."""
    tx = Tx(txn, db, writing=True)
    result = fn(tx)
    tx.flush_counts()
    return result
