"""A full store or disk over gRPC: writes get RESOURCE_EXHAUSTED with the reason in the status
details and change nothing; queries and health answer; ``linecode serve`` takes the largest map
size from its config (``[store] max_map_size_mb``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linecode.errors import ConfigError
from linecode.serials import MasterKey
from linecode.service.config import ServeConfig
from linecode.service.errors import error_detail
from linecode.service.server import announced_port, create_server
from linecode.store import Store
from linecode.store.database import DEFAULT_MAX_MAP_SIZE
from linecode.store.replay import differences
from linecode.v1 import line_pb2, query_pb2

from ..store.test_store_full import MiB, raw, small_disk
from .conftest import BATCH, PRODUCT, Client, connect, refused, serve_process, serving

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


def fill(c: Client) -> grpc.RpcError:
    """Allocate ever fewer units until not even one fits: the last refusal."""
    count = 20_000
    while True:
        try:
            c.allocate("unit", count)
        except grpc.RpcError as exc:
            if count == 1 or exc.code() != EXHAUSTED:  # type: ignore[attr-defined]
                return exc
            count = max(1, count // 4)


def answering(c: Client, commissioned: str) -> query_pb2.BatchCountsResponse:
    """Health, Verify and BatchCounts answer as usual; the counts."""
    health = health_pb2_grpc.HealthStub(c.channel)
    for service in ("", "linecode.v1.LineService", "linecode.v1.QueryService"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    verified = c.query.Verify(query_pb2.VerifyRequest(data=commissioned))
    assert verified.genuine and verified.usable, verified
    return c.query.BatchCounts(query_pb2.BatchCountsRequest(batch_id="B1"))


@pytest.fixture
def small(tmp_path: Path, master: MasterKey) -> Iterator[Client]:
    store = Store.open(tmp_path / "data", master_key=master, map_size=MiB, max_map_size=2 * MiB)
    yield from serving(create_server(store, "127.0.0.1:0"), store)


def test_a_full_store_refuses_writes_while_queries_and_health_answer(small: Client) -> None:
    c = small
    (unit,) = c.commissioned("unit", 1)
    printed = c.codes("unit", 5000)
    error = fill(c)
    assert error.code() == EXHAUSTED, error.details()  # type: ignore[attr-defined]
    detail = error_detail(error)
    assert detail is not None and detail.reason == "STORE_FULL"
    assert "max_map_size_mb" in detail.hint
    counts = answering(c, unit)
    before = raw(c.store)

    refused(lambda: c.report(line_pb2.LINE_EVENT_PRINTED, printed), EXHAUSTED, "STORE_FULL")
    refused(lambda: c.allocate("unit", 5000, key="after-full"), EXHAUSTED, "STORE_FULL")
    assert raw(c.store) == before  # no event, record, counter or idempotency key was written
    assert answering(c, unit) == counts
    assert not differences(c.store)
    assert c.store._db._writer is not None and c.store._db._writer.is_alive()


@pytest.fixture
def on_a_small_disk(tmp_path: Path, master: MasterKey) -> Iterator[Client]:
    """A server over a store on an 8 MiB tmpfs (``c.store.path.parent``)."""
    with small_disk(tmp_path / "disk", 8 * MiB) as disk:
        store = Store.open(disk / "data", master_key=master)
        yield from serving(create_server(store, "127.0.0.1:0"), store)


def test_a_full_disk_refuses_writes_until_space_is_freed(on_a_small_disk: Client) -> None:
    c = on_a_small_disk
    (unit,) = c.commissioned("unit", 1)
    many = c.codes("unit", 20_000)  # an allocation is a range: the records come with the codes' events
    disk = c.store.path.parent
    room = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(bytes(room.f_bavail * room.f_frsize - 64 * 1024))
    before = raw(c.store)
    error = refused(lambda: c.report(line_pb2.LINE_EVENT_PRINTED, many), EXHAUSTED, "DISK_FULL")
    assert "free space" in error_detail(error).hint  # type: ignore[union-attr]
    assert raw(c.store) == before
    counts = answering(c, unit)
    filler.unlink()
    c.report(line_pb2.LINE_EVENT_PRINTED, many)
    assert answering(c, unit) != counts
    assert not differences(c.store)


@pytest.mark.parametrize("processes", [1, 2], ids=["1-process", "2-processes"])
def test_serve_takes_the_largest_map_size_from_its_config(tmp_path: Path, processes: int) -> None:
    config = tmp_path / "linecode.toml"
    config.write_text(
        f'[server]\ndata = "data"\nlisten = "127.0.0.1:0"\nprocesses = {processes}\n'
        "[store]\nmax_map_size_mb = 2\n"  # map_size_mb keeps its default of 1024: capped at 2
    )
    with serve_process("--config", str(config)) as (_, line):
        channel = grpc.insecure_channel(f"127.0.0.1:{announced_port(line)}")
        c = connect(None, None, channel)  # type: ignore[arg-type]  # only the stubs are used
        c.admin.CreateProduct(PRODUCT)
        c.admin.CreateBatch(BATCH)
        (unit,) = c.commissioned("unit", 1)
        error = fill(c)
        assert error.code() == EXHAUSTED, error.details()  # type: ignore[attr-defined]
        assert (detail := error_detail(error)) is not None and detail.reason == "STORE_FULL"
        answering(c, unit)
        channel.close()
    assert (tmp_path / "data" / "data.mdb").stat().st_size <= 2 * MiB


def test_the_largest_map_size_is_a_checked_setting() -> None:
    assert ServeConfig().max_map_size_mb << 20 == DEFAULT_MAX_MAP_SIZE
    with pytest.raises(ConfigError) as info:
        ServeConfig().override(max_map_size_mb=0)
    assert info.value.reason == "BAD_CONFIG" and "max_map_size_mb = 0" in str(info.value)
