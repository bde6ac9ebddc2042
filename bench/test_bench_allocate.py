"""Allocation through the network against SerialBox (issue 16): ``Allocate`` of 10,000 and 100,000
codes over gRPC, durable, against SerialBox's REST ``allocate`` of as many serials (Django, SQLite,
random flavor pack). Both servers are pinned to CPU 1 and run one at a time; this process, the
client, runs on CPU 0. Each round times SerialBox, linecode's repeated form and linecode's packed
form made into a list of strings in its setup, and linecode's packed form as ``linecode.client``
holds it (``allocated_codes``: the blocks kept, a code's string made when it is read) as the round
itself, so the four share the VM's minutes. SerialBox's client parses its JSON into a list of ints.
Every call opens a connection of its own (HTTP for SerialBox, a gRPC channel for linecode).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from statistics import median

import grpc
import pytest

from bench.peers import serialbox
from bench.serving import serve
from linecode import sim
from linecode.client import allocated_codes
from linecode.service.server import announced_port
from linecode.v1 import admin_pb2_grpc, line_pb2, line_pb2_grpc

ROUNDS = int(os.environ.get("LINECODE_BENCH_ROUNDS", "7"))
KEYS = count()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    data = tmp_path_factory.mktemp("serve") / "data"
    args = ("--data", str(data), "--listen", "127.0.0.1:0", "--processes", "1")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    try:
        with serve(*args, cpus="1") as announced:
            target = f"127.0.0.1:{announced_port(announced)}"
            with grpc.insecure_channel(target) as channel:
                (batch,) = sim.setup_batches(
                    admin_pb2_grpc.AdminServiceStub(channel), sim.demo_product(), 1, 10**6, "A-"
                )
            with serialbox(tmp_path_factory.mktemp("serialbox"), cpus="1") as url:
                yield target, batch, url
    finally:
        os.sched_setaffinity(0, before)


def serialbox_allocate(url: str, n: int) -> list[int]:
    with urllib.request.urlopen(f"{url}/allocate/bench/{n}/?format=json", timeout=120) as answer:
        numbers = json.loads(answer.read())["numbers"]
    return list(json.loads(numbers))  # SerialBox sends the list as a string


def linecode_allocate(target: str, batch: str, n: int, packed: bool) -> Sequence[str]:
    with grpc.insecure_channel(target) as channel:
        stub = line_pb2_grpc.LineServiceStub(channel)
        request = line_pb2.AllocateRequest(
            batch_id=batch,
            level="unit",
            count=n,
            block_size=10_000,
            idempotency_key=f"k{next(KEYS)}",
            packed=packed,
        )
        return allocated_codes(stub.Allocate(request, timeout=120))


@pytest.mark.parametrize("n", [10_000, 100_000])
def test_linecode_allocate_against_serialbox(benchmark, servers: tuple[str, str, str], n: int) -> None:  # type: ignore[no-untyped-def]
    target, batch, url = servers
    serialbox_allocate(url, n), linecode_allocate(target, batch, n, True)  # warm both
    peer: list[float] = []
    repeated: list[float] = []
    strings: list[float] = []

    def setup() -> tuple[tuple[()], dict[str, object]]:
        t = time.perf_counter()
        assert len(serialbox_allocate(url, n)) == n
        peer.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert len(linecode_allocate(target, batch, n, False)) == n
        repeated.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert len(list(linecode_allocate(target, batch, n, True))) == n
        strings.append(time.perf_counter() - t)
        return (), {}

    benchmark.group = f"allocate {n:,} codes over the network"
    codes = benchmark.pedantic(
        lambda: linecode_allocate(target, batch, n, True), setup=setup, rounds=ROUNDS, iterations=1
    )
    assert len(set(codes)) == n
    ours, theirs, plain = benchmark.stats.stats.median, median(peer), median(repeated)
    listed = median(strings)
    pairs = sorted(round(p / o, 2) for p, o in zip(peer, benchmark.stats.stats.data, strict=True))
    listed_pairs = sorted(round(p / o, 2) for p, o in zip(peer, strings, strict=True))
    benchmark.extra_info.update(
        codes_per_s=round(n / ours),
        serialbox_codes_per_s=round(n / theirs),
        repeated_codes_per_s=round(n / plain),
        listed_codes_per_s=round(n / listed),
        ratio_median_of_pairs=median(pairs),
        pair_ratios=pairs,
        listed_pair_ratios=listed_pairs,
        alternatives={
            "SerialBox REST allocate": theirs,
            "linecode, repeated form": plain,
            "linecode, packed, as a list of str": listed,
        },
    )
    print(
        f"\nAllocate {n:,}: linecode packed {n / ours:,.0f}/s (as a list of str {n / listed:,.0f}/s), "
        f"repeated {n / plain:,.0f}/s, SerialBox {n / theirs:,.0f}/s; SerialBox time / linecode time by "
        f"pair {pairs} (as a list of str {listed_pairs})"
    )


def test_two_concurrent_clients_duplicates(servers: tuple[str, str, str]) -> None:
    """Two clients allocating at once, 20 calls of 1,000 each: how many serials both got (SerialBox)
    and how many codes (linecode, which must give none twice)."""
    target, batch, url = servers
    calls, n = 20, 1000

    def both(allocate: Callable[[], Sequence[object]]) -> tuple[int, int]:
        with ThreadPoolExecutor(2) as pool:
            got = list(pool.map(lambda _: [x for _ in range(calls) for x in allocate()], range(2)))
        total = sum(len(g) for g in got)
        return total, total - len(set(got[0]) | set(got[1]))

    theirs = both(lambda: serialbox_allocate(url, n))
    ours = both(lambda: linecode_allocate(target, batch, n, True))
    print(
        f"\nTwo concurrent clients, {calls} x {n:,} each: SerialBox {theirs[1]:,} duplicates of "
        f"{theirs[0]:,} serials ({theirs[1] / theirs[0]:.1%}); linecode {ours[1]:,} of {ours[0]:,}"
    )
    assert ours == (2 * calls * n, 0)
