"""The committed generated code matches proto/, and every linecode error maps to one status."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from linecode import errors
from linecode.reasons import Reason
from linecode.service.errors import STATUS_OF, status_code_of, to_status
from linecode.v1 import common_pb2

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_is_current(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(ROOT / "proto" / "generate"), str(tmp_path)], check=True, env=env, cwd=ROOT)
    fresh = sorted(p.name for p in (tmp_path / "linecode" / "v1").iterdir())
    committed = sorted(
        p.name
        for p in (ROOT / "linecode" / "v1").iterdir()
        if p.name != "__init__.py" and p.suffix in (".py", ".pyi")
    )
    assert fresh == committed
    stale = [
        n
        for n in fresh
        if not filecmp.cmp(tmp_path / "linecode" / "v1" / n, ROOT / "linecode" / "v1" / n, shallow=False)
    ]
    assert not stale, f"run proto/generate: {stale} differ from proto/"
    shutil.rmtree(tmp_path / "linecode")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidCode, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound, grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
        (errors.Precondition, grpc.StatusCode.FAILED_PRECONDITION),
        (errors.Exhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.Aborted, grpc.StatusCode.ABORTED),
        (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
        (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    ],
)
def test_every_error_class_has_its_status(error: type[errors.LinecodeError], status: grpc.StatusCode) -> None:
    # Any reason: the status comes from the class.
    exc = error("what was wrong", reason=Reason.CODE_LOCKED, codes=["c1", "c2"], hint="do this")
    assert status_code_of(exc) == status == status_code_of(error)
    rich = to_status(exc)
    assert rich.code == status
    assert "what was wrong" in rich.details


def test_a_reason_leaves_as_its_own_text() -> None:
    """A reason is a ``StrEnum`` member: the status details carry its text, as plain strings."""
    rich = to_status(errors.InvalidCode("bad check", reason=Reason.BAD_CHECK))
    status = status_pb2.Status.FromString(dict(rich.trailing_metadata)["grpc-status-details-bin"])
    info, detail = error_details_pb2.ErrorInfo(), common_pb2.ErrorDetail()
    assert status.details[0].Unpack(info) and status.details[1].Unpack(detail)
    assert info.reason == detail.reason == "BAD_CHECK" and type(info.reason) is type(detail.reason) is str


def test_every_error_in_the_hierarchy_is_mapped() -> None:
    def subclasses(cls: type) -> set[type]:
        return {cls} | {s for c in cls.__subclasses__() for s in subclasses(c)}

    for cls in subclasses(errors.LinecodeError):
        assert any(base in STATUS_OF for base in cls.__mro__), cls
