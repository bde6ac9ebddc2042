"""QueryService and AdminService end to end, error paths included."""

from __future__ import annotations

import json

import grpc

from linecode.codes import GS
from linecode.v1 import admin_pb2, common_pb2, line_pb2, query_pb2
from tests.factories import make_product

from .conftest import BATCH, EXPORT_BATCH, GS1_PRODUCT, ORIGIN, PRODUCT, Client, batch_message, refused


def packed(client: Client) -> tuple[str, str, list[str]]:
    (case,) = client.commissioned("case", 1)
    (bundle,) = client.commissioned("bundle", 1)
    units = client.commissioned("unit", 5)
    client.line.Aggregate(line_pb2.AggregateRequest(parent=bundle, children=units))
    client.line.Aggregate(line_pb2.AggregateRequest(parent=case, children=[bundle], partial=True))
    return case, bundle, units


def test_verify_answers_for_every_scanned_form(client: Client) -> None:
    case, bundle, units = packed(client)
    answer = client.query.Verify(query_pb2.VerifyRequest(data=units[0]))
    assert answer.genuine and answer.usable and answer.reason == "OK"
    assert list(answer.info.path) == [bundle, case]
    assert answer.info.batch_number == "B2026001" and answer.info.expiry_date == "2028-01-04"
    hri = f"{units[0][:7]} {units[0][7:16]} {units[0][16:]}"
    assert client.query.Verify(query_pb2.VerifyRequest(data=hri)).genuine
    forged = units[0][:16] + f"{(int(units[0][16:]) + 1) % 10000:04d}"
    bad = client.query.Verify(query_pb2.VerifyRequest(data=forged))
    assert not bad.genuine and bad.reason == "BAD_CHECK"
    unknown = client.query.Verify(query_pb2.VerifyRequest(data="12345678901234567890"))
    assert not unknown.genuine and unknown.reason == "UNKNOWN_IDENTIFIER"
    client.admin.SetLock(
        admin_pb2.SetLockRequest(batch_id="B1", lock=common_pb2.LOCK_TO_BE_RECALLED, origin=ORIGIN)
    )
    locked = client.query.Verify(query_pb2.VerifyRequest(data=units[1]))
    assert locked.genuine and not locked.usable and locked.reason == "LOCKED"


def test_verify_answers_for_scanned_gs1_strings(client: Client) -> None:
    client.admin.CreateProduct(GS1_PRODUCT)
    client.admin.CreateBatch(EXPORT_BATCH)
    (block,) = client.allocate("unit", 2, batch="E1")
    client.report(line_pb2.LINE_EVENT_PRINTED, list(block.codes))
    client.report(line_pb2.LINE_EVENT_VERIFIED, list(block.codes))
    key, raw = block.codes[0], block.symbols[0]  # raw: 01…21…<GS>17…10…, as a scanner hands it on
    assert GS in raw
    serial = key[len("(01)09501101530003(21)") :]
    for scanned in (
        raw,
        "]d2" + raw,
        GS + raw,  # FNC1 shown as a leading GS
        f"(01)09501101530003(21){serial}(17)280131(10)LOT7",  # HRI
        key,
    ):
        answer = client.query.Verify(query_pb2.VerifyRequest(data=scanned))
        assert answer.genuine and answer.usable and answer.reason == "OK", (scanned, answer)
        assert (answer.info.code, answer.info.batch_id, answer.expired) == (key, "E1", False)
    other_lot = raw.replace("10LOT7", "10LOT8")
    mismatch = client.query.Verify(query_pb2.VerifyRequest(data="]d2" + other_lot))
    assert not mismatch.genuine and mismatch.reason == "DATA_MISMATCH"
    not_ours = client.query.Verify(query_pb2.VerifyRequest(data=f"]d20109501101530003{GS}21X"))
    assert not not_ours.genuine and not not_ours.info.code


def test_hierarchy_queries(client: Client) -> None:
    case, bundle, units = packed(client)
    assert client.query.GetParent(query_pb2.CodeRequest(code=units[2])).code == bundle
    assert sorted(client.query.GetChildren(query_pb2.CodeRequest(code=bundle)).children) == sorted(units)
    tree = client.query.GetTree(query_pb2.CodeRequest(code=case))
    assert tree.code == case and tree.children[0].code == bundle and len(tree.children[0].children) == 5
    refused(
        lambda: client.query.GetParent(query_pb2.CodeRequest(code=case)),
        grpc.StatusCode.NOT_FOUND,
        "NO_PARENT",
    )
    refused(
        lambda: client.query.GetTree(query_pb2.CodeRequest(code="86000019999999990000")),
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_CODE",
    )
    counts = client.query.BatchCounts(query_pb2.BatchCountsRequest(batch_id="B1"))
    by = {(r.level_name, r.state): r.count for r in counts.rows}
    assert by[("unit", common_pb2.STATE_AGGREGATED)] == 5
    assert by[("case", common_pb2.STATE_COMMISSIONED)] == 1


def test_products_and_batches(client: Client) -> None:
    assert client.admin.GetProduct(admin_pb2.GetProductRequest(product_id="vaccine")).levels[3].rule == "sscc"
    client.admin.CreateProduct(GS1_PRODUCT)
    assert {p.product_id for p in client.admin.ListProducts(admin_pb2.ListProductsRequest()).products} == {
        "vaccine",
        "export",
    }
    refused(lambda: client.admin.CreateProduct(PRODUCT), grpc.StatusCode.ALREADY_EXISTS, "PRODUCT_EXISTS")
    refused(lambda: client.admin.CreateBatch(BATCH), grpc.StatusCode.ALREADY_EXISTS, "BATCH_EXISTS")
    bad_date = batch_message(batch_id="B9", expiry_date="2028-13-01")
    refused(lambda: client.admin.CreateBatch(bad_date), grpc.StatusCode.INVALID_ARGUMENT, "BAD_DATE")
    bad_rule = admin_pb2.Product(
        product_id="x", levels=[admin_pb2.Level(name="unit", rule="ean", identifier="1")]
    )
    refused(lambda: client.admin.CreateProduct(bad_rule), grpc.StatusCode.INVALID_ARGUMENT, "BAD_RULE")
    batch = client.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="B1"))
    assert batch.state == common_pb2.BATCH_STATE_OPEN and batch.line == "L1"
    refused(
        lambda: client.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="nope")),
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_BATCH",
    )


def test_status_and_lock(client: Client) -> None:
    units = client.commissioned("unit", 3)
    damaged = admin_pb2.SetStatusRequest(
        codes=admin_pb2.CodeSet(codes=units[:1]),
        status=common_pb2.REGULATORY_STATUS_DAMAGED,
        origin=ORIGIN,
        idempotency_key="qa-damaged-1",
    )
    first = client.admin.SetStatus(damaged)
    assert client.store.info(units[0]).status.label == "damaged"
    retry = client.admin.SetStatus(damaged)  # the answer was lost: the same key writes nothing new
    assert retry.replayed and retry.event_seq == first.event_seq
    assert client.store.last_event_seq() == first.event_seq
    client.admin.SetLock(
        admin_pb2.SetLockRequest(codes=admin_pb2.CodeSet(codes=units[1:2]), lock=common_pb2.LOCK_ABNORMAL)
    )
    (bundle,) = client.commissioned("bundle", 1)
    refused(
        lambda: client.line.Aggregate(
            line_pb2.AggregateRequest(parent=bundle, children=units[1:2], partial=True)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CODE_LOCKED",
    )
    refused(
        lambda: client.admin.SetLock(admin_pb2.SetLockRequest(lock=common_pb2.LOCK_PENDING)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "NO_TARGET",
    )


def test_close_batch_reconciles_and_refuses_discrepancies(client: Client) -> None:
    packed(client)
    client.commissioned("unit", 2)  # loose units
    refused(
        lambda: client.admin.CloseBatch(admin_pb2.CloseBatchRequest(batch_id="B1")),
        grpc.StatusCode.FAILED_PRECONDITION,
        "BATCH_DISCREPANCY",
    )
    report = client.admin.ReconcileBatch(admin_pb2.GetBatchRequest(batch_id="B1"))
    assert not report.ok and len(report.loose_units) == 3  # two units and the case (no pallet)
    closed = client.admin.CloseBatch(
        admin_pb2.CloseBatchRequest(
            batch_id="B1", override_reason="two loose units sent to rework", origin=ORIGIN
        )
    )
    assert closed.state == common_pb2.BATCH_STATE_CLOSED and closed.override_reason
    refused(lambda: client.allocate("unit", 1), grpc.StatusCode.FAILED_PRECONDITION, "BATCH_NOT_OPEN")


def test_a_closed_batch_is_marked_exported(client: Client) -> None:
    def mark(batch_id: str, destination: str, key: str = "", time_us: int = 0) -> common_pb2.Change:
        request = admin_pb2.MarkBatchExportedRequest(
            batch_id=batch_id, destination=destination, origin=ORIGIN, idempotency_key=key, time_us=time_us
        )
        return client.admin.MarkBatchExported(request)

    refused(lambda: mark("B1", "NMPA"), grpc.StatusCode.FAILED_PRECONDITION, "BATCH_NOT_CLOSED")
    close = admin_pb2.CloseBatchRequest(batch_id="B1", origin=ORIGIN, idempotency_key="close-B1")
    closed = client.admin.CloseBatch(close)
    assert client.admin.CloseBatch(close) == closed  # a retry gets the report, not BATCH_NOT_OPEN
    assert client.store.last_event_seq() == closed.closed_event_seq
    refused(lambda: mark("B1", ""), grpc.StatusCode.INVALID_ARGUMENT, "BAD_DESTINATION")
    refused(lambda: mark("B404", "NMPA"), grpc.StatusCode.NOT_FOUND, "UNKNOWN_BATCH")
    refused(lambda: mark("", "NMPA"), grpc.StatusCode.NOT_FOUND, "UNKNOWN_BATCH")
    refused(lambda: mark("B1", "NMPA", time_us=2**64 - 1), grpc.StatusCode.INVALID_ARGUMENT, "BAD_TIME")
    refused(
        lambda: mark("B1", "NMPA", key="k" * 600), grpc.StatusCode.INVALID_ARGUMENT, "BAD_IDEMPOTENCY_KEY"
    )
    at = client.store.batch("B1").last_event_us + 1_000
    first = mark("B1", "NMPA platform, receipt 42", "exp-1", time_us=at)
    event = list(client.store.events("B1"))[-1]
    assert (event.seq, event.time_us, event.actor, event.line) == (
        first.event_seq,
        at,
        ORIGIN.actor,
        ORIGIN.line,
    )
    assert json.loads(event.detail) == {"destination": "NMPA platform, receipt 42"}
    retry = mark("B1", "NMPA platform, receipt 42", "exp-1", time_us=at)
    assert retry.replayed and retry.event_seq == first.event_seq == client.store.last_event_seq()
    refused(
        lambda: mark("B1", "elsewhere", "exp-1"), grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED"
    )
    got = client.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="B1"))
    assert got.state == common_pb2.BATCH_STATE_EXPORTED
    report = client.admin.ReconcileBatch(admin_pb2.GetBatchRequest(batch_id="B1"))
    assert report.closed_event_seq == closed.closed_event_seq and report.closed_time_us > 0
    assert report.closed_time_us == closed.closed_time_us
    assert (report.exported_to, report.exported_time_us) == ("NMPA platform, receipt 42", at)


def test_lease_export_and_import(client: Client, tmp_path, master) -> None:  # type: ignore[no-untyped-def]
    from linecode.service.server import create_server
    from linecode.store import EventKind, Store

    from .conftest import connect

    request = admin_pb2.ExportLeaseRequest(pool="nmpa20/8600001", count=1000, idempotency_key="lease-1")
    lease = client.admin.ExportLease(request)
    assert lease.text.startswith("nmpa20/8600001 ")
    assert client.admin.ExportLease(request).text == lease.text  # a retry gets the same lease
    other_store = Store.open(tmp_path / "other", master_key=master)
    other = create_server(other_store, "127.0.0.1:0")
    try:
        second = connect(other, other_store)
        make_product(second.store, claim_pools=False)
        second.admin.CreateBatch(BATCH)
        imported = second.admin.ImportLease(lease)
        (event,) = [e for e in second.store.events() if e.seq == imported.event_seq]
        assert event.kind is EventKind.LEASE_IMPORTED
        theirs = set(second.codes("unit", 1000))
        ours = set(client.codes("unit", 1000))
        assert len(theirs) == 1000 and not theirs & ours
        refused(lambda: second.allocate("unit", 1), grpc.StatusCode.RESOURCE_EXHAUSTED, "POOL_EXHAUSTED")
        refused(lambda: second.admin.ImportLease(lease), grpc.StatusCode.ALREADY_EXISTS, "LEASE_OVERLAP")
        second.channel.close()
    finally:
        other.stop(1)
        other_store.close()


def test_bad_enum_values_and_levels_are_invalid_arguments(client: Client) -> None:
    refused(
        lambda: client.admin.SetLock(admin_pb2.SetLockRequest(batch_id="B1", lock=7)),  # type: ignore[arg-type]
        grpc.StatusCode.INVALID_ARGUMENT,
        "BAD_LOCK",
    )
    refused(
        lambda: client.admin.SetStatus(admin_pb2.SetStatusRequest(batch_id="B1", status=42)),  # type: ignore[arg-type]
        grpc.StatusCode.INVALID_ARGUMENT,
        "BAD_STATUS",
    )
    refused(lambda: client.allocate("\u00b2", 1), grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_LEVEL")


def test_errors_naming_thousands_of_codes_fit_the_status(client: Client) -> None:
    from linecode.service.errors import error_detail

    codes = client.codes("unit", 2000)
    error = refused(
        lambda: client.report(line_pb2.LINE_EVENT_VERIFIED, codes),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ILLEGAL_TRANSITION",
    )
    detail = error_detail(error)
    assert detail is not None and len(detail.codes) == 50 and detail.codes_total == 2000
