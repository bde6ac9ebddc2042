"""``linecode export``: a batch as an EPCIS 2.0 document or NMPA batch report, offline on a data dir."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
from pathlib import Path

from linecode.errors import InvalidArgument
from linecode.reasons import Reason

FORMATS = ("epcis", "nmpa-json", "nmpa-xml")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser(
        "export",
        help="write a batch as EPCIS 2.0 JSON-LD or as the NMPA batch report (JSON, XML)",
        description="Reads the data dir read-only, so it works beside a running server.",
    )
    export.add_argument("batch", metavar="BATCH", help="batch id")
    export.add_argument("--format", choices=FORMATS, default="epcis", help="document format (default epcis)")
    export.add_argument("--data", type=Path, required=True, help="data dir of the line store")
    export.add_argument("-o", "--output", type=Path, required=True, help="file to write")
    export.add_argument(
        "--utc-offset",
        default=None,
        help="EPCIS eventTimeZoneOffset of the line, e.g. +08:00 (default: this machine's)",
    )
    export.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.cli.progress import progress_bar
    from linecode.export import epcis, nmpa
    from linecode.store import Store

    offset = parse_offset(args.utc_offset) if args.utc_offset else _local_offset()
    # Write beside the target and rename at the end: a failed export leaves no partial document.
    partial = args.output.with_name(f".{args.output.name}.partial")
    with Store.open(args.data, readonly=True) as store:
        # EPCIS walks the event log, the NMPA report the batch's parent codes: each has its total.
        if args.format == "epcis":
            total, unit = epcis.progress_total(store), "event"
        else:
            total, unit = nmpa.progress_total(store, args.batch), "parent"
        try:
            with partial.open("wb") as out, progress_bar(total, f"export {args.batch}", unit) as bar:
                if args.format == "epcis":
                    summary = epcis.write_epcis(store, args.batch, out, bar.update, utc_offset=offset)
                elif args.format == "nmpa-json":
                    summary = nmpa.write_nmpa_json(store, args.batch, out, bar.update)
                else:
                    summary = nmpa.write_nmpa_xml(store, args.batch, out, bar.update)
            os.replace(partial, args.output)
        finally:
            partial.unlink(missing_ok=True)
    if summary.events:
        details = ", ".join(f"{n:,} {kind}" for kind, n in summary.events.items()) + " events"
    else:
        details = f"{summary.relations:,} packaging relations"
    print(
        f"{args.output}: {args.format} of batch {args.batch}, {summary.bytes_written:,} bytes, "
        f"{details}, {summary.codes:,} codes (event log up to #{summary.last_event_seq})"
    )
    return 0


def parse_offset(text: str) -> dt.timedelta:
    """``+08:00`` (or ``Z``) as a time offset."""
    if text == "Z":
        return dt.timedelta(0)
    match = re.fullmatch(r"([+-])(\d\d):(\d\d)", text)
    if match is None:
        raise InvalidArgument(
            f"--utc-offset {text!r}: expected +HH:MM or -HH:MM (e.g. +08:00) or Z",
            reason=Reason.BAD_UTC_OFFSET,
        )
    sign = -1 if match[1] == "-" else 1
    return sign * dt.timedelta(hours=int(match[2]), minutes=int(match[3]))


def _local_offset() -> dt.timedelta:
    return dt.datetime.now().astimezone().utcoffset() or dt.timedelta(0)
