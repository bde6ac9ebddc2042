"""A throwaway PostgreSQL cluster of its own — for tests, benchmarks and demos, never for a real hub.

``initdb`` and ``pg_ctl`` from Debian's ``postgresql`` package, on a new directory, listening only
on a Unix socket in that directory (no TCP port, so clusters never collide), trust authentication
for that socket alone, stopped (and the directory removed) at the end. ``initdb`` refuses to run as
root, so as root the cluster runs as the ``postgres`` system user the package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from linecode.errors import ConfigError
from linecode.reasons import Reason

CLUSTER_USER = "postgres"
"""The system user a root process runs the cluster as (Debian's package creates it)."""


def bin_dir() -> Path:
    """Where the PostgreSQL server binaries are (the newest of Debian's, else on ``PATH``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise ConfigError(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed",
            reason=Reason.NO_POSTGRES,
            hint="install Debian's postgresql package (apt-get install postgresql); ./dev does it",
        )
    return Path(initdb).parent


class Cluster:
    """One throwaway cluster: ``with Cluster() as pg: connect(pg.dsn)``.

    :meth:`stop` and :meth:`start` take it down and up again (``mode="immediate"`` is a crash: no
    shutdown checkpoint, recovery on the next start)."""

    def __init__(self, where: Path | str | None = None, *, root: Path | str | None = None) -> None:
        """A new cluster in a temp dir (under ``where``), removed by :meth:`close`; or the cluster
        kept in ``root`` (made there if new), which :meth:`close` stops and leaves."""
        self.temporary = root is None
        self.bin = bin_dir()  # before anything is made: no programs, nothing left behind
        self.root = (
            Path(tempfile.mkdtemp(prefix="linecode-pg-", dir=where)) if root is None else Path(root).resolve()
        )
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.running = False
        self._as: list[str] = []
        try:
            self._make()
        except BaseException:  # refused or interrupted: a temporary cluster leaves nothing behind
            if self.temporary:
                shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _make(self) -> None:
        """Run as the ``postgres`` user when root; a new cluster's ``initdb`` and settings."""
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(CLUSTER_USER)
            except KeyError:
                raise ConfigError(
                    f"running as root, the cluster needs the {CLUSTER_USER!r} system user, which is missing",
                    reason=Reason.NO_POSTGRES,
                    hint="install Debian's postgresql package, which creates it",
                ) from None
            os.chown(self.root, user.pw_uid, user.pw_gid)
            os.chmod(self.root, 0o700)
            self._as = ["runuser", "-u", CLUSTER_USER, "--"]
        if self.data.exists():  # a kept cluster, made before: is it up?
            status = subprocess.run(
                [*self._as, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True
            )
            self.running = status.returncode == 0
            return
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = ''\nunix_socket_directories = '{self.root}'\nport = 5432\n"
                "max_connections = 300\nshared_buffers = 64MB\n"
            )

    @property
    def dsn(self) -> str:
        """A libpq connection string for the cluster's ``postgres`` database."""
        return f"host={self.root} port=5432 dbname=postgres user=postgres"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, str(self.bin / program), *args], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise ConfigError(
                f"{program} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}",
                reason=Reason.NO_POSTGRES,
            )

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: as if the machine died (recovery on start)."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
            self.running = False

    def close(self) -> None:
        """Stop; a temporary cluster is removed too."""
        try:
            self.stop("immediate" if self.temporary else "fast")
        finally:
            if self.temporary:
                shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
