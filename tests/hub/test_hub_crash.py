"""The hub killed (SIGKILL) and its PostgreSQL stopped as if the machine died (``pg_ctl stop -m
immediate``), again and again in the middle of grants from three sites: no index is ever granted
twice, and a site that retries with its key gets the range it was granted (or its first grant)."""

from __future__ import annotations

import itertools
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import grpc
import psycopg
import pytest

from linecode.hub import schema
from linecode.hub.authority import Authority, Limits
from linecode.hub.cluster import Cluster
from linecode.store import CodeRule, Level
from linecode.v1 import hub_pb2, hub_pb2_grpc
from tests.factories import hub_process

pytestmark = pytest.mark.slow
SITES = ("S1", "S2", "S3")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hub:
    """``linecode hub serve`` as a process of its own on a fixed port."""

    def __init__(self, dsn: str, port: int) -> None:
        self.dsn, self.port = dsn, port
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = hub_process(self.dsn, f"127.0.0.1:{self.port}")[0]

    def kill(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def crashable(tmp_path) -> Iterator[tuple[Cluster, Hub]]:  # type: ignore[no-untyped-def]
    with Cluster() as pg:
        with psycopg.connect(pg.dsn) as conn:
            schema.init(conn)
        from psycopg_pool import ConnectionPool

        with ConnectionPool(pg.dsn, min_size=1, max_size=2) as pool:
            Authority(pool, Limits()).add_pool(Level("unit", CodeRule.NMPA20, "8600001"), list(SITES))
        hub = Hub(pg.dsn, _free_port())
        hub.start()
        try:
            yield pg, hub
        finally:
            hub.kill()


def test_grants_survive_a_killed_hub_and_a_crashed_database(crashable: tuple[Cluster, Hub]) -> None:
    pg, hub = crashable
    answers: dict[tuple[str, str], set[tuple[int, int]]] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def site(site_id: str) -> None:
        channel = grpc.insecure_channel(
            f"127.0.0.1:{hub.port}",
            [("grpc.initial_reconnect_backoff_ms", 50), ("grpc.max_reconnect_backoff_ms", 300)],
        )
        stub = hub_pb2_grpc.HubServiceStub(channel)
        n = 0
        while not stop.is_set():
            key = f"{site_id}/{n}"
            request = hub_pb2.GrantRequest(
                pool="nmpa20/8600001", count=1_000 + n % 7, idempotency_key=key, site_id=site_id
            )
            while not stop.is_set():  # retry the same key until it is answered
                try:
                    g = stub.Grant(request, timeout=2)
                except grpc.RpcError:
                    time.sleep(0.02)
                    continue
                with lock:
                    answers.setdefault((site_id, key), set()).add((g.start, g.end))
                if random.random() < 0.3:  # a retry after an answer it got: the same range
                    continue
                break
            n += 1
        channel.close()

    threads = [threading.Thread(target=site, args=(s,)) for s in SITES]
    for t in threads:
        t.start()
    try:
        for round_ in range(8):
            time.sleep(random.uniform(0.1, 0.4))
            if round_ % 2:
                hub.kill()  # SIGKILL in the middle of grants
                hub.start()
            else:
                pg.stop("immediate")  # the database dies in the middle of grants
                time.sleep(0.1)
                pg.start()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert all(len(ranges) == 1 for ranges in answers.values()), {
        k: v for k, v in answers.items() if len(v) > 1
    }
    granted = sorted(next(iter(r)) for r in answers.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(granted)), "an index granted twice"
    with psycopg.connect(pg.dsn) as conn:
        stored = {
            (site, key): (int(a), int(b))
            for site, key, a, b in conn.execute(
                "SELECT site_id, idempotency_key, start_index, end_index FROM grants"
            )
        }
        (consumed,) = conn.execute("SELECT consumed FROM pools").fetchone()  # type: ignore[misc]
    for k, ranges in answers.items():  # every answer a site got is stored, as it got it
        assert stored[k] == next(iter(ranges))
    spans = sorted(stored.values())
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert int(consumed) == sum(b - a for a, b in spans)  # grants whose answers were lost: kept, wasted only
    assert len(answers) > 30, len(answers)
