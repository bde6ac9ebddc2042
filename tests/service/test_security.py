"""TLS, mutual TLS and roles end to end: real certificates, a real TLS server, real secure channels.

One mutual-TLS server (client certificates from a test CA mapped to roles) and one TLS server with
bearer tokens, both started from a ``ServeConfig`` the way ``linecode serve`` starts them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from linecode.certs import Pem, issue, make_ca
from linecode.serials import MasterKey
from linecode.service.config import ServeConfig
from linecode.service.errors import error_detail
from linecode.service.metrics import Metrics
from linecode.service.server import Running, start
from linecode.store import Store
from linecode.store.replay import differences
from linecode.v1 import (
    admin_pb2,
    common_pb2,
    line_pb2,
    print_pb2,
    query_pb2,
)

from .conftest import BATCH, ORIGIN, PRODUCT, Client, batch_message, connect, refused

ROLES = {
    "plc-L1": "line:L1",
    "plc-L2": "line:L2",
    "plc-L12": "line:L1,L2",
    "printer-L1": "printer:L1",
    "printer-L2": "printer:L2",
    "qa-desk": "qa",
    "ops": "admin",
}
QA_TOKEN = "qa-token-4f1c"
LINE_TOKEN = "line-token-9a0e"
TIMEOUT = 10


@dataclass
class Pki:
    ca: Pem
    server: Pem
    clients: dict[str, Pem]
    stranger: Pem
    """Signed by the right CA, but its common name is in no role."""
    foreign: Pem
    """Common name ``ops`` (admin), signed by another CA."""
    expired: Pem
    """Common name ``ops``, signed by the right CA, expired yesterday."""


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca = make_ca()
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    return Pki(
        ca=ca,
        server=issue(ca, "localhost", server=True),
        clients={name: issue(ca, name) for name in ROLES},
        stranger=issue(ca, "stranger"),
        foreign=issue(make_ca("another CA"), "ops"),
        expired=issue(ca, "ops", valid_from=yesterday - dt.timedelta(days=30), days=30),
    )


@dataclass
class Served:
    running: Running
    metrics: Metrics
    store: Store
    pki: Pki
    address: str

    def connect(
        self, cert: Pem | None = None, *, token: str | None = None, root: bytes | None = None
    ) -> Client:
        """A client on a secure channel: with ``cert`` as client certificate, ``token`` as bearer."""
        credentials = grpc.ssl_channel_credentials(
            root_certificates=root or self.pki.ca.cert,
            private_key=cert.key if cert else None,
            certificate_chain=cert.cert if cert else None,
        )
        if token is not None:
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(token)
            )
        return connect(self.running, self.store, grpc.secure_channel(self.address, credentials))

    def as_role(self, name: str) -> Client:
        """A client with ``name``'s certificate, writing as its role's line (L1 for the others)."""
        line = ROLES[name].partition(":")[2].split(",")[0] or "L1"
        return replace(self.connect(self.pki.clients[name]), origin=common_pb2.Origin(line=line, actor=name))

    def refusals(self, why: str) -> float:
        return self.metrics.registry.get_sample_value("linecode_auth_refusals_total", {"why": why}) or 0.0


def serve(tmp: Path, pki: Pki, **settings: Any) -> Iterator[Served]:
    pki.ca.write(tmp, "ca")
    pki.server.write(tmp, "server")
    config = ServeConfig(
        listen="127.0.0.1:0", tls_cert=tmp / "server.crt", tls_key=tmp / "server.key", workers=8, **settings
    )
    store = Store.open(tmp / "data", master_key=MasterKey(bytes(range(32))), sync=False)
    running, metrics = start(store, config)
    served = Served(running, metrics, store, pki, f"127.0.0.1:{running.port}")
    yield served
    running.stop(1)
    store.close()


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Served]:
    """Mutual TLS: client certificates required, each known common name has a role; B1 on line L1,
    B2 on line L2."""
    tmp = tmp_path_factory.mktemp("mtls")
    for served in serve(tmp, pki, tls_client_ca=tmp / "ca.crt", auth_clients=ROLES):
        admin = served.as_role("ops")
        admin.admin.CreateProduct(PRODUCT)
        admin.admin.CreateBatch(BATCH)
        admin.admin.CreateBatch(batch_message(batch_id="B2", line="L2"))
        admin.channel.close()
        yield served


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Served]:
    """TLS without client certificates: callers name themselves with bearer tokens (one given as a
    digest in the config, one verbatim)."""
    tmp = tmp_path_factory.mktemp("tokens")
    digest = "sha256:" + hashlib.sha256(QA_TOKEN.encode()).hexdigest()
    yield from serve(tmp, pki, auth_tokens={digest: "qa", LINE_TOKEN: "line:L1"})


def denied(call: Callable[[], Any]) -> None:
    refused(call, grpc.StatusCode.PERMISSION_DENIED, "ROLE_FORBIDS")


def unreachable(call: Callable[[], Any]) -> grpc.RpcError:
    """The call fails before any handler runs: TLS handshake refused (no status details)."""
    with pytest.raises(grpc.RpcError) as info:
        result = call()
        if hasattr(result, "__iter__"):
            list(result)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE, info.value.details()  # type: ignore[attr-defined]
    return info.value


# --- each role x each service ---------------------------------------------------------------------

_batch_ids = itertools.count(100)


def _calls(served: Served, c: Client) -> dict[str, Callable[[], Any]]:
    """One representative call per RPC family, each able to succeed for a role that may make it."""
    admin = served.as_role("ops")

    def fresh(level: str = "unit", batch: str = "B1") -> str:
        return admin.codes(level, 1, batch)[0]

    def commissioned(level: str = "unit") -> str:
        return admin.commissioned(level, 1)[0]

    def closed_batch() -> str:
        batch_id = f"B{next(_batch_ids)}"
        admin.admin.CreateBatch(batch_message(batch_id=batch_id), timeout=TIMEOUT)
        admin.admin.CloseBatch(admin_pb2.CloseBatchRequest(batch_id=batch_id), timeout=TIMEOUT)
        return batch_id

    return {
        "Line.Allocate": lambda: c.allocate("unit", 2),
        "Line.ReportEvents": lambda: c.report(line_pb2.LINE_EVENT_PRINTED, [fresh()]),
        "Line.Aggregate": lambda: c.line.Aggregate(
            line_pb2.AggregateRequest(
                parent=commissioned("bundle"), children=[commissioned()], partial=True, origin=ORIGIN
            ),
            timeout=TIMEOUT,
        ),
        "Print.RenderImage": lambda: c.printer.RenderImage(
            print_pb2.RenderImageRequest(code=fresh()), timeout=TIMEOUT
        ),
        "Print.StreamImages": lambda: list(
            c.printer.StreamImages(
                print_pb2.StreamImagesRequest(codes=print_pb2.CodeList(codes=[fresh(), fresh()])),
                timeout=TIMEOUT,
            )
        ),
        "Query.Verify": lambda: c.query.Verify(query_pb2.VerifyRequest(data=commissioned()), timeout=TIMEOUT),
        "Query.GetTree": lambda: c.query.GetTree(query_pb2.CodeRequest(code=commissioned()), timeout=TIMEOUT),
        "Query.BatchCounts": lambda: c.query.BatchCounts(
            query_pb2.BatchCountsRequest(batch_id="B1"), timeout=TIMEOUT
        ),
        "Admin.GetBatch": lambda: c.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="B1"), timeout=TIMEOUT),
        "Admin.ReconcileBatch": lambda: c.admin.ReconcileBatch(
            admin_pb2.GetBatchRequest(batch_id="B1"), timeout=TIMEOUT
        ),
        "Admin.ExportBatch": lambda: list(
            c.admin.ExportBatch(
                admin_pb2.ExportBatchRequest(batch_id="B1", format=admin_pb2.EXPORT_FORMAT_NMPA_JSON),
                timeout=TIMEOUT,
            )
        ),
        "Admin.CreateBatch": lambda: c.admin.CreateBatch(
            batch_message(batch_id=f"B{next(_batch_ids)}"), timeout=TIMEOUT
        ),
        "Admin.MarkBatchExported": lambda: c.admin.MarkBatchExported(
            admin_pb2.MarkBatchExportedRequest(batch_id=closed_batch(), destination="NMPA", origin=ORIGIN),
            timeout=TIMEOUT,
        ),
        "Admin.SetLock": lambda: c.admin.SetLock(
            admin_pb2.SetLockRequest(
                codes=admin_pb2.CodeSet(codes=[commissioned()]), lock=common_pb2.LOCK_PENDING, origin=ORIGIN
            ),
            timeout=TIMEOUT,
        ),
    }


ALLOWED = {
    "plc-L1": {"Line.Allocate", "Line.ReportEvents", "Line.Aggregate"},
    "printer-L1": {"Print.RenderImage", "Print.StreamImages"},
    "qa-desk": {
        "Query.Verify",
        "Query.GetTree",
        "Query.BatchCounts",
        "Admin.GetBatch",
        "Admin.ReconcileBatch",
        "Admin.ExportBatch",
    },
    "ops": {"*"},
}


@pytest.mark.parametrize("name", ["plc-L1", "printer-L1", "qa-desk", "ops"])
def test_each_role_on_each_service(mtls: Served, name: str) -> None:
    c = mtls.as_role(name)
    outcome: dict[str, str] = {}
    for call_name, call in _calls(mtls, c).items():
        try:
            call()
            outcome[call_name] = "OK"
        except grpc.RpcError as error:
            detail = error_detail(error)
            outcome[call_name] = f"{error.code().name} {detail.reason if detail else ''}"  # type: ignore[attr-defined]
    allowed = set(outcome) if ALLOWED[name] == {"*"} else ALLOWED[name]
    expected = {k: "OK" if k in allowed else "PERMISSION_DENIED ROLE_FORBIDS" for k in outcome}
    assert outcome == expected
    c.channel.close()


def test_a_line_touches_only_its_own_line(mtls: Served) -> None:
    admin, l1, l2 = mtls.as_role("ops"), mtls.as_role("plc-L1"), mtls.as_role("plc-L2")
    assert l2.allocate("unit", 1, batch="B2")[0].batch_id == "B2"
    denied(lambda: l2.allocate("unit", 1, batch="B1"))
    units_b1 = admin.commissioned("unit", 2)
    (bundle_b2,) = admin.commissioned("bundle", 1, batch="B2")
    denied(lambda: l2.report(line_pb2.LINE_EVENT_SAMPLED, units_b1[:1]))
    # Mixing lines in one request is refused as a whole, from either side.
    denied(lambda: l2.line.Aggregate(line_pb2.AggregateRequest(parent=bundle_b2, children=units_b1)))
    denied(lambda: l1.line.Aggregate(line_pb2.AggregateRequest(parent=bundle_b2, children=units_b1)))
    denied(lambda: l2.line.Disaggregate(line_pb2.DisaggregateRequest(parent=units_b1[0])))
    # Every code a request names counts, also the one taken out.
    denied(
        lambda: l1.line.Replace(
            line_pb2.ReplaceRequest(parent=units_b1[0], old_child=bundle_b2, new_child=units_b1[1])
        )
    )
    denied(
        lambda: l1.line.Disaggregate(line_pb2.DisaggregateRequest(parent=units_b1[0], children=[bundle_b2]))
    )
    assert mtls.store.info(units_b1[0]).parent is None


MIXED = admin_pb2.Product(
    product_id="mixed",
    name="Vaccine on mixed pallets",
    mah="Demo Bio",
    mixed_pallets=True,
    levels=[
        admin_pb2.Level(name="unit", rule="nmpa20", identifier="8700001"),
        admin_pb2.Level(name="case", rule="nmpa20", identifier="8700002", pack_ratio=2),
        admin_pb2.Level(name="pallet", rule="sscc", identifier="06901235", pack_ratio=2),
    ],
)


@pytest.fixture(scope="module")
def mixed(mtls: Served) -> Served:
    """A product whose pallets may mix batches, with batch M1 on line L1 and M2 on line L2."""
    admin = mtls.as_role("ops")
    admin.admin.CreateProduct(MIXED)
    for batch_id, line in (("M1", "L1"), ("M2", "L2")):
        admin.admin.CreateBatch(batch_message(batch_id=batch_id, product_id="mixed", line=line))
    return mtls


def _case(admin: Client, batch: str) -> str:
    """A full case of ``batch`` (two units packed by admin)."""
    (case,) = admin.commissioned("case", 1, batch=batch)
    admin.line.Aggregate(
        line_pb2.AggregateRequest(parent=case, children=admin.commissioned("unit", 2, batch=batch))
    )
    return case


def test_a_line_changes_no_code_of_another_line_named_or_implied(mixed: Served) -> None:
    """Found by a hostile client: line:L1 emptied an L1 pallet holding an L2 case (no children named)
    and moved an L1 case out of an L2 pallet. Both change L2's codes: refused, nothing changed; a role
    naming both lines may."""
    admin, l1, l12 = mixed.as_role("ops"), mixed.as_role("plc-L1"), mixed.as_role("plc-L12")
    (pallet1,) = admin.commissioned("pallet", 1, batch="M1")
    (pallet2,) = admin.commissioned("pallet", 1, batch="M2")
    case1, case2 = _case(admin, "M1"), _case(admin, "M2")
    admin.line.Aggregate(line_pb2.AggregateRequest(parent=pallet1, children=[case1, case2]))
    before = mixed.store.last_event_seq()
    denied(lambda: l1.line.Disaggregate(line_pb2.DisaggregateRequest(parent=pallet1, origin=l1.origin)))
    assert mixed.store.children_of(pallet1) == sorted([case1, case2])
    assert mixed.store.last_event_seq() == before
    # Re-parent an L1 case out of an L2 pallet: the old parent is L2's.
    case1b = _case(admin, "M1")
    admin.line.Reparent(line_pb2.ReparentRequest(new_parent=pallet2, children=[case1b], partial=True))
    (pallet1b,) = admin.commissioned("pallet", 1, batch="M1")
    before = mixed.store.last_event_seq()
    denied(
        lambda: l1.line.Reparent(
            line_pb2.ReparentRequest(new_parent=pallet1b, children=[case1b], partial=True, origin=l1.origin)
        )
    )
    assert mixed.store.info(case1b).parent == pallet2 and mixed.store.last_event_seq() == before
    # Replace: the replaced child is L2's.
    case1c = _case(admin, "M1")
    before = mixed.store.last_event_seq()
    denied(
        lambda: l1.line.Replace(
            line_pb2.ReplaceRequest(parent=pallet1, old_child=case2, new_child=case1c, origin=l1.origin)
        )
    )
    assert mixed.store.last_event_seq() == before
    # A role naming both lines may do all of it.
    l12.line.Reparent(
        line_pb2.ReparentRequest(new_parent=pallet1b, children=[case1b], partial=True, origin=l12.origin)
    )
    l12.line.Disaggregate(line_pb2.DisaggregateRequest(parent=pallet1, origin=l12.origin))
    assert mixed.store.children_of(pallet1) == [] and mixed.store.info(case2).parent is None
    assert not differences(mixed.store)


def test_a_refusal_names_no_parent_of_another_line(mixed: Served) -> None:
    """Found by the model machine: line:L2 packing its own case that sits in an L1 pallet was told
    the pallet's code (CHILD_ALREADY_AGGREGATED ... in (00)…). Refused alike, the pallet unnamed."""
    admin, l2 = mixed.as_role("ops"), mixed.as_role("plc-L2")
    (pallet1,) = admin.commissioned("pallet", 1, batch="M1")
    (pallet2,) = admin.commissioned("pallet", 1, batch="M2")
    case2 = _case(admin, "M2")
    admin.line.Aggregate(line_pb2.AggregateRequest(parent=pallet1, children=[case2], partial=True))
    with pytest.raises(grpc.RpcError) as info:
        l2.line.Aggregate(
            line_pb2.AggregateRequest(parent=pallet2, children=[case2], partial=True, origin=l2.origin)
        )
    detail = error_detail(info.value)
    assert detail is not None and detail.reason == "CHILD_ALREADY_AGGREGATED"
    assert pallet1 not in (info.value.details() or "") and pallet1 not in detail.codes
    assert "in a parent of another line" in (info.value.details() or "")
    # the admin, who may see every line, is told where
    with pytest.raises(grpc.RpcError) as told:
        admin.line.Aggregate(line_pb2.AggregateRequest(parent=pallet2, children=[case2], partial=True))
    assert pallet1 in (told.value.details() or "")


def test_a_line_may_not_write_as_another_line(mtls: Served) -> None:
    l1 = mtls.as_role("plc-L1")
    request = line_pb2.AllocateRequest(
        batch_id="B1", level="unit", count=1, origin=common_pb2.Origin(line="L2")
    )
    denied(lambda: list(l1.line.Allocate(request)))


def test_a_printer_gets_only_its_own_lines_images(mtls: Served) -> None:
    admin, p1, p2 = mtls.as_role("ops"), mtls.as_role("printer-L1"), mtls.as_role("printer-L2")
    (b1,) = admin.codes("unit", 1, batch="B1")
    (b2,) = admin.codes("unit", 1, batch="B2")
    assert p2.printer.RenderImage(print_pb2.RenderImageRequest(code=b2)).data
    denied(lambda: p2.printer.RenderImage(print_pb2.RenderImageRequest(code=b1)))
    denied(lambda: p1.printer.RenderImage(print_pb2.RenderImageRequest(code=b2)))
    denied(
        lambda: p2.printer.StreamImages(
            print_pb2.StreamImagesRequest(codes=print_pb2.CodeList(codes=[b2, b1]))
        )
    )
    block = admin.allocate("unit", 3, batch="B1")[0]
    by_range = print_pb2.StreamImagesRequest(
        range=print_pb2.IndexRangeSource(batch_id="B1", level="unit", first_index=block.first_index, count=3)
    )
    denied(lambda: p2.printer.StreamImages(by_range))
    images = [image for b in p1.printer.StreamImages(by_range) for image in b.images]
    assert [image.code for image in images] == list(block.codes)


# --- who is calling -------------------------------------------------------------------------------


def test_unknown_client_certificate_is_unauthenticated_and_counted(mtls: Served) -> None:
    before = mtls.refusals("unknown_certificate")
    stranger = mtls.connect(mtls.pki.stranger)
    refused(
        lambda: stranger.query.Verify(query_pb2.VerifyRequest(data="x")),
        grpc.StatusCode.UNAUTHENTICATED,
        "UNKNOWN_CLIENT",
    )
    refused(lambda: stranger.allocate("unit", 1), grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_CLIENT")
    assert mtls.refusals("unknown_certificate") == before + 2
    # Health and reflection stay open to anyone the TLS layer lets in.
    health = health_pb2_grpc.HealthStub(stranger.channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING


def test_permission_denied_is_logged_and_counted(mtls: Served) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    auth_log = logging.getLogger("linecode.auth")
    auth_log.addHandler(handler)
    previous = auth_log.level
    auth_log.setLevel(logging.INFO)
    try:
        before = mtls.refusals("permission_denied")
        qa = mtls.as_role("qa-desk")
        denied(lambda: qa.allocate("unit", 1))
        stranger = mtls.connect(mtls.pki.stranger)
        refused(
            lambda: stranger.query.Verify(query_pb2.VerifyRequest(data="x")),
            grpc.StatusCode.UNAUTHENTICATED,
            "UNKNOWN_CLIENT",
        )
    finally:
        auth_log.removeHandler(handler)
        auth_log.setLevel(previous)
    assert mtls.refusals("permission_denied") == before + 1
    denial = next(r for r in records if r.getMessage() == "call denied")
    assert (denial.who, denial.role, denial.method) == (  # type: ignore[attr-defined]
        "cert:qa-desk",
        "qa",
        "/linecode.v1.LineService/Allocate",
    )
    unknown = next(r for r in records if r.getMessage() == "caller unknown")
    assert unknown.why == "unknown_certificate" and unknown.who == "cert:stranger"  # type: ignore[attr-defined]
    assert unknown.method == "/linecode.v1.QueryService/Verify" and unknown.peer  # type: ignore[attr-defined]
    codes = {
        s.labels["code"]
        for s in next(iter(mtls.metrics.rpc.collect())).samples
        if s.name.endswith("_count") and s.labels["method"] in ("Allocate", "Verify")
    }
    assert {"PERMISSION_DENIED", "UNAUTHENTICATED"} <= codes


def test_certificate_from_another_ca_is_refused_in_the_handshake(mtls: Served) -> None:
    foreign = mtls.connect(mtls.pki.foreign)
    unreachable(lambda: foreign.query.Verify(query_pb2.VerifyRequest(data="x"), timeout=TIMEOUT))
    unreachable(lambda: foreign.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="B1"), timeout=TIMEOUT))


def test_expired_certificate_is_refused_in_the_handshake(mtls: Served) -> None:
    expired = mtls.connect(mtls.pki.expired)
    unreachable(lambda: expired.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="B1"), timeout=TIMEOUT))


def test_no_client_certificate_is_refused_when_client_certificates_are_required(mtls: Served) -> None:
    anonymous = mtls.connect()
    unreachable(lambda: anonymous.query.Verify(query_pb2.VerifyRequest(data="x"), timeout=TIMEOUT))


def test_client_checks_the_server_certificate(mtls: Served) -> None:
    wrong_root = mtls.connect(mtls.pki.clients["ops"], root=make_ca("not the server's CA").cert)
    unreachable(lambda: wrong_root.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="B1"), timeout=TIMEOUT))


def test_plaintext_is_refused_by_a_tls_server(mtls: Served) -> None:
    channel = grpc.insecure_channel(mtls.address)
    plain = connect(mtls.running, mtls.store, channel)
    unreachable(lambda: plain.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="B1"), timeout=TIMEOUT))
    health = health_pb2_grpc.HealthStub(channel)
    unreachable(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT))


# --- bearer tokens (TLS without client certificates) ----------------------------------------------


def test_tokens_name_the_caller(tokens: Served) -> None:
    qa = tokens.connect(token=QA_TOKEN)
    assert (
        qa.query.Verify(query_pb2.VerifyRequest(data="12345678901234567890")).reason == "UNKNOWN_IDENTIFIER"
    )
    denied(lambda: qa.admin.SetLock(admin_pb2.SetLockRequest(batch_id="B1", lock=common_pb2.LOCK_PENDING)))
    line = tokens.connect(token=LINE_TOKEN)
    denied(lambda: line.query.Verify(query_pb2.VerifyRequest(data="12345678901234567890")))


def test_no_credentials_and_unknown_token_are_unauthenticated(tokens: Served) -> None:
    before = (tokens.refusals("no_credentials"), tokens.refusals("unknown_token"))
    anonymous = tokens.connect()
    refused(
        lambda: anonymous.query.Verify(query_pb2.VerifyRequest(data="x")),
        grpc.StatusCode.UNAUTHENTICATED,
        "NO_CREDENTIALS",
    )
    wrong = tokens.connect(token="not-a-token")
    refused(
        lambda: wrong.admin.GetBatch(admin_pb2.GetBatchRequest(batch_id="B1")),
        grpc.StatusCode.UNAUTHENTICATED,
        "UNKNOWN_TOKEN",
    )
    # The digest itself is not a token: knowing the config file does not let one in.
    digest = "sha256:" + hashlib.sha256(QA_TOKEN.encode()).hexdigest()
    refused(
        lambda: tokens.connect(token=digest).query.Verify(query_pb2.VerifyRequest(data="x")),
        grpc.StatusCode.UNAUTHENTICATED,
        "UNKNOWN_TOKEN",
    )
    assert (tokens.refusals("no_credentials"), tokens.refusals("unknown_token")) == (
        before[0] + 1,
        before[1] + 2,
    )
    health = health_pb2_grpc.HealthStub(anonymous.channel)
    assert health.Check(health_pb2.HealthCheckRequest()).status == health_pb2.HealthCheckResponse.SERVING


def test_another_lines_retry_gets_no_answer(mtls: Served) -> None:
    """An idempotency key's stored answer is the line's own: replaying another line's allocation
    would hand out its codes."""
    l1, l2 = mtls.as_role("plc-L1"), mtls.as_role("plc-L2")
    codes = [c for b in l1.allocate("unit", 3, key="alloc-L1-7") for c in b.codes]
    denied(
        lambda: l2.line.Allocate(
            line_pb2.AllocateRequest(batch_id="B1", level="unit", count=3, idempotency_key="alloc-L1-7")
        )
    )
    l1.line.ReportEvents(
        line_pb2.ReportEventsRequest(
            kind=line_pb2.LINE_EVENT_PRINTED, codes=codes, idempotency_key="print-L1-7", origin=l1.origin
        )
    )
    denied(
        lambda: l2.line.ReportEvents(
            line_pb2.ReportEventsRequest(
                kind=line_pb2.LINE_EVENT_PRINTED, codes=codes, idempotency_key="print-L1-7"
            )
        )
    )
    assert [c for b in l1.allocate("unit", 3, key="alloc-L1-7") for c in b.codes] == codes


def test_another_lines_batch_tells_nothing_before_the_role_check(mtls: Served) -> None:
    l1 = mtls.as_role("plc-L1")
    for level in ("unit", "no-such-level"):
        denied(lambda lv=level: l1.allocate(lv, 1, batch="B2"))


def test_each_lines_idempotency_keys_are_its_own(mtls: Served) -> None:
    """A line can neither take another line's key first nor learn which keys it has used."""
    admin, l1, l2 = mtls.as_role("ops"), mtls.as_role("plc-L1"), mtls.as_role("plc-L2")
    (u1,) = admin.codes("unit", 1, batch="B1")
    (u2,) = admin.codes("unit", 1, batch="B2")
    for caller, code in ((l1, u1), (l2, u2)):
        change = caller.line.ReportEvents(
            line_pb2.ReportEventsRequest(
                kind=line_pb2.LINE_EVENT_PRINTED, codes=[code], idempotency_key="req-42", origin=caller.origin
            )
        )
        assert not change.replayed and list(change.codes) == [code]


def test_a_printer_cannot_tell_unknown_codes_from_other_lines(mtls: Served) -> None:
    admin, p1 = mtls.as_role("ops"), mtls.as_role("printer-L1")
    (other,) = admin.codes("unit", 1, batch="B2")
    unknown = "86000011234567890042"
    for code in (other, unknown):
        error = refused(
            lambda c=code: p1.printer.RenderImage(print_pb2.RenderImageRequest(code=c)),
            grpc.StatusCode.PERMISSION_DENIED,
            "ROLE_FORBIDS",
        )
        assert code not in error.details() and "L2" not in error.details()  # type: ignore[attr-defined]


def test_a_printer_prints_jobs_and_labels_of_its_own_lines_only(mtls: Served) -> None:
    """A print job on another line's batch, or a label of another line's code, is refused; its own go."""
    admin, p1, p2 = mtls.as_role("ops"), mtls.as_role("printer-L1"), mtls.as_role("printer-L2")
    start = print_pb2.JobStart(job_id="sec-1", printer="P", batch_id="B1", level="unit", count=3)
    denied(lambda: list(p2.printer.PrintJob(iter([print_pb2.PrinterMessage(start=start)]))))
    answers = list(p1.printer.PrintJob(iter([print_pb2.PrinterMessage(start=start)])))
    assert answers[0].started.count == 3 and answers[-1].summary.printed == 0
    (pallet,) = admin.codes("pallet", 1, batch="B1")
    label = print_pb2.LabelRequest(code=pallet, level="pallet")
    denied(lambda: p2.printer.RenderLabel(label))
    assert p1.printer.RenderLabel(label).data.startswith(b"^XA")
