"""Building and running the gRPC server: services, health, reflection, graceful shutdown.

``create_server`` is separate from ``serve`` so tests and the demo bind port 0 and talk to a real
server through a real channel.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from linecode.errors import ConfigError
from linecode.reasons import Reason
from linecode.service.admission import DEFAULT_LIMITS, Admission, Limits
from linecode.service.auth import Access
from linecode.service.config import ServeConfig
from linecode.service.guard import Authorize, CallGuard, Observe, Pools
from linecode.service.metrics import Metrics
from linecode.store import Store
from linecode.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    line_pb2,
    line_pb2_grpc,
    print_pb2,
    print_pb2_grpc,
    query_pb2,
    query_pb2_grpc,
)

log = logging.getLogger("linecode.service")


SERVICE_NAMES = tuple(
    module.DESCRIPTOR.services_by_name[name].full_name
    for module, name in (
        (line_pb2, "LineService"),
        (print_pb2, "PrintService"),
        (query_pb2, "QueryService"),
        (admin_pb2, "AdminService"),
    )
)


@dataclass
class Running:
    """A started server and what it owns."""

    server: grpc.Server
    port: int
    health: health.HealthServicer
    pools: list[ThreadPoolExecutor] = field(default_factory=list)
    """Pools to drop at once on stop (queued work cancelled)."""
    call_pools: list[ThreadPoolExecutor] = field(default_factory=list)
    """Pools the calls run on: waited for on stop, so the caller may close the store after it."""
    admission: Admission | None = None
    metrics_port: int | None = None
    on_stop: list[Callable[[], object]] = field(default_factory=list)
    """Called after the server stopped (e.g. closing the metrics endpoint)."""
    refiller: Any = None
    """A site of a hub: its :class:`~linecode.service.refill.Refiller`."""
    shipper: Any = None
    """A site of a hub: its :class:`~linecode.service.ship.Shipper`."""

    def stop(self, grace: float | None = 5.0) -> None:
        """Refuse new calls, let in-flight ones finish for ``grace`` seconds, wait for the handler
        threads (so the caller may close the store after this), then release the pools."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        for pool in self.pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for pool in self.call_pools:
            pool.shutdown(wait=True)
        for close in self.on_stop:
            close()


class Health(health.HealthServicer):
    """grpc_health's servicer, sending to watchers only outside its lock.

    Upstream (grpcio-health-checking 1.85) sends a watcher's first answer, and every status change,
    while holding the lock, and a send waits for gRPC's polling thread; a watcher closing at that
    moment has its close callback run on that thread, where it waits for the same lock. Health (and
    the server's stop, which tells every watcher NOT_SERVING) then hung for good: seen in about one
    stop in three right after four watchers cancelled (``tests/service/test_health.py`` holds it)."""

    _gracefully_shutting_down: bool

    def Watch(self, request: Any, context: Any, send_response_callback: Any = None) -> Any:
        """The current status now, every change after: the first send outside the lock too (a
        watcher's first answer waited for the polling thread while holding it)."""
        if send_response_callback is None:  # not the non-blocking server this one is made for
            return super().Watch(request, context)
        service = request.service
        unknown = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        with self._lock:
            first = self._server_status.get(service, unknown)
        send_response_callback(health_pb2.HealthCheckResponse(status=first))
        with self._lock:
            self._send_response_callbacks.setdefault(service, set()).add(send_response_callback)
            context.add_callback(self._on_close_callback(send_response_callback, service))
            now = self._server_status.get(service, unknown)
        if now != first:  # changed while the first answer was on its way
            send_response_callback(health_pb2.HealthCheckResponse(status=now))
        return None

    def set(self, service: str, status: Any) -> None:
        with self._lock:
            if self._gracefully_shutting_down:
                return
            self._server_status[service] = status
            watchers = list(self._send_response_callbacks.get(service, ()))
        for send in watchers:
            send(health_pb2.HealthCheckResponse(status=status))

    def enter_graceful_shutdown(self) -> None:
        with self._lock:
            if self._gracefully_shutting_down:
                return
            services = list(self._server_status)
        for service in services:
            self.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        with self._lock:
            self._gracefully_shutting_down = True


def create_server(
    store: Store,
    address: str = "127.0.0.1:0",
    *,
    limits: Limits = DEFAULT_LIMITS,
    credentials: grpc.ServerCredentials | None = None,
    authorize: Authorize | None = None,
    observe: Observe | None = None,
    reuse_port: bool = False,
) -> Running:
    """A started server on ``address`` (port 0: a free one) serving ``store``, admitting calls
    within ``limits`` (``linecode.service.admission``).

    ``reuse_port`` lets it share the port with the other worker processes of one server
    (``SO_REUSEPORT``); otherwise a port somebody listens on already is refused."""
    from linecode.service.admin import AdminServicer
    from linecode.service.line import LineServicer
    from linecode.service.printing import PrintServicer
    from linecode.service.query import QueryServicer

    render_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="linecode-render")

    def add(server: grpc.Server) -> None:
        line_pb2_grpc.add_LineServiceServicer_to_server(LineServicer(store), server)
        print_pb2_grpc.add_PrintServiceServicer_to_server(PrintServicer(store, render_pool), server)
        query_pb2_grpc.add_QueryServiceServicer_to_server(QueryServicer(store), server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(AdminServicer(store), server)

    return _started(
        add, SERVICE_NAMES, address, limits, credentials, authorize, observe, reuse_port, [render_pool]
    )


def _started(
    add: Callable[[grpc.Server], None],
    names: tuple[str, ...],
    address: str,
    limits: Limits,
    credentials: grpc.ServerCredentials | None,
    authorize: Authorize | None,
    observe: Observe | None,
    reuse_port: bool,
    own_pools: list[ThreadPoolExecutor],
) -> Running:
    """A server with the services ``add`` puts on it (``names``), health and reflection, started."""
    pools = Pools.start(limits.threads)
    admission = Admission(limits) if limits.enforce else None
    options: list[tuple[str, int]] = [
        ("grpc.so_reuseport", int(reuse_port)),
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    if admission is not None:
        # One connection's calls beyond the limit wait in the client (HTTP/2). With gRPC's overload
        # protection on, the server would count a finished stream until Python let go of it and
        # refuse the client's next one (RST_STREAM REFUSED_STREAM: UNAVAILABLE to the caller).
        options += [
            ("grpc.max_concurrent_streams", limits.streams_per_connection),
            ("grpc.http.overload_protection", 0),
        ]
    server = grpc.server(
        pools.work,
        maximum_concurrent_rpcs=limits.backstop if admission is not None else None,
        interceptors=[CallGuard(authorize=authorize, observe=observe, pools=pools, admission=admission)],
        options=options,
    )
    add(server)
    health_servicer = Health(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    try:
        port = (
            server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
        )
    except RuntimeError:
        port = 0
    if port == 0:
        for pool in [*own_pools, *pools.all()]:
            pool.shutdown(wait=False)
        raise ConfigError(
            f"cannot listen on {address}: the port is in use or the address is not this machine's",
            reason=Reason.PORT_UNAVAILABLE,
            hint="pick another --listen HOST:PORT, or port 0 for any free port",
        )
    server.start()
    log.info("serving", extra={"address": address, "port": port})
    return Running(
        server, port, health_servicer, own_pools, call_pools=list(pools.all()), admission=admission
    )


def server_credentials(config: ServeConfig) -> grpc.ServerCredentials | None:
    """TLS credentials of ``config`` (client certificates required when it names a client CA)."""
    return tls_credentials(config.tls_cert, config.tls_key, config.tls_client_ca)


def tls_credentials(
    cert: Path | None, key: Path | None, client_ca: Path | None
) -> grpc.ServerCredentials | None:
    """Server TLS credentials from PEM files (client certificates required with ``client_ca``)."""
    if cert is None or key is None:
        return None
    try:
        pair = (key.read_bytes(), cert.read_bytes())
        client_ca_pem = client_ca.read_bytes() if client_ca else None
    except OSError as exc:
        raise ConfigError(f"cannot read TLS file: {exc}", reason=Reason.BAD_TLS_FILE) from None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca_pem, require_client_auth=client_ca_pem is not None
    )


def start(store: Store, config: ServeConfig, *, reuse_port: bool = False) -> tuple[Running, Metrics]:
    """A server as ``config`` says: TLS, roles, metrics endpoint (none without ``metrics_listen``)."""
    metrics = Metrics(store)
    if not config.auth:
        log.warning(
            "no [auth] configured: every caller may do everything (fine on a closed line network or for "
            "trials; configure [tls] and [auth] for roles)",
            extra={"listen": config.listen},
        )
    access = (
        Access(store, clients=config.auth_clients, tokens=config.auth_tokens, on_refusal=metrics.refused)
        if config.auth
        else None
    )
    running = create_server(
        store,
        config.listen,
        limits=config.limits,
        credentials=server_credentials(config),
        authorize=access,
        observe=metrics.observe,
        reuse_port=reuse_port,
    )
    if config.hub_address is not None:
        from linecode.service.refill import Refiller, hub_channel
        from linecode.service.ship import Shipper

        assert config.hub_site_id is not None
        own = sorted(name for name, pool in store.pools().items() if not pool.get("hub"))
        if own:
            raise ConfigError(
                f"this store has pools of its own ({', '.join(own)}), not the hub's: its codes and log "
                "cannot go to a hub (the hub refuses codes of pools it did not grant); expected a store "
                "that has only ever been a site of a hub",
                reason=Reason.BAD_CONFIG,
                hint="give the site a new data dir; keep this store as it is, without [hub]",
            )
        store.pools_from_hub = True
        channel = hub_channel(config)
        refiller = Refiller(store, channel, config.hub_site_id, config.hub_low_water, config.hub_lease_size)
        refiller.on_holdings = partial(_show_holdings, running.health, {})
        shipper = Shipper(store, channel, config.hub_site_id, retention_days=config.hub_retention_days)
        shipper.on_change = partial(_show_shipping, running.health)
        running.health.set(SHIPPING_HEALTH, health_pb2.HealthCheckResponse.SERVING)
        running.on_stop.insert(0, channel.close)
        running.on_stop.insert(0, refiller.start().stop)
        running.on_stop.insert(1, shipper.start().stop)
        running.refiller, running.shipper = refiller, shipper
    if config.metrics_listen:
        try:
            running.metrics_port = metrics.serve(config.metrics_listen)
        except ConfigError:
            running.stop(0)
            raise
        running.on_stop.append(metrics.close)
    return running, metrics


LEASES_HEALTH = "linecode.leases/"
"""Health service names ``linecode.leases/<pool>`` of a site of a hub: SERVING while the site holds
unused indices of the pool, NOT_SERVING once it holds none (``Allocate`` says LEASE_EXHAUSTED)."""


def _show_holdings(health: Health, shown: dict[str, bool], held: list[Any]) -> None:
    """Set each pool's lease health where it changed (``shown``: what was set last)."""
    status = health_pb2.HealthCheckResponse
    for h in held:
        if shown.get(h.pool) != bool(h.remaining):
            shown[h.pool] = bool(h.remaining)
            health.set(LEASES_HEALTH + h.pool, status.SERVING if h.remaining else status.NOT_SERVING)


SHIPPING_HEALTH = "linecode.shipping"
"""Health service name of a site of a hub: SERVING while its events reach the hub, NOT_SERVING while
the hub refuses them or the oldest unshipped event is older than ``ship.LAG_ALARM_S``."""


def _show_shipping(health: Health, shipper: Any) -> None:
    from linecode.service.ship import LAG_ALARM_S

    status = health_pb2.HealthCheckResponse
    behind = shipper.lag()[1] > LAG_ALARM_S
    health.set(SHIPPING_HEALTH, status.NOT_SERVING if shipper.refused or behind else status.SERVING)


def announcement(data: object, address: str, extras: str = "") -> str:
    """The line ``linecode serve`` prints once it listens (scripts read the port from it)."""
    return f"linecode serving {data} on {address}{extras} (SIGTERM or Ctrl-C to stop)"


def announced_port(line: str) -> int:
    """The port in an :func:`announcement` line. Raises ValueError if ``line`` is not one."""
    found = re.search(r" on (?:\[[^\]]*\]|[^\s:]+):(\d+)", line)
    if not line.startswith("linecode serving") or found is None:
        raise ValueError(f"not a linecode serving line: {line!r}")
    return int(found.group(1))


SIGNAL_POLL_S = 0.2
"""How often a wait for a stop signal looks whether one came (see :class:`StopSignals`)."""


class StopSignals:
    """Whether a stop signal came, as the signal handler left it.

    The handler only sets a flag: Python runs it on the main thread between two bytecodes, perhaps
    while that thread holds a lock the handler would need (``threading.Event.set`` there deadlocks).
    A wait sleeps in steps of :data:`SIGNAL_POLL_S`: a signal sent to the process lands on any
    thread that does not block it, often one of gRPC's, and the handler then runs only once the main
    thread wakes up."""

    def __init__(self) -> None:
        self.received = False

    def wait(self, timeout: float | None = None) -> bool:
        """Until a stop signal came (True) or ``timeout`` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.received:
            step = SIGNAL_POLL_S if deadline is None else min(SIGNAL_POLL_S, deadline - time.monotonic())
            if step <= 0:
                return False
            time.sleep(step)
        return True

    def _handle(self, signum: int, frame: object) -> None:
        self.received = True


@contextmanager
def stop_on_signals(signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[StopSignals]:
    """What ``signals`` say, for as long as the block runs (a repeated signal changes nothing); the
    previous handlers come back afterwards."""
    stop = StopSignals()
    previous = {sig: signal.signal(sig, stop._handle) for sig in signals}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_signal(running: Running, grace: float, stop: StopSignals) -> None:
    """Block until ``stop`` tells of a stop signal, then stop gracefully (in-flight calls finish). A
    second signal during the drain changes nothing (systemd, for one, signals every process of the
    service, and a supervisor passes the signal on as well). Take ``stop`` before starting the
    server, so a signal that comes while it starts is not lost."""
    stop.wait()
    log.info("shutting down", extra={"grace_s": grace})
    running.stop(grace)
