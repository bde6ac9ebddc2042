"""Model-based test of the store (issue 13, point 4): random sequences of every write against a real
``Store``, each request predicted by a small pure-Python model (``linemodel.py``), the store checked
against the model after every step (``linemachine.py``).

Product: 3 or 4 levels (unit, [bundle,] case, SSCC pallet), pack ratios 2-3, mixed pallets allowed;
batches on lines L1 and L2. Requests name codes in every spelling (20 digits, grouped with spaces
or dashes, SSCC as ``(00)``+18, 18 or ``00``+18 digits, padded with blanks), sometimes the same
code twice, the parent among its children, or a code nobody issued; they mix batches, levels and
lines; most of them come from a caller limited to its lines (``lines=``: line:L1, line:L2,
line:L1,L2), the rest from one of any line (admin); some reuse idempotency keys (a retry, or
another request); some carry event times (later, the same, earlier than the codes' last events,
or out of range).

After every step: the per-state counters equal a count of the records, parents and children agree
both ways, the records equal the model, the event log replays to the records, a refused request
changed nothing and named a rule the request breaks, and nothing raised but a ``LinecodeError``.

CI runs a bounded number of examples (about 20 s, without shrinking: see ``settings_for``). Soak,
as long as asked (N examples of up to 100 steps; the example database goes to ``.hypothesis/``,
outside git)::

    LINECODE_SOAK_EXAMPLES=100000 .venv/bin/pytest tests/store/test_model.py \\
        tests/service/test_model_rpc.py -p no:cacheprovider --hypothesis-show-statistics

(``LINECODE_SOAK_STEPS`` sets the steps per example.)
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from linecode.errors import (
    AlreadyExists,
    InvalidArgument,
    LinecodeError,
    NotFound,
    PermissionDenied,
    Precondition,
)
from linecode.serials import MasterKey
from linecode.store import Level, Origin, State, Store
from tests.factories import make_batch, make_product

from .linemachine import PRODUCT_ID, LineMachine, Refused, settings_for
from .linemodel import Answer, Req

pytestmark = pytest.mark.slow

STATUS = (
    (InvalidArgument, "INVALID_ARGUMENT"),
    (NotFound, "NOT_FOUND"),
    (AlreadyExists, "ALREADY_EXISTS"),
    (Precondition, "FAILED_PRECONDITION"),
    (PermissionDenied, "PERMISSION_DENIED"),
)


def status_of(error: LinecodeError) -> str:
    """The gRPC status an error leaves the server with (the README's table)."""
    return next((name for cls, name in STATUS if isinstance(error, cls)), f"other ({type(error).__name__})")


class StoreMachine(LineMachine):
    """The machine on the ``Store`` API: callers are admin (no ``lines``) or limited to lines."""

    CALLERS = (
        ("admin", None),
        ("admin", None),
        ("line:L1", frozenset({"L1"})),
        ("line:L2", frozenset({"L2"})),
        ("line:L1,L2", frozenset({"L1", "L2"})),
    )

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="linecode-model-"))

    def open(self, levels: list[Level]) -> Store:
        store = Store.open(self.tmp / "data", master_key=MasterKey(bytes(range(32))), sync=False)
        make_product(store, PRODUCT_ID, levels, mixed_pallets=True)
        return store

    def create_batch(self, batch_id: str, line: str) -> None:
        make_batch(self.s, batch_id, PRODUCT_ID, line=line, planned=100)

    def execute(self, req: Req) -> Answer:
        s, a = self.s, req.args
        origin = Origin(idempotency_key=req.key, lines=req.lines)
        try:
            if req.op == "allocate":
                level = self.names[a["level"] - 1] if a.get("by_name") else a["level"]
                allocation = s.allocate(a["batch"], level, a["count"], origin=origin)
                return Answer(allocation.event_seq, allocation.codes, None, allocation.replayed)
            origin = replace(origin, time_us=req.time_us)
            if req.op == "close":
                report = s.close_batch(a["batch"], a["override"], origin=origin)
                return Answer(report.closed_event_seq, replayed=None)
            if req.op == "report":
                if a.get("single"):
                    ((kind, codes),) = a["groups"]
                    change = s.report_events(kind, codes, origin=origin)
                else:
                    change = s.report_many(a["groups"], origin=origin)
            elif req.op in ("aggregate", "reparent"):
                write = s.aggregate if req.op == "aggregate" else s.reparent
                change = write(a["parent"], a["children"], partial=a["partial"], origin=origin)
            elif req.op == "disaggregate":
                change = s.disaggregate(a["parent"], a["children"], origin=origin)
            elif req.op == "replace":
                to = State[a["to"].upper()]
                change = s.replace(a["parent"], a["old"], a["new"], old_child_to=to, origin=origin)
            else:
                mark = s.set_lock if a["what"] == "lock" else s.set_status
                change = mark(
                    a["value"], codes=a["codes"], batch_id=a["batch"], reason=a["reason"], origin=origin
                )
        except LinecodeError as error:
            raise Refused(status_of(error), error.reason, str(error), error.codes) from error
        return Answer(change.event_seq, change.codes, change.parent, change.replayed)

    def teardown(self) -> None:
        if self.store is not None:
            self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


TestStoreModel = StoreMachine.TestCase
TestStoreModel.settings = settings_for(examples=100, steps=50)
