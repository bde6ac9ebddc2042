"""A real server on port 0 over a real LMDB store, and real channels to it."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from linecode.serials import MasterKey
from linecode.service import convert
from linecode.service.errors import error_detail
from linecode.service.server import Running, create_server
from linecode.store import Store
from linecode.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    common_pb2,
    line_pb2,
    line_pb2_grpc,
    print_pb2_grpc,
    query_pb2_grpc,
)
from tests import factories

PRODUCT = convert.product(factories.product())
GS1_PRODUCT = convert.product(factories.product(factories.EXPORT, factories.EXPORT_LEVELS))
"""The test products (tests/factories.py) as the Admin service takes them."""
BATCH = admin_pb2.Batch(
    batch_id="B1",
    product_id=factories.PRODUCT,
    batch_number="B2026001",
    production_date=factories.MADE.isoformat(),
    expiry_date=factories.EXPIRES.isoformat(),
    line="L1",
    planned_quantity=100_000,
)


def batch_message(**changes: Any) -> admin_pb2.Batch:
    """BATCH with the fields given changed (another batch, or a malformed one)."""
    return admin_pb2.Batch(**{**{f.name: v for f, v in BATCH.ListFields()}, **changes})


EXPORT_BATCH = batch_message(
    batch_id="E1",
    product_id=factories.EXPORT,
    batch_number="LOT7",
    expiry_date="2028-01-31",
    planned_quantity=10,
)
"""A batch of GS1_PRODUCT."""

ORIGIN = common_pb2.Origin(line="L1", actor="plc-1")


@dataclass
class Client:
    channel: grpc.Channel
    line: line_pb2_grpc.LineServiceStub
    printer: print_pb2_grpc.PrintServiceStub
    query: query_pb2_grpc.QueryServiceStub
    admin: admin_pb2_grpc.AdminServiceStub
    store: Store
    running: Running
    origin: common_pb2.Origin = field(default_factory=lambda: ORIGIN)
    """What the helpers below send as the origin of their writes."""

    def allocate(self, level: str, count: int, key: str = "", batch: str = "B1") -> list[line_pb2.CodeBlock]:
        request = line_pb2.AllocateRequest(
            batch_id=batch, level=level, count=count, idempotency_key=key, origin=self.origin
        )
        return list(self.line.Allocate(request))

    def codes(self, level: str, count: int, batch: str = "B1") -> list[str]:
        return [c for block in self.allocate(level, count, batch=batch) for c in block.codes]

    def report(self, kind: int, codes: list[str]) -> common_pb2.Change:
        return self.line.ReportEvents(
            line_pb2.ReportEventsRequest(kind=kind, codes=codes, origin=self.origin)
        )

    def commissioned(self, level: str, count: int, batch: str = "B1") -> list[str]:
        codes = self.codes(level, count, batch)
        self.report(line_pb2.LINE_EVENT_PRINTED, codes)
        self.report(line_pb2.LINE_EVENT_VERIFIED, codes)
        return codes


def connect(running: Running, store: Store, channel: grpc.Channel | None = None) -> Client:
    """Stubs on ``channel`` (default: a plaintext channel to ``running``)."""
    channel = channel or grpc.insecure_channel(f"127.0.0.1:{running.port}")
    return Client(
        channel,
        line_pb2_grpc.LineServiceStub(channel),
        print_pb2_grpc.PrintServiceStub(channel),
        query_pb2_grpc.QueryServiceStub(channel),
        admin_pb2_grpc.AdminServiceStub(channel),
        store,
        running,
    )


def serving(running: Running, store: Store) -> Iterator[Client]:
    """A client of ``running`` with PRODUCT and BATCH created; stops the server, closes the store."""
    c = connect(running, store)
    c.admin.CreateProduct(PRODUCT)
    c.admin.CreateBatch(BATCH)
    yield c
    c.channel.close()
    running.stop(1)
    store.close()


@pytest.fixture
def client(tmp_path: Path, master: MasterKey) -> Iterator[Client]:
    store = Store.open(tmp_path / "data", master_key=master)
    yield from serving(create_server(store, "127.0.0.1:0"), store)


def refused(call: Callable[[], Any], code: grpc.StatusCode, reason: str) -> grpc.RpcError:
    """Run ``call``; expect status ``code`` with our machine-readable ``reason`` attached."""
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if hasattr(result, "__iter__") and not isinstance(result, (str, bytes)):
            list(result)
    error = info.value
    assert error.code() == code, error.details()  # type: ignore[attr-defined]
    detail = error_detail(error)
    assert detail is not None and detail.reason == reason, (detail, error.details())  # type: ignore[attr-defined]
    return error


SERVE_COMMAND = [sys.executable, "-m", "linecode", "serve"]
SERVE_KEY = MasterKey(bytes.fromhex("11" * 32))
"""The master key of the servers the tests start as commands (``SERVE_ENV``)."""
SERVE_ENV = {**os.environ, "LINECODE_MASTER_KEY": "11" * 32}
"""``linecode serve`` as a command, and its environment (a test master key)."""


def idle(running: Running) -> None:
    """Wait (up to 10 s) until the server holds no admitted work: a cancelled stream gives its units
    back when the server notices the cancel, a moment after the client has let go."""
    admission = running.admission
    assert admission is not None
    for _ in range(200):
        if admission.in_flight() == (0, 0):
            return
        time.sleep(0.05)
    assert admission.in_flight() == (0, 0)


def serve_refused(*args: str) -> subprocess.CompletedProcess[str]:
    """``linecode serve ARGS`` expected to stop on its own (a refusal): how it ended."""
    return subprocess.run([*SERVE_COMMAND, *args], capture_output=True, text=True, timeout=30, env=SERVE_ENV)


@contextmanager
def serve_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``linecode serve ARGS`` as its own process and the line it announced once listening; killed
    on the way out if still running."""
    proc = subprocess.Popen(
        [*SERVE_COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=SERVE_ENV,
        start_new_session=True,  # its own process group, as under a service manager
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "the server did not announce itself within 60 s"
        line = proc.stdout.readline()
        assert "serving" in line, line + (proc.stderr.read() if proc.stderr else "")
        yield proc, line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def signal_another_thread(pid: int, signum: int) -> None:
    """Send ``signum`` to process ``pid`` through one of its threads other than the main one (``kill``
    on a thread id delivers a process-wide signal to that thread, on Linux)."""
    for tid in sorted((int(tid) for tid in os.listdir(f"/proc/{pid}/task")), reverse=True):
        if tid != pid:
            try:
                os.kill(tid, signum)
                return
            except ProcessLookupError:  # that thread has just ended
                continue
    raise AssertionError(f"process {pid} has no thread besides its main one")
