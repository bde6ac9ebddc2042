"""``linecode serve --processes N``: connections spread over the workers, one store behind them,
metrics summed, a dead worker replaced, a busy port refused, Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linecode.errors import ConfigError
from linecode.service.processes import METRICS_DIR
from linecode.service.server import announced_port
from linecode.store import Store
from linecode.v1 import admin_pb2_grpc, line_pb2, line_pb2_grpc

from .conftest import (
    BATCH,
    ORIGIN,
    PRODUCT,
    SERVE_COMMAND,
    SERVE_ENV,
    SERVE_KEY,
    serve_process,
    serve_refused,
    signal_another_thread,
)

pytestmark = pytest.mark.slow

SERVE = ("--processes", "2", "--listen", "127.0.0.1:0")
CHANNELS = 16  # all on one of two workers by chance: 2 in 65,536


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    metrics_port: int
    data: Path

    def workers(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except FileNotFoundError:  # the supervisor is gone
            return []
        return [int(pid) for pid in children if b"spawn_main" in _read(Path(f"/proc/{pid}/cmdline"))]

    def channel(self) -> grpc.Channel:
        """A channel with a connection of its own (not shared with the test's other channels)."""
        options = [("grpc.use_local_subchannel_pool", 1)]
        return grpc.insecure_channel(f"127.0.0.1:{self.port}", options=options)

    def metric(self, name: str) -> float:
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).read()
        found = re.search(rf"^{name} (\S+)$", text.decode(), re.M)
        assert found, f"{name} not in the metrics"
        return float(found.group(1))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    data = tmp_path / "data"
    with serve_process(*SERVE, "--data", str(data), "--metrics", "127.0.0.1:0") as (proc, line):
        assert "2 processes" in line, line
        metrics_port = int(re.search(r"metrics on http://[^ ]+:(\d+)/metrics", line).group(1))  # type: ignore[union-attr]
        served = Served(proc, announced_port(line), metrics_port, data)
        with served.channel() as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            admin.CreateProduct(PRODUCT)
            admin.CreateBatch(BATCH)
        yield served


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # the process has just ended
        return b""


def _worker_of_each_connection(served: Served) -> dict[int, int]:
    """Established connections to the server's port per worker pid (from /proc)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == served.port and fields[3] == "01":
                inodes.add(fields[9])
    per_worker = {}
    for pid in served.workers():
        links = (os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir() if fd.is_symlink())
        per_worker[pid] = sum(1 for link in links if link.startswith("socket:[") and link[8:-1] in inodes)
    return per_worker


def _allocate(channel: grpc.Channel, key: str) -> list[str]:
    request = line_pb2.AllocateRequest(
        batch_id="B1", level="unit", count=10, idempotency_key=key, origin=ORIGIN
    )
    blocks = line_pb2_grpc.LineServiceStub(channel).Allocate(request)
    return [code for block in blocks for code in block.codes]


def test_connections_spread_over_the_workers_of_one_store(served: Served) -> None:
    assert len(served.workers()) == 2
    channels = [served.channel() for _ in range(CHANNELS)]
    try:
        codes = [_allocate(channel, f"k{i}") for i, channel in enumerate(channels)]
        per_worker = _worker_of_each_connection(served)
        assert sorted(per_worker) == sorted(served.workers())
        assert sum(per_worker.values()) == CHANNELS
        assert all(per_worker.values()), f"every connection went to one worker: {per_worker}"
        issued = [code for block in codes for code in block]
        assert len(set(issued)) == len(issued) == 10 * CHANNELS
        # A retry on another connection (likely another worker) gets the same codes, not new ones.
        assert [_allocate(channels[-1 - i], f"k{i}") for i in range(CHANNELS)] == codes
        assert served.metric("linecode_allocations_total") == 2 * CHANNELS  # summed over workers
        assert served.metric('linecode_codes{level="unit",state="allocated"}') == 10 * CHANNELS
    finally:
        for channel in channels:
            channel.close()


def test_a_dead_worker_is_replaced_and_nothing_acknowledged_is_lost(served: Served) -> None:
    with served.channel() as channel:
        before = _allocate(channel, "before")
    victim = served.workers()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = served.workers()
        if len(workers) == 2 and victim not in workers:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"worker {victim} was not replaced: {served.workers()}")
    for i in range(8):  # new connections, whichever worker takes them
        with served.channel() as channel:
            health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            assert _allocate(channel, "before") == before
            assert len(_allocate(channel, f"after-{i}")) == 10
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0
    assert not (served.data / METRICS_DIR).exists()  # the workers' metric files go with them
    with Store.open(served.data, readonly=True, master_key=SERVE_KEY) as store:
        assert all(store.info(code).state.label == "allocated" for code in before)


def test_ctrl_c_stops_every_worker(served: Served) -> None:
    workers = served.workers()
    served.proc.send_signal(signal.SIGINT)
    assert served.proc.wait(timeout=60) == 0
    assert not any(_running(pid) for pid in workers)


def test_a_worker_stops_on_a_sigterm_that_lands_on_any_of_its_threads(served: Served) -> None:
    """As when the supervisor dies: the worker's SIGTERM (its parent-death signal) goes to whichever
    thread does not block it."""
    victim = served.workers()[0]
    signal_another_thread(victim, signal.SIGTERM)
    assert _still_running_after(30, [victim]) == []


def test_workers_of_a_killed_supervisor_hold_the_data_dir_until_they_end(served: Served) -> None:
    workers = served.workers()
    with served.channel() as channel:
        request = line_pb2.AllocateRequest(batch_id="B1", level="unit", count=1_000_000, block_size=20_000)
        stream = line_pb2_grpc.LineServiceStub(channel).Allocate(request)
        next(stream)  # in flight (20 MB of codes), and not read on: its worker keeps draining it for a while
        served.proc.kill()
        served.proc.wait()
        time.sleep(0.5)
        assert any(_running(pid) for pid in workers)
        with pytest.raises(ConfigError) as info:  # no second server beside a worker still writing
            Store.open(served.data, master_key=SERVE_KEY)
        assert info.value.reason == "STORE_IN_USE"
        stream.cancel()
    assert _still_running_after(30, workers) == []
    Store.open(served.data, master_key=SERVE_KEY).close()  # the last of them gone, the data dir is free


def test_a_signal_to_the_whole_group_lets_in_flight_calls_finish(served: Served) -> None:
    with served.channel() as channel:
        request = line_pb2.AllocateRequest(batch_id="B1", level="unit", count=50_000, block_size=500)
        stream = line_pb2_grpc.LineServiceStub(channel).Allocate(request)
        first = next(stream)
        os.killpg(served.proc.pid, signal.SIGTERM)  # as systemd stops a service: every process
        rest = list(stream)
    assert sum(len(block.codes) for block in [first, *rest]) == 50_000
    assert served.proc.wait(timeout=60) == 0


def test_a_restart_on_the_same_port_right_away(served: Served) -> None:
    channels = [served.channel() for _ in range(4)]
    for i, channel in enumerate(channels):  # connections the server closes: TIME_WAIT on its side
        _allocate(channel, f"r{i}")
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0
    for channel in channels:
        channel.close()
    listen = ("--listen", f"127.0.0.1:{served.port}", "--data", str(served.data))
    with serve_process(*SERVE[:2], *listen) as (proc, line):
        assert announced_port(line) == served.port
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def _still_running_after(seconds: float, pids: list[int]) -> list[int]:
    """Which of ``pids`` still run ``seconds`` from now (or once none does); those are killed, so a
    failed test leaves no worker behind."""
    deadline = time.monotonic() + seconds
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [pid for pid in pids if _running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_port_somebody_listens_on_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = (*SERVE[:2], "--data", str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}")
        run = serve_refused(*args)
    assert run.returncode == 2
    assert "PORT_UNAVAILABLE" in run.stderr
    # Nothing held on: the data dir is free for the next server.
    Store.open(tmp_path / "data", master_key=SERVE_KEY).close()


def test_ctrl_c_while_a_worker_starts_is_a_clean_stop(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*SERVE_COMMAND, *SERVE, "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=SERVE_ENV,
        start_new_session=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "worker started" in line:
                break
        time.sleep(0.15)  # the second worker is starting up (its interpreter is importing)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
