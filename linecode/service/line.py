"""LineService: allocation, bulk line events and aggregation for PLCs. Proto <-> store only."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import grpc

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
        same = allocation.symbols == allocation.codes
        offsets = [(r.start, r.count) for r in allocation.ranges]
        position = 0
        for first_index, count in offsets:
            for off in range(0, count, block):
                n = min(block, count - off)
                codes = allocation.codes[position : position + n]
                symbols = () if same else allocation.symbols[position : position + n]
                message = line_pb2.CodeBlock(
                    batch_id=allocation.batch_id,
                    level=allocation.level,
                    pool=allocation.pool,
                    first_index=first_index + off,
                    count=n,
                    event_seq=allocation.event_seq,
                    replayed=allocation.replayed,
                )
                packed_codes = _packed(codes) if request.packed else None
                packed_symbols = _packed(symbols) if packed_codes is not None and symbols else None
                if packed_codes is not None and (packed_symbols is not None or not symbols):
                    message.packed_codes, message.code_width = packed_codes
                    if packed_symbols is not None:
                        message.packed_symbols, message.symbol_width = packed_symbols
                else:
                    message.codes.extend(codes)
                    message.symbols.extend(symbols)
                yield message
                position += n

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


def _packed(texts: Sequence[str]) -> tuple[bytes, int] | None:
    """``texts`` as one bytes value of equal-width ASCII entries and that width (None: they differ
    in length, so the block goes in the repeated form). The codes and symbols of one pool and batch
    have one width by construction (``store.coderules.generate``: fixed-width serials)."""
    width = len(texts[0])
    joined = "".join(texts).encode("ascii")
    # none narrower and the total right: every entry is exactly this wide
    return (joined, width) if len(joined) == width * len(texts) and min(map(len, texts)) == width else None
