"""QueryService: verify scanned codes, read the hierarchy and the counts. Proto <-> store only."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from linecode.errors import NotFound
from linecode.reasons import Reason
from linecode.service import convert
from linecode.store import Store
from linecode.store.model import CountRow, Verification
from linecode.v1 import common_pb2, query_pb2, query_pb2_grpc


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    def __init__(self, store: Store) -> None:
        self.store = store

    def Verify(
        self, request: query_pb2.VerifyRequest, context: grpc.ServicerContext
    ) -> query_pb2.VerifyResponse:
        return verify_response(self.store.verify(request.data))

    def GetParent(self, request: query_pb2.CodeRequest, context: grpc.ServicerContext) -> common_pb2.CodeInfo:
        parent = self.store.parent_of(request.code)
        if parent is None:
            raise NotFound(
                f"code {request.code} is in no parent (loose or top level)",
                reason=Reason.NO_PARENT,
                codes=[request.code],
            )
        return convert.code_info(self.store.info(parent))

    def GetChildren(
        self, request: query_pb2.CodeRequest, context: grpc.ServicerContext
    ) -> query_pb2.ChildrenResponse:
        return query_pb2.ChildrenResponse(parent=request.code, children=self.store.children_of(request.code))

    def GetTree(self, request: query_pb2.CodeRequest, context: grpc.ServicerContext) -> common_pb2.TreeNode:
        return convert.tree(self.store.tree(request.code))

    def BatchCounts(
        self, request: query_pb2.BatchCountsRequest, context: grpc.ServicerContext
    ) -> query_pb2.BatchCountsResponse:
        return batch_counts_response(request.batch_id, self.store.counts(request.batch_id))


def verify_response(answer: Verification) -> query_pb2.VerifyResponse:
    """A Verify answer (a site's or the hub's) as the proto says it."""
    response = query_pb2.VerifyResponse(
        genuine=answer.genuine, usable=answer.usable, reason=answer.reason, message=answer.message
    )
    if answer.info is not None and answer.genuine:  # a forged scan learns nothing of the real code
        response.info.CopyFrom(convert.code_info(answer.info))
        response.expired = answer.info.expired
    return response


def batch_counts_response(batch_id: str, rows: Sequence[CountRow]) -> query_pb2.BatchCountsResponse:
    """Counts of a batch (a site's or the hub's) as the proto says them."""
    return query_pb2.BatchCountsResponse(
        batch_id=batch_id,
        rows=[
            query_pb2.CountRow(level=r.level, level_name=r.level_name, state=int(r.state), count=r.count)  # type: ignore[arg-type]
            for r in rows
        ],
    )
