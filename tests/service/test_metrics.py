"""Observability: the Prometheus endpoint scraped over HTTP after real calls, and JSON log lines of a
real ``linecode serve`` process."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from linecode.certs import issue, make_ca
from linecode.errors import ConfigError
from linecode.serials import MasterKey
from linecode.service.config import ServeConfig
from linecode.service.server import announced_port, start
from linecode.store import Store
from linecode.v1 import line_pb2, query_pb2, query_pb2_grpc

from .conftest import Client, refused, serve_process, serving

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def served(tmp_path: Path, master: MasterKey) -> Iterator[Client]:
    store = Store.open(tmp_path / "data", master_key=master)
    running, _ = start(store, ServeConfig(listen="127.0.0.1:0", metrics_listen="127.0.0.1:0", workers=8))
    yield from serving(running, store)


def test_metrics_endpoint_after_real_calls(served: Client) -> None:
    port = served.running.metrics_port
    assert port
    units = served.commissioned("unit", 10)  # 1 Allocate, 2 ReportEvents
    (bundle,) = served.commissioned("bundle", 1)  # 1 Allocate, 2 ReportEvents
    served.line.Aggregate(line_pb2.AggregateRequest(parent=bundle, children=units[:5]))
    served.codes("case", 3)  # allocated, never printed
    refused(lambda: served.allocate("unit", 1, batch="nope"), grpc.StatusCode.NOT_FOUND, "UNKNOWN_BATCH")
    served.query.Verify(query_pb2.VerifyRequest(data=units[0]))

    samples = scrape(port)
    codes = {
        dict(labels)["level"] + "/" + dict(labels)["state"]: v
        for (name, labels), v in samples.items()
        if name == "linecode_codes"
    }
    assert codes == {
        "unit/aggregated": 5,
        "unit/commissioned": 5,
        "bundle/commissioned": 1,
        "case/allocated": 3,
    }, codes
    assert value(samples, "linecode_rpc_seconds_count", method="Allocate", code="OK") == 3
    assert value(samples, "linecode_rpc_seconds_count", method="Allocate", code="NOT_FOUND") == 1
    assert value(samples, "linecode_rpc_seconds_count", method="ReportEvents", code="OK") == 4
    assert value(samples, "linecode_rpc_seconds_count", method="Aggregate", code="OK") == 1
    assert value(samples, "linecode_rpc_seconds_count", method="CreateBatch", code="OK") == 1
    seconds = value(samples, "linecode_rpc_seconds_sum", method="Allocate", code="OK")
    assert 0 < seconds < 30
    assert value(samples, "linecode_rpc_seconds_bucket", method="Aggregate", code="OK", le="+Inf") == 1
    # Every write went through a durable group commit: product, batch, 3 allocations, 4 reports,
    # 1 aggregation (a commit may carry several of them, never none).
    groups = value(samples, "linecode_commit_group_size_count")
    requests = value(samples, "linecode_commit_group_size_sum")
    assert 1 <= groups <= requests and requests >= 10
    data_file = served.store.path / "data.mdb"
    assert value(samples, "linecode_store_bytes") == data_file.stat().st_size > 0
    assert 0 < value(samples, "linecode_store_used_bytes") <= value(samples, "linecode_store_bytes")
    assert value(samples, "linecode_allocations_total") == 3
    assert value(samples, "linecode_aggregations_total") == 1

    # Counts follow the store at scrape time.
    served.report(line_pb2.LINE_EVENT_SAMPLED, units[5:6])
    later = scrape(port)
    assert value(later, "linecode_codes", level="unit", state="commissioned") == 4
    assert value(later, "linecode_codes", level="unit", state="sampled") == 1


def test_stopping_the_server_frees_the_metrics_port(tmp_path: Path, master: MasterKey) -> None:
    store = Store.open(tmp_path / "data", master_key=master)
    try:
        running, _ = start(store, ServeConfig(listen="127.0.0.1:0", metrics_listen="127.0.0.1:0"))
        port = running.metrics_port
        assert port and scrape(port)
        running.stop(0)
        with socket.socket() as probe:
            # SO_REUSEADDR: the scrape's connection may linger in TIME_WAIT; a listener would not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # free again
            probe.listen()
            with pytest.raises(ConfigError) as info:
                start(store, ServeConfig(listen="127.0.0.1:0", metrics_listen=f"127.0.0.1:{port}"))
        assert info.value.reason == "PORT_UNAVAILABLE" and str(port) in str(info.value)
    finally:
        store.close()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_serve_logs_one_json_object_per_line(tmp_path: Path, processes: str) -> None:
    ca = make_ca()
    ca.write(tmp_path, "ca")
    issue(ca, "localhost", server=True).write(tmp_path, "server")
    config = tmp_path / "linecode.toml"
    config.write_text(
        """
[server]
listen = "127.0.0.1:0"
data = "data"
[log]
json = true
[tls]
cert = "server.crt"
key = "server.key"
[auth]
tokens = { "a-token" = "qa" }
"""
    )
    with serve_process("--config", str(config), "--processes", processes) as (proc, line):
        assert "with TLS" in line, line
        port = announced_port(line)
        credentials = grpc.ssl_channel_credentials(root_certificates=ca.cert)
        with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
            query = query_pb2_grpc.QueryServiceStub(channel)
            refused(
                lambda: query.Verify(query_pb2.VerifyRequest(data="x"), timeout=10),
                grpc.StatusCode.UNAUTHENTICATED,
                "NO_CREDENTIALS",
            )
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    entries = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # every line is JSON
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys() and entry["time"].endswith("Z")
    by_message = {e["message"]: e for e in entries}
    assert by_message["serving"]["port"] == port
    unknown = by_message["caller unknown"]
    assert (unknown["level"], unknown["logger"], unknown["why"], unknown["who"]) == (
        "WARNING",
        "linecode.auth",
        "no_credentials",
        "anonymous",
    )
    assert unknown["method"] == "/linecode.v1.QueryService/Verify" and "127.0.0.1" in unknown["peer"]
    assert by_message["call refused"]["reason"] == "NO_CREDENTIALS"
    assert "stopped" in by_message
