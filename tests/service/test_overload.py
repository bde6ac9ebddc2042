"""Overload (issue 14): a server at its limits refuses at once, fairly, and keeps health up.

A call is held in flight for real: an image stream the client stops reading blocks its server
thread once HTTP/2's window is full, holding the stream's work units for as long as it stays open.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from linecode.client import SERVICE_CONFIG, channel_options
from linecode.errors import Exhausted, NotFound
from linecode.reasons import Reason
from linecode.serials import MasterKey
from linecode.service.admission import Limits, cost
from linecode.service.errors import error_detail, to_status
from linecode.service.metrics import Metrics
from linecode.service.server import create_server
from linecode.store import Store
from linecode.v1 import admin_pb2, common_pb2, line_pb2, print_pb2, query_pb2
from tests.service.conftest import ORIGIN, Client, batch_message, connect, idle, serving

OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
"""Channels to one target share a connection unless told not to; each caller here has its own."""
STREAMED = 3_000
"""Images a held stream is asked for: far more than HTTP/2 lets the server send unread."""
SEEN: list[tuple[str, grpc.StatusCode]] = []


@pytest.fixture
def small(tmp_path: Path, master: MasterKey) -> Iterator[Client]:
    """A server admitting 4 units of work (2 per caller, 5 for callers under an equal share)."""
    SEEN.clear()
    store = Store.open(tmp_path / "data", master_key=master)
    limits = Limits(work=4, queue=1, caller_share=0.5, retry_after_s=0.05)
    running = create_server(store, limits=limits, observe=lambda m, code, s: SEEN.append((m, code)))
    yield from serving(running, store)


def other(c: Client, *options: tuple[str, Any]) -> Client:
    """Another caller: stubs on a connection of its own."""
    return connect(
        c.running, c.store, grpc.insecure_channel(f"127.0.0.1:{c.running.port}", [*OWN_CONNECTION, *options])
    )


@contextmanager
def held(c: Client, first: int) -> Iterator[None]:
    """An image stream of ``c``'s, open and unread from its first message on: its units stay held."""
    request = print_pb2.StreamImagesRequest(
        range=print_pb2.IndexRangeSource(batch_id="B1", level="unit", first_index=first, count=STREAMED)
    )
    stream = c.printer.StreamImages(request)
    next(stream)
    try:
        yield
    finally:
        stream.cancel()


def allocated(c: Client) -> int:
    """The first pool index of STREAMED fresh unit codes."""
    return c.allocate("unit", STREAMED)[0].first_index


def overloaded(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call()
    error = info.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    detail = error_detail(error)
    assert detail is not None and detail.reason == Reason.OVERLOADED
    assert "retry in about 50 ms" in detail.hint
    status = rpc_status.from_call(error)
    assert status is not None
    packed = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert len(packed) == 1
    delay = error_details_pb2.RetryInfo()
    packed[0].Unpack(delay)
    assert 25 <= delay.retry_delay.ToMilliseconds() <= 75  # 50 ms ± 50 %: callers spread out
    pushback = dict(error.trailing_metadata())["grpc-retry-pushback-ms"]
    assert pushback == str(delay.retry_delay.ToMilliseconds())
    return error


def verify(c: Client, code: str, timeout: float = 60) -> query_pb2.VerifyResponse:
    return c.query.Verify(query_pb2.VerifyRequest(data=code), timeout=timeout)


def test_a_caller_over_its_share_is_refused_at_once_and_another_gets_in(small: Client) -> None:
    a = other(small)
    b = other(small)
    codes = small.codes("unit", 3)
    first = allocated(small)
    with held(a, first):
        # a holds its cap (2 of 4 units): its next call is refused, promptly (a 60 s deadline
        # would have passed otherwise), with the delay to wait and nothing done
        overloaded(lambda: verify(a, codes[0]))
        overloaded(lambda: a.allocate("unit", 5, key="refused-allocation"))
        assert verify(b, codes[0]).genuine  # b is not held up by a
        with held(b, first):
            # a and b hold 4 of 4 units: a third caller still gets one call in (the quarter kept
            # for callers under an equal share) ...
            assert verify(small, codes[1]).genuine
            assert small.running.admission is not None
            assert small.running.admission.in_flight() == (4, 2)  # a's and b's streams; that call's gone
    # the refused allocation did nothing: the same key allocates now, fresh, once
    fresh = small.allocate("unit", 5, key="refused-allocation")
    assert not fresh[0].replayed and fresh[0].first_index == first + STREAMED
    assert verify(a, codes[0]).genuine


def test_the_streams_units_are_released_when_it_ends(small: Client) -> None:
    first = allocated(small)
    a = other(small)
    admission = small.running.admission
    assert admission is not None
    for _ in range(3):
        with held(a, first):
            assert admission.in_flight() == (2, 1)
        # a cancelled held stream gives back its units (eventually: the server notices the cancel
        # when its blocked send returns), so the same caller's next stream gets in
        idle(small.running)
    assert verify(a, small.codes("unit", 1)[0]).genuine


def test_a_full_queue_refuses_at_once_and_health_and_metrics_still_answer(small: Client) -> None:
    codes = small.codes("unit", 2)
    metrics = Metrics(small.store)
    port = metrics.serve("127.0.0.1:0")
    pool = small.running.call_pools[0]
    release = threading.Event()
    blockers = [pool.submit(release.wait) for _ in range(small.running.admission.limits.threads)]  # type: ignore[union-attr]
    try:
        queued = small.query.Verify.future(query_pb2.VerifyRequest(data=codes[0]), timeout=60)
        # every thread busy, one call waiting: the next is refused on arrival, not queued
        overloaded(lambda: verify(small, codes[1]))
        health = health_pb2_grpc.HealthStub(small.channel)
        for service in ("", "linecode.v1.LineService"):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=60)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as scraped:
            assert b"linecode_codes" in scraped.read()
        assert not queued.done()
    finally:
        release.set()
        metrics.close()
    for blocker in blockers:
        blocker.result(timeout=60)
    assert queued.result(timeout=60).genuine  # the queued call ran once a thread was free


def test_the_client_service_config_retries_a_refusal_after_the_pushback(small: Client) -> None:
    code = small.codes("unit", 1)[0]
    admission = small.running.admission
    assert admission is not None
    # Every unit taken (a retrying channel reads a stream ahead, so none is held open here; the
    # work is taken in the server's own books instead): any call is refused.
    ballast = [("x", admission.admit("x", 2)), ("y", admission.admit("y", 2)), ("z", admission.admit("z", 1))]
    # The shipped config, and one whose own backoff (10 s) could not fit 5 attempts into the call's
    # deadline: they do fit, as each waits the server's pushback (25-75 ms) instead.
    slow = json.loads(json.dumps(SERVICE_CONFIG))
    for config in slow["methodConfig"]:
        config["retryPolicy"].update(initialBackoff="10s", maxBackoff="10s")
    slow_options = [("grpc.service_config", json.dumps(slow)), ("grpc.enable_retries", 1)]
    try:
        for options, attempts in ((channel_options(), 5), (slow_options, 5), ((), 1)):
            SEEN.clear()
            overloaded(lambda: verify(other(small, *options), code, timeout=5))  # noqa: B023
            tries = [c for m, c in SEEN if m.endswith("/Verify")]
            assert tries == [grpc.StatusCode.RESOURCE_EXHAUSTED] * attempts  # maxAttempts: 5
    finally:
        for who, units in ballast:
            admission.release(who, units)
    assert verify(other(small, *channel_options()), code).genuine


def test_a_full_pool_or_store_tells_grpc_not_to_retry() -> None:
    for error in (
        Exhausted("no room", reason=Reason.STORE_FULL),
        Exhausted("no codes", reason=Reason.POOL_EXHAUSTED),
    ):
        status = to_status(error)
        assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert dict(status.trailing_metadata)["grpc-retry-pushback-ms"] == "-1"
    assert "grpc-retry-pushback-ms" not in dict(to_status(NotFound("no such code")).trailing_metadata)


def test_refusals_mid_storm_leave_nothing_half_written(small: Client) -> None:
    """Three callers, 24 calls at a time, fire reports and allocations at a server admitting 4
    units: whatever was refused changed nothing, whatever was answered is whole, the store's own
    check agrees, and every unit admitted came back."""
    small.admin.CreateBatch(batch_message(batch_id="B2", batch_number="B2026002"))
    units = small.codes("unit", 600)
    small.report(line_pb2.LINE_EVENT_PRINTED, units)
    small.commissioned("bundle", 60)
    callers = [other(small) for _ in range(3)]

    def report(k: int) -> tuple[str, int, bool]:
        chunk = units[k * 10 : k * 10 + 10]
        request = line_pb2.ReportEventsRequest(
            kind=line_pb2.LINE_EVENT_VERIFIED, codes=chunk, origin=ORIGIN, idempotency_key=f"r{k}"
        )
        return "report", k, _answered(lambda: callers[k % 3].line.ReportEvents(request, timeout=60))

    def allocate(k: int) -> tuple[str, int, bool]:
        request = line_pb2.AllocateRequest(
            batch_id="B2", level="unit", count=100, idempotency_key=f"a{k}", origin=ORIGIN
        )
        return "allocate", k, _answered(lambda: list(callers[k % 3].line.Allocate(request, timeout=60)))

    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = list(pool.map(report, range(60))) + list(pool.map(allocate, range(30)))
    assert any(ok for *_, ok in outcomes) and not all(ok for *_, ok in outcomes), "expected a storm"
    for kind, k, ok in outcomes:
        if kind == "report":
            states = {verify(small, c).info.state for c in units[k * 10 : k * 10 + 10]}
            assert states == {common_pb2.STATE_COMMISSIONED if ok else common_pb2.STATE_ENCODED}, (k, ok)
    allocations = sum(ok for kind, _, ok in outcomes if kind == "allocate")
    counts = small.query.BatchCounts(query_pb2.BatchCountsRequest(batch_id="B2"))
    assert sum(row.count for row in counts.rows) == 100 * allocations
    assert small.admin.CheckStore(admin_pb2.CheckStoreRequest()).ok
    with pytest.raises(grpc.RpcError) as info:  # a servicer's error gives its units back too
        small.query.GetParent(query_pb2.CodeRequest(code="bad"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert small.running.admission is not None and small.running.admission.in_flight() == (0, 0)


def _answered(call: Any) -> bool:
    try:
        call()
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
        detail = error_detail(error)
        assert detail is not None and detail.reason == Reason.OVERLOADED
        return False
    return True


def test_cost_follows_the_work() -> None:
    assert cost("/linecode.v1.QueryService/Verify", query_pb2.VerifyRequest(data="x"), 32) == 1
    allocate = line_pb2.AllocateRequest(count=5_000)
    assert cost("/linecode.v1.LineService/Allocate", allocate, 32) == 21
    report = line_pb2.ReportEventsRequest(codes=["c"] * 1_000)
    assert cost("/linecode.v1.LineService/ReportEvents", report, 32) == 5
    grouped = line_pb2.ReportEventsRequest(groups=[line_pb2.EventGroup(codes=["c"] * 500)] * 2)
    assert cost("/linecode.v1.LineService/ReportEvents", grouped, 32) == 5
    images = print_pb2.StreamImagesRequest(codes=print_pb2.CodeList(codes=["c"] * 100))
    assert cost("/linecode.v1.PrintService/StreamImages", images, 32) == 11
    assert cost("/linecode.v1.AdminService/ExportBatch", admin_pb2.ExportBatchRequest(), 32) == 8
    assert cost("/linecode.v1.AdminService/CloseBatch", admin_pb2.CloseBatchRequest(), 2) == 2


def test_a_call_whose_deadline_leaves_no_time_for_its_work_is_not_started(
    tmp_path: Path, master: MasterKey
) -> None:
    """An Allocate of 100,000 codes costs 401 units: 802 ms at 2 ms a unit. With a deadline of
    half a second it reaches the server (which would allocate them in far less) and is refused."""
    store = Store.open(tmp_path / "data", master_key=master)
    running = create_server(
        store, limits=Limits(work=1000, caller_share=1.0), observe=lambda m, code, s: SEEN.append((m, code))
    )
    for c in serving(running, store):
        SEEN.clear()
        request = line_pb2.AllocateRequest(
            batch_id="B1", level="unit", count=100_000, idempotency_key="late", origin=ORIGIN
        )
        with pytest.raises(grpc.RpcError) as info:
            list(c.line.Allocate(request, timeout=0.5))
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert SEEN == [("/linecode.v1.LineService/Allocate", grpc.StatusCode.DEADLINE_EXCEEDED)]
        assert not c.query.BatchCounts(query_pb2.BatchCountsRequest(batch_id="B1")).rows
        fresh = c.allocate("unit", 100, key="late")  # nothing was done: the key is unused
        assert not fresh[0].replayed


def test_health_watches_hold_no_thread_of_health(small: Client) -> None:
    """Health has two threads of its own; watchers (Envoy, some orchestrators) keep streams open
    for as long as they run, and must not take them from the checks."""
    health = health_pb2_grpc.HealthStub(small.channel)
    watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(4)]
    try:
        for watch in watches:
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        answer = health.Check(health_pb2.HealthCheckRequest(), timeout=30)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        for watch in watches:
            watch.cancel()
