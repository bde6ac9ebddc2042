"""Model-based test through a real server (issue 13, point 4): the machine of
``tests/store/test_model.py`` sending its requests over gRPC, with mutual TLS and four clients
whose certificates map to roles: ``line:L1``, ``line:L2``, the multi-line ``line:L1,L2`` (mixed
pallets) and ``admin``. The same model predicts each call and the same checks run after every
step, reading the store the server writes (counters = records, parents <-> children, records =
model, log replays to records, a refused call changed nothing). Besides: no call ever ends
INTERNAL or UNKNOWN; a line role gets PERMISSION_DENIED for anything that would change another
line's codes or batches (named or implied) and for the admin calls; an event written in the name of
another line (``Origin.line``) is refused; a code with a control character is refused by the
bounds before any rule.

Fewer examples than the store's machine (every example starts its own TLS server). Soak: see
``tests/store/test_model.py`` (``LINECODE_SOAK_EXAMPLES=N``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import strategies as st

from linecode.certs import Pem, issue, make_ca
from linecode.serials import MasterKey
from linecode.service import convert
from linecode.service.config import ServeConfig
from linecode.service.errors import error_detail
from linecode.service.server import Running, start
from linecode.store import Level, Store
from linecode.v1 import admin_pb2, common_pb2, line_pb2
from tests import factories

from ..store.linemachine import PRODUCT_ID, LineMachine, Refused, settings_for
from ..store.linemodel import SHAPE, Answer, Prediction, Req, Rule
from .conftest import Client, batch_message, connect

pytestmark = pytest.mark.slow

ROLES = {"plc-L1": "line:L1", "plc-L2": "line:L2", "plc-L1L2": "line:L1,L2", "ops": "admin"}
TIMEOUT = 20
EVENT_KINDS = {
    "printed": line_pb2.LINE_EVENT_PRINTED,
    "verified": line_pb2.LINE_EVENT_VERIFIED,
    "verify_failed": line_pb2.LINE_EVENT_VERIFY_FAILED,
    "sampled": line_pb2.LINE_EVENT_SAMPLED,
    "destroyed": line_pb2.LINE_EVENT_DESTROYED,
    "decommissioned": line_pb2.LINE_EVENT_DECOMMISSIONED,
}
DENIED = Rule(SHAPE, "PERMISSION_DENIED", ("ROLE_FORBIDS",))

_pki: dict[str, Pem] = {}


def pki() -> dict[str, Pem]:
    """A test CA, the server's certificate and one client certificate per role (made once)."""
    if not _pki:
        ca = make_ca()
        _pki.update(ca=ca, server=issue(ca, "localhost", server=True))
        _pki.update({name: issue(ca, name) for name in ROLES})
    return _pki


class RpcMachine(LineMachine):
    """The machine over gRPC: each request goes through the client of its role."""

    CALLERS = (
        ("ops", None),
        ("ops", None),
        ("plc-L1", frozenset({"L1"})),
        ("plc-L2", frozenset({"L2"})),
        ("plc-L1L2", frozenset({"L1", "L2"})),
    )
    REPLACED_TO = ("decommissioned",)  # ReplaceRequest has no choice
    EMPTY_MEANS_ALL = True  # DisaggregateRequest: no children named = all of them

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="linecode-model-rpc-"))
        self.running: Running | None = None
        self.clients: dict[str, Client] = {}

    def open(self, levels: list[Level]) -> Store:
        certs = pki()
        certs["ca"].write(self.tmp, "ca")
        certs["server"].write(self.tmp, "server")
        config = ServeConfig(
            listen="127.0.0.1:0",
            tls_cert=self.tmp / "server.crt",
            tls_key=self.tmp / "server.key",
            tls_client_ca=self.tmp / "ca.crt",
            auth_clients=ROLES,
            workers=4,
        )
        store = Store.open(self.tmp / "data", master_key=MasterKey(bytes(range(32))), sync=False)
        self.running, _ = start(store, config)
        for name in ROLES:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=certs["ca"].cert,
                private_key=certs[name].key,
                certificate_chain=certs[name].cert,
            )
            channel = grpc.secure_channel(f"127.0.0.1:{self.running.port}", credentials)
            self.clients[name] = connect(self.running, store, channel)
        product = convert.product(factories.product(PRODUCT_ID, levels, mixed_pallets=True))
        self.clients["ops"].admin.CreateProduct(product, timeout=TIMEOUT)
        return store

    def create_batch(self, batch_id: str, line: str) -> None:
        batch = batch_message(
            batch_id=batch_id, product_id=PRODUCT_ID, batch_number=batch_id, line=line, planned_quantity=100
        )
        self.clients["ops"].admin.CreateBatch(batch, timeout=TIMEOUT)

    def spell(self, data: st.DataObject, key: str) -> str:
        text = super().spell(data, key)
        return text.replace("\t", " ") if data.draw(st.integers(0, 99), label="tab") < 99 else text

    def decorate(self, data: st.DataObject, args: dict[str, Any]) -> None:
        args["origin_line"] = data.draw(st.sampled_from(["", "", "", "L1", "L2"]), label="origin line")

    def adjust(self, req: Req, p: Prediction) -> Prediction:
        """What the server decides before a call reaches the store: the bounds of every string
        (a code with a control character), then the role (a line role calling an admin write, or
        writing events as another line)."""
        if any(not (text.isascii() and text.isprintable()) for text in _code_texts(req)):
            return Prediction(rules=[Rule(SHAPE, "INVALID_ARGUMENT", ("BAD_CHARACTER",))])
        origin = req.args.get("origin_line", "")
        if req.lines is not None and (req.op in ("marks", "close") or (origin and origin not in req.lines)):
            return Prediction(rules=[DENIED])
        return p

    def origin(self, req: Req) -> common_pb2.Origin:
        return common_pb2.Origin(line=req.args.get("origin_line", ""), actor=f"model:{req.client}")

    def execute(self, req: Req) -> Answer:
        c, a = self.clients[req.client], req.args
        common: dict[str, Any] = {"idempotency_key": req.key or "", "origin": self.origin(req)}
        if req.op != "allocate":
            common["time_us"] = req.time_us or 0
        try:
            if req.op == "allocate":
                level = self.names[a["level"] - 1] if a.get("by_name") else str(a["level"])
                request = line_pb2.AllocateRequest(
                    batch_id=a["batch"], level=level, count=a["count"], **common
                )
                blocks = list(c.line.Allocate(request, timeout=TIMEOUT))
                codes = tuple(code for block in blocks for code in block.codes)
                return Answer(blocks[0].event_seq, codes, None, blocks[0].replayed)
            if req.op == "close":
                close = admin_pb2.CloseBatchRequest(
                    batch_id=a["batch"], override_reason=a["override"] or "", **common
                )
                return Answer(c.admin.CloseBatch(close, timeout=TIMEOUT).closed_event_seq, replayed=None)
            change = self.call(c, req, a, common)
        except grpc.RpcError as error:
            code = error.code()  # type: ignore[attr-defined]
            assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (
                f"{req}\nended {code.name}: {error.details()}"  # type: ignore[attr-defined]
            )
            detail = error_detail(error)
            raise Refused(  # type: ignore[attr-defined]
                code.name, detail.reason if detail else "", error.details(), detail.codes if detail else ()
            ) from error
        return Answer(change.event_seq, tuple(change.codes), change.parent or None, change.replayed)

    def call(self, c: Client, req: Req, a: dict[str, Any], common: dict[str, Any]) -> common_pb2.Change:
        if req.op == "report":
            groups = [line_pb2.EventGroup(kind=EVENT_KINDS[kind], codes=codes) for kind, codes in a["groups"]]
            if a.get("single"):
                first = groups.pop(0)
                request = line_pb2.ReportEventsRequest(
                    kind=first.kind, codes=first.codes, groups=groups, **common
                )
            else:
                request = line_pb2.ReportEventsRequest(groups=groups, **common)
            return c.line.ReportEvents(request, timeout=TIMEOUT)
        if req.op == "aggregate":
            aggregate = line_pb2.AggregateRequest(
                parent=a["parent"], children=a["children"], partial=a["partial"], **common
            )
            return c.line.Aggregate(aggregate, timeout=TIMEOUT)
        if req.op == "reparent":
            reparent = line_pb2.ReparentRequest(
                new_parent=a["parent"], children=a["children"], partial=a["partial"], **common
            )
            return c.line.Reparent(reparent, timeout=TIMEOUT)
        if req.op == "disaggregate":
            request = line_pb2.DisaggregateRequest(parent=a["parent"], children=a["children"] or [], **common)
            return c.line.Disaggregate(request, timeout=TIMEOUT)
        if req.op == "replace":
            replace = line_pb2.ReplaceRequest(
                parent=a["parent"], old_child=a["old"], new_child=a["new"], **common
            )
            return c.line.Replace(replace, timeout=TIMEOUT)
        target: dict[str, Any] = (
            {"batch_id": a["batch"]} if a["codes"] is None else {"codes": admin_pb2.CodeSet(codes=a["codes"])}
        )
        if a["what"] == "lock":
            lock = common_pb2.Lock.Value("LOCK_" + a["value"].upper())
            return c.admin.SetLock(
                admin_pb2.SetLockRequest(lock=lock, reason=a["reason"], **target, **common), timeout=TIMEOUT
            )
        status = common_pb2.RegulatoryStatus.Value("REGULATORY_STATUS_" + a["value"].upper())
        return c.admin.SetStatus(
            admin_pb2.SetStatusRequest(status=status, reason=a["reason"], **target, **common), timeout=TIMEOUT
        )

    def teardown(self) -> None:
        for client in self.clients.values():
            client.channel.close()
        if self.running is not None:
            self.running.stop(0)
        if self.store is not None:
            self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _code_texts(req: Req) -> list[str]:
    a = req.args
    if req.op == "report":
        return [t for _, codes in a["groups"] for t in codes]
    if req.op in ("aggregate", "reparent", "disaggregate"):
        return [a["parent"], *(a["children"] or [])]
    if req.op == "replace":
        return [a["parent"], a["old"], a["new"]]
    if req.op == "marks":
        return list(a["codes"] or [])
    return []


TestRpcModel = RpcMachine.TestCase
TestRpcModel.settings = settings_for(examples=40, steps=40)
