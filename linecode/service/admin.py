"""AdminService: products, batches, locks, statuses, close, leases. Proto <-> store only."""

from __future__ import annotations

import grpc

from linecode.errors import InvalidArgument
from linecode.service import convert
from linecode.store import Lock, RegulatoryStatus, Store
from linecode.v1 import admin_pb2, admin_pb2_grpc, common_pb2


def _target(request: admin_pb2.SetLockRequest | admin_pb2.SetStatusRequest) -> dict[str, object]:
    which = request.WhichOneof("target")
    if which == "batch_id":
        return {"batch_id": request.batch_id}
    if which == "codes":
        return {"codes": list(request.codes.codes)}
    raise InvalidArgument("set a batch_id or codes: nothing to change was named", reason="NO_TARGET")


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
        return convert.change(
            self.store.set_lock(
                Lock(request.lock),
                reason=request.reason,
                actor=request.origin.actor,
                line=request.origin.line,
                **_target(request),  # type: ignore[arg-type]
            )
        )

    def SetStatus(
        self, request: admin_pb2.SetStatusRequest, context: grpc.ServicerContext
    ) -> common_pb2.Change:
        return convert.change(
            self.store.set_status(
                RegulatoryStatus(request.status),
                reason=request.reason,
                actor=request.origin.actor,
                line=request.origin.line,
                **_target(request),  # type: ignore[arg-type]
            )
        )

    def CloseBatch(
        self, request: admin_pb2.CloseBatchRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ReconciliationReport:
        return convert.report(
            self.store.close_batch(
                request.batch_id,
                request.override_reason or None,
                actor=request.origin.actor,
                line=request.origin.line,
            )
        )

    def ReconcileBatch(
        self, request: admin_pb2.GetBatchRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ReconciliationReport:
        return convert.report(self.store.reconcile(request.batch_id))

    def ExportLease(
        self, request: admin_pb2.ExportLeaseRequest, context: grpc.ServicerContext
    ) -> admin_pb2.LeaseMessage:
        lease = self.store.export_lease(request.pool, request.count, actor=request.origin.actor)
        return admin_pb2.LeaseMessage(text=lease.as_text())

    def ImportLease(
        self, request: admin_pb2.LeaseMessage, context: grpc.ServicerContext
    ) -> common_pb2.Change:
        self.store.import_lease(request.text, actor=request.origin.actor)
        return common_pb2.Change(event_seq=self.store.last_event_seq())
