"""Exports against a real LMDB store: EPCIS 2.0 validated with jsonschema against the GS1 schema, the
NMPA report (JSON and XML) read back and held against the store, streaming memory, and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import tracemalloc
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from linecode.export import code_of_uri, code_uri, write_epcis, write_nmpa_json, write_nmpa_xml
from linecode.export.epcis import EXPORTED_KINDS
from linecode.export.nmpa import QUANTITIES
from linecode.serials import MasterKey
from linecode.store import CodeRule, EventKind, Level, Origin, Store
from tests.factories import commissioned, make_batch, make_product, run_linecode

STANDARDS = Path(__file__).resolve().parents[2] / "shared" / "standards"
EPCIS_SCHEMA = STANDARDS / "epcis-2.0-json-schema.json"

LEVELS = (
    Level("unit", CodeRule.NMPA20, "8600001"),
    Level("case", CodeRule.GS1, "09501101530003", pack_ratio=4),
    Level("pallet", CodeRule.SSCC, "06901234", pack_ratio=2),
)
CBV = {
    EventKind.COMMISSIONED: ("ObjectEvent", "ADD", "commissioning", "active"),
    EventKind.SCRAPPED: ("ObjectEvent", "OBSERVE", "inspecting", "non_conformant"),
    EventKind.SAMPLED: ("ObjectEvent", "OBSERVE", "sampling", "non_sellable_other"),
    EventKind.DESTROYED: ("ObjectEvent", "OBSERVE", "destroying", "destroyed"),
    EventKind.DECOMMISSIONED: ("ObjectEvent", "DELETE", "decommissioning", "inactive"),
    EventKind.AGGREGATED: ("AggregationEvent", "ADD", "packing", "in_progress"),
    EventKind.DISAGGREGATED: ("AggregationEvent", "DELETE", "unpacking", "in_progress"),
}


# --- a real store with a batch run through every exported event -----------------------------------


def open_unsynced_store(path: Path, master: MasterKey) -> Store:
    """A store whose commits are not synced to disk: fast, and all an export's reads need."""
    return Store.open(path, master_key=master, sync=False)


add_batch = partial(
    make_batch, made=dt.date(2026, 3, 2), expires=dt.date(2028, 3, 1), line="L 1", planned=100
)
"""The export tests' batches: the expiry and the line (a space in its URI) the documents are checked for."""


@pytest.fixture
def store(tmp_path: Path, master: MasterKey) -> Iterator[Store]:
    s = open_unsynced_store(tmp_path / "data", master)
    make_product(s, levels=LEVELS)
    yield s
    s.close()


@pytest.fixture
def batch(store: Store) -> str:
    """Batch B1 after commissioning, scrap, sample, destroy, packing, unpacking, decommissioning; and
    a batch B2 beside it whose events must stay out of B1's exports."""
    add_batch(store, "B1")
    units = list(store.allocate("B1", "unit", 12).codes)
    store.report_events("printed", units)
    store.report_events("verified", units[:10], origin=Origin(line="L 1"))
    store.report_events("verify_failed", units[10:])
    store.report_events("sampled", [units[8]])
    store.report_events("destroyed", [units[9]])
    cases = commissioned(store, "B1", "case", 2)
    store.aggregate(cases[0], units[0:4])
    store.aggregate(cases[1], units[4:8])
    store.disaggregate(cases[1], [units[7]])
    store.report_events("decommissioned", [units[7]])
    (pallet,) = commissioned(store, "B1", "pallet", 1)
    store.aggregate(pallet, cases, partial=True)
    add_batch(store, "B2")
    other = commissioned(store, "B2", "unit", 4)
    (case,) = commissioned(store, "B2", "case", 1)
    store.aggregate(case, other)
    return "B1"


# --- EPCIS -------------------------------------------------------------------------------------------

# The schema says "format": "uri" / "date-time"; jsonschema checks those only with optional packages,
# so the test brings its own strict checks rather than letting them pass unchecked.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _format_checker() -> jsonschema.FormatChecker:
    checker = jsonschema.FormatChecker()
    checker.checks("uri")(lambda value: not isinstance(value, str) or bool(_URI.match(value)))

    @checker.checks("date-time", raises=ValueError)
    def date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        return bool(_DATE_TIME.match(value)) and dt.datetime.fromisoformat(value) is not None

    return checker


def validate_epcis(document: Any) -> None:
    """Validate a whole document against the EPCIS 2.0 JSON schema of ../shared/standards."""
    assert EPCIS_SCHEMA.is_file(), (
        f"EPCIS 2.0 JSON schema not found at {EPCIS_SCHEMA}: the tests expect the shared/ folder "
        "(SPEC, standards) beside the repository checkout; clone or copy it there"
    )
    schema = json.loads(EPCIS_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=_format_checker())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def export_epcis(store: Store, batch_id: str, **kw: Any) -> dict[str, Any]:
    out = io.BytesIO()
    summary = write_epcis(store, batch_id, out, **kw)
    assert summary.bytes_written == len(out.getvalue())
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def test_epcis_validates_against_the_epcis_2_schema(store: Store, batch: str) -> None:
    document = export_epcis(store, batch, utc_offset=dt.timedelta(hours=8))
    validate_epcis(document)
    assert document["@context"] == ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"]
    assert (document["type"], document["schemaVersion"]) == ("EPCISDocument", "2.0")


def test_the_validator_rejects_a_broken_document(store: Store, batch: str) -> None:
    # Proof the schema check has teeth: an unknown bizStep and a time that is not a date-time fail.
    document = export_epcis(store, batch)
    document["epcisBody"]["eventList"][0]["bizStep"] = "urn:epcglobal:cbv:bizstep:commissioning"
    document["epcisBody"]["eventList"][1]["eventTime"] = "yesterday"
    with pytest.raises(AssertionError, match=r"bizStep|eventTime"):
        validate_epcis(document)


def test_epcis_events_match_the_store_events_one_for_one(store: Store, batch: str) -> None:
    exported = export_epcis(store, batch, utc_offset=dt.timedelta(hours=8))["epcisBody"]["eventList"]
    expected = [e for e in store.events(batch) if e.kind in EXPORTED_KINDS]
    assert len(exported) == len(expected)
    assert {e.kind for e in expected} == set(CBV), "the fixture must produce every exported kind"
    for doc, event in zip(exported, expected, strict=True):
        assert (doc["type"], doc["action"], doc["bizStep"], doc["disposition"]) == CBV[event.kind]
        assert dt.datetime.fromisoformat(doc["eventTime"]).timestamp() == pytest.approx(event.time_us / 1e6)
        assert doc["eventTimeZoneOffset"] == "+08:00"
        assert doc["readPoint"] == {"id": "urn:linecode:line:L%201"}
        if doc["type"] == "ObjectEvent":
            assert [code_of_uri(u) for u in doc["epcList"]] == list(event.codes)
        else:
            assert code_of_uri(doc["parentID"]) == event.parent
            assert [code_of_uri(u) for u in doc["childEPCs"]] == list(event.codes)
        if event.kind is EventKind.COMMISSIONED:
            assert doc["ilmd"] == {"cbvmda:lotNumber": "B1", "cbvmda:itemExpirationDate": "2028-03-01"}
        else:
            assert "ilmd" not in doc
    assert len({doc["eventID"] for doc in exported}) == len(exported)


def test_epcis_names_codes_by_digital_link_and_private_urn(store: Store, batch: str) -> None:
    events = export_epcis(store, batch)["epcisBody"]["eventList"]
    uris = [u for e in events for u in e.get("epcList", []) + e.get("childEPCs", [])]
    assert {re.sub(r"[0-9A-Z]+$", "", u.rsplit(":", 1)[0] + ":") for u in uris if u.startswith("urn:")} == {
        "urn:linecode:nmpa20:"
    }
    assert any(re.fullmatch(r"https://id\.gs1\.org/01/09501101530003/21/\d{12}", u) for u in uris)
    assert any(re.fullmatch(r"https://id\.gs1\.org/00/06901234\d{10}", e.get("parentID", "")) for e in events)


def test_epcis_summary_counts_exported_and_skipped_events(store: Store, batch: str) -> None:
    out = io.StringIO()
    summary = write_epcis(store, batch, out)
    kinds = [e.kind.label for e in store.events(batch)]
    assert sum(summary.events.values()) + sum(summary.skipped.values()) == len(kinds)
    assert summary.events["aggregated"] == kinds.count("aggregated") == 3
    assert summary.skipped["allocated"] == kinds.count("allocated")
    assert summary.bytes_written == len(out.getvalue().encode())


def test_epcis_of_an_empty_batch_is_a_valid_document(store: Store) -> None:
    add_batch(store, "EMPTY")
    document = export_epcis(store, "EMPTY")
    validate_epcis(document)
    assert document["epcisBody"]["eventList"] == []


def test_code_uris_round_trip_with_reserved_characters() -> None:
    key = "(01)09501101530003(21)A/B%C?"
    assert code_uri(key) == "https://id.gs1.org/01/09501101530003/21/A%2FB%25C%3F"
    assert code_of_uri(code_uri(key)) == key


def test_an_offset_epcis_cannot_carry_is_refused(store: Store, batch: str) -> None:
    from linecode.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="whole minutes") as info:
        write_epcis(store, batch, io.BytesIO(), utc_offset=dt.timedelta(hours=15))
    assert info.value.reason == "BAD_UTC_OFFSET"


# --- NMPA report ---------------------------------------------------------------------------------


def report_from_xml(data: bytes) -> dict[str, Any]:
    """The XML report in the JSON report's shape (numbers as numbers), to check both one way."""

    numbers = {
        "level",
        "pack_ratio",
        "planned_quantity",
        "production_quantity",
        "relation_count",
        *QUANTITIES,
    }

    def value(element: ET.Element) -> Any:
        if len(element) == 0:
            text = element.text or ""
            return int(text) if element.tag in numbers else text
        if element.tag in ("levels", "children"):
            return [value(child) for child in element]
        return {child.tag: value(child) for child in element}

    root = ET.fromstring(data)
    assert root.tag == "batch_report"
    report = {key: value(root.find(key)) for key in ("production", "relation_count")}  # type: ignore[arg-type]
    report["relations"] = [value(r) for r in root.iter("relation")]
    report.update(root.attrib)
    return report


def check_report(store: Store, batch_id: str, report: dict[str, Any]) -> None:
    production = report["production"]
    batch = store.batch(batch_id)
    assert (production["batch_number"], production["production_date"], production["expiry_date"]) == (
        batch.batch_number,
        batch.production_date.isoformat(),
        batch.expiry_date.isoformat(),
    )
    assert production["product_identifier"] == LEVELS[0].identifier
    reconciliation = store.reconcile(batch_id)
    assert len(production["levels"]) == len(reconciliation.levels)
    for level, counts in zip(production["levels"], reconciliation.levels, strict=True):
        assert level["level"] == counts.level and level["level_name"] == counts.level_name
        for name in ("allocated", "encoded", "commissioned", "scrapped", "aggregated", "sampled"):
            assert level[name] == getattr(counts, name), (level["level_name"], name)
        for name in ("destroyed", "decommissioned", "loose", "released"):
            assert level[name] == getattr(counts, name), (level["level_name"], name)
    assert production["production_quantity"] == reconciliation.levels[0].commissioned
    # Every parent of the batch that holds children, exactly once, with exactly its children.
    parents = {r.code for r in store.records(batch_id) if r.children}
    relations = report["relations"]
    assert sorted(r["parent"] for r in relations) == sorted(parents)
    for relation in relations:
        assert relation["children"] == store.children_of(relation["parent"])
        assert relation["level"] == store.record(relation["parent"]).level
    assert report["relation_count"] == len(relations) == 3


def test_nmpa_json_report_matches_reconciliation_and_relations(store: Store, batch: str) -> None:
    out = io.BytesIO()
    summary = write_nmpa_json(store, batch, out)
    report = json.loads(out.getvalue())
    assert (report["format"], report["version"]) == ("linecode-nmpa-batch-report", 1)
    check_report(store, batch, report)
    assert summary.relations == 3 and summary.bytes_written == len(out.getvalue())


def test_nmpa_xml_report_matches_reconciliation_and_relations(store: Store, batch: str) -> None:
    out = io.BytesIO()
    summary = write_nmpa_xml(store, batch, out)
    report = report_from_xml(out.getvalue())
    assert (report["format"], report["version"]) == ("linecode-nmpa-batch-report", "1")
    check_report(store, batch, report)
    assert summary.relations == 3


def test_nmpa_xml_escapes_text(store: Store) -> None:
    make_product(store, "odd", LEVELS, name="A & B <vaccine>", mah='MAH "x"')
    add_batch(store, "B<1>", product="odd")
    out = io.BytesIO()
    write_nmpa_xml(store, "B<1>", out)
    production = report_from_xml(out.getvalue())["production"]
    assert (production["product_name"], production["mah"], production["batch_id"]) == (
        "A & B <vaccine>",
        'MAH "x"',
        "B<1>",
    )


# --- streaming: memory does not grow with the batch ------------------------------------------------


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """100,000 units packed ten to a case (10,000 cases), reported the way a line does: in blocks."""
    s = open_unsynced_store(tmp_path_factory.mktemp("big") / "data", MasterKey(bytes(range(32))))
    make_product(s, levels=(LEVELS[0], Level("case", CodeRule.NMPA20, "8600002", pack_ratio=10)))
    add_batch(s, "BIG", planned=100_000)
    for _ in range(20):
        units = commissioned(s, "BIG", "unit", 5000)
        cases = commissioned(s, "BIG", "case", 500)
        for i, case in enumerate(cases):
            s.aggregate(case, units[i * 10 : i * 10 + 10])
    yield s
    s.close()


def traced_peak(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("writer", [write_epcis, write_nmpa_json, write_nmpa_xml])
def test_export_of_100k_codes_streams(big_store: Store, tmp_path: Path, writer: Any) -> None:
    path = tmp_path / "out"
    with path.open("wb") as out:
        peak = traced_peak(lambda: writer(big_store, "BIG", out))
    size = path.stat().st_size
    print(f"{writer.__name__}: {size:,} bytes written, peak traced memory {peak:,} bytes")
    assert size > 2_000_000
    assert peak < size / 4, f"peak traced memory {peak:,} B is not well under the output's {size:,} B"


def test_parent_walk_reads_a_level_in_chunks_exactly_once(big_store: Store) -> None:
    # 10,000 cases: several of the store's key chunks, so resuming after a chunk is exercised.
    walked = list(big_store.codes("BIG", "case"))
    assert len(walked) == 10_000 == len(set(walked))
    assert set(walked) == {r.code for r in big_store.records("BIG") if r.level == 2}
    out = io.BytesIO()
    assert write_nmpa_json(big_store, "BIG", out).relations == 10_000
    assert json.loads(out.getvalue())["relation_count"] == 10_000


# --- CLI -----------------------------------------------------------------------------------------


linecode = run_linecode


@pytest.mark.parametrize("fmt", ["epcis", "nmpa-json", "nmpa-xml"])
def test_cli_exports_from_a_data_dir_beside_an_open_writer(
    store: Store, batch: str, tmp_path: Path, fmt: str
) -> None:
    # The fixture's store stays open for writing in this process; the CLI opens it read-only beside it.
    path = tmp_path / f"B1.{fmt}"
    run = linecode("export", batch, "--format", fmt, "--data", str(store.path), "-o", str(path))
    assert run.returncode == 0, run.stderr
    data = path.read_bytes()
    if fmt == "epcis":
        validate_epcis(json.loads(data))
    elif fmt == "nmpa-json":
        check_report(store, batch, json.loads(data))
    else:
        check_report(store, batch, report_from_xml(data))
    assert f"{len(data):,} bytes" in run.stdout


def test_cli_names_an_unknown_batch(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    run = linecode("export", "NOPE", "--data", str(store.path), "-o", str(path))
    assert run.returncode == 2
    assert "NOPE" in run.stderr and "[" in run.stderr, run.stderr
    assert not path.exists(), "a failed export must not leave a partial file behind"
