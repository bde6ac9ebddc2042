"""AdminService: products, batches, locks, statuses, close, leases, exports and the store check.

Proto <-> store only."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

import grpc

from linecode.errors import Aborted, InvalidArgument
from linecode.export import ExportSummary, write_epcis, write_nmpa_json, write_nmpa_xml
from linecode.reasons import Reason
from linecode.service import convert
from linecode.store import Lock, Marking, RegulatoryStatus, Store
from linecode.store.check import LISTED, check
from linecode.v1 import admin_pb2, admin_pb2_grpc, common_pb2

_EXPORTS: dict[int, tuple[str, Callable[[Store, str, BinaryIO, dt.timedelta], ExportSummary]]] = {
    admin_pb2.EXPORT_FORMAT_EPCIS: (
        "application/ld+json",
        lambda store, batch, out, offset: write_epcis(store, batch, out, utc_offset=offset),
    ),
    admin_pb2.EXPORT_FORMAT_NMPA_JSON: (
        "application/json",
        lambda store, batch, out, offset: write_nmpa_json(store, batch, out),
    ),
    admin_pb2.EXPORT_FORMAT_NMPA_XML: (
        "application/xml",
        lambda store, batch, out, offset: write_nmpa_xml(store, batch, out),
    ),
}
_CHUNKS_AHEAD = 4
"""Chunks (~64 KiB each, the export sink's block) the writer may run ahead of the client."""
MAX_CHECK_LISTED = 1000
"""Disagreements a CheckStore answer lists at most (the message stays small)."""


class _ChunkPipe:
    """A binary file whose writes go to a bounded queue: the export writer, in its own thread, blocks
    while the client is behind, so memory stays at a few chunks whatever the document's size."""

    def __init__(self, cancelled: threading.Event) -> None:
        self.chunks: queue.Queue[bytes | ExportSummary | BaseException] = queue.Queue(_CHUNKS_AHEAD)
        self.cancelled = cancelled

    def put(self, item: bytes | ExportSummary | BaseException) -> None:
        while not self.cancelled.is_set():
            try:
                self.chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue
        raise Aborted("export cancelled by the client", reason=Reason.CANCELLED)

    def write(self, data: bytes) -> int:
        if data:
            self.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def _export_chunks(
    store: Store, batch_id: str, export_format: int, offset: dt.timedelta, context: grpc.ServicerContext
) -> Iterator[admin_pb2.ExportChunk]:
    content_type, write = _EXPORTS[export_format]
    cancelled = threading.Event()
    context.add_callback(cancelled.set)  # the call ended (done, cancelled, deadline): stop writing
    pipe = _ChunkPipe(cancelled)

    def produce() -> None:
        try:
            pipe.put(write(store, batch_id, cast(BinaryIO, pipe), offset))
        except BaseException as exc:  # handed to the RPC thread, which raises it to the caller
            if not cancelled.is_set():
                pipe.put(exc)

    writer = threading.Thread(target=produce, name=f"linecode-export-{batch_id}", daemon=True)
    writer.start()
    first = True
    try:
        while True:
            try:
                item = pipe.chunks.get(timeout=0.2)
            except queue.Empty:
                if cancelled.is_set():  # the call ended and the writer stopped without a last item
                    return
                continue
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, ExportSummary):
                yield admin_pb2.ExportChunk(
                    content_type=content_type if first else "", summary=export_summary(item)
                )
                return
            yield admin_pb2.ExportChunk(data=item, content_type=content_type if first else "")
            first = False
    finally:
        cancelled.set()
        writer.join(timeout=5)


def export_summary(summary: ExportSummary) -> admin_pb2.ExportSummary:
    return admin_pb2.ExportSummary(
        batch_id=summary.batch_id,
        format=summary.format,
        bytes_written=summary.bytes_written,
        codes=summary.codes,
        relations=summary.relations,
        events=summary.events,
        last_event_seq=summary.last_event_seq,
    )


def _marking(request: admin_pb2.SetLockRequest | admin_pb2.SetStatusRequest) -> Marking:
    """What a SetLock or SetStatus request marks (its batch or its codes), why, and its origin."""
    which = request.WhichOneof("target")
    marking = Marking(reason=request.reason, origin=convert.origin(request))
    if which == "batch_id":
        return Marking(**marking, batch_id=request.batch_id)
    if which == "codes":
        return Marking(**marking, codes=list(request.codes.codes))
    raise InvalidArgument("set a batch_id or codes: nothing to change was named", reason=Reason.NO_TARGET)


def _enum(cls: Any, value: int, what: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        names = ", ".join(f"{m.value} {m.name}" for m in cls)
        raise InvalidArgument(
            f"{what} {value}: expected one of {names}",
            reason=Reason.BAD_LOCK if what == "lock" else Reason.BAD_STATUS,
        ) from None


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, store: Store) -> None:
        self.store = store

    def CreateProduct(self, request: admin_pb2.Product, context: grpc.ServicerContext) -> admin_pb2.Product:
        return convert.product(
            self.store.create_product(
                request.product_id,
                request.name,
                request.mah,
                [convert.level_in(lv) for lv in request.levels],
                mixed_pallets=request.mixed_pallets,
            )
        )

    def GetProduct(
        self, request: admin_pb2.GetProductRequest, context: grpc.ServicerContext
    ) -> admin_pb2.Product:
        return convert.product(self.store.product(request.product_id))

    def ListProducts(
        self, request: admin_pb2.ListProductsRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ListProductsResponse:
        return admin_pb2.ListProductsResponse(products=[convert.product(p) for p in self.store.products()])

    def CreateBatch(self, request: admin_pb2.Batch, context: grpc.ServicerContext) -> admin_pb2.Batch:
        return convert.batch(
            self.store.create_batch(
                request.product_id,
                request.batch_number,
                production_date=convert.date_arg(request.production_date, "production_date"),
                expiry_date=convert.date_arg(request.expiry_date, "expiry_date"),
                line=request.line,
                planned_quantity=request.planned_quantity,
                batch_id=request.batch_id or None,
            )
        )

    def GetBatch(self, request: admin_pb2.GetBatchRequest, context: grpc.ServicerContext) -> admin_pb2.Batch:
        return convert.batch(self.store.batch(request.batch_id))

    def SetLock(self, request: admin_pb2.SetLockRequest, context: grpc.ServicerContext) -> common_pb2.Change:
        return convert.change(self.store.set_lock(_enum(Lock, request.lock, "lock"), **_marking(request)))

    def SetStatus(
        self, request: admin_pb2.SetStatusRequest, context: grpc.ServicerContext
    ) -> common_pb2.Change:
        status = _enum(RegulatoryStatus, request.status, "status")
        return convert.change(self.store.set_status(status, **_marking(request)))

    def CloseBatch(
        self, request: admin_pb2.CloseBatchRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ReconciliationReport:
        return convert.report(
            self.store.close_batch(
                request.batch_id, request.override_reason or None, origin=convert.origin(request)
            )
        )

    def ReconcileBatch(
        self, request: admin_pb2.GetBatchRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ReconciliationReport:
        return convert.report(self.store.reconcile(request.batch_id))

    def ExportLease(
        self, request: admin_pb2.ExportLeaseRequest, context: grpc.ServicerContext
    ) -> admin_pb2.LeaseMessage:
        lease = self.store.export_lease(
            request.pool,
            request.count,
            origin=convert.origin(request),
        )
        return admin_pb2.LeaseMessage(text=lease.as_text())

    def ImportLease(
        self, request: admin_pb2.LeaseMessage, context: grpc.ServicerContext
    ) -> common_pb2.Change:
        seq = self.store.import_lease(request.text, origin=convert.origin(request))
        return common_pb2.Change(event_seq=seq)  # its own event, whatever another process wrote since

    def ExportBatch(
        self, request: admin_pb2.ExportBatchRequest, context: grpc.ServicerContext
    ) -> Iterator[admin_pb2.ExportChunk]:
        if request.format not in _EXPORTS:
            raise InvalidArgument(
                f"export format {request.format}: expected EXPORT_FORMAT_EPCIS, EXPORT_FORMAT_NMPA_JSON "
                "or EXPORT_FORMAT_NMPA_XML",
                reason=Reason.BAD_EXPORT_FORMAT,
            )
        self.store.batch(request.batch_id)  # NotFound before the stream starts, not in the middle
        offset = dt.timedelta(minutes=request.utc_offset_minutes)
        return _export_chunks(self.store, request.batch_id, request.format, offset, context)

    def MarkBatchExported(
        self, request: admin_pb2.MarkBatchExportedRequest, context: grpc.ServicerContext
    ) -> common_pb2.Change:
        return convert.change(
            self.store.mark_exported(request.batch_id, request.destination, origin=convert.origin(request))
        )

    def CheckStore(
        self, request: admin_pb2.CheckStoreRequest, context: grpc.ServicerContext
    ) -> admin_pb2.CheckStoreReport:
        if request.limit > MAX_CHECK_LISTED:
            raise InvalidArgument(
                f"limit {request.limit}: expected at most {MAX_CHECK_LISTED} disagreements listed "
                "(all are counted either way)",
                reason=Reason.BAD_LIMIT,
                hint="run `linecode check --data DIR` beside the server for a longer list",
            )
        # The message's fields are the names of CheckReport.as_dict, as `linecode check --json` prints it.
        return admin_pb2.CheckStoreReport(**check(self.store, limit=request.limit or LISTED).as_dict())
