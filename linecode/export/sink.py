"""What every export writer shares: a buffered text sink over a binary or text file, and the summary
the writers return.

Exports write many small pieces (one per code); collecting them and writing ~64 KiB at a time keeps
the per-call cost of the underlying file (or a gRPC chunk stream) out of the hot loop, while memory
stays bounded by the buffer size, never by the document size.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO, cast

_FLUSH_AT = 1 << 16

ProgressCallback = Callable[[int], object]
"""Called with how much more work is done (e.g. ``tqdm.update``); each writer says in what unit."""


class Sink:
    """Collects text and writes it to ``out`` in blocks (UTF-8 when ``out`` is binary)."""

    def __init__(self, out: BinaryIO | TextIO) -> None:
        self._out = out
        self._text = isinstance(out, io.TextIOBase)
        self._parts: list[str] = []
        self._size = 0
        self.written = 0
        """Bytes (UTF-8) handed to ``out`` so far."""

    def write(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Hand what is buffered to ``out`` (does not flush ``out`` itself)."""
        if not self._parts:
            return
        block = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        data = block.encode()
        self.written += len(data)
        if self._text:
            cast(TextIO, self._out).write(block)
        else:
            cast(BinaryIO, self._out).write(data)


@dataclass
class ExportSummary:
    """What an export wrote."""

    batch_id: str
    format: str
    """``epcis``, ``nmpa-json`` or ``nmpa-xml``."""
    bytes_written: int = 0
    """Size of the document in bytes (UTF-8)."""
    events: dict[str, int] = field(default_factory=dict)
    """EPCIS: exported store events per store event kind (``commissioned``, ``aggregated`` …)."""
    skipped: dict[str, int] = field(default_factory=dict)
    """EPCIS: store events of the batch with no EPCIS counterpart, per kind (see ``epcis``)."""
    codes: int = 0
    """Code identifiers written (EPCIS: in epcList/parentID/childEPCs; NMPA: in the relations)."""
    relations: int = 0
    """NMPA: parent → children relations written."""
    last_event_seq: int = 0
    """The event log position the document is consistent with."""
