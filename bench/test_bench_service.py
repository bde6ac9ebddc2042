"""The gRPC service under load: how many lines one server carries, raw Allocate and Verify rates.

The server runs as its own process (``linecode serve``), as on a line: once as one process and once
with ``--processes 2`` (a supervisor and two workers sharing port and store); the load comes from
this process over loopback, one asyncio coroutine and one connection per simulated line
(``linecode.sim``).
Each line runs at 600 packs/min: allocation in blocks, a printer image stream, printed/verified
reports, a camera failing 1 %, QA samples, aggregation into bundles, cases and a pallet.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc import aio

from bench.serving import serve
from linecode import sim
from linecode.service.server import announced_port
from linecode.v1 import admin_pb2_grpc, line_pb2, line_pb2_grpc, query_pb2, query_pb2_grpc

LINES = [int(n) for n in os.environ.get("LINECODE_BENCH_LINES", "25,50,75,100").split(",")]
UNITS_PER_LINE = int(os.environ.get("LINECODE_BENCH_UNITS", "400"))  # 40 s at 600 packs/min
WARMUP_S = 3.0  # a line's first calls (first allocations, pool tables) are not steady state
SPEED = 600.0
LEVELS = [(lv.name, lv.ratio) for lv in sim.DEMO_LEVELS]


PROCESSES = [int(n) for n in os.environ.get("LINECODE_BENCH_PROCESSES", "1,2").split(",")]


@pytest.fixture(scope="module", params=PROCESSES, ids=lambda n: f"{n}proc")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    data = tmp_path_factory.mktemp("serve") / "data"
    args = ("--data", str(data), "--listen", "127.0.0.1:0", "--workers", "64")
    args += ("--processes", str(request.param))
    with serve(*args) as announced:
        SUMMARY.clear()
        yield f"127.0.0.1:{announced_port(announced)}"


def _batches(target: str, lines: int, prefix: str) -> list[str]:
    with grpc.insecure_channel(target) as channel:
        return sim.setup_batches(
            admin_pb2_grpc.AdminServiceStub(channel), sim.demo_product(), lines, UNITS_PER_LINE, prefix
        )


@pytest.mark.parametrize(
    ("lines", "in_step"),
    [(n, False) for n in LINES] + [(LINES[-1], True)],
    ids=[str(n) for n in LINES] + [f"{LINES[-1]}-in-step"],
)
def test_lines_at_600_packs_per_minute(benchmark, server: str, lines: int, in_step: bool, request) -> None:  # type: ignore[no-untyped-def]
    """Independent lines (each starts at a random point of a case's cycle) measured while all of
    them run: from the last one's start (+ warm-up) to the first one's end. In step (every line's
    cases and pallet in the same second, start spread over one bundle): everything after warm-up,
    the synchronised bursts included — a worst case no real site runs."""
    batch_ids = _batches(server, lines, f"N{lines}{'s' if in_step else ''}-")
    plans = [
        sim.LinePlan(b, f"L{i + 1}", LEVELS, UNITS_PER_LINE, SPEED, in_step=in_step)
        for i, b in enumerate(batch_ids)
    ]
    if in_step:
        window: dict[str, float | None] = {"warmup_s": WARMUP_S, "measure_s": None}
    else:
        spread = plans[0].start_spread_s
        window = {"warmup_s": spread + WARMUP_S, "measure_s": UNITS_PER_LINE * 60 / SPEED - spread - WARMUP_S}
    stats = benchmark.pedantic(lambda: asyncio.run(sim.run_lines(server, plans, **window)), rounds=1)  # type: ignore[arg-type]
    latencies = stats.all_latencies()
    p50, p99 = sim.percentile(latencies, 0.5), sim.percentile(latencies, 0.99)
    per_method = {m: sim.percentile(sorted(v), 0.99) for m, v in stats.latencies_ms.items()}
    benchmark.extra_info.update(
        lines=lines,
        in_step=in_step,
        calls=len(latencies),
        p50_ms=round(p50, 2),
        p99_ms=round(p99, 2),
        images=stats.images,
    )
    label = f"{lines} lines{' in step' if in_step else ''}"
    print(f"\n{label}: {len(latencies)} calls, p50 {p50:.1f} ms, p99 {p99:.1f} ms, {stats.images} images")
    assert stats.images >= lines * UNITS_PER_LINE
    SUMMARY.append((label, len(latencies), p50, p99, per_method))
    if in_step:
        print_summary(request.node.callspec.params["server"])


SUMMARY: list[tuple[str, int, float, float, dict[str, float]]] = []


def print_summary(processes: int) -> None:
    """The sweep as a table, and the largest N whose p99 stays under 20 ms."""
    print(f"\n--- server of {processes} process(es)")
    for lines, calls, p50, p99, per_method in SUMMARY:
        methods = ", ".join(f"{m} {v:.1f}" for m, v in sorted(per_method.items()))
        print(f"\n{lines:>18}: {calls:6d} calls  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  (p99: {methods})")
    fitting = [int(label.split()[0]) for label, _, _, p99, _ in SUMMARY if p99 < 20.0 and "step" not in label]
    print(f"\nlargest N with p99 < 20 ms: {max(fitting) if fitting else 'none'} (target 100)")


def test_allocate_stream_codes_per_second(benchmark, server: str) -> None:  # type: ignore[no-untyped-def]
    (batch,) = _batches(server, 1, "A-")
    counter = iter(range(10**6))

    def one() -> int:
        with grpc.insecure_channel(server) as channel:
            stub = line_pb2_grpc.LineServiceStub(channel)
            request = line_pb2.AllocateRequest(
                batch_id=batch,
                level="unit",
                count=100_000,
                block_size=10_000,
                idempotency_key=f"a{next(counter)}",
            )
            return sum(len(b.codes) for b in stub.Allocate(request))

    n = benchmark.pedantic(one, rounds=5)
    benchmark.extra_info["codes_per_s"] = round(n / benchmark.stats.stats.median)
    print(f"\nAllocate: {n / benchmark.stats.stats.median:,.0f} codes/s to one client")


def test_verify_calls_per_second(benchmark, server: str) -> None:  # type: ignore[no-untyped-def]
    (batch,) = _batches(server, 1, "V-")
    with grpc.insecure_channel(server) as channel:
        stub = line_pb2_grpc.LineServiceStub(channel)
        codes = [
            c
            for b in stub.Allocate(line_pb2.AllocateRequest(batch_id=batch, level="unit", count=1000))
            for c in b.codes
        ]
    calls, in_flight = 20_000, 64

    async def hammer() -> None:
        # A few connections, as a few QA scanners would have (a server of several processes
        # answers each connection from one of them).
        options = [("grpc.use_local_subchannel_pool", 1)]
        channels = [aio.insecure_channel(server, options=options) for _ in range(4)]
        queue = iter(range(calls))

        async def worker(query: query_pb2_grpc.QueryServiceStub) -> None:
            for k in queue:
                answer = await query.Verify(query_pb2.VerifyRequest(data=codes[k % len(codes)]))
                assert answer.genuine

        stubs = [query_pb2_grpc.QueryServiceStub(channel) for channel in channels]
        await asyncio.gather(*(worker(stubs[i % len(stubs)]) for i in range(in_flight)))
        for channel in channels:
            await channel.close()

    started = time.perf_counter()
    benchmark.pedantic(lambda: asyncio.run(hammer()), rounds=3)
    rate = calls / benchmark.stats.stats.median
    benchmark.extra_info["calls_per_s"] = round(rate)
    took = time.perf_counter() - started
    print(f"\nVerify: {rate:,.0f} calls/s ({in_flight} in flight), run took {took:.1f} s")
