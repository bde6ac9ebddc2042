"""One interceptor every call passes through: bounded input, errors to statuses, and the hooks for
who may call.

Servicers raise linecode errors and never touch status codes; this is the only place that turns
an exception into a gRPC status. Every request's strings are checked against their bounds here
first (``linecode.service.bounds``); authentication and roles (``authorize``) and per-call metrics
(``observe``) hook in here too, so they hold for every RPC without a line in any servicer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

import grpc

from linecode.errors import LinecodeError
from linecode.service.bounds import check_request
from linecode.service.errors import internal_status, status_code_of, to_status

log = logging.getLogger("linecode.service")

_CALLER_LINES: ContextVar[frozenset[str] | None] = ContextVar("linecode_caller_lines", default=None)


def caller_lines() -> frozenset[str] | None:
    """The lines the running call's caller may change codes of (None: any): servicers pass them to
    every store write, which checks each code it changes against them inside its transaction."""
    return _CALLER_LINES.get()


Authorize = Callable[[str, Any, grpc.ServicerContext], frozenset[str] | None]
"""Raise Unauthenticated / PermissionDenied to refuse ``method`` with ``request`` to the caller;
else return the packaging lines the caller's writes are limited to (None: any)."""
Observe = Callable[[str, grpc.StatusCode, float], None]
"""Told of every finished call: method, status code, seconds."""


class CallGuard(grpc.ServerInterceptor):
    """Wraps every handler: authorize, run, map errors, observe."""

    def __init__(self, authorize: Authorize | None = None, observe: Observe | None = None) -> None:
        self._authorize = authorize
        self._observe = observe

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(method, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _fail(self, method: str, context: grpc.ServicerContext, exc: BaseException, started: float) -> None:
        if isinstance(exc, LinecodeError):
            self._done(method, status_code_of(exc), started)
            log.info("call refused", extra={"method": method, "reason": exc.reason, "error": str(exc)})
            context.abort_with_status(to_status(exc))
        log.exception("call failed", extra={"method": method})
        self._done(method, grpc.StatusCode.INTERNAL, started)
        context.abort_with_status(internal_status(f"internal error in {method}: {type(exc).__name__}: {exc}"))

    def _admit(self, method: str, request: Any, context: grpc.ServicerContext) -> frozenset[str] | None:
        """Check the request's bounds, then the caller; the lines its writes are limited to. (A
        client stream's requests, which none of ours is, would arrive as an iterator, unchecked.)"""
        if hasattr(request, "ListFields"):
            check_request(request)
        return self._authorize(method, request, context) if self._authorize is not None else None

    def _done(self, method: str, code: grpc.StatusCode, started: float) -> None:
        if self._observe is not None:
            self._observe(method, code, time.perf_counter() - started)

    def _unary(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            scope = _CALLER_LINES.set(None)
            try:
                _CALLER_LINES.set(self._admit(method, request, context))
                response = behavior(request, context)
            except Exception as exc:
                self._fail(method, context, exc, started)
                raise  # abort_with_status raised already; keeps type checkers content
            finally:
                _CALLER_LINES.reset(scope)
            self._done(method, grpc.StatusCode.OK, started)
            return response

        return call

    def _streaming(self, method: str, behavior: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            try:
                yield from _scoped(self._admit(method, request, context), behavior(request, context))
            except GeneratorExit:  # the client went away (cancelled, deadline) mid-stream
                self._done(method, grpc.StatusCode.CANCELLED, started)
                raise
            except Exception as exc:
                self._fail(method, context, exc, started)
                raise
            self._done(method, grpc.StatusCode.OK, started)

        return call


def _scoped(lines: frozenset[str] | None, responses: Iterator[Any]) -> Iterator[Any]:
    """``responses``, each produced with :func:`caller_lines` giving ``lines`` (a stream's handler
    runs step by step, maybe not in one context, so the scope is set around every step). Closing
    it (the client went away) closes ``responses``."""
    try:
        while True:
            scope = _CALLER_LINES.set(lines)
            try:
                item = next(responses)
            except StopIteration:
                return
            finally:
                _CALLER_LINES.reset(scope)
            yield item
    finally:
        close = getattr(responses, "close", None)
        if close is not None:
            close()
