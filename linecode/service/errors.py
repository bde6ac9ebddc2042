"""The one mapping from linecode's error hierarchy to gRPC status codes.

Every error leaves the server as a standard status code, a message saying what was wrong and what
to do, and two details: ``google.rpc.ErrorInfo`` (reason, domain ``linecode``, offending codes and
hint in its metadata) for generic clients, and ``linecode.v1.ErrorDetail`` for ours. Clients read
them back with :func:`error_detail`. A refusal for overload (:class:`~linecode.errors.Overloaded`)
also carries when to come back: ``google.rpc.RetryInfo``, and the ``grpc-retry-pushback-ms``
trailer that gRPC's own retry policy obeys (``linecode.client``); any other RESOURCE_EXHAUSTED (a
full pool or store) carries a pushback of -1, which tells gRPC not to retry it.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from linecode import errors
from linecode.v1 import common_pb2

DOMAIN = "linecode"
MAX_DETAIL_CODES = 50
"""Offending codes named in the status details: they travel in trailers, which gRPC caps at
16 KiB; the count of all of them goes along (``codes_total``)."""
MAX_MESSAGE = 1000
MAX_CODE_SHOWN = 64
MAX_CODES_BYTES = 2000
MAX_HINT = 300
"""Characters of the message, of each code and of the hint a status carries at most, and UTF-8
bytes of its codes: errors quote short prefixes of what they refuse already; these keep any error
within the 16 KiB of trailers gRPC allows (the message percent-encoded, up to 9 bytes a character;
the details base64, twice), so it reaches the client whole."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


STATUS_OF: dict[type[errors.LinecodeError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.Precondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Exhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.TooLate: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.ConfigError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.LinecodeError: grpc.StatusCode.INTERNAL,
}
"""Most specific class first is not needed: the lookup walks each error's MRO."""


def status_code_of(exc: errors.LinecodeError | type[errors.LinecodeError]) -> grpc.StatusCode:
    """The status an error, or every error of a class, leaves the server with: a reason's status is
    its class's (README lists the reasons by status; ``tests/test_reasons.py`` holds it to this)."""
    for cls in (exc if isinstance(exc, type) else type(exc)).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]  # type: ignore[index]
    return grpc.StatusCode.INTERNAL


def to_status(exc: errors.LinecodeError) -> grpc.Status:
    """The rich gRPC status for ``exc``."""
    code = status_code_of(exc)
    reason = _clip(exc.reason, 100)
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
    codes: list[str] = []
    size = 0
    for text in exc.codes[:MAX_DETAIL_CODES]:
        shown = _clip(text, MAX_CODE_SHOWN)
        size += len(shown.encode()) + 1
        if size > MAX_CODES_BYTES:
            break
        codes.append(shown)
    hint = _clip(exc.hint or "", MAX_HINT)
    if exc.codes:
        info.metadata["codes"] = ",".join(codes)
        info.metadata["codes_total"] = str(len(exc.codes))
    if hint:
        info.metadata["hint"] = hint
    messages: list[Message] = [
        info,
        common_pb2.ErrorDetail(reason=reason, codes=codes, hint=hint, codes_total=len(exc.codes)),
    ]
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(round(retry_after * 1000))
        messages.append(error_details_pb2.RetryInfo(retry_delay=delay))
    details = []
    for message in messages:
        packed = any_pb2.Any()
        packed.Pack(message)
        details.append(packed)
    proto = status_pb2.Status(code=code.value[0], message=_clip(str(exc), MAX_MESSAGE), details=details)
    status = rpc_status.to_status(proto)
    if retry_after is not None:
        pushback = str(round(retry_after * 1000))
    elif code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        pushback = "-1"  # a full pool or store: retrying will not help, and gRPC then does not
    else:
        return status
    return _Status(
        status.code, status.details, (*status.trailing_metadata, ("grpc-retry-pushback-ms", pushback))
    )


class _Status(grpc.Status):
    def __init__(
        self, code: grpc.StatusCode, details: str, trailing_metadata: tuple[tuple[str, str | bytes], ...]
    ):
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def internal_status(message: str) -> grpc.Status:
    proto = status_pb2.Status(code=code_pb2.INTERNAL, message=_clip(message, MAX_MESSAGE))
    return rpc_status.to_status(proto)


def error_detail(error: grpc.RpcError) -> common_pb2.ErrorDetail | None:
    """The :class:`ErrorDetail` a linecode server attached to ``error`` (client side)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return None
    for packed in status.details:
        if packed.Is(common_pb2.ErrorDetail.DESCRIPTOR):
            detail = common_pb2.ErrorDetail()
            packed.Unpack(detail)
            return detail
    return None
