"""A retry storm beside a well-behaved line (issue 14): the two clients of ``test_bench_overload``.

``storm``: one client process keeping N calls in flight back to back on one connection — a tenth
``Allocate`` of 5,000 codes, the rest ``Verify`` — each with a 5 s deadline, not backing off (a
broken PLC, or a retry storm). ``line``: a well-behaved line on its own connection making 10 calls a
second (``Verify`` and health in turn, 1 s deadline). Each runs in its own process (``python -m
bench.storm storm|line ...``, the storm under ``nice 10`` as in the issue) and prints one JSON line
of what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import urllib.request
from collections import Counter

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linecode.v1 import line_pb2, line_pb2_grpc, query_pb2, query_pb2_grpc

ALLOCATE_SHARE = 0.1
ALLOCATE_COUNT = 5_000
STORM_DEADLINE_S = 5.0
LINE_DEADLINE_S = 1.0
LINE_RATE = 10.0


SEEN: dict[str, str] = {}


def _outcome(exc: aio.AioRpcError) -> str:
    SEEN.setdefault(exc.code().name, str(exc.details())[:200])
    if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return "overloaded"
    return exc.code().name.lower()


async def storm(
    target: str, batch: str, codes: list[str], in_flight: int, seconds: float, share: float = ALLOCATE_SHARE
) -> dict[str, object]:
    """``in_flight`` coroutines calling back to back for ``seconds``, ``share`` of the calls
    Allocate, the rest Verify; outcomes and work done."""
    outcomes: Counter[str] = Counter()
    work = Counter[str]()
    stop = time.monotonic() + seconds
    serial = iter(range(10**9))
    tag = f"{random.getrandbits(40):x}"
    async with aio.insecure_channel(target) as channel:
        line = line_pb2_grpc.LineServiceStub(channel)
        query = query_pb2_grpc.QueryServiceStub(channel)

        async def one() -> None:
            while time.monotonic() < stop:
                try:
                    if random.random() < share:
                        request = line_pb2.AllocateRequest(
                            batch_id=batch,
                            level="unit",
                            count=ALLOCATE_COUNT,
                            idempotency_key=f"storm-{tag}-{next(serial)}",
                        )
                        got = 0
                        async for block in line.Allocate(request, timeout=STORM_DEADLINE_S):
                            got += len(block.codes)
                        work["codes"] += got
                        outcomes["allocate_ok"] += 1
                    else:
                        answer = await query.Verify(
                            query_pb2.VerifyRequest(data=random.choice(codes)), timeout=STORM_DEADLINE_S
                        )
                        assert answer.genuine
                        outcomes["verify_ok"] += 1
                except aio.AioRpcError as exc:
                    outcomes[_outcome(exc)] += 1

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(in_flight)))
        took = time.monotonic() - started
    return {"outcomes": dict(outcomes), "codes": work["codes"], "seconds": took, "seen": SEEN}


async def line(
    target: str, codes: list[str], seconds: float, metrics: str | None = None
) -> dict[str, object]:
    """10 calls a second, Verify and health in turn (and ``metrics``, a /metrics URL, fetched once a
    second beside them); each call's latency (ms) and outcome."""
    results: dict[str, list[tuple[float, str]]] = {"verify": [], "health": []}
    if metrics:
        results["metrics"] = []
        probe = asyncio.create_task(_scrape(metrics, seconds, results["metrics"]))
    async with aio.insecure_channel(target) as channel:
        query = query_pb2_grpc.QueryServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        start = time.monotonic()
        k = 0
        while time.monotonic() - start < seconds:
            due = start + k / LINE_RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            kind = "verify" if k % 2 == 0 else "health"
            began = time.perf_counter()
            try:
                if kind == "verify":
                    answer = await query.Verify(
                        query_pb2.VerifyRequest(data=random.choice(codes)), timeout=LINE_DEADLINE_S
                    )
                    outcome = "ok" if answer.genuine else "wrong"
                else:
                    status = await health.Check(health_pb2.HealthCheckRequest(), timeout=LINE_DEADLINE_S)
                    outcome = (
                        "ok" if status.status == health_pb2.HealthCheckResponse.SERVING else "not_serving"
                    )
            except aio.AioRpcError as exc:
                outcome = _outcome(exc)
            results[kind].append(((time.perf_counter() - began) * 1000, outcome))
            k += 1
    if metrics:
        await probe
    return results


async def _scrape(url: str, seconds: float, into: list[tuple[float, str]]) -> None:
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        began = time.perf_counter()
        try:
            with await asyncio.to_thread(urllib.request.urlopen, url, timeout=LINE_DEADLINE_S) as answer:
                outcome = (
                    "ok" if answer.status == 200 and b"linecode_rpc_seconds" in answer.read() else "wrong"
                )
        except OSError as exc:
            outcome = type(exc).__name__
        into.append(((time.perf_counter() - began) * 1000, outcome))
        await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("storm", "line"))
    parser.add_argument("target")
    parser.add_argument("codes_file", help="genuine codes to verify, one a line")
    parser.add_argument("--batch", default="")
    parser.add_argument("--in-flight", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--metrics", help="a /metrics URL the line fetches once a second")
    parser.add_argument("--allocate-share", type=float, default=ALLOCATE_SHARE)
    args = parser.parse_args(argv)
    with open(args.codes_file) as f:
        codes = f.read().split()
    if args.role == "storm":
        result = asyncio.run(
            storm(args.target, args.batch, codes, args.in_flight, args.seconds, args.allocate_share)
        )
    else:
        result = asyncio.run(line(args.target, codes, args.seconds, args.metrics))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()


def prepare(target: str, prefix: str, codes_file: str) -> str:
    """A batch for the storm's allocations and 1,000 genuine codes (written to ``codes_file``)."""
    from linecode import sim
    from linecode.v1 import admin_pb2_grpc

    with grpc.insecure_channel(target) as channel:
        (batch,) = sim.setup_batches(
            admin_pb2_grpc.AdminServiceStub(channel), sim.demo_product(), 1, 10**8, prefix
        )
        stub = line_pb2_grpc.LineServiceStub(channel)
        codes = [
            c
            for b in stub.Allocate(line_pb2.AllocateRequest(batch_id=batch, level="unit", count=1000))
            for c in b.codes
        ]
    with open(codes_file, "w") as f:
        f.write("\n".join(codes))
    return batch


def run(  # type: ignore[type-arg]
    target: str,
    batch: str,
    codes_file: str,
    in_flight: int,
    seconds: float,
    metrics: str | None = None,
    share: float = ALLOCATE_SHARE,
    with_line: bool = True,
) -> tuple[dict, dict]:
    """The storm (under ``nice 10``) and the line, side by side: the line starts a second after the
    storm and stops a second before it (no line: ``with_line`` false, its answer empty)."""
    import subprocess

    base = [sys.executable, "-m", "bench.storm"]
    storm_args = ["--batch", batch, "--in-flight", str(in_flight), "--seconds", str(seconds)]
    storm_args += ["--allocate-share", str(share)]
    storm_proc = subprocess.Popen(
        ["nice", "-n", "10", *base, "storm", target, codes_file, *storm_args],
        stdout=subprocess.PIPE,
        text=True,
    )
    line_out = "{}"
    if with_line:
        time.sleep(1.0 + in_flight / 5000)
        line_args = ["--seconds", str(max(1.0, seconds - 2.0 - in_flight / 5000))]
        line_args += ["--metrics", metrics] if metrics else []
        line_proc = subprocess.Popen(
            [*base, "line", target, codes_file, *line_args], stdout=subprocess.PIPE, text=True
        )
        line_out, _ = line_proc.communicate(timeout=seconds + 60)
    storm_out, _ = storm_proc.communicate(timeout=seconds + 60)
    return json.loads(storm_out), json.loads(line_out)
