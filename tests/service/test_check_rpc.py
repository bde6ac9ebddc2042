"""``AdminService.CheckStore`` through a real server, and ``linecode check`` and ``linecode backup``
beside a real ``linecode serve`` under load: no disagreement while writes are in flight, and a
server started on the backup has every write acknowledged before the backup began."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc

from linecode.service.auth import QA_ADMIN_READS
from linecode.service.server import announced_port
from linecode.store import State, Store
from linecode.store import records as layout
from linecode.store.tx import Tx
from linecode.v1 import admin_pb2, admin_pb2_grpc, line_pb2, line_pb2_grpc, query_pb2, query_pb2_grpc

from .conftest import BATCH, ORIGIN, PRODUCT, SERVE_ENV, Client, refused, serve_process


def test_check_store_agrees_then_names_a_wrong_counter(client: Client) -> None:
    units = client.commissioned("unit", 10)
    (bundle,) = client.commissioned("bundle", 1)
    client.line.Aggregate(line_pb2.AggregateRequest(parent=bundle, children=units[:5], origin=ORIGIN))
    report = client.admin.CheckStore(admin_pb2.CheckStoreRequest())
    assert report.ok and report.total == 0 and not report.findings
    assert report.last_event_seq == client.store.last_event_seq()
    assert report.checked["events"] == report.last_event_seq and report.checked["hierarchy"] > 0

    def add_one(tx: Tx) -> None:
        key = layout.count_key(tx.batch("B1").ref, 1, State.COMMISSIONED)
        n = layout.unpack_count(tx.txn.get(key, db=tx.db.dbs["counts"]))
        tx.txn.put(key, layout.pack_count(n + 1), db=tx.db.dbs["counts"])

    client.store._db.write(add_one)
    report = client.admin.CheckStore(admin_pb2.CheckStoreRequest(limit=1))
    assert not report.ok and report.total == 1 and report.disagreements["counters"] == 1
    (finding,) = report.findings
    assert finding.area == "counters"
    assert finding.message == "batch B1 level 1 (unit) commissioned: the counter says 6, the records count 5"
    refused(
        lambda: client.admin.CheckStore(admin_pb2.CheckStoreRequest(limit=1001)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "BAD_LIMIT",
    )
    assert "CheckStore" not in QA_ADMIN_READS  # admins only


def _linecode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linecode", *args], capture_output=True, text=True, timeout=60, env=SERVE_ENV
    )


class Load:
    """Lines packing bundles through their own connections until stopped; what the server
    acknowledged (event numbers, and the units of each acknowledged allocation)."""

    def __init__(self, port: int, lines: int = 3) -> None:
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[int] = []
        self.units: list[str] = []
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._line) for _ in range(lines)]

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def _line(self) -> None:
        channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}", options=[("grpc.use_local_subchannel_pool", 1)]
        )
        line = line_pb2_grpc.LineServiceStub(channel)

        def allocate(level: str, count: int) -> line_pb2.CodeBlock:
            request = line_pb2.AllocateRequest(batch_id="B1", level=level, count=count, origin=ORIGIN)
            (block,) = line.Allocate(request)
            return block

        try:
            while not self.stop.is_set():
                units = allocate("unit", 5)
                self._ack(units.event_seq, list(units.codes))
                bundle = allocate("bundle", 1)
                codes = [*units.codes, *bundle.codes]
                for kind in (line_pb2.LINE_EVENT_PRINTED, line_pb2.LINE_EVENT_VERIFIED):
                    request = line_pb2.ReportEventsRequest(kind=kind, codes=codes, origin=ORIGIN)
                    self._ack(line.ReportEvents(request).event_seq)
                request = line_pb2.AggregateRequest(
                    parent=bundle.codes[0], children=units.codes, origin=ORIGIN
                )
                self._ack(line.Aggregate(request).event_seq)
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            channel.close()

    def _ack(self, seq: int, units: list[str] | None = None) -> None:
        with self.lock:
            self.acked.append(seq)
            self.units += units or []

    def so_far(self) -> tuple[int, list[str]]:
        """The last event acknowledged so far, and every unit allocated so far."""
        with self.lock:
            return max(self.acked), list(self.units)


def test_check_and_backup_beside_a_server_under_load(tmp_path: Path) -> None:
    data, backup = tmp_path / "data", tmp_path / "backup"
    with serve_process("--data", str(data), "--listen", "127.0.0.1:0", "--processes", "2") as (proc, line):
        port = announced_port(line)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            admin.CreateProduct(PRODUCT)
            admin.CreateBatch(BATCH)
        with Load(port) as load:
            while len(load.acked) < 20:
                load.stop.wait(0.05)
            seen: set[int] = set()
            for _ in range(3):
                out = _linecode("check", "--data", str(data), "--json")
                assert out.returncode == 0, out.stdout + out.stderr
                report = json.loads(out.stdout)
                assert report["ok"] and report["total"] == 0, report["findings"]
                seen.add(report["last_event_seq"])
            assert len(seen) == 3, "the lines wrote nothing while the checks ran"
            acked_before, units_before = load.so_far()
            out = _linecode("backup", "--data", str(data), "-o", str(backup))
            assert out.returncode == 0, out.stderr
            assert "the master key is NOT in the backup" in out.stdout  # the server's is in its environment
            assert "comes from LINECODE_MASTER_KEY" in out.stdout
            acked_after, _ = load.so_far()
        assert not load.errors, load.errors
        assert acked_after > acked_before, "no writes went on during the backup"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(30) == 0

    with Store.open(data, readonly=True) as original, Store.open(backup, readonly=True) as copy:
        assert copy.last_event_seq() >= acked_before
        assert list(copy.events())[:acked_before] == list(original.events())[:acked_before]
    with serve_process("--data", str(backup), "--listen", "127.0.0.1:0", "--processes", "1") as (proc, line):
        out = _linecode("check", "--data", str(backup))
        assert out.returncode == 0 and "everything agrees" in out.stdout, out.stdout + out.stderr
        with grpc.insecure_channel(f"127.0.0.1:{announced_port(line)}") as channel:
            query = query_pb2_grpc.QueryServiceStub(channel)
            first = query.Verify(query_pb2.VerifyRequest(data=units_before[0]))
            assert first.genuine and first.usable, first.reason  # packed long before the backup
            last = query.Verify(query_pb2.VerifyRequest(data=units_before[-1]))
            assert last.genuine, last.reason  # allocated just before it: maybe not printed yet
