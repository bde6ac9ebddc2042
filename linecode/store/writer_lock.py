"""The writer lock of a data dir: one server writes to it at a time, in one process or several."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from linecode.errors import ConfigError
from linecode.reasons import Reason

LOCK_FILE = "writer.lock"


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
        self._fd: int | None = take_writer_lock(self.path / LOCK_FILE)
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


def join_writer_lock(path: Path) -> int:
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
        reason=Reason.STORE_NOT_LOCKED,
        hint="open the store without shared, or take WriterLock(data_dir) first",
    )


def _in_use(path: Path, holder: str) -> ConfigError:
    return ConfigError(
        f"the data dir {path.parent} is already open for writing (by process {holder}); "
        "expected one writer per data dir",
        reason=Reason.STORE_IN_USE,
        hint="stop the other server, use another --data, or open read-only",
    )


def take_writer_lock(path: Path) -> int:
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
