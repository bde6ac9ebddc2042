"""LineService: allocation, bulk line events and aggregation for PLCs. Proto <-> store only."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import numpy as np

from linecode.errors import InvalidArgument
from linecode.reasons import Reason
from linecode.service import convert
from linecode.store import Change, Store
from linecode.v1 import common_pb2, line_pb2, line_pb2_grpc

DEFAULT_BLOCK = 10_000
MAX_BLOCK = 20_000
"""Codes per CodeBlock at most: 20,000 GS1 codes with their symbols stay under the 4 MiB a gRPC
client accepts by default."""


class LineServicer(line_pb2_grpc.LineServiceServicer):
    def __init__(self, store: Store) -> None:
        self.store = store

    def Allocate(
        self, request: line_pb2.AllocateRequest, context: grpc.ServicerContext
    ) -> Iterator[line_pb2.CodeBlock]:
        block = request.block_size or DEFAULT_BLOCK
        if block > MAX_BLOCK:
            raise InvalidArgument(
                f"block_size {block}: expected at most {MAX_BLOCK:,}", reason=Reason.BAD_BLOCK_SIZE
            )
        # Durable before the first block: a client gone mid-stream loses nothing, and a retry
        # with the same idempotency key streams the same codes again.
        allocation = self.store.allocate(
            request.batch_id,
            convert.level_arg(request.level),
            request.count,
            origin=convert.origin(request),
        )
        for r in allocation.ranges:
            for first in range(r.start, r.end, block):
                n = min(block, r.end - first)
                codes, symbols = allocation.packed_at(first, n)
                message = line_pb2.CodeBlock(
                    batch_id=allocation.batch_id,
                    level=allocation.level,
                    pool=allocation.pool,
                    first_index=first,
                    count=n,
                    event_seq=allocation.event_seq,
                    replayed=allocation.replayed,
                )
                packed_codes = _packed(codes) if request.packed else None
                packed_symbols = (
                    _packed(symbols) if packed_codes is not None and symbols is not None else None
                )
                if packed_codes is not None and (packed_symbols is not None or symbols is None):
                    message.packed_codes, message.code_width = packed_codes
                    if packed_symbols is not None:
                        message.packed_symbols, message.symbol_width = packed_symbols
                else:
                    message.codes.extend(codes.astype(str).tolist())
                    if symbols is not None:
                        message.symbols.extend(symbols.astype(str).tolist())
                yield message

    def ReportEvents(
        self, request: line_pb2.ReportEventsRequest, context: grpc.ServicerContext
    ) -> common_pb2.Change:
        groups = [(convert.line_event(request.kind), request.codes)] if request.codes else []
        groups += [(convert.line_event(g.kind), g.codes) for g in request.groups]
        if not groups:
            raise InvalidArgument("no codes to report: set kind and codes, or groups", reason=Reason.NO_CODES)
        return convert.change(self.store.report_many(groups, origin=convert.origin(request)))

    def Aggregate(
        self, request: line_pb2.AggregateRequest, context: grpc.ServicerContext
    ) -> common_pb2.Change:
        return self._pack(self.store.aggregate, request.parent, request)

    def Reparent(self, request: line_pb2.ReparentRequest, context: grpc.ServicerContext) -> common_pb2.Change:
        return self._pack(self.store.reparent, request.new_parent, request)

    def _pack(
        self,
        write: Callable[..., Change],
        parent: str,
        request: line_pb2.AggregateRequest | line_pb2.ReparentRequest,
    ) -> common_pb2.Change:
        origin = convert.origin(request)
        return convert.change(write(parent, request.children, partial=request.partial, origin=origin))

    def Disaggregate(
        self, request: line_pb2.DisaggregateRequest, context: grpc.ServicerContext
    ) -> common_pb2.Change:
        some = list(request.children) or None
        return convert.change(self.store.disaggregate(request.parent, some, origin=convert.origin(request)))

    def Replace(self, request: line_pb2.ReplaceRequest, context: grpc.ServicerContext) -> common_pb2.Change:
        origin = convert.origin(request)
        return convert.change(
            self.store.replace(request.parent, request.old_child, request.new_child, origin=origin)
        )


def _packed(texts: np.ndarray) -> tuple[bytes, int] | None:
    """A fixed-width byte array (``S<n>``) as one bytes value and its width, or None when an entry
    is narrower than the rest (numpy pads it with zero bytes), so the block goes in the repeated
    form. The codes and symbols of one pool and batch have one width by construction
    (``store.coderules.generate``: fixed-width serials)."""
    width = texts.dtype.itemsize
    raw = texts.tobytes()
    # codes hold no zero byte: an entry is full width when its last byte is not zero
    if width == 0 or not np.frombuffer(raw, np.uint8)[width - 1 :: width].all():
        return None
    return raw, width
