"""HubService: the lease authority's gRPC face (``linecode hub serve``). Proto <-> ``Authority`` only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import grpc

from linecode.errors import InvalidArgument, PermissionDenied, shown
from linecode.hub import schema
from linecode.hub.authority import Authority
from linecode.hub.config import HubConfig
from linecode.reasons import Reason
from linecode.service.guard import caller_lines
from linecode.v1 import hub_pb2, hub_pb2_grpc


class HubServicer(hub_pb2_grpc.HubServiceServicer):
    def __init__(self, authority: Authority) -> None:
        self.authority = authority

    def GetLimits(
        self, request: hub_pb2.GetLimitsRequest, context: grpc.ServicerContext
    ) -> hub_pb2.LeaseLimits:
        limits = self.authority.limits
        return hub_pb2.LeaseLimits(
            min_size=limits.min_size, max_size=limits.max_size, default_size=limits.default_size
        )

    def Grant(self, request: hub_pb2.GrantRequest, context: grpc.ServicerContext) -> hub_pb2.LeaseGrant:
        grant = self.authority.grant(
            _site(request.site_id), request.pool, request.count, request.idempotency_key
        )
        return hub_pb2.LeaseGrant(
            pool=grant.pool,
            start=grant.start,
            end=grant.end,
            rule_json=json.dumps(grant.rule, sort_keys=True),
            replayed=grant.replayed,
            idempotency_key=grant.key,
            site_id=grant.site_id,
        )


def _site(named: str) -> str:
    """The site a grant is for: a site caller's own (its certificate's role), else the one named."""
    own = caller_lines()
    if own is not None:  # a site:<id> role (the only role with an id the hub lets in)
        (site,) = own
        if named and named != site:
            raise PermissionDenied(
                f"site {site!r} asked for a lease for site {shown(named)}; a site leases for itself only",
                reason=Reason.ROLE_FORBIDS,
            )
        return site
    if not named:
        raise InvalidArgument(
            "no site: a caller that is not a site (admin, or a hub without [auth]) must name site_id",
            reason=Reason.UNKNOWN_SITE,
        )
    return named


def serve_hub(config: HubConfig, announce: Callable[[int], None], *, port: int | None = None) -> None:
    """Run one hub process until SIGTERM/SIGINT: a connection pool to the database (whose schema
    must be current), the authority and its gRPC server. ``port``: the port the supervisor picked
    (processes share it, ``SO_REUSEPORT``)."""
    from psycopg_pool import ConnectionPool

    from linecode.service.auth import Access
    from linecode.service.config import Address
    from linecode.service.server import create_hub_server, stop_on_signals, tls_credentials, wait_for_signal

    address = Address.parse(config.listen)
    listen = f"{address.host}:{port}" if port is not None else config.listen
    with (
        stop_on_signals() as stop,
        ConnectionPool(config.dsn, min_size=1, max_size=config.connections, open=True, timeout=30) as pool,
    ):
        with pool.connection() as conn:
            schema.require_current(conn)
        access = Access(None, clients=config.auth_clients) if config.auth_clients else None
        running = create_hub_server(
            Authority(pool, config.limits),
            listen,
            credentials=tls_credentials(config.tls_cert, config.tls_key, config.tls_client_ca),
            authorize=access,
            reuse_port=port is not None,
        )
        announce(running.port)
        wait_for_signal(running, 10.0, stop)


def serve_hub_processes(config: HubConfig, announce: Callable[[int], None]) -> int:
    """``config.processes`` hub processes on one port (chosen here when the config says 0), each
    stateless over the one database; a process that dies is started again; SIGTERM/SIGINT stop all."""
    import multiprocessing
    import signal
    import socket

    from linecode.service.config import Address
    from linecode.service.server import stop_on_signals

    address = Address.parse(config.listen)
    holder = socket.socket(socket.AF_INET6 if ":" in address.bind_host else socket.AF_INET)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((address.bind_host, address.port))  # the port, held (not listening) until the end
    port = holder.getsockname()[1]
    spawn = multiprocessing.get_context("spawn")
    with stop_on_signals() as stop:
        workers = [
            spawn.Process(target=_worker, args=(config, port), daemon=False) for _ in range(config.processes)
        ]
        for w in workers:
            w.start()
        announce(port)
        while not stop.wait(0.5):
            for i, w in enumerate(workers):
                if not w.is_alive():
                    workers[i] = spawn.Process(target=_worker, args=(config, port), daemon=False)
                    workers[i].start()
        for w in workers:
            if w.pid is not None and w.is_alive():
                os.kill(w.pid, signal.SIGTERM)
        for w in workers:
            w.join(30)
    holder.close()
    return 0


def _worker(config: HubConfig, port: int) -> None:
    serve_hub(config, lambda _port: None, port=port)
