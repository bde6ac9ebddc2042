"""HubService: the lease authority's gRPC face (``linecode hub serve``). Proto <-> ``Authority`` only;
it runs on ``grpc.aio`` (:class:`HubServer`), unlike the site server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, BinaryIO, TypeVar, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from linecode.errors import (
    Aborted,
    ConfigError,
    InvalidArgument,
    LinecodeError,
    NotFound,
    PermissionDenied,
    shown,
)
from linecode.export import ExportSummary
from linecode.hub import schema
from linecode.hub.authority import Authority
from linecode.hub.config import HubConfig
from linecode.hub.exports import DEFAULT_PULL, Cursor, HubExports, Pulled
from linecode.hub.ingest import Block, Ingest
from linecode.hub.query import HubQuery
from linecode.reasons import Reason
from linecode.service import convert
from linecode.service.admin import export_summary
from linecode.service.auth import Access
from linecode.service.bounds import check_request
from linecode.service.errors import internal_status, to_status
from linecode.service.query import batch_counts_response, verify_response
from linecode.store.model import CodeInfo
from linecode.v1 import admin_pb2, common_pb2, hub_pb2, hub_pb2_grpc, query_pb2, query_pb2_grpc

log = logging.getLogger("linecode.hub")
HUB_SERVICE = hub_pb2.DESCRIPTOR.services_by_name["HubService"].full_name
QUERY_SERVICE = query_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
T = TypeVar("T")
MAX_MESSAGE = 512 << 20
"""The largest shipment (or block of a site's events) the hub takes or sends: an event naming every
code of a batch of ~20 million codes."""


class HubServicer(hub_pb2_grpc.HubServiceServicer):
    """HubService on ``grpc.aio``: a hundred sites asking at once cost the hub an event loop's
    callbacks, not a hundred threads' handoffs (measured: bench/RESULTS.md, the hub). Every call is
    authenticated as the site server's are (:class:`~linecode.service.auth.Access`); its errors
    leave as theirs do (``service/errors.py``)."""

    def __init__(self, authority: Authority, authorize: Access | None = None) -> None:
        self.authority = authority
        self.ingest = Ingest(authority.db)
        self.authorize = authorize

    def _caller(self, method: str, request: Any, context: Any) -> frozenset[str] | None:
        """The lines (for a site: its one id) of the caller, or None for any caller; the request's
        strings checked against their bounds first (``service/bounds.py``), as a site server's are."""
        check_request(request)
        if self.authorize is None:
            return None
        found = self.authorize(f"/linecode.v1.HubService/{method}", request, context)
        return found.lines if found is not None else None

    async def GetLimits(self, request: hub_pb2.GetLimitsRequest, context: Any) -> hub_pb2.LeaseLimits:
        async def allowed() -> None:
            self._caller("GetLimits", request, context)

        await answered(context, "tell its limits", allowed)
        limits = self.authority.limits
        return hub_pb2.LeaseLimits(
            min_size=limits.min_size, max_size=limits.max_size, default_size=limits.default_size
        )

    async def Grant(self, request: hub_pb2.GrantRequest, context: Any) -> hub_pb2.LeaseGrant:
        async def grant_it() -> Any:
            site = _site(self._caller("Grant", request, context), request.site_id)
            submitted = self.authority.submit(site, request.pool, request.count, request.idempotency_key)
            return await asyncio.wrap_future(submitted)

        grant = await answered(context, "grant; retry with the same key", grant_it)
        return hub_pb2.LeaseGrant(
            pool=grant.pool,
            start=grant.start,
            end=grant.end,
            rule_json=json.dumps(grant.rule, sort_keys=True),
            replayed=grant.replayed,
            idempotency_key=grant.key,
            site_id=grant.site_id,
        )

    async def Ship(self, request: hub_pb2.Shipment, context: Any) -> hub_pb2.ShipAck:
        async def store_it() -> Any:
            site = _site(self._caller("Ship", request, context), request.site_id)
            block = Block(
                request.block.first_seq, request.block.events, request.block.batches, request.block.levels
            )
            return await asyncio.to_thread(self.ingest.ship, site, block, request.head_seq)

        ack = await answered(context, "store the events; ship again", store_it)
        return hub_pb2.ShipAck(
            site_id=ack.site_id, acked_seq=ack.acked, stored=ack.stored, code_events=ack.code_events
        )

    async def GetPosition(self, request: hub_pb2.PositionRequest, context: Any) -> hub_pb2.ShipAck:
        async def position() -> tuple[str, int]:
            site = _site(self._caller("GetPosition", request, context), request.site_id)
            return site, await asyncio.to_thread(self.ingest.position, site)

        site, acked = await answered(context, "tell its position", position)
        return hub_pb2.ShipAck(site_id=site, acked_seq=acked)

    async def SiteEvents(self, request: hub_pb2.SiteEventsRequest, context: Any) -> Any:
        async def known() -> str:
            site = _site(self._caller("SiteEvents", request, context), request.site_id)
            await asyncio.to_thread(self.ingest.position, site)  # an unknown site is refused
            return site

        site = await answered(context, "read the site's events", known)
        blocks = self.ingest.blocks(site, request.after_seq)
        while True:
            block = await asyncio.to_thread(next, blocks, None)
            if block is None:
                return
            yield hub_pb2.EventBlock(first_seq=block.first_seq, events=block.events, batches=block.batches)

    async def ExportBatch(self, request: hub_pb2.HubExportRequest, context: Any) -> Any:
        try:
            self._caller("ExportBatch", request, context)  # admin or qa (service/auth.py)
            if request.format not in _EXPORT_FORMATS:
                raise InvalidArgument(
                    f"export format {request.format}: expected EXPORT_FORMAT_EPCIS, EXPORT_FORMAT_NMPA_JSON "
                    "or EXPORT_FORMAT_NMPA_XML",
                    reason=Reason.BAD_EXPORT_FORMAT,
                )
            name, content_type = _EXPORT_FORMATS[request.format]
            offset = dt.timedelta(minutes=request.utc_offset_minutes)
            exports = HubExports(self.authority.db)
            first = True
            written = _written(
                lambda out: exports.write_batch(
                    request.batch_id, out, export_format=name, site_id=request.site_id, utc_offset=offset
                )
            )
            async with contextlib.aclosing(written):  # the writer stopped however the call ends
                async for item in written:
                    kind = content_type if first else ""
                    if isinstance(item, ExportSummary):
                        yield admin_pb2.ExportChunk(content_type=kind, summary=export_summary(item))
                    else:
                        yield admin_pb2.ExportChunk(data=item, content_type=kind)
                    first = False
        except LinecodeError as exc:
            await context.abort_with_status(to_status(exc))
        except Exception:  # a bug or the database's own error: logged here, a plain INTERNAL there
            log.exception("export failed", extra={"batch": request.batch_id, "site": request.site_id})
            await context.abort_with_status(internal_status("the hub could not export the batch; try again"))

    async def PullEvents(self, request: hub_pb2.PullRequest, context: Any) -> Any:
        try:
            self._caller("PullEvents", request, context)
            cursor = Cursor.parse(request.cursor)  # refused before the stream starts
            offset = dt.timedelta(minutes=request.utc_offset_minutes)
            exports = HubExports(self.authority.db)
            limit = request.max_events or DEFAULT_PULL
            first = True
            written = _written(lambda out: exports.pull(cursor, out, max_events=limit, utc_offset=offset))
            async with contextlib.aclosing(written):
                async for item in written:
                    kind = "application/ld+json" if first else ""
                    if isinstance(item, Pulled):
                        yield hub_pb2.PullChunk(
                            content_type=kind,
                            next_cursor=str(item.cursor),
                            events=item.events,
                            more=item.more,
                            summary=export_summary(item.summary),
                        )
                    else:
                        yield hub_pb2.PullChunk(data=item, content_type=kind)
                    first = False
        except LinecodeError as exc:
            await context.abort_with_status(to_status(exc))
        except Exception:  # a bug or the database's own error: logged here, a plain INTERNAL there
            log.exception("pull failed", extra={"cursor": request.cursor[:100]})
            await context.abort_with_status(
                internal_status("the hub could not export the events; pull again")
            )


class HubQueryServicer(query_pb2_grpc.QueryServiceServicer):
    """QueryService across sites (``linecode.hub.query``), on ``grpc.aio`` like HubService; its
    callers are authenticated as HubService's (QA and admin; a site's role may not read others')."""

    def __init__(self, query: HubQuery, authorize: Access | None = None) -> None:
        self.query = query
        self.authorize = authorize

    async def _run(self, method: str, request: Any, context: Any, fn: Callable[[], T]) -> T:
        async def run() -> T:
            check_request(request)
            if self.authorize is not None:
                self.authorize(f"/linecode.v1.QueryService/{method}", request, context)
            return await asyncio.to_thread(fn)

        return await answered(context, "answer; ask again", run)

    async def Verify(self, request: query_pb2.VerifyRequest, context: Any) -> query_pb2.VerifyResponse:
        answer = await self._run("Verify", request, context, lambda: self.query.verify(request.data))
        return verify_response(answer)

    async def GetParent(self, request: query_pb2.CodeRequest, context: Any) -> common_pb2.CodeInfo:
        def parent() -> CodeInfo:
            found = self.query.parent_of(request.code)
            if found is None:
                raise NotFound(
                    f"code {shown(request.code)} is in no parent (loose or top level)",
                    reason=Reason.NO_PARENT,
                )
            return found

        return convert.code_info(await self._run("GetParent", request, context, parent))

    async def GetChildren(self, request: query_pb2.CodeRequest, context: Any) -> query_pb2.ChildrenResponse:
        children = await self._run(
            "GetChildren", request, context, lambda: self.query.children_of(request.code)
        )
        return query_pb2.ChildrenResponse(parent=request.code, children=children)

    async def GetTree(self, request: query_pb2.CodeRequest, context: Any) -> common_pb2.TreeNode:
        return convert.tree(
            await self._run("GetTree", request, context, lambda: self.query.tree(request.code))
        )

    async def BatchCounts(
        self, request: query_pb2.BatchCountsRequest, context: Any
    ) -> query_pb2.BatchCountsResponse:
        rows = await self._run(
            "BatchCounts",
            request,
            context,
            lambda: self.query.counts(request.batch_id, request.site_id or None),
        )
        return batch_counts_response(request.batch_id, rows)


_EXPORT_FORMATS = {
    admin_pb2.EXPORT_FORMAT_EPCIS: ("epcis", "application/ld+json"),
    admin_pb2.EXPORT_FORMAT_NMPA_JSON: ("nmpa-json", "application/json"),
    admin_pb2.EXPORT_FORMAT_NMPA_XML: ("nmpa-xml", "application/xml"),
}
_CHUNKS_AHEAD = 4
"""Document blocks (~64 KiB each, the export sink's) a writer may run ahead of its client."""


async def _written(write: Callable[[BinaryIO], T]) -> AsyncGenerator[bytes | T, None]:
    """The blocks ``write`` writes to the file it is given, as they come, then what it returned.

    ``write`` (database reads and a document writer: blocking) runs on a thread of its own
    (``asyncio.to_thread``), a few blocks ahead of the client at most: it waits while the client is
    behind, so memory stays at a few blocks whatever the document's size. Its error is raised
    here, after the blocks it wrote. When the call ends early (cancelled, deadline) its next write
    raises ``CANCELLED`` and it stops."""
    loop = asyncio.get_running_loop()
    blocks: asyncio.Queue[bytes] = asyncio.Queue(_CHUNKS_AHEAD)
    ended = threading.Event()

    class Pipe:
        def write(self, data: bytes) -> int:
            if ended.is_set():
                raise Aborted("export cancelled by the client", reason=Reason.CANCELLED)
            if data:
                asyncio.run_coroutine_threadsafe(blocks.put(bytes(data)), loop).result()
            return len(data)

        def flush(self) -> None:
            pass

    writer = asyncio.ensure_future(asyncio.to_thread(write, cast(BinaryIO, Pipe())))
    block: asyncio.Future[bytes] | None = None
    try:
        while True:
            block = asyncio.ensure_future(blocks.get())
            await asyncio.wait((block, writer), return_when=asyncio.FIRST_COMPLETED)
            if block.done():
                yield block.result()
                continue
            block.cancel()
            while not blocks.empty():  # every block it wrote was queued before it returned
                yield blocks.get_nowait()
            yield writer.result()
            return
    finally:
        ended.set()
        if block is not None:
            block.cancel()
        while not writer.done():  # a writer waiting for room: let it on to its next write, which stops it
            while not blocks.empty():
                blocks.get_nowait()
            await asyncio.wait((writer,), timeout=0.1)
        if not writer.cancelled():
            writer.exception()  # retrieved: an error after the call ended is no one's to hear


class HubServer:
    """A started hub: HubService, health and reflection on ``grpc.aio``, its event loop on a
    thread of its own (tests, the demo and ``linecode hub serve`` run it alike)."""

    def __init__(
        self,
        authority: Authority,
        address: str = "127.0.0.1:0",
        *,
        credentials: grpc.ServerCredentials | None = None,
        authorize: Access | None = None,
        reuse_port: bool = False,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="linecode-hub", daemon=True)
        self._thread.start()
        started = self._start(authority, address, credentials, authorize, reuse_port)
        try:
            self.port = asyncio.run_coroutine_threadsafe(started, self._loop).result(30)
        except BaseException:
            self._close_loop()
            raise

    async def _start(
        self,
        authority: Authority,
        address: str,
        credentials: grpc.ServerCredentials | None,
        authorize: Access | None,
        reuse_port: bool,
    ) -> int:
        self._server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", int(reuse_port)),
                # one event may name every code of a batch (its RELEASED): 100,000 codes ~ 2.3 MB
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
            ]
        )
        hub_pb2_grpc.add_HubServiceServicer_to_server(HubServicer(authority, authorize), self._server)
        query_pb2_grpc.add_QueryServiceServicer_to_server(
            HubQueryServicer(HubQuery(authority.db), authorize), self._server
        )
        health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, self._server)
        for name in ("", HUB_SERVICE, QUERY_SERVICE):
            await health.set(name, health_pb2.HealthCheckResponse.SERVING)
        names = (
            HUB_SERVICE,
            QUERY_SERVICE,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, self._server)
        try:
            port = (
                self._server.add_secure_port(address, credentials)
                if credentials
                else self._server.add_insecure_port(address)
            )
        except RuntimeError:
            port = 0
        if port == 0:
            raise ConfigError(
                f"cannot listen on {address}: the port is in use or the address is not this machine's",
                reason=Reason.PORT_UNAVAILABLE,
                hint="pick another --listen HOST:PORT, or port 0 for any free port",
            )
        await self._server.start()
        log.info("hub serving", extra={"address": address, "port": port})
        return port

    def stop(self, grace: float | None = 5.0) -> None:
        """Refuse new calls, let in-flight ones finish for ``grace`` seconds, then stop the loop."""
        done = asyncio.run_coroutine_threadsafe(self._server.stop(grace), self._loop)
        done.result((grace or 0) + 30)
        self._close_loop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def answered(context: Any, what: str, call: Callable[[], Awaitable[T]]) -> T:
    """``call``'s answer; its error leaves as a site server's do (``service/errors.py``), any other
    (a bug, the database's own) logged here and a plain INTERNAL there: "the hub could not ``what``"."""
    try:
        return await call()
    except LinecodeError as exc:
        await context.abort_with_status(to_status(exc))
    except Exception:
        log.exception("hub call failed", extra={"doing": what})
        await context.abort_with_status(internal_status(f"the hub could not {what}"))
    raise AssertionError("abort_with_status returned")


def _site(own: frozenset[str] | None, named: str) -> str:
    """The site a grant is for: a site caller's own (its certificate's role), else the one named."""
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

    from linecode.service.config import Address
    from linecode.service.server import stop_on_signals, tls_credentials

    address = Address.parse(config.listen)
    listen = f"{address.host}:{port}" if port is not None else config.listen
    with (
        stop_on_signals() as stop,
        ConnectionPool(config.dsn, min_size=1, max_size=config.connections, open=True, timeout=30) as pool,
    ):
        with pool.connection() as conn:
            schema.require_current(conn)
        access = Access(None, clients=config.auth_clients) if config.auth_clients else None
        running = HubServer(
            Authority(pool, config.limits),
            listen,
            credentials=tls_credentials(config.tls_cert, config.tls_key, config.tls_client_ca),
            authorize=access,
            reuse_port=port is not None,
        )
        announce(running.port)
        stop.wait()
        running.stop(10.0)


def serve_hub_processes(config: HubConfig, announce: Callable[[int], None]) -> int:
    """``config.processes`` hub processes on one port (chosen here when the config says 0), each
    stateless over the one database; a process that dies is started again; SIGTERM/SIGINT stop all."""
    import multiprocessing
    import signal
    import socket

    import psycopg

    from linecode.service.config import Address
    from linecode.service.server import stop_on_signals

    with psycopg.connect(config.dsn, connect_timeout=30) as conn:  # refused here, not in every worker
        schema.require_current(conn)
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
                    log.warning(
                        "hub process ended; starting another", extra={"pid": w.pid, "code": w.exitcode}
                    )
                    if stop.wait(1.0):  # a worker failing at once must not spin
                        break
                    workers[i] = spawn.Process(target=_worker, args=(config, port))
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
