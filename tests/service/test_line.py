"""LineService end to end: allocation streams, bulk events, aggregation and their refusals."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from linecode.client import allocated_codes, block_codes, block_symbols
from linecode.service.line import _packed
from linecode.v1 import line_pb2

from .conftest import EXPORT_BATCH, GS1_PRODUCT, ORIGIN, Client, idle, refused


def test_allocate_streams_blocks_of_unique_codes(client: Client) -> None:
    blocks = list(
        client.line.Allocate(
            line_pb2.AllocateRequest(batch_id="B1", level="unit", count=2500, block_size=1000, origin=ORIGIN)
        )
    )
    assert [len(b.codes) for b in blocks] == [1000, 1000, 500]
    codes = [c for b in blocks for c in b.codes]
    assert len(set(codes)) == 2500 and all(len(c) == 20 and c.startswith("8600001") for c in codes)
    assert [b.first_index for b in blocks] == [blocks[0].first_index + k * 1000 for k in range(3)]
    assert all(not b.symbols for b in blocks)  # nmpa20: the symbol is the code
    assert client.store.info(codes[-1]).state.label == "allocated"


@pytest.mark.parametrize("product", ["nmpa20", "gs1"])
def test_packed_blocks_carry_the_same_codes_and_symbols_as_the_repeated_form(
    client: Client, product: str
) -> None:
    """A client asking for packed blocks gets each block's codes (and GS1 symbols, with their GS)
    as one bytes value of fixed-width entries; the retry of the same allocation in the repeated form
    streams the same codes, so the two forms are one answer."""
    batch, level = ("B1", "unit") if product == "nmpa20" else ("E1", "unit")
    if product == "gs1":
        client.admin.CreateProduct(GS1_PRODUCT)
        client.admin.CreateBatch(EXPORT_BATCH)

    def allocate(packed: bool) -> list[line_pb2.CodeBlock]:
        request = line_pb2.AllocateRequest(
            batch_id=batch, level=level, count=2500, block_size=1000, idempotency_key="p", packed=packed
        )
        return list(client.line.Allocate(request))

    packed, plain = allocate(True), allocate(False)
    assert [b.count for b in packed] == [b.count for b in plain] == [1000, 1000, 500]
    assert all(not b.codes and not b.symbols and b.code_width for b in packed)
    assert all(not b.packed_codes and not b.code_width for b in plain)
    assert [block_codes(b) for b in packed] == [list(b.codes) for b in plain]
    assert [block_symbols(b) for b in packed] == [block_symbols(b) for b in plain]
    width = 20 if product == "nmpa20" else len("(01)09501101530003(21)") + 12
    assert {b.code_width for b in packed} == {width}
    assert len(packed[0].packed_codes) == 1000 * width
    if product == "gs1":
        symbols = block_symbols(packed[0])
        assert packed[0].symbol_width and all(s.startswith("01") and "\x1d" in s for s in symbols)
        assert symbols == list(plain[0].symbols)
    else:
        assert not packed[0].symbol_width  # nmpa20: the symbol is the code
    codes = [c for b in packed for c in block_codes(b)]
    assert len(set(codes)) == 2500 and all(client.store.key(c) == c for c in codes[::250])
    for form in (packed, plain):  # the client's sequence of an Allocate stream, in either form
        held = allocated_codes(form)
        assert len(held) == 2500 and list(held) == codes and held[:] == codes
        assert [held[0], held[999], held[1000], held[-1], held[-2500]] == [
            codes[0],
            codes[999],
            codes[1000],
            codes[-1],
            codes[0],
        ]
        assert held[998:1003] == codes[998:1003] and held[::-700] == codes[::-700]
        assert held.index(codes[1500]) == 1500 and codes[2000] in held
        for outside in (2500, -2501):
            with pytest.raises(IndexError):
                held[outside]


def test_codes_of_unequal_length_are_never_packed() -> None:
    def packed(texts: list[str]) -> tuple[bytes, int] | None:
        return _packed(np.array(texts, dtype=bytes))

    assert packed(["ab", "cd"]) == (b"abcd", 2)
    assert packed(["ab", "c"]) is None and packed(["a", "bc"]) is None
    assert packed(["ab", "a", "abc"]) is None  # the right total, the wrong widths


def test_allocate_retry_with_same_key_streams_the_same_codes(client: Client) -> None:
    first = client.allocate("unit", 300, key="plc-1/42")
    again = client.allocate("unit", 300, key="plc-1/42")
    assert [b.codes for b in again] == [b.codes for b in first]
    assert again[0].replayed and not first[0].replayed
    other = client.allocate("unit", 300, key="plc-1/43")
    assert not set(other[0].codes) & set(first[0].codes)


def test_allocate_refusals(client: Client) -> None:
    refused(lambda: client.allocate("unit", 10, batch="NOPE"), grpc.StatusCode.NOT_FOUND, "UNKNOWN_BATCH")
    refused(lambda: client.allocate("crate", 10), grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_LEVEL")
    client.allocate("unit", 10, key="k")
    refused(
        lambda: client.allocate("unit", 11, key="k"), grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED"
    )


def test_client_gone_mid_stream_loses_no_codes(client: Client) -> None:
    stream = client.line.Allocate(
        line_pb2.AllocateRequest(
            batch_id="B1", level="unit", count=5000, block_size=100, idempotency_key="cut", origin=ORIGIN
        )
    )
    first = next(stream)
    stream.cancel()
    idle(client.running)  # its units back: the retry would be refused as the same caller's second call
    replay = client.allocate("unit", 5000, key="cut")
    codes = [c for b in replay for c in b.codes]
    assert list(first.codes) == codes[:100]
    assert len(codes) == 5000
    assert all(client.store.info(c).state.label == "allocated" for c in codes[::500])


def test_report_events_moves_states_and_refuses_illegal_ones(client: Client) -> None:
    codes = client.codes("unit", 20)
    change = client.report(line_pb2.LINE_EVENT_PRINTED, codes)
    assert sorted(change.codes) == sorted(codes) and change.event_seq > 0
    client.report(line_pb2.LINE_EVENT_VERIFIED, codes[:18])
    client.report(line_pb2.LINE_EVENT_VERIFY_FAILED, codes[18:])
    assert client.store.info(codes[19]).state.label == "scrapped"
    err = refused(
        lambda: client.report(line_pb2.LINE_EVENT_PRINTED, codes[:2]),
        grpc.StatusCode.FAILED_PRECONDITION,
        "ILLEGAL_TRANSITION",
    )
    assert "commissioned" in err.details()  # type: ignore[attr-defined]
    refused(lambda: client.report(0, codes[:1]), grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_EVENT")


def test_aggregate_is_idempotent_and_checked(client: Client) -> None:
    (bundle,) = client.commissioned("bundle", 1)
    units = client.commissioned("unit", 6)
    request = line_pb2.AggregateRequest(
        parent=bundle, children=units[:5], idempotency_key="agg-1", origin=ORIGIN
    )
    first = client.line.Aggregate(request)
    again = client.line.Aggregate(request)
    assert again.replayed and again.event_seq == first.event_seq
    assert client.store.parent_of(units[0]) == bundle
    (other,) = client.commissioned("bundle", 1)
    refused(
        lambda: client.line.Aggregate(
            line_pb2.AggregateRequest(parent=other, children=[units[0]], partial=True)
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "CHILD_ALREADY_AGGREGATED",
    )
    refused(
        lambda: client.line.Aggregate(line_pb2.AggregateRequest(parent=other, children=[units[5]])),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PARTIAL_NOT_DECLARED",
    )
    refused(
        lambda: client.line.Aggregate(
            line_pb2.AggregateRequest(parent="86000099999999990000", children=units[5:])
        ),
        grpc.StatusCode.NOT_FOUND,
        "UNKNOWN_PARENT",
    )


def test_disaggregate_reparent_replace(client: Client) -> None:
    a, b = client.commissioned("bundle", 2)
    units = client.commissioned("unit", 11)
    client.line.Aggregate(line_pb2.AggregateRequest(parent=a, children=units[:5]))
    client.line.Disaggregate(line_pb2.DisaggregateRequest(parent=a, children=units[:1]))
    assert client.store.parent_of(units[0]) is None
    client.line.Reparent(line_pb2.ReparentRequest(new_parent=b, children=units[1:3], partial=True))
    assert client.store.parent_of(units[1]) == b
    client.line.Replace(line_pb2.ReplaceRequest(parent=b, old_child=units[1], new_child=units[10]))
    assert client.store.parent_of(units[10]) == b and client.store.parent_of(units[1]) is None
    client.line.Disaggregate(line_pb2.DisaggregateRequest(parent=a))
    assert client.store.children_of(a) == []
    refused(
        lambda: client.line.Disaggregate(line_pb2.DisaggregateRequest(parent=b, children=[units[4]])),
        grpc.StatusCode.FAILED_PRECONDITION,
        "NOT_A_CHILD",
    )


def test_report_events_groups_are_one_atomic_write(client: Client) -> None:
    codes = client.codes("unit", 6)
    cycle = line_pb2.ReportEventsRequest(
        groups=[
            line_pb2.EventGroup(kind=line_pb2.LINE_EVENT_PRINTED, codes=codes[:5]),
            line_pb2.EventGroup(kind=line_pb2.LINE_EVENT_VERIFIED, codes=codes[:4]),
            line_pb2.EventGroup(kind=line_pb2.LINE_EVENT_VERIFY_FAILED, codes=codes[4:5]),
        ],
        origin=ORIGIN,
    )
    change = client.line.ReportEvents(cycle)
    assert len(change.codes) == 10
    assert [client.store.info(c).state.label for c in codes[3:]] == ["commissioned", "scrapped", "allocated"]
    before = client.store.last_event_seq()
    bad = line_pb2.ReportEventsRequest(
        groups=[
            line_pb2.EventGroup(kind=line_pb2.LINE_EVENT_PRINTED, codes=codes[5:]),
            line_pb2.EventGroup(kind=line_pb2.LINE_EVENT_SAMPLED, codes=codes[4:5]),  # scrapped: refused
        ]
    )
    refused(lambda: client.line.ReportEvents(bad), grpc.StatusCode.FAILED_PRECONDITION, "ILLEGAL_TRANSITION")
    assert client.store.last_event_seq() == before and client.store.info(codes[5]).state.label == "allocated"
    refused(
        lambda: client.line.ReportEvents(line_pb2.ReportEventsRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "NO_CODES",
    )
