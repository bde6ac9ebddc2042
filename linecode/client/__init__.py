"""What a gRPC client of linecode loads to back off when the server is busy, and how it reads the
code blocks of ``Allocate`` in either form (:func:`block_codes`, :func:`block_symbols`,
:func:`allocated_codes`).

``service_config.json`` (beside this file; ``linecode client-config`` prints it) is a standard gRPC
service config. Every call refused for overload (RESOURCE_EXHAUSTED ``OVERLOADED``: nothing was
done) is retried, up to 5 attempts, after the delay the server asks for (``grpc-retry-pushback-ms``,
sent beside ``google.rpc.RetryInfo`` and jittered by the server), else with exponential backoff
(0.1 s doubling to 5 s, jittered). A full pool or store is RESOURCE_EXHAUSTED too, but its pushback
of -1 tells gRPC not to retry. Reads and health are also retried after UNAVAILABLE (connection
lost); writes are not, as a write may have been made before the connection broke: retry those
yourself with the same idempotency key, which answers from the first. Retry throttling stops
retrying while more than about one call in ten fails, so clients never multiply a storm. Clients
built on gRPC's core (Python, C++, Ruby, PHP, C#), grpc-java and grpc-go read the same file.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator, Sequence
from importlib import resources
from typing import Any, overload

from linecode._wire import unpacked

SERVICE_CONFIG: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("service_config.json").read_text(encoding="utf-8")
)
"""The service config, as a dict."""


def channel_options() -> list[tuple[str, Any]]:
    """gRPC channel options that load :data:`SERVICE_CONFIG` (retries on)."""
    return [("grpc.service_config", json.dumps(SERVICE_CONFIG)), ("grpc.enable_retries", 1)]


def block_codes(block: Any) -> list[str]:
    """The codes' keys of an Allocate ``CodeBlock``, in print order, in either of its forms
    (``AllocateRequest.packed`` asks for the packed one)."""
    return unpacked(block.packed_codes, block.code_width) if block.code_width else list(block.codes)


class Codes(Sequence[str]):
    """Every code's key of an ``Allocate`` stream, in print order, as a sequence that keeps the
    packed blocks as they came (20 bytes a code for nmpa20) and makes a code's string when it is
    read: a line takes its codes one by one over minutes, so a client holding 100,000 of them need
    not hold 100,000 string objects. ``list(codes)`` makes them all at once."""

    def __init__(self, blocks: Iterable[Any]) -> None:
        self._parts: list[tuple[bytes, int] | list[str]] = []
        self._starts: list[int] = []
        n = 0
        for block in blocks:
            self._starts.append(n)
            if block.code_width:
                if len(block.packed_codes) % block.code_width:
                    raise ValueError(
                        f"packed codes of {len(block.packed_codes)} bytes do not divide into entries of "
                        f"width {block.code_width}"
                    )
                self._parts.append((block.packed_codes, block.code_width))
                n += len(block.packed_codes) // block.code_width
            else:
                self._parts.append(list(block.codes))
                n += len(block.codes)
        self._len = n

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(f"code {index} of {self._len}")
        part = bisect.bisect_right(self._starts, index) - 1
        chunk, at = self._parts[part], index - self._starts[part]
        if isinstance(chunk, list):
            return chunk[at]
        data, width = chunk
        return data[at * width : (at + 1) * width].decode("ascii")

    def __iter__(self) -> Iterator[str]:
        for chunk in self._parts:
            yield from chunk if isinstance(chunk, list) else unpacked(*chunk)


def allocated_codes(blocks: Iterable[Any]) -> Codes:
    """Every code's key of an ``Allocate`` stream (its ``CodeBlock`` messages), in print order
    (:class:`Codes`: the packed blocks kept, each code made as it is read)."""
    return Codes(blocks)


def block_symbols(block: Any) -> list[str]:
    """What goes into each code's symbol (GS1: the element string), in print order, either form."""
    if block.symbol_width:
        return unpacked(block.packed_symbols, block.symbol_width)
    return list(block.symbols) or block_codes(block)


def unpacked_reference(data: bytes, width: int) -> list[str]:
    """The entries of a packed block, each ``width`` ASCII characters, as strings: the specification
    of the kernel the helpers use (``linecode._wire.unpacked``). Raises ``ValueError`` for data that
    does not divide into entries of ``width`` or is not ASCII (``UnicodeDecodeError``)."""
    if width <= 0 or len(data) % width:
        raise ValueError(f"packed codes of {len(data)} bytes do not divide into entries of width {width}")
    text = data.decode("ascii")
    return [text[i : i + width] for i in range(0, len(text), width)]
