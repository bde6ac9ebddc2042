"""The NMPA batch report of a batch: production data set and packaging relations, as JSON or XML.

Both formats carry the same fields under the same names (XML elements are named like the JSON keys),
mapped to NMPAB/T 1004-2019 (疫苗追溯基本数据集) data elements in ``docs/exports.md`` (NMPA batch report):

* ``production`` — the 生产信息 subset: product identifier (药品标识码), name, MAH, batch number
  (批号), production date, expiry, status, and per packaging level its identifier, pack ratio and
  quantities (the batch reconciliation numbers of SPEC §4; ``commissioned`` of level 1 is the
  production quantity 生产数量, counted in smallest sales packs);
* ``relations`` — the packaging relations (包装关联关系): one entry per parent code of the batch that
  holds children: parent code, its level, and its child codes (store keys: 20 digits for nmpa20,
  ``(01)…(21)…`` / ``(00)…`` for GS1);
* ``relation_count`` — written last, after the streamed relations.

The relations are streamed: parent codes are walked level by level in chunks and each one's children
read on their own, so memory does not grow with the batch. A parent of another batch holding this
batch's codes (a mixed pallet) is reported with its own batch. Export a closed batch for a report
that no line changes while it is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, TextIO
from xml.sax.saxutils import escape, quoteattr

from linecode.export.sink import ExportSummary, ProgressCallback, Sink
from linecode.store import Batch, LevelReconciliation, Product, Store, format_time, now_us

REPORT_FORMAT = "linecode-nmpa-batch-report"
REPORT_VERSION = 1

QUANTITIES = (
    "allocated",
    "encoded",
    "unused",
    "commissioned",
    "scrapped",
    "not_verified",
    "aggregated",
    "sampled",
    "destroyed",
    "decommissioned",
    "loose",
    "top",
    "empty_parents",
    "partial_declared",
    "partial_undeclared",
    "locked",
    "released",
)
"""Per-level quantities, named as in :class:`~linecode.store.LevelReconciliation`."""


@dataclass(frozen=True, slots=True)
class Relation:
    """One parent code and the codes packed directly in it."""

    parent: str
    level: int
    """The parent's packaging level (its children are one level below)."""
    level_name: str
    children: list[str]


def progress_total(store: Store, batch_id: str) -> int:
    """The total the NMPA writers advance ``progress`` to: the batch's codes above the unit level."""
    return sum(level.allocated for level in store.reconcile(batch_id).levels[1:])


def production(store: Store, batch_id: str) -> dict[str, Any]:
    """The production data set of a batch (the report's ``production`` section)."""
    batch = store.batch(batch_id)
    return production_of(batch, store.product(batch.product_id), store.reconcile(batch_id).levels)


def production_of(batch: Batch, product: Product, counts: Sequence[LevelReconciliation]) -> dict[str, Any]:
    """The production data set of ``batch`` of ``product`` whose levels reconcile as ``counts`` (one
    per level, unit first): :func:`production`, and the hub's report of a batch it holds."""
    levels = []
    for number, (spec, level) in enumerate(zip(product.levels, counts, strict=True), start=1):
        levels.append(
            {
                "level": number,
                "level_name": spec.name,
                "code_rule": spec.rule.value,
                "identifier": spec.identifier,
                "pack_ratio": spec.pack_ratio,
                **{name: getattr(level, name) for name in QUANTITIES},
            }
        )
    return {
        "product_identifier": product.levels[0].identifier,
        "product_id": product.product_id,
        "product_name": product.name,
        "mah": product.mah,
        "batch_id": batch.batch_id,
        "batch_number": batch.batch_number,
        "production_date": batch.production_date.isoformat(),
        "expiry_date": batch.expiry_date.isoformat(),
        "line": batch.line,
        "planned_quantity": batch.planned_quantity,
        "production_quantity": counts[0].commissioned,
        "batch_state": batch.state.label,
        "status": batch.status.label,
        "status_zh": batch.status.chinese,
        "levels": levels,
    }


def relations(store: Store, batch_id: str, progress: ProgressCallback | None = None) -> Iterator[Relation]:
    """Every parent code of the batch that holds children, level by level, with its children."""
    product = store.product(store.batch(batch_id).product_id)
    for number in range(2, product.top + 1):
        name = product.spec(number).name
        for parent, children in store.parents(batch_id, number, progress):
            yield Relation(parent, number, name, children)


def write_nmpa_json(
    store: Store,
    batch_id: str,
    out: BinaryIO | TextIO,
    progress: ProgressCallback | None = None,
) -> ExportSummary:
    """Write the NMPA batch report of ``batch_id`` to ``out`` as JSON (UTF-8), streaming.

    ``out`` is a binary or text file; it is written in blocks and not closed. ``progress`` is called
    with 1 per parent code walked (total: :func:`progress_total`). Raises
    :class:`~linecode.errors.NotFound` for an unknown batch.
    """
    return _write_store_report(store, batch_id, out, progress, "nmpa-json")


def write_nmpa_xml(
    store: Store,
    batch_id: str,
    out: BinaryIO | TextIO,
    progress: ProgressCallback | None = None,
) -> ExportSummary:
    """Write the NMPA batch report of ``batch_id`` to ``out`` as XML (UTF-8), streaming.

    The root element ``batch_report`` has the attributes ``format``, ``version`` and ``created``;
    every other field is an element named like its JSON key; a list holds one element per item
    (``levels/level``, ``relations/relation``, ``children/child``). Arguments and errors as
    :func:`write_nmpa_json`.
    """
    return _write_store_report(store, batch_id, out, progress, "nmpa-xml")


def _write_store_report(
    store: Store, batch_id: str, out: BinaryIO | TextIO, progress: ProgressCallback | None, name: str
) -> ExportSummary:
    summary = ExportSummary(batch_id, name, last_event_seq=store.last_event_seq())
    return write_report(name, production(store, batch_id), relations(store, batch_id, progress), out, summary)


def write_report(
    report_format: str,
    production: dict[str, Any],
    relations: Iterable[Relation],
    out: BinaryIO | TextIO,
    summary: ExportSummary,
) -> ExportSummary:
    """Write a batch report of ``production`` (:func:`production_of`) and ``relations`` to ``out``
    as ``report_format`` (one of :data:`REPORT_FORMATS`), streaming the relations as they come:
    the writer of :func:`write_nmpa_json`, :func:`write_nmpa_xml` and the hub's report
    (``linecode.hub.exports``). Counts into ``summary`` and sets its ``bytes_written``."""
    syntax = _SYNTAXES[report_format]
    sink = Sink(out)
    header = {"format": REPORT_FORMAT, "version": REPORT_VERSION, "created": format_time(now_us())}
    syntax.begin(sink, header, production)
    for relation in relations:
        syntax.relation(sink, relation, summary.relations == 0)
        summary.relations += 1
        summary.codes += 1 + len(relation.children)
    syntax.end(sink, summary.relations)
    sink.flush()
    summary.bytes_written = sink.written
    return summary


class _Syntax(Protocol):
    """How one format spells the report's three parts."""

    name: str

    def begin(self, sink: Sink, header: dict[str, Any], production: dict[str, Any]) -> None: ...
    def relation(self, sink: Sink, relation: Relation, first: bool) -> None: ...
    def end(self, sink: Sink, relation_count: int) -> None: ...


class _JsonReport:
    name = "nmpa-json"

    def begin(self, sink: Sink, header: dict[str, Any], production: dict[str, Any]) -> None:
        # The head is dumped whole, then reopened so the relations can follow one by one.
        head = json.dumps({**header, "production": production}, ensure_ascii=False, indent=1)
        sink.write(head[:-2] + ',\n "relations": [')

    def relation(self, sink: Sink, relation: Relation, first: bool) -> None:
        item = {"parent": relation.parent, "level": relation.level, "level_name": relation.level_name}
        sink.write(("\n  " if first else ",\n  ") + json.dumps(item, ensure_ascii=False)[:-1])
        sink.write(', "children": ' + json.dumps(relation.children, ensure_ascii=False) + "}")

    def end(self, sink: Sink, relation_count: int) -> None:
        sink.write(f'\n ],\n "relation_count": {relation_count}\n}}\n')


class _XmlReport:
    name = "nmpa-xml"

    def begin(self, sink: Sink, header: dict[str, Any], production: dict[str, Any]) -> None:
        attrs = " ".join(f"{name}={quoteattr(str(value))}" for name, value in header.items())
        sink.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<batch_report {attrs}>\n')
        _write_xml(sink, "production", production, 1)
        sink.write(" <relations>\n")

    def relation(self, sink: Sink, relation: Relation, first: bool) -> None:
        sink.write(
            f"  <relation><parent>{escape(relation.parent)}</parent><level>{relation.level}</level>"
            f"<level_name>{escape(relation.level_name)}</level_name><children>"
        )
        for child in relation.children:
            sink.write(f"<child>{escape(child)}</child>")
        sink.write("</children></relation>\n")

    def end(self, sink: Sink, relation_count: int) -> None:
        sink.write(f" </relations>\n <relation_count>{relation_count}</relation_count>\n</batch_report>\n")


_SYNTAXES: dict[str, _Syntax] = {syntax.name: syntax for syntax in (_JsonReport(), _XmlReport())}
REPORT_FORMATS = tuple(_SYNTAXES)
"""The formats :func:`write_report` writes: ``nmpa-json``, ``nmpa-xml``."""


def _write_xml(sink: Sink, name: str, value: Any, depth: int) -> None:
    """Write a small JSON-like value (the production section) as XML elements."""
    pad = " " * depth
    if isinstance(value, dict):
        sink.write(f"{pad}<{name}>\n")
        for key, item in value.items():
            _write_xml(sink, key, item, depth + 1)
        sink.write(f"{pad}</{name}>\n")
    elif isinstance(value, list):
        # A list element is named in the plural; each item in the singular (levels/level).
        sink.write(f"{pad}<{name}>\n")
        for item in value:
            _write_xml(sink, name.removesuffix("s"), item, depth + 1)
        sink.write(f"{pad}</{name}>\n")
    else:
        sink.write(f"{pad}<{name}>{escape(str(value))}</{name}>\n")
