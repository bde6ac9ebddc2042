"""PrintService: images of issued codes, one by one or as a stream in print order.

Rendering runs in the Cython kernel with the GIL released on a pool sized to the cores; a stream
renders the next chunk while the current one is being sent, and gRPC's flow control holds the
renderer back when a printer reads slowly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import grpc

from linecode import render
from linecode.errors import InvalidArgument
from linecode.reasons import Reason
from linecode.service import convert
from linecode.service.print_job import PrintJobs
from linecode.store import Store
from linecode.v1 import print_pb2, print_pb2_grpc

DEFAULT_BLOCK = 16
"""Images per streamed message (and per render task): rendering stays just ahead of the printer."""
MAX_BLOCK = 256
MAX_STREAM = 1_000_000

_FORMATS: dict[int, render.Format | None] = {
    print_pb2.IMAGE_FORMAT_PNG: "png",
    print_pb2.IMAGE_FORMAT_SVG: "svg",
    print_pb2.IMAGE_FORMAT_PBM: "pbm",
    print_pb2.IMAGE_FORMAT_MATRIX: None,  # the raw module matrix
}
_SHAPES: dict[int, render.Shape] = {
    print_pb2.SYMBOL_SHAPE_ANY: "any",
    print_pb2.SYMBOL_SHAPE_SQUARE: "square",
    print_pb2.SYMBOL_SHAPE_RECTANGLE: "rectangle",
}
_MATRIX_TYPE = "application/octet-stream"


class Layout:
    """The image options of a request, checked once."""

    def __init__(self, options: print_pb2.ImageOptions) -> None:
        if options.format not in _FORMATS:
            raise InvalidArgument(
                f"image format {options.format}: expected PNG, SVG, PBM or MATRIX", reason=Reason.BAD_FORMAT
            )
        self.fmt = _FORMATS[options.format]
        self.module_px = options.module_px or 10
        self.quiet_zone = options.quiet_zone if options.HasField("quiet_zone") else 1
        if (options.rows == 0) != (options.cols == 0):
            raise InvalidArgument("fixed size needs both rows and cols (or neither)", reason=Reason.BAD_SIZE)
        self.size = f"{options.rows}x{options.cols}" if options.rows else None
        self.shape = _SHAPES.get(options.shape, "any")
        self.layout: dict[str, Any] = {
            "module_px": self.module_px,
            "quiet_zone": self.quiet_zone,
            "size": self.size,
            "shape": self.shape,
        }

    def image(self, code: str, symbol: str, gs1: bool, index: int) -> print_pb2.Image:
        if self.fmt is None:
            modules = render.matrix(symbol, gs1=gs1, size=self.size, shape=self.shape)
            rows, cols = modules.shape
            data = modules.astype("u1").tobytes()
            return print_pb2.Image(
                code=code, index=index, data=data, content_type=_MATRIX_TYPE, rows=rows, cols=cols
            )
        data = render.render(symbol, gs1=gs1, fmt=self.fmt, **self.layout)
        return print_pb2.Image(code=code, index=index, data=data, content_type=render.MEDIA_TYPES[self.fmt])

    def images(
        self, codes: Sequence[str], symbols: Sequence[str], gs1: bool, first: int
    ) -> list[print_pb2.Image]:
        if self.fmt == "png" or self.fmt == "pbm":  # the kernel's own bulk formats
            blobs = render.render_many(list(symbols), gs1=gs1, fmt=self.fmt, **self.layout)
            kind = render.MEDIA_TYPES[self.fmt]
            return [
                print_pb2.Image(code=c, index=first + k, data=b, content_type=kind)
                for k, (c, b) in enumerate(zip(codes, blobs, strict=True))
            ]
        return [self.image(c, s, gs1, first + k) for k, (c, s) in enumerate(zip(codes, symbols, strict=True))]


class PrintServicer(print_pb2_grpc.PrintServiceServicer):
    def __init__(self, store: Store, pool: Executor) -> None:
        self.store = store
        self.pool = pool
        self.jobs = PrintJobs(store, Layout)

    def PrintJob(
        self, request_iterator: Iterator[print_pb2.PrinterMessage], context: grpc.ServicerContext
    ) -> Iterator[print_pb2.JobMessage]:
        yield from self.jobs.run(request_iterator, context)

    def RenderLabel(self, request: print_pb2.LabelRequest, context: grpc.ServicerContext) -> print_pb2.Label:
        from linecode.render import label

        key = self.store.key(request.code)
        if request.profile not in ("", "printer", "graphic"):
            raise InvalidArgument(
                f"profile {request.profile!r}: expected printer or graphic", reason=Reason.BAD_LAYOUT
            )
        layout = label.Layout.parse(request.layout) if request.layout else None
        fmt: label.LabelFormat = "png" if request.format == print_pb2.LABEL_FORMAT_PNG else "zpl"
        profile: label.Profile | None = request.profile or None  # type: ignore[assignment]
        data = label.label_for(self.store, key, request.level, layout, profile, fmt)
        return print_pb2.Label(
            code=key, data=data, content_type="image/png" if fmt == "png" else "application/zpl"
        )

    def RenderImage(
        self, request: print_pb2.RenderImageRequest, context: grpc.ServicerContext
    ) -> print_pb2.Image:
        layout = Layout(request.options)
        key = self.store.key(request.code)
        symbol, gs1 = self.store.symbol(key)
        return layout.image(key, symbol, gs1, 0)

    def StreamImages(
        self, request: print_pb2.StreamImagesRequest, context: grpc.ServicerContext
    ) -> Iterator[print_pb2.ImageBlock]:
        layout = Layout(request.options)
        block = request.images_per_message or DEFAULT_BLOCK
        if block > MAX_BLOCK:
            raise InvalidArgument(
                f"images_per_message {block}: expected at most {MAX_BLOCK}", reason=Reason.BAD_BLOCK_SIZE
            )
        codes, symbols, gs1 = self._source(request)
        pending: Future[list[print_pb2.Image]] | None = None
        for first in range(0, len(codes), block):
            task = self.pool.submit(
                layout.images, codes[first : first + block], symbols[first : first + block], gs1, first
            )
            if pending is not None:
                yield print_pb2.ImageBlock(images=pending.result())
            pending = task
            if not context.is_active():
                task.cancel()
                return
        if pending is not None:
            yield print_pb2.ImageBlock(images=pending.result())

    def _source(self, request: print_pb2.StreamImagesRequest) -> tuple[list[str], list[str], bool]:
        which = request.WhichOneof("source")
        if which == "range":
            r = request.range
            if not 0 < r.count <= MAX_STREAM:
                raise InvalidArgument(
                    f"count {r.count}: expected 1 to {MAX_STREAM:,} images per stream",
                    reason=Reason.BAD_COUNT,
                )
            return self.store.allocated_symbols(
                r.batch_id, convert.level_arg(r.level), r.first_index, r.count
            )
        if which == "codes":
            if not request.codes.codes:
                raise InvalidArgument("codes is empty: name at least one code", reason=Reason.NO_CODES)
            keys = self.store.keys(request.codes.codes)  # each code once: never printed twice
            pairs = [self.store.symbol(k) for k in keys]
            kinds = {gs1 for _, gs1 in pairs}
            if len(kinds) > 1:
                raise InvalidArgument(
                    "a stream mixes GS1 and nmpa20 codes; send one kind per stream", reason=Reason.MIXED_CODES
                )
            return list(keys), [s for s, _ in pairs], kinds.pop()
        raise InvalidArgument(
            "set a source: range (batch, level, first_index, count) or codes", reason=Reason.NO_SOURCE
        )
