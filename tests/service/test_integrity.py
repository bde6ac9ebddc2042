"""What a hostile client found the store could be made to say, through a real server: one code in
two spellings, unbounded strings, errors too big for the trailers. Each is refused and changes
nothing."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor

from linecode import bounds
from linecode.service.bounds import FIELDS, bound_of
from linecode.service.errors import error_detail
from linecode.store import State
from linecode.store.replay import differences, stored
from linecode.v1 import admin_pb2, common_pb2, line_pb2, print_pb2, query_pb2

from .conftest import ORIGIN, PRODUCT, Client, batch_message, refused

MiB = 1 << 20


def grouped(code: str) -> str:
    """The grouped HRI of an nmpa20 code, as printed on packs."""
    return f"{code[:7]} {code[7:16]} {code[16:]}"


def state(c: Client) -> tuple[Any, ...]:
    """Everything a refused call must leave as it was."""
    counts = c.query.BatchCounts(query_pb2.BatchCountsRequest(batch_id="B1"))
    return c.store.last_event_seq(), list(counts.rows), stored(c.store)


def counters_agree(c: Client) -> None:
    report = c.admin.ReconcileBatch(admin_pb2.GetBatchRequest(batch_id="B1"))
    assert not [d for d in report.discrepancies if "counters" in d], report.discrepancies
    assert not differences(c.store)


@pytest.mark.parametrize(
    "kind", [line_pb2.LINE_EVENT_PRINTED, line_pb2.LINE_EVENT_VERIFIED, line_pb2.LINE_EVENT_VERIFY_FAILED]
)
def test_a_report_naming_one_code_in_two_spellings_is_refused(client: Client, kind: int) -> None:
    codes = client.codes("unit", 3)
    if kind != line_pb2.LINE_EVENT_PRINTED:
        client.report(line_pb2.LINE_EVENT_PRINTED, codes)
    before = state(client)
    error = refused(
        lambda: client.report(kind, [codes[0], codes[1], grouped(codes[0])]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_CODE",
    )
    detail = error_detail(error)
    assert detail is not None and list(detail.codes) == [codes[0]]
    assert state(client) == before
    # The same code may be printed and verified in one machine cycle (two groups), once in each.
    (fresh,) = client.codes("unit", 1)
    client.line.ReportEvents(
        line_pb2.ReportEventsRequest(
            groups=[
                line_pb2.EventGroup(kind=line_pb2.LINE_EVENT_PRINTED, codes=[fresh]),
                line_pb2.EventGroup(
                    kind=line_pb2.LINE_EVENT_VERIFIED, codes=[grouped(fresh).replace(" ", "-")]
                ),
            ],
            origin=ORIGIN,
        )
    )
    assert client.store.record(fresh).state is State.COMMISSIONED
    counters_agree(client)


def test_a_disaggregate_naming_one_child_in_two_spellings_is_refused(client: Client) -> None:
    (bundle,) = client.commissioned("bundle", 1)
    units = client.commissioned("unit", 5)
    client.line.Aggregate(line_pb2.AggregateRequest(parent=bundle, children=units, origin=ORIGIN))
    before = state(client)
    refused(
        lambda: client.line.Disaggregate(
            line_pb2.DisaggregateRequest(parent=bundle, children=[units[0], grouped(units[0])], origin=ORIGIN)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_CHILD",
    )
    assert state(client) == before
    children = client.query.GetChildren(query_pb2.CodeRequest(code=bundle)).children
    assert sorted(children) == sorted(units)
    # The parent still holds what it held: a replace on it works (it failed with INTERNAL before).
    (spare,) = client.commissioned("unit", 1)
    client.line.Replace(
        line_pb2.ReplaceRequest(parent=bundle, old_child=units[1], new_child=spare, origin=ORIGIN)
    )
    assert sorted(client.query.GetChildren(query_pb2.CodeRequest(code=bundle)).children) == sorted(
        [*units[:1], *units[2:], spare]
    )
    counters_agree(client)


def test_a_parent_or_child_named_twice_in_other_spellings_is_refused(client: Client) -> None:
    (bundle,) = client.commissioned("bundle", 1)
    units = client.commissioned("unit", 4)
    before = state(client)
    refused(
        lambda: client.line.Aggregate(
            line_pb2.AggregateRequest(parent=bundle, children=[*units, grouped(units[3])], origin=ORIGIN)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_CHILD",
    )
    refused(
        lambda: client.line.Aggregate(
            line_pb2.AggregateRequest(parent=bundle, children=[*units, grouped(bundle)], origin=ORIGIN)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "PARENT_IN_CHILDREN",
    )
    refused(
        lambda: client.line.Replace(
            line_pb2.ReplaceRequest(
                parent=bundle, old_child=units[0], new_child=grouped(units[0]), origin=ORIGIN
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_CHILD",
    )
    refused(
        lambda: client.admin.SetLock(
            admin_pb2.SetLockRequest(
                codes=admin_pb2.CodeSet(codes=[units[0], f" {units[0]} "]), lock=common_pb2.LOCK_PENDING
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_CODE",
    )
    assert state(client) == before


def test_a_retry_in_another_spelling_is_the_same_request(client: Client) -> None:
    codes = client.codes("unit", 2)
    first = client.line.ReportEvents(
        line_pb2.ReportEventsRequest(
            kind=line_pb2.LINE_EVENT_PRINTED, codes=codes, idempotency_key="print-1", origin=ORIGIN
        )
    )
    again = client.line.ReportEvents(
        line_pb2.ReportEventsRequest(
            kind=line_pb2.LINE_EVENT_PRINTED,
            codes=[grouped(c) for c in codes],
            idempotency_key="print-1",
            origin=ORIGIN,
        )
    )
    assert again.replayed and again.event_seq == first.event_seq and list(again.codes) == codes


# --- bounded input ------------------------------------------------------------------------------


def test_a_huge_line_id_is_refused_whole_and_stores_nothing(client: Client) -> None:
    before = client.store.last_event_seq()
    batch = batch_message(batch_id="B9", line="L" * MiB)
    error = refused(lambda: client.admin.CreateBatch(batch), grpc.StatusCode.INVALID_ARGUMENT, "TOO_LONG")
    assert "line" in error.details() and len(error.details()) < 500  # type: ignore[attr-defined]
    control = batch_message(batch_id="B9", line="L1\x00\x1b[2J")
    refused(lambda: client.admin.CreateBatch(control), grpc.StatusCode.INVALID_ARGUMENT, "BAD_CHARACTER")
    assert client.store.last_event_seq() == before
    assert [b.batch_id for b in client.store.batches()] == ["B1"]


def test_a_level_name_with_control_characters_is_refused(client: Client) -> None:
    product = admin_pb2.Product()
    product.CopyFrom(PRODUCT)
    product.product_id = "other"
    product.levels[1].name = "bundle\r\nX-Injected: 1"
    refused(lambda: client.admin.CreateProduct(product), grpc.StatusCode.INVALID_ARGUMENT, "BAD_CHARACTER")
    assert [p.product_id for p in client.store.products()] == ["vaccine"]


def test_a_huge_actor_is_refused_before_anything_is_stored(client: Client) -> None:
    size = client.store.used_bytes()
    before = client.store.last_event_seq()
    for _ in range(5):
        request = line_pb2.AllocateRequest(
            batch_id="B1", level="unit", count=1, origin=common_pb2.Origin(line="L1", actor="a" * (16 * MiB))
        )
        refused(lambda r=request: client.line.Allocate(r), grpc.StatusCode.INVALID_ARGUMENT, "TOO_LONG")
    assert client.store.last_event_seq() == before and client.store.used_bytes() == size


def test_a_huge_code_gets_its_real_error_not_a_broken_stream(client: Client) -> None:
    """A 1 MiB code used to be echoed into the status trailers, which overflowed: the client got
    RESOURCE_EXHAUSTED "Stream removed" instead of the error."""
    refused(
        lambda: client.query.GetParent(query_pb2.CodeRequest(code="8" * MiB)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "TOO_LONG",
    )
    refused(
        lambda: client.query.Verify(query_pb2.VerifyRequest(data="\u4e00" * 140)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "BAD_CHARACTER",
    )
    verdict = client.query.Verify(query_pb2.VerifyRequest(data="(01)" + "9" * 140))
    assert not verdict.genuine and verdict.reason == "BAD_LENGTH", verdict
    error = refused(
        lambda: client.report(line_pb2.LINE_EVENT_PRINTED, ["x" * 149] * 3000),
        grpc.StatusCode.INVALID_ARGUMENT,
        "UNKNOWN_AI",
    )
    assert len(error.details()) < 300  # type: ignore[attr-defined]


def _request_messages() -> dict[str, Any]:
    """Every message a client sends (the RPCs' inputs and what they hold), by name."""
    from linecode.v1 import admin_pb2 as a
    from linecode.v1 import line_pb2 as li
    from linecode.v1 import print_pb2 as p
    from linecode.v1 import query_pb2 as q

    found: dict[str, Any] = {}

    def walk(descriptor: Any) -> None:
        if descriptor.name not in found:
            found[descriptor.name] = descriptor
            for fd in descriptor.fields:
                if fd.type == FieldDescriptor.TYPE_MESSAGE:
                    walk(fd.message_type)

    for module in (a, li, p, q):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                walk(method.input_type)
    return found


def test_every_string_field_of_the_contract_has_a_bound() -> None:
    """Each string field a client sends is in the table (``Message.field`` or ``field``), so none
    falls back to the catch-all bound unnoticed."""
    missing = [
        f"{name}.{fd.name}"
        for name, descriptor in _request_messages().items()
        for fd in descriptor.fields
        if fd.type == FieldDescriptor.TYPE_STRING and bound_of(name, fd.name) is None
    ]
    assert not missing, missing
    assert set(FIELDS.values()) <= set(bounds.ALL)


def test_readme_states_every_bound() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme[readme.index("| strings | fields |") :].split("\n\n")[0].splitlines()[2:]
    stated = {int(row.split("|")[3].strip()) for row in table}
    assert stated == {b.max_len for b in bounds.ALL}
    assert len(table) == len(bounds.ALL)


def test_the_proto_comments_state_every_bound() -> None:
    """Each string field a client sends is tagged ``[≤N CHARSET]`` in its .proto, as the table says."""
    import re
    from pathlib import Path

    names = {
        "printable": "printable",
        "line": "printable, no comma",
        "ascii": "ASCII",
        "code": "ASCII+GS",
        "document": "printable+newlines",
    }
    requests = _request_messages()
    untagged = []
    for path in sorted((Path(__file__).parents[2] / "proto" / "linecode" / "v1").glob("*.proto")):
        message = ""
        for line in path.read_text().splitlines():
            if m := re.match(r"^message (\w+)", line):
                message = m.group(1)
            f = re.match(r"^\s+(?:repeated )?string (\w+) = \d+;", line)
            if f and message in requests:
                bound = bound_of(message, f.group(1))
                if bound is not None and f"[≤{bound.max_len} {names[bound.charset]}]" not in line:
                    untagged.append(f"{path.name}: {message}.{f.group(1)}")
    assert not untagged, untagged


# --- printers: no code told that was not asked for, none printed twice ----------------------------


def test_a_stream_of_indices_not_allocated_to_the_batch_names_no_code(client: Client) -> None:
    """Streaming another batch's pool indices (or ones not issued yet) used to name the code there."""
    client.admin.CreateBatch(batch_message(batch_id="B2"))
    other = client.allocate("unit", 2, batch="B2")[0]
    for first in (other.first_index, other.first_index + 2):
        request = print_pb2.StreamImagesRequest(
            range=print_pb2.IndexRangeSource(batch_id="B1", level="unit", first_index=first, count=1)
        )
        error = refused(
            lambda r=request: client.printer.StreamImages(r), grpc.StatusCode.NOT_FOUND, "NOT_ALLOCATED"
        )
        detail = error_detail(error)
        assert detail is not None and not detail.codes
        assert not any(c in error.details() for c in other.codes)  # type: ignore[attr-defined]
    assert client.allocate("unit", 1, batch="B2")[0].codes[0] not in error.details()  # type: ignore[attr-defined]


def test_a_stream_naming_one_code_twice_is_refused_and_images_name_keys(client: Client) -> None:
    code, second = client.codes("unit", 2)
    refused(
        lambda: client.printer.StreamImages(
            print_pb2.StreamImagesRequest(codes=print_pb2.CodeList(codes=[code, grouped(code)]))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DUPLICATE_CODE",
    )
    blocks = client.printer.StreamImages(
        print_pb2.StreamImagesRequest(codes=print_pb2.CodeList(codes=[grouped(code), second]))
    )
    assert [image.code for block in blocks for image in block.images] == [code, second]
    image = client.printer.RenderImage(print_pb2.RenderImageRequest(code=grouped(code).replace(" ", "-")))
    assert image.code == code


def test_a_batch_line_no_role_could_name_is_refused(client: Client) -> None:
    for line, reason in (("L1,L2", "BAD_CHARACTER"), (" L1", "BAD_LINE"), ("", "BAD_LINE")):
        batch = batch_message(batch_id="B7", line=line)
        refused(lambda b=batch: client.admin.CreateBatch(b), grpc.StatusCode.INVALID_ARGUMENT, reason)
