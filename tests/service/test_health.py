"""Health watchers and a stopping server: a watcher going away while the server tells every
watcher NOT_SERVING must not hang the stop (grpc_health sent under its lock; see
``linecode.service.server.Health``)."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linecode.serials import MasterKey
from linecode.service.server import create_server
from linecode.store import Store

STOPS = 20
"""Stops tried; before the fix about one in three hung."""


def test_a_server_stops_while_its_health_watchers_go_away(tmp_path: Path, master: MasterKey) -> None:
    for n in range(STOPS):
        store = Store.open(tmp_path / f"data{n}", master_key=master)
        running = create_server(store)
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        try:
            health = health_pb2_grpc.HealthStub(channel)
            watches = [health.Watch(health_pb2.HealthCheckRequest(), timeout=60) for _ in range(4)]
            assert all(next(w).status == health_pb2.HealthCheckResponse.SERVING for w in watches)
            for watch in watches:
                watch.cancel()
            stop = threading.Thread(target=running.stop, daemon=True)
            stop.start()
            stop.join(30)  # a liveness bound, not a timing: a stop takes milliseconds
            assert not stop.is_alive(), f"stop {n + 1} hung with its health watchers going away"
        finally:
            channel.close()
            store.close()


def test_a_watcher_still_there_hears_not_serving_when_the_server_stops(
    tmp_path: Path, master: MasterKey
) -> None:
    store = Store.open(tmp_path / "data", master_key=master)
    running = create_server(store)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        stop = threading.Thread(target=running.stop, daemon=True)
        stop.start()
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        stop.join(30)
        assert not stop.is_alive()
    finally:
        channel.close()
        store.close()
