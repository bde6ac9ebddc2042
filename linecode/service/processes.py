"""One server, several processes (``linecode serve --processes N``).

In one Python process every gRPC handler, the store's writer and the renderer share one GIL: on a
busy site (dozens of lines) calls queue for it long before the cores are busy. With ``processes =
N`` a supervisor holds the data dir's writer lock and the port and starts N worker processes. Each
worker is a whole server (gRPC threads, renderer, group-commit writer) listening on the same port
(``SO_REUSEPORT``: the kernel spreads new connections over the workers) with the store opened
``shared`` (LMDB serialises the workers' write transactions). A connection stays with its worker,
so one PLC's calls are answered by one process; rules, idempotency keys and serial leases live in
the store and hold across workers.

The supervisor serves /metrics (every worker's counters summed, the store's gauges), stops the
workers gracefully on SIGTERM/SIGINT, and starts a new worker in place of one that dies (what the
dead one acknowledged is durable; what it had not, its callers never saw succeed).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from linecode.errors import ConfigError, LinecodeError
from linecode.reasons import Reason
from linecode.service.config import Address, ServeConfig
from linecode.service.server import StopSignals, start, stop_on_signals, wait_for_signal
from linecode.store import Store, WriterLock
from linecode.store.database import DEFAULT_MAX_READERS

log = logging.getLogger("linecode.service")

_SPAWN = multiprocessing.get_context("spawn")  # never fork a process that has an LMDB env open
READY_TIMEOUT_S = 60.0
MAX_RESTARTS_PER_MINUTE = 5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_DIR = "metrics.workers"
"""The workers' metric files (prometheus_client multiprocess mode), in the data dir while serving."""
_SPARE_READERS = 24  # py-lmdb's spare read transactions (16) and a margin, per process


def reader_slots(config: ServeConfig, count: int) -> int:
    """LMDB reader slots for ``count`` worker processes and the supervisor: each may have a read
    open in every gRPC worker thread and keeps spare ones."""
    return max(DEFAULT_MAX_READERS, (count + 1) * (config.threads + _SPARE_READERS))


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    conn: Connection


class Supervisor:
    """The started worker processes of one server; :meth:`stop` ends them gracefully."""

    def __init__(self, config: ServeConfig, count: int) -> None:
        if config.data is None:
            raise ConfigError("no data dir for the server", reason=Reason.NO_DATA_DIR)
        self.config = config
        self.count = count
        self._lock = WriterLock(config.data)
        self._workers: list[_Worker] = []
        self._restarts: list[float] = []
        self._metrics_dir: str | None = None
        self._metrics_env: str | None = None
        self._endpoint: Any = None
        self._store: Store | None = None
        self._reservation: socket.socket | None = None
        self._readers = DEFAULT_MAX_READERS
        try:
            # One shared open first: creates the store and its master key before any worker races to.
            self._readers = reader_slots(config, count)
            self._store = Store.open(
                config.data, shared=True, max_readers=self._readers, max_map_size=config.max_map_size_mb << 20
            )
            self._store.clear_stale_readers()  # left by a server that was killed mid-read
            self._reservation, self.port = _reserve_port(config.listen)
            self.address = f"{config.listen.rpartition(':')[0]}:{self.port}"
            if config.metrics_listen:
                # In the data dir, whose lock we hold: whatever a killed server left there is stale.
                metrics_dir = config.data / METRICS_DIR
                shutil.rmtree(metrics_dir, ignore_errors=True)
                metrics_dir.mkdir()
                self._metrics_dir = str(metrics_dir)
                self._metrics_env = os.environ.get(_METRICS_ENV)
                os.environ[_METRICS_ENV] = self._metrics_dir  # the workers inherit it
            for index in range(count):
                self._workers.append(self._start_worker(index))
            self.metrics_port = self._serve_metrics()
        except BaseException:
            self.stop(0)
            raise

    def _start_worker(self, index: int) -> _Worker:
        ours, theirs = _SPAWN.Pipe(duplex=False)
        worker_config = replace(self.config, listen=self.address, metrics_listen=None)
        process = _SPAWN.Process(
            target=_worker_main,
            args=(worker_config, os.getpid(), self._readers, theirs),
            name=f"linecode-worker-{index}",
            daemon=True,
        )
        # Started with SIGINT blocked (the mask is inherited), so a Ctrl-C while the worker is still
        # starting up reaches the supervisor, not the half-started worker; the worker ignores it
        # before unblocking it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        theirs.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ours.poll(0.1):
            if not process.is_alive() or time.monotonic() > deadline:
                process.kill()
                process.join()
                ours.close()
                raise ConfigError(
                    f"server worker {index} did not start (exit code {process.exitcode})",
                    reason=Reason.WORKER_FAILED,
                    hint="see its log lines above",
                )
        try:
            message = ours.recv()
        except EOFError:  # it died before saying anything
            message = (
                "error",
                f"server worker {index} did not start",
                Reason.WORKER_FAILED,
                "see its log above",
            )
        if message[0] != "ready":
            process.join()
            ours.close()
            _, text, reason, hint = message
            raise ConfigError(text, reason=reason, hint=hint)
        log.info("worker started", extra={"worker": index, "pid": process.pid})
        return _Worker(process, ours)

    def _serve_metrics(self) -> int | None:
        if not self.config.metrics_listen or self._store is None or self._metrics_dir is None:
            return None
        from linecode.service.metrics import Endpoint, summed_registry

        self._endpoint = Endpoint(summed_registry(self._store, self._metrics_dir), self.config.metrics_listen)
        return int(self._endpoint.port)

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [worker.process.pid for worker in self._workers]

    def watch(self, stop: StopSignals, poll_s: float = 0.5) -> None:
        """Until a stop signal: start a new worker in place of any that died (at most
        ``MAX_RESTARTS_PER_MINUTE``; beyond that the server gives up with an error)."""
        while not stop.wait(poll_s):
            for index, worker in enumerate(self._workers):
                if worker.process.is_alive():
                    continue
                log.error(
                    "worker died; starting another",
                    extra={"worker": index, "pid": worker.process.pid, "exit_code": worker.process.exitcode},
                )
                worker.conn.close()
                if self._store is not None:
                    self._store.clear_stale_readers()  # it may have died inside a read
                now = time.monotonic()
                self._restarts = [t for t in self._restarts if now - t < 60] + [now]
                if len(self._restarts) > MAX_RESTARTS_PER_MINUTE:
                    raise ConfigError(
                        f"server workers died {len(self._restarts)} times within a minute; giving up",
                        reason=Reason.WORKER_FAILED,
                        hint="see the log lines above for why",
                    )
                try:
                    self._workers[index] = self._start_worker(index)
                except ConfigError as exc:  # counted as another restart on the next round
                    log.error("worker did not start", extra={"worker": index, "error": str(exc)})

    def stop(self, grace: float) -> None:
        """Stop every worker gracefully (in-flight calls get ``grace`` seconds), then release the
        port, the metrics endpoint and the data dir."""
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: the worker's graceful stop
        for worker in self._workers:
            worker.process.join(grace + 10)
            if worker.process.is_alive():
                log.error("worker did not stop in time; killing it", extra={"pid": worker.process.pid})
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None
        if self._metrics_dir is not None:
            if self._metrics_env is None:
                os.environ.pop(_METRICS_ENV, None)
            else:
                os.environ[_METRICS_ENV] = self._metrics_env
            shutil.rmtree(self._metrics_dir, ignore_errors=True)
            self._metrics_dir = None
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None
        if self._store is not None:
            self._store.close()
            self._store = None
        self._lock.release()


def run(
    config: ServeConfig,
    count: int,
    announce: Callable[[int, int | None], None],
    signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT),
) -> None:
    """Serve ``config`` from ``count`` worker processes until SIGTERM/SIGINT; ``announce(port,
    metrics_port)`` once every worker is listening."""
    with stop_on_signals(signals) as stop:
        supervisor = Supervisor(config, count)
        try:
            announce(supervisor.port, supervisor.metrics_port)
            supervisor.watch(stop)
        finally:
            log.info("shutting down", extra={"grace_s": config.grace_s, "workers": count})
            supervisor.stop(config.grace_s)


def _reserve_port(address: str) -> tuple[socket.socket, int]:
    """A socket bound to ``address`` with ``SO_REUSEPORT`` (not listening: it only keeps the port,
    so port 0 is resolved once and a restarted worker finds it again), and the port. A port that
    somebody else listens on is refused, not shared."""
    where = Address.parse(address)
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            where.bind_host, where.port, type=socket.SOCK_STREAM
        )[0]
        # Without SO_REUSEPORT the probe fails if somebody listens there; with SO_REUSEADDR (as gRPC
        # binds) the connections of a server that just stopped, in TIME_WAIT, do not count.
        probe = socket.socket(family, kind, proto)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
        finally:
            probe.close()
        reservation = socket.socket(family, kind, proto)
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reservation.bind(sockaddr)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {address}: {exc.strerror or exc}",
            reason=Reason.PORT_UNAVAILABLE,
            hint="pick another --listen HOST:PORT, or port 0 for any free port",
        ) from None
    return reservation, int(reservation.getsockname()[1])


def _stop_with_parent(parent: int) -> None:
    """Get SIGTERM when the supervisor dies, however it dies: a worker left behind would go on
    writing while the data dir's lock is free for a new server."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def _worker_main(config: ServeConfig, supervisor: int, readers: int, conn: Connection) -> None:
    """A worker process: a whole server on the shared port and the shared store, until SIGTERM."""
    from linecode.logs import setup_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which stops us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by the supervisor until here
    _stop_with_parent(supervisor)
    setup_logging(json_lines=config.log_json, level=config.log_level)
    assert config.data is not None
    try:
        store = Store.open(
            config.data, shared=True, max_readers=readers, max_map_size=config.max_map_size_mb << 20
        )
    except LinecodeError as exc:
        conn.send(("error", str(exc), exc.reason, exc.hint))
        return
    try:
        with stop_on_signals((signal.SIGTERM,)) as stop:  # taken before the server starts
            try:
                running, _ = start(store, config, reuse_port=True)
            except LinecodeError as exc:
                conn.send(("error", str(exc), exc.reason, exc.hint))
                return
            conn.send(("ready", os.getpid()))
            wait_for_signal(running, config.grace_s, stop)
    finally:
        store.close()
