"""The server as a process: health, reflection, busy port, data dir in use, graceful SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from linecode.errors import ConfigError
from linecode.service.server import SERVICE_NAMES, announced_port, create_server, stop_on_signals
from linecode.store import Store
from linecode.v1 import admin_pb2_grpc, line_pb2, line_pb2_grpc

from .conftest import BATCH, PRODUCT, SERVE_KEY, Client, serve_process, serve_refused, signal_another_thread


def test_health_and_reflection(client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    for name in ("", *SERVICE_NAMES):
        answer = health.Check(health_pb2.HealthCheckRequest(service=name))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    services = set(ProtoReflectionDescriptorDatabase(client.channel).get_services())
    assert {
        "linecode.v1.LineService",
        "linecode.v1.PrintService",
        "linecode.v1.QueryService",
        "linecode.v1.AdminService",
        "grpc.health.v1.Health",
    } <= services


def test_busy_port_is_a_clear_error(client: Client) -> None:
    with pytest.raises(ConfigError) as info:
        create_server(client.store, f"127.0.0.1:{client.running.port}")
    assert info.value.reason == "PORT_UNAVAILABLE"
    assert f"127.0.0.1:{client.running.port}" in str(info.value)


@pytest.fixture(params=[1, 2], ids=["1-process", "2-processes"])
def served(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """``linecode serve`` as its own process (as one process, and as a supervisor of two)."""
    data = tmp_path / "data"
    args = ("--data", str(data), "--listen", "127.0.0.1:0", "--processes", str(request.param))
    with serve_process(*args, "--metrics", "127.0.0.1:0") as (proc, line):
        yield proc, announced_port(line), data


def test_serve_refuses_a_data_dir_in_use(served: tuple[subprocess.Popen[str], int, Path]) -> None:
    _, _, data = served
    second = serve_refused("--data", str(data), "--listen", "127.0.0.1:0")
    assert second.returncode == 2
    assert "STORE_IN_USE" in second.stderr


def test_sigterm_lets_in_flight_calls_finish(served: tuple[subprocess.Popen[str], int, Path]) -> None:
    proc, port, data = served
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        admin = admin_pb2_grpc.AdminServiceStub(channel)
        admin.CreateProduct(PRODUCT)
        admin.CreateBatch(BATCH)
        stream = line_pb2_grpc.LineServiceStub(channel).Allocate(
            line_pb2.AllocateRequest(batch_id="B1", level="unit", count=50_000, block_size=500)
        )
        first = next(stream)
        proc.send_signal(signal.SIGTERM)
        rest = list(stream)
    assert sum(len(b.codes) for b in [first, *rest]) == 50_000
    assert proc.wait(timeout=30) == 0
    # Closed cleanly: the data dir opens again and holds the allocation.
    store = Store.open(data, readonly=True, master_key=SERVE_KEY)
    try:
        assert store.info(first.codes[0]).state.label == "allocated"
    finally:
        store.close()


def test_a_sigterm_that_lands_on_another_thread_stops_it(
    served: tuple[subprocess.Popen[str], int, Path],
) -> None:
    """A signal to a process goes to any of its threads that does not block it, here one of gRPC's;
    Python runs the handler on its main thread only once that wakes up."""
    proc, _, _ = served
    signal_another_thread(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_stop_signals_come_through_and_the_previous_handler_comes_back() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    with stop_on_signals((signal.SIGUSR1,)) as stop:
        assert not stop.wait(0.01)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.wait(10)
        assert stop.wait(0)  # and stays told
    assert signal.getsignal(signal.SIGUSR1) == before
