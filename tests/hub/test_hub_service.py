"""HubService through a real gRPC server with mutual TLS: sites known by their certificates get
grants for themselves only, everyone else is refused with a precise status and reason."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from linecode.certs import issue, make_ca
from linecode.hub.authority import Authority
from linecode.service.auth import Access
from linecode.service.errors import error_detail
from linecode.service.hub import HubServer
from linecode.service.server import tls_credentials
from linecode.store import CodeRule, Level
from linecode.v1 import hub_pb2, hub_pb2_grpc

CLIENTS = {"site-S1": "site:S1", "site-S2": "site:S2", "ops": "admin", "plc": "line:L1"}
UNITS = Level("unit", CodeRule.NMPA20, "8600001")
CASES = Level("case", CodeRule.NMPA20, "8600003", pack_ratio=4)


@pytest.fixture
def hub(authority: Authority, tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """A started hub over ``authority`` with mTLS; call it with a client name for that client's stub."""
    authority.add_pool(UNITS, ["S1", "S2"])
    authority.add_pool(CASES, ["S2"])
    ca = make_ca()
    ca.write(tmp_path, "ca")
    issue(ca, "localhost", server=True).write(tmp_path, "hub")
    running = HubServer(
        authority,
        "127.0.0.1:0",
        credentials=tls_credentials(tmp_path / "hub.crt", tmp_path / "hub.key", tmp_path / "ca.crt"),
        authorize=Access(None, clients=CLIENTS),
    )
    channels: list[grpc.Channel] = []

    def stub(name: str) -> Any:
        cert = issue(ca, name)
        credentials = grpc.ssl_channel_credentials(ca.cert, cert.key, cert.cert)
        channels.append(grpc.secure_channel(f"localhost:{running.port}", credentials))
        return hub_pb2_grpc.HubServiceStub(channels[-1])

    yield stub
    for channel in channels:
        channel.close()
    running.stop(0)


def refused(call: Callable[[], Any], code: grpc.StatusCode, reason: str) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call()
    error = info.value
    assert error.code() == code, error.details()  # type: ignore[attr-defined]
    detail = error_detail(error)
    assert detail is not None and detail.reason == reason, (detail, error.details())  # type: ignore[attr-defined]
    return str(error.details())  # type: ignore[attr-defined]


def test_a_site_gets_its_own_ranges_and_the_same_one_again_for_its_key(hub: Callable[[str], Any]) -> None:
    s1, s2 = hub("site-S1"), hub("site-S2")
    limits = s1.GetLimits(hub_pb2.GetLimitsRequest())
    assert (limits.min_size, limits.default_size, limits.max_size) == (10, 1_000, 100_000)
    first = s1.Grant(hub_pb2.GrantRequest(pool="nmpa20/8600001", count=500, idempotency_key="S1/1"))
    assert (first.start, first.end, first.site_id, first.replayed) == (0, 500, "S1", False)
    assert json.loads(first.rule_json) == {"identifier": "8600001", "rule": "nmpa20"}
    again = s1.Grant(
        hub_pb2.GrantRequest(pool="nmpa20/8600001", count=500, idempotency_key="S1/1", site_id="S1")
    )
    assert (again.start, again.end, again.replayed) == (0, 500, True)
    other = s2.Grant(hub_pb2.GrantRequest(pool="nmpa20/8600001", count=1_000, idempotency_key="S1/1"))
    assert (other.start, other.end, other.site_id) == (500, 1_500, "S2")


def test_callers_outside_their_role_are_refused_precisely(hub: Callable[[str], Any]) -> None:
    s1 = hub("site-S1")
    grant = hub_pb2.GrantRequest(pool="nmpa20/8600001", count=100, idempotency_key="k")
    refused(lambda: hub("stranger").Grant(grant), grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_CLIENT")
    refused(lambda: hub("plc").Grant(grant), grpc.StatusCode.PERMISSION_DENIED, "ROLE_FORBIDS")
    as_other = hub_pb2.GrantRequest(pool="nmpa20/8600001", count=100, idempotency_key="k", site_id="S2")
    refused(lambda: s1.Grant(as_other), grpc.StatusCode.PERMISSION_DENIED, "ROLE_FORBIDS")
    cases = hub_pb2.GrantRequest(pool="nmpa20/8600003", count=100, idempotency_key="k")
    refused(lambda: s1.Grant(cases), grpc.StatusCode.PERMISSION_DENIED, "POOL_NOT_ALLOWED")
    unknown = hub_pb2.GrantRequest(pool="nmpa20/8699999", count=100, idempotency_key="k")
    refused(lambda: s1.Grant(unknown), grpc.StatusCode.NOT_FOUND, "UNKNOWN_POOL")
    for count in (-5, 0, 5, 10**12):
        bad = hub_pb2.GrantRequest(pool="nmpa20/8600001", count=count, idempotency_key="k")
        assert "expected 10 to 100,000" in refused(
            lambda b=bad: s1.Grant(b), grpc.StatusCode.INVALID_ARGUMENT, "BAD_COUNT"
        )
    no_key = hub_pb2.GrantRequest(pool="nmpa20/8600001", count=100)
    refused(lambda: s1.Grant(no_key), grpc.StatusCode.INVALID_ARGUMENT, "BAD_IDEMPOTENCY_KEY")
    s1.Grant(grant)
    again = hub_pb2.GrantRequest(pool="nmpa20/8600001", count=200, idempotency_key="k")
    refused(lambda: s1.Grant(again), grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED")
    ops = hub("ops")
    refused(lambda: ops.Grant(grant), grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_SITE")
    for_s2 = hub_pb2.GrantRequest(pool="nmpa20/8600003", count=100, idempotency_key="k", site_id="S2")
    assert ops.Grant(for_s2).site_id == "S2"  # an admin names the site
