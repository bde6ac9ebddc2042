"""A batch's events as an EPCIS 2.0 JSON-LD document, streamed: one EPCIS event per exported store
event, in log order, up to the event log as it stood when the export began. The document writer
(:func:`write_events`) takes any events with their batches, so the hub's exports use it too.

Which store event becomes which EPCIS event, the identifiers, times and event IDs: ``docs/exports.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, TextIO

from linecode.errors import InvalidArgument
from linecode.export.identifiers import code_uri, line_uri
from linecode.export.sink import ExportSummary, ProgressCallback, Sink
from linecode.reasons import Reason
from linecode.store import Batch, Event, EventKind, Store, format_time, now_us

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"

_OBJECT_EVENTS: dict[EventKind, tuple[str, str, str]] = {
    EventKind.COMMISSIONED: ("ADD", "commissioning", "active"),
    EventKind.SCRAPPED: ("OBSERVE", "inspecting", "non_conformant"),
    EventKind.SAMPLED: ("OBSERVE", "sampling", "non_sellable_other"),
    EventKind.DESTROYED: ("OBSERVE", "destroying", "destroyed"),
    EventKind.DECOMMISSIONED: ("DELETE", "decommissioning", "inactive"),
}
_AGGREGATION_EVENTS: dict[EventKind, tuple[str, str, str]] = {
    EventKind.AGGREGATED: ("ADD", "packing", "in_progress"),
    EventKind.DISAGGREGATED: ("DELETE", "unpacking", "in_progress"),
}
EXPORTED_KINDS = frozenset(_OBJECT_EVENTS) | frozenset(_AGGREGATION_EVENTS)
"""Store event kinds that become an EPCIS event (one each)."""

_EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:linecode:event")


def progress_total(store: Store) -> int:
    """The total :func:`write_epcis` advances ``progress`` to: the event log's length now."""
    return store.last_event_seq()


def write_epcis(
    store: Store,
    batch_id: str,
    out: BinaryIO | TextIO,
    progress: ProgressCallback | None = None,
    *,
    utc_offset: dt.timedelta = dt.timedelta(0),
) -> ExportSummary:
    """Write the EPCIS 2.0 JSON-LD document of batch ``batch_id`` to ``out``, streaming.

    ``out`` is a binary file (gets UTF-8) or a text file; it is written in blocks of ~64 KiB and not
    closed. ``progress`` is called with the number of event log entries passed over since its last
    call (the total is :func:`progress_total`). ``utc_offset`` is the line's local time offset,
    written as every event's ``eventTimeZoneOffset``. Raises :class:`~linecode.errors.NotFound`
    for an unknown batch, :class:`~linecode.errors.InvalidArgument` for an offset EPCIS cannot carry.
    """
    format_offset(utc_offset)  # refused before anything is read
    batch = store.batch(batch_id)
    upto = store.last_event_seq()
    summary = ExportSummary(batch_id, "epcis", last_event_seq=upto)
    done = 0

    def events() -> Iterator[tuple[Event, Batch]]:
        nonlocal done
        for event in store.events(batch_id):
            if event.seq > upto:
                return
            if progress is not None:
                progress(event.seq - done)
            done = event.seq
            yield event, batch

    write_events(events(), out, summary, utc_offset=utc_offset)
    if progress is not None and upto > done:
        progress(upto - done)
    return summary


def write_events(
    events: Iterable[tuple[Event, Batch | None]],
    out: BinaryIO | TextIO,
    summary: ExportSummary,
    *,
    utc_offset: dt.timedelta = dt.timedelta(0),
) -> ExportSummary:
    """Write ``events`` as one EPCIS 2.0 JSON-LD document to ``out``, streaming, in the order given:
    the writer of :func:`write_epcis` (one batch of a store) and of the hub's exports (a batch over
    several sites, or every site's events after a cursor: ``linecode.hub.exports``).

    Each event comes with the batch it is of (None for an event of no batch): the batch gives the
    read point when the event names no line, and a commissioning event's ILMD (lot number, expiry).
    Events of kinds with no EPCIS counterpart are counted in ``summary.skipped``; the exported ones
    in ``summary.events`` and ``summary.codes``, and ``summary.bytes_written`` is set at the end.
    ``out`` and ``utc_offset`` as in :func:`write_epcis`; the offset is checked before ``events``
    is read from.
    """
    offset = format_offset(utc_offset)
    sink = Sink(out)
    header = {
        "@context": [EPCIS_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": format_time(now_us()),
    }
    # The body is opened by hand so events can follow one by one; the header is closed in the footer.
    sink.write(json.dumps(header, ensure_ascii=False)[:-1] + ',\n"epcisBody":{"eventList":[')
    first = True
    for event, batch in events:
        if event.kind not in EXPORTED_KINDS:
            summary.skipped[event.kind.label] = summary.skipped.get(event.kind.label, 0) + 1
            continue
        sink.write("\n" if first else ",\n")
        first = False
        summary.codes += _write_event(sink, event, batch, offset)
        summary.events[event.kind.label] = summary.events.get(event.kind.label, 0) + 1
    sink.write("\n]}}\n")
    sink.flush()
    summary.bytes_written = sink.written
    return summary


def format_offset(offset: dt.timedelta) -> str:
    """An offset as EPCIS ``eventTimeZoneOffset`` text.

    >>> format_offset(dt.timedelta(hours=8))
    '+08:00'
    >>> format_offset(-dt.timedelta(hours=3, minutes=30))
    '-03:30'
    """
    minutes, rest = divmod(offset, dt.timedelta(minutes=1))
    if rest or not -14 * 60 <= minutes <= 14 * 60:
        raise InvalidArgument(
            f"time zone offset {offset} cannot be an eventTimeZoneOffset: expected whole minutes "
            "from -14:00 to +14:00",
            reason=Reason.BAD_UTC_OFFSET,
        )
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _write_event(sink: Sink, event: Event, batch: Batch | None, offset: str) -> int:
    """Write one EPCIS event; returns how many code identifiers it named. An event of no batch
    (only a hub could hold one: the store files every code event under a batch) gets no ILMD, and
    no read point unless it names its line."""
    fields: dict[str, Any] = {
        "type": "ObjectEvent" if event.kind in _OBJECT_EVENTS else "AggregationEvent",
        "eventTime": format_time(event.time_us),
        "eventTimeZoneOffset": offset,
        "eventID": _event_id(event),
    }
    if event.kind in _OBJECT_EVENTS:
        action, biz_step, disposition = _OBJECT_EVENTS[event.kind]
    else:
        action, biz_step, disposition = _AGGREGATION_EVENTS[event.kind]
        fields["parentID"] = code_uri(event.parent or "")
    fields |= {"action": action, "bizStep": biz_step, "disposition": disposition}
    line = event.line or (batch.line if batch is not None else "")
    if line:
        fields["readPoint"] = {"id": line_uri(line)}
    if event.kind is EventKind.COMMISSIONED and batch is not None:
        fields["ilmd"] = {
            "cbvmda:lotNumber": batch.batch_number,
            "cbvmda:itemExpirationDate": batch.expiry_date.isoformat(),
        }
    list_name = "epcList" if event.kind in _OBJECT_EVENTS else "childEPCs"
    _write_with_list(sink, fields, list_name, (code_uri(c) for c in event.codes))
    return len(event.codes) + (list_name == "childEPCs")


def _write_with_list(sink: Sink, fields: dict[str, Any], name: str, uris: Iterable[str]) -> None:
    """Write ``fields`` as a JSON object with a last member ``name``: the list ``uris``, item by item
    (a bulk event's list is never built as one JSON string)."""
    sink.write(json.dumps(fields, ensure_ascii=False, separators=(",", ":"))[:-1])
    sink.write(f',"{name}":[')
    separator = '"'
    for uri in uris:
        # code_uri percent-encodes everything but URI characters: no quote or backslash to escape.
        sink.write(separator + uri + '"')
        separator = ',"'
    sink.write("]}")


def _event_id(event: Event) -> str:
    first = event.parent or (event.codes[0] if event.codes else "")
    name = f"{event.kind.label}/{event.seq}/{event.time_us}/{first}"
    return f"urn:uuid:{uuid.uuid5(_EVENT_ID_NAMESPACE, name)}"
