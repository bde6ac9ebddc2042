"""AdminService.ExportBatch end to end: the streamed document is the export writers' document, in
bounded chunks; errors before and during the stream; a cancelled export stops its writer."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

import grpc

from linecode.export import write_epcis, write_nmpa_json
from linecode.v1 import admin_pb2, line_pb2
from tests.factories import commissioned

from ..test_export import traced_peak
from .conftest import Client, refused

FORMATS = {
    "epcis": admin_pb2.EXPORT_FORMAT_EPCIS,
    "nmpa-json": admin_pb2.EXPORT_FORMAT_NMPA_JSON,
    "nmpa-xml": admin_pb2.EXPORT_FORMAT_NMPA_XML,
}


def export(
    client: Client, fmt: int, batch: str = "B1", **extra: int
) -> tuple[bytes, list[admin_pb2.ExportChunk]]:
    chunks = list(client.admin.ExportBatch(admin_pb2.ExportBatchRequest(batch_id=batch, format=fmt, **extra)))
    return b"".join(c.data for c in chunks), chunks


def pack(client: Client) -> tuple[str, list[str]]:
    (bundle,) = client.commissioned("bundle", 1)
    units = client.commissioned("unit", 5)
    client.line.Aggregate(line_pb2.AggregateRequest(parent=bundle, children=units))
    return bundle, units


def test_each_format_streams_the_writers_document(client: Client) -> None:
    bundle, units = pack(client)
    for name, fmt in FORMATS.items():
        document, chunks = export(client, fmt)
        assert chunks[0].content_type.startswith("application/") and not chunks[-1].data
        summary = chunks[-1].summary
        assert (summary.batch_id, summary.format, summary.bytes_written) == ("B1", name, len(document))
        assert all(not c.HasField("summary") for c in chunks[:-1])
        if name == "epcis":
            events = json.loads(document)["epcisBody"]["eventList"]
            assert summary.events["commissioned"] == 2 and summary.events["aggregated"] == 1
            assert sum(summary.events.values()) == len(events)
        elif name == "nmpa-json":
            report = json.loads(document)
            expected = io.BytesIO()
            direct = write_nmpa_json(client.store, "B1", expected)
            assert (summary.relations, summary.codes) == (direct.relations, direct.codes) == (1, 6)
            assert report["relations"] == json.loads(expected.getvalue())["relations"]
            assert report["relations"][0]["parent"] == bundle
            assert sorted(report["relations"][0]["children"]) == sorted(units)
        else:
            root = ET.fromstring(document)
            assert root.tag == "batch_report" and summary.relations == 1


def test_export_errors(client: Client) -> None:
    refused(
        lambda: client.admin.ExportBatch(
            admin_pb2.ExportBatchRequest(batch_id="nope", format=admin_pb2.EXPORT_FORMAT_EPCIS)
        ),
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_BATCH",
    )
    refused(
        lambda: client.admin.ExportBatch(admin_pb2.ExportBatchRequest(batch_id="B1")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "BAD_EXPORT_FORMAT",
    )
    # Raised by the writer in its own thread, handed on to the caller as a status.
    refused(
        lambda: client.admin.ExportBatch(
            admin_pb2.ExportBatchRequest(
                batch_id="B1", format=admin_pb2.EXPORT_FORMAT_EPCIS, utc_offset_minutes=15 * 60
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "BAD_UTC_OFFSET",
    )
    document, _ = export(client, admin_pb2.EXPORT_FORMAT_EPCIS, utc_offset_minutes=8 * 60)
    assert json.loads(document)["epcisBody"]["eventList"] == []


def _export_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("linecode-export-")]


def commission_in_blocks(client: Client, blocks: int, size: int) -> None:
    """Units commissioned the way a line reports them: many events of a block of codes each (through
    the server's store directly, for speed)."""
    for _ in range(blocks):
        commissioned(client.store, "B1", "unit", size)


class Digest(io.RawIOBase):
    """A binary file that keeps only a hash and a length of what is written to it."""

    def __init__(self) -> None:
        self.hash, self.size = hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)


def test_a_large_export_streams_in_bounded_chunks(client: Client) -> None:
    commission_in_blocks(client, 60, 1000)
    direct = Digest()
    writer_peak = traced_peak(lambda: write_epcis(client.store, "B1", direct))
    streamed, chunks = Digest(), []

    def receive() -> None:
        request = admin_pb2.ExportBatchRequest(batch_id="B1", format=admin_pb2.EXPORT_FORMAT_EPCIS)
        for chunk in client.admin.ExportBatch(request):
            streamed.write(chunk.data)
            chunks.append(len(chunk.data))

    rpc_peak = traced_peak(receive)
    print(
        f"EPCIS of 60,000 codes: {streamed.size:,} bytes in {len(chunks)} chunks; peak traced memory "
        f"{rpc_peak:,} B through gRPC, {writer_peak:,} B writing to a file"
    )
    assert streamed.size == direct.size > 2_000_000 and len(chunks) > 20 and max(chunks) < 512 << 10
    # The same document bar its creation time (EPCIS creationDate), so the sizes match exactly.
    # What the RPC adds over the writer itself: a few queued chunks, not the document.
    assert rpc_peak - writer_peak < streamed.size / 4, (rpc_peak, writer_peak, streamed.size)


def test_a_cancelled_export_stops_its_writer(client: Client) -> None:
    commission_in_blocks(client, 20, 1000)
    stream = client.admin.ExportBatch(
        admin_pb2.ExportBatchRequest(batch_id="B1", format=admin_pb2.EXPORT_FORMAT_EPCIS)
    )
    next(stream)
    assert _export_threads()  # the writer is blocked on the full queue, waiting for the client
    stream.cancel()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while _export_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _export_threads()
