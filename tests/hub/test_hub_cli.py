"""``linecode hub`` as an operator runs it, in processes of its own, against a real PostgreSQL."""

from __future__ import annotations

import json
import signal

import grpc
import psycopg
import pytest

from linecode.hub import schema
from linecode.v1 import hub_pb2, hub_pb2_grpc
from tests.factories import hub_process, run_linecode

pytestmark = pytest.mark.slow


def test_init_pool_add_serve_in_two_processes_status_and_stop(dsn: str) -> None:
    init = run_linecode("hub", "init", "--dsn", dsn)
    assert init.returncode == 0 and f"schema at version {schema.VERSION} (was 0)" in init.stdout, init.stderr
    assert "nothing to do" in run_linecode("hub", "init", "--dsn", dsn).stdout
    added = run_linecode("hub", "pool", "add", "--dsn", dsn, "--demo-product", "--sites", "S1,S2")
    assert added.returncode == 0 and added.stdout.count("may lease it") == 4, added.stderr
    hub, port, line = hub_process(dsn, processes=2)
    try:
        assert line.startswith("linecode hub serving on 127.0.0.1:") and "2 processes" in line, line
        got = set()
        for n in range(10):  # new connections, whichever process takes them
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=20)
                stub = hub_pb2_grpc.HubServiceStub(channel)
                request = hub_pb2.GrantRequest(
                    pool="nmpa20/8600001", count=100_000, idempotency_key=f"k{n}", site_id="S1"
                )
                g = stub.Grant(request, timeout=20)
                got.add((g.start, g.end))
        assert len(got) == 10
        status = run_linecode("hub", "status", "--dsn", dsn, "--json")
        shown = json.loads(status.stdout)
        units = next(p for p in shown["pools"] if p["pool"] == "nmpa20/8600001")
        assert units["consumed"] == 10 * 100_000 and units["size"] == 10**9
        s1 = next(s for s in shown["sites"] if s["site"] == "S1")
        assert s1["grants"] == 10 and s1["last_contact"] is not None
        text = run_linecode("hub", "status", "--dsn", dsn).stdout
        assert (
            "nmpa20/8600001: 1,000,000 of 1,000,000,000 indices granted" in text and "S1: 10 grants" in text
        )
    finally:
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(timeout=60) == 0


def test_a_hub_refuses_a_database_it_does_not_know(dsn: str) -> None:
    served = run_linecode("hub", "serve", "--dsn", dsn, "--listen", "127.0.0.1:0", timeout=60)
    assert served.returncode == 2 and "HUB_SCHEMA" in served.stderr and "hub init" in served.stderr
    assert run_linecode("hub", "init", "--dsn", dsn).returncode == 0
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO linecode_schema (version) VALUES (99)")
    for args in (("init", "--dsn", dsn), ("status", "--dsn", dsn)):
        refused = run_linecode("hub", *args)
        assert refused.returncode == 2 and "newer than this hub knows" in refused.stderr, refused.stderr
    bad = run_linecode("hub", "pool", "add", "--dsn", dsn, "--sites", "S1")
    assert bad.returncode == 2 and "--demo-product" in bad.stderr
