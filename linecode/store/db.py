"""The LMDB environment of a data dir, its one writer, and the transaction view the store writes through.

Group commit (one writer thread, one ``fsync`` per group, savepoints only after a failure), the data
dir's files and writing from several processes: ``docs/store.md``.
"""

from __future__ import annotations

import _thread
import errno
import fcntl
import hashlib
import json
import logging
import os
import queue
import resource
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

import lmdb

from linecode import _records, bounds
from linecode.errors import (
    AlreadyExists,
    ConfigError,
    Exhausted,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    shown,
)
from linecode.store import records
from linecode.store.model import Batch, Event, EventKind, Lock, Product, State
from linecode.store.records import Row

T = TypeVar("T")

DEFAULT_MAP_SIZE = 1 << 30
"""Initial map size (1 GiB); grows by doubling when full, up to ``max_map_size``."""
DEFAULT_MAX_MAP_SIZE = 1 << 40
"""Largest map size (1 TiB); the initial size is capped at it. Address space only: the file grows
as data is written."""
MAX_GROUP = 512
"""Most requests one group commit takes (bounds how long a caller waits behind others)."""
LOCK_FILE = "writer.lock"
FORMAT = b"2"
"""The store's layout, kept under :data:`_FORMAT_KEY` in LMDB's main database: 2 = code records
filed by slot (``code_slots``, ``code_records``, ``children`` by the parent's slot)."""
_FORMAT_KEY = b"linecode-format"
DEFAULT_MAX_READERS = 512
"""LMDB reader slots, shared by every process that has the environment open (the first opener sets
it): a read transaction holds one, and so does each spare one py-lmdb keeps for reuse."""
MAX_KEY_BYTES = 511
"""LMDB's longest key (its default build). Nothing we file reaches it: ids, codes and idempotency
keys are bounded far below (``linecode.bounds``)."""
_DBS = (
    "products",  # product id -> JSON
    "batches",  # batch id -> JSON
    "batch_refs",  # u32 ref -> batch id
    "pools",  # pool name -> JSON: free and used index ranges
    "code_slots",  # code key -> u64 slot (allocation order)
    "code_records",  # u64 slot -> packed Row
    "children",  # parent's slot -> child keys (dupsort)
    "by_batch",  # u32 batch ref + u8 level -> code keys (dupsort)
    "events",  # u64 sequence -> packed event
    "counts",  # u32 batch ref + u8 level + u8 state -> i64
    "idempotency",  # idempotency key -> request digest and answer (records.pack_answer)
)
_DUPSORT = {"children", "by_batch"}
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
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.max_map_size = max_map_size
        map_size = min(map_size, max_map_size)
        self._lock_fd: int | None = None
        if shared:
            self._lock_fd = _join_writer_lock(self.path / LOCK_FILE)
            map_size = max_map_size
        elif readonly:
            if not (self.path / "data.mdb").exists():
                raise NotFound(
                    f"no linecode store in {self.path}: data.mdb is missing",
                    reason="NO_STORE",
                    hint="check --data; a store is created by the server or `linecode demo --data DIR`",
                )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_fd = _take_writer_lock(self.path / LOCK_FILE)
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
            _check_format(self.env, self.path, readonly)
            self.dbs: dict[str, Any] = {}
            for name in _DBS:
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
                f"cannot open the LMDB store in {self.path}: {exc}", reason="STORE_UNREADABLE"
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
        self.commit_listeners: list[Callable[[int], object]] = []
        """Told the number of requests of every durable commit (metrics of group commit)."""
        if not readonly and group_commit:
            self._writer = threading.Thread(target=self._drain, name="linecode-store-writer", daemon=True)
            self._writer.start()

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
                reason="READ_ONLY",
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
                reason="STORE_FULL",
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
                reason="DISK_FULL",
                hint="raise the file size limit of the server (ulimit -f, LimitFSIZE=) and retry",
            )
        disk = os.statvfs(self.path)
        free = disk.f_bavail * disk.f_frsize
        if code == errno.EIO and free >= _NEARLY_FULL:
            return None  # an I/O error on a disk with room: not ours to explain
        return Exhausted(
            f"no space left on the disk of the store in {self.path} ({free:,} bytes free; {exc}); "
            "nothing of the failed write was stored, reads go on",
            reason="DISK_FULL",
            hint="free space on that disk (or move the data dir to a larger one) and retry; "
            "writes work again as soon as there is room",
        )

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
                    reason="BACKUP_EXISTS",
                    hint="name a new directory for each backup, or remove the old one first",
                )
            with self.reading() as txn:
                last = Tx(txn, self).last_seq()
                self.env.copy(str(target), compact=True, txn=txn)
            for name in (target / "data.mdb", target):
                fd = os.open(name, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except (OSError, lmdb.Error) as exc:
            raise ConfigError(
                f"cannot back up the store in {self.path} to {target}: {exc}",
                reason="BACKUP_FAILED",
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


def _check_format(env: lmdb.Environment, path: Path, readonly: bool) -> None:
    """Mark a new store with :data:`FORMAT`; refuse one written in another layout (every store
    written since carries the mark, so one with data and without it is older than the mark)."""
    with env.begin(write=not readonly) as txn:
        found = txn.get(_FORMAT_KEY)
        if found is None and not txn.cursor().first():
            if not readonly:
                txn.put(_FORMAT_KEY, FORMAT)
            return
    if found != FORMAT:
        written = (
            "an earlier layout" if found is None else f"layout {bytes(found).decode(errors='replace')!r}"
        )
        raise ConfigError(
            f"the store in {path} is in {written}; this linecode reads layout {FORMAT.decode()!r} "
            "(code records filed by slot in allocation order) only",
            reason="STORE_FORMAT",
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


class WriterLock:
    """The writer lock of a data dir, held by a server that writes from several processes (each
    opens the store ``shared``). Raises :class:`~linecode.errors.ConfigError` ``STORE_IN_USE`` if
    another writer has the data dir.

    It is taken exclusively (so nobody else holds it) and then held shared, like every shared open
    holds it: the data dir stays locked against another server until the last of the server's
    processes has exited, also when the supervisor dies before its workers."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir)
        self.path.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = _take_writer_lock(self.path / LOCK_FILE)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # another server took it in the instant the lock changed mode
            self.release()
            raise _in_use(self.path / LOCK_FILE, "?") from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _join_writer_lock(path: Path) -> int:
    """Hold the data dir's writer lock shared beside the server's :class:`WriterLock` (a shared
    open); refused when nobody holds it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        fd = None  # no lock file: nobody holds it
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # held exclusively: a single-process server has it
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise _in_use(path, holder) from None
            return fd
        os.close(fd)  # this check took it, so nobody held it; closing drops it again
    raise ConfigError(
        f"a shared open of {path.parent} needs its writer lock held by the serving process; nobody holds it",
        reason="STORE_NOT_LOCKED",
        hint="open the store without shared, or take WriterLock(data_dir) first",
    )


def _in_use(path: Path, holder: str) -> ConfigError:
    return ConfigError(
        f"the data dir {path.parent} is already open for writing (by process {holder}); "
        "expected one writer per data dir",
        reason="STORE_IN_USE",
        hint="stop the other server, use another --data, or open read-only",
    )


def _take_writer_lock(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # flock locks belong to the open file description, so a second open in the same process
        # is refused just like a second server.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise _in_use(path, holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


_DECODED: dict[tuple[str, bytes], Any] = {}
"""Decoded product and batch records by their stored bytes: the same bytes always mean the same
record, so this saves a JSON decode per request without ever serving a stale or uncommitted one."""


_Get = Callable[[bytes, None, Any], "bytes | None"]


def _no_record(code: str, slot: bytes) -> NoReturn:
    raise NotFound(
        f"code {code} is filed under slot {records.slot_of(slot)}, which holds no record: the store is "
        "inconsistent",
        reason="BAD_SLOT",
        codes=[code],
    )


def line_forbidden(line: str, lines: Iterable[str], named: Sequence[str] = ()) -> PermissionDenied:
    """The refusal of a write that would change codes or a batch of ``line`` by a caller limited to
    ``lines``; ``named``: those of the codes it named."""
    return PermissionDenied(
        f"the request would change codes or batches of line {line!r}; this caller may change those of "
        f"line(s) {', '.join(sorted(lines))} only",
        reason="ROLE_FORBIDS",
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
        known = self._slots
        if known is not None and code in known:
            return known[code]
        slot = self._get()(code.encode(), None, self.db.dbs["code_slots"])
        if known is not None and slot is not None:
            known[code] = slot
        return slot

    def row(self, code: str) -> Row | None:
        slot = self._slot(code)
        if slot is None:
            return None
        raw = self._get()(slot, None, self.db.dbs["code_records"])
        return Row.unpack(raw) if raw is not None else _no_record(code, slot)

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
        slot = self._slot(code)
        if slot is None:
            raise LookupError(f"no record of {code!r} to update: codes are stored by allocating them")
        return slot

    def put_row(self, code: str, row: Row) -> None:
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
        slot = self._slot(parent)
        cursor = self.txn.cursor(db=self.db.dbs["children"])
        if slot is None or not cursor.set_key(slot):
            return []
        return [bytes(v).decode() for v in cursor.iternext_dup()]

    def link(self, parent: str, child: str) -> None:
        self.txn.put(self._known_slot(parent), child.encode(), db=self.db.dbs["children"], dupdata=True)

    def link_all(self, parent: str, children: Sequence[str]) -> None:
        """Put many children into ``parent`` with one call into LMDB."""
        slot = self._known_slot(parent)
        self._put_links([(slot, child.encode()) for child in children])

    def _put_links(self, links: list[tuple[bytes, bytes]]) -> None:
        self.txn.cursor(db=self.db.dbs["children"]).putmulti(links, dupdata=True)

    def unlink(self, parent: str, child: str) -> None:
        self.txn.delete(self._known_slot(parent), child.encode(), db=self.db.dbs["children"])

    def batch_codes(self, batch_ref: int, level: int) -> Iterator[str]:
        cursor = self.txn.cursor(db=self.db.dbs["by_batch"])
        if cursor.set_key(records.batch_level_key(batch_ref, level)):
            for value in cursor.iternext_dup():
                yield bytes(value).decode()

    def add_to_batch(self, batch_ref: int, level: int, codes: list[str]) -> None:
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
        if raw is None:
            return None
        cache_key = (db, bytes(raw))
        known = _DECODED.get(cache_key)
        if known is None:
            known = decode(records.load_json(raw))
            if len(_DECODED) > 1024:
                _DECODED.clear()
            _DECODED[cache_key] = known
        return known  # type: ignore[no-any-return]

    def product(self, product_id: str) -> Product:
        product = self._products.get(product_id)
        if product is not None:
            return product
        product = self._json_record("products", product_id, records.product_from_json)
        if product is None:
            raise NotFound(
                f"no product {shown(product_id)} in this store",
                reason="UNKNOWN_PRODUCT",
                hint="create it first (create_product)",
            )
        self._products[product_id] = product
        return product

    def has_product(self, product_id: str) -> bool:
        return self._json_record("products", product_id, records.product_from_json) is not None

    def put_product(self, product: Product) -> None:
        self._products[product.product_id] = product
        self.txn.put(
            product.product_id.encode(),
            records.dump_json(records.product_to_json(product)),
            db=self.db.dbs["products"],
        )

    def products(self) -> list[Product]:
        cursor = self.txn.cursor(db=self.db.dbs["products"])
        return [records.product_from_json(records.load_json(v)) for _, v in cursor]

    def batch(self, batch_id: str) -> Batch:
        batch = self._json_record("batches", batch_id, records.batch_from_json)
        if batch is None:
            raise NotFound(
                f"no batch {shown(batch_id)} in this store",
                reason="UNKNOWN_BATCH",
                hint="check the batch id, or create the batch first (create_batch)",
            )
        return batch

    def has_batch(self, batch_id: str) -> bool:
        return self._json_record("batches", batch_id, records.batch_from_json) is not None

    def batch_id_of(self, ref: int) -> str:
        raw = self.txn.get(records.ref_key(ref), db=self.db.dbs["batch_refs"])
        if raw is None:
            raise NotFound(f"no batch with internal ref {ref}: the store is inconsistent", reason="BAD_REF")
        return bytes(raw).decode()

    def batch_by_ref(self, ref: int) -> Batch:
        batch = self._batches.get(ref)
        if batch is None:
            batch = self._batches[ref] = self.batch(self.batch_id_of(ref))
        return batch

    def batch_refs(self) -> dict[int, str]:
        cursor = self.txn.cursor(db=self.db.dbs["batch_refs"])
        return {int.from_bytes(k, "big"): bytes(v).decode() for k, v in cursor}

    def put_batch(self, batch: Batch) -> None:
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
        cursor = self.txn.cursor(db=self.db.dbs["batches"])
        return [records.batch_from_json(records.load_json(v)) for _, v in cursor]

    def next_batch_ref(self) -> int:
        cursor = self.txn.cursor(db=self.db.dbs["batch_refs"])
        return int.from_bytes(cursor.key(), "big") + 1 if cursor.last() else 1

    # pools
    def pool(self, name: str) -> dict[str, Any] | None:
        if not 0 < len(name.encode()) <= MAX_KEY_BYTES:
            return None  # no pool has such a name, and LMDB could not look it up
        raw = self.txn.get(name.encode(), db=self.db.dbs["pools"])
        return records.load_json(raw) if raw is not None else None  # type: ignore[no-any-return]

    def put_pool(self, name: str, data: dict[str, Any]) -> None:
        self.txn.put(name.encode(), records.dump_json(data), db=self.db.dbs["pools"])

    def pools(self) -> dict[str, dict[str, Any]]:
        cursor = self.txn.cursor(db=self.db.dbs["pools"])
        return {bytes(k).decode(): records.load_json(v) for k, v in cursor}

    # events
    def append_event(
        self,
        time_us: int,
        kind: EventKind,
        batch_ref: int,
        *,
        actor: str,
        line: str,
        codes: tuple[str, ...] | list[str] = (),
        parent: str | None = None,
        detail: str = "",
    ) -> int:
        """Append one event; returns its sequence number. Its actor and line must fit their bounds
        (``linecode.bounds``): every write appends an event, so nothing unbounded is ever stored."""
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

    def last_seq(self) -> int:
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
                reason="BAD_IDEMPOTENCY_KEY",
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
                reason="IDEMPOTENCY_KEY_REUSED",
                hint="use a new idempotency key for a new request",
            )
        return result

    def remember(self, key: str | None, digest: str, result: dict[str, Any]) -> None:
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
    The caller computes it before queueing the write, so the writer thread does not."""
    return hashlib.blake2b(json.dumps(body).encode(), digest_size=16).hexdigest()
