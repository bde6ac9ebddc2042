"""One interceptor every call passes through: bounded input, admission, errors to statuses, and the
hooks for who may call.

Servicers raise linecode errors and never touch status codes; this is the only place that turns
an exception into a gRPC status. Every request's strings are checked against their bounds here
first (``linecode.service.bounds``); authentication and roles (``authorize``), admission of the
call's work (``linecode.service.admission``) and per-call metrics (``observe``) hook in here too,
so they hold for every RPC without a line in any servicer. It also picks the threads each call
runs on (:class:`Pools`): health and reflection never wait behind linecode's calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc

from linecode.errors import LinecodeError, Overloaded
from linecode.service.admission import PACED_STREAMS, Admission, Caller, WorkPool, cost
from linecode.service.bounds import check_request
from linecode.service.errors import internal_status, status_code_of, to_status

log = logging.getLogger("linecode.service")

_CALLER_LINES: ContextVar[frozenset[str] | None] = ContextVar("linecode_caller_lines", default=None)


def caller_lines() -> frozenset[str] | None:
    """The lines the running call's caller may change codes of (None: any): servicers pass them to
    every store write, which checks each code it changes against them inside its transaction."""
    return _CALLER_LINES.get()


Authorize = Callable[[str, Any, grpc.ServicerContext], Caller | None]
"""Raise Unauthenticated / PermissionDenied to refuse ``method`` with ``request`` to the caller;
else return who calls (None for open methods, health and reflection)."""
Observe = Callable[[str, grpc.StatusCode, float], None]
"""Told of every finished call: method, status code, seconds."""

OURS = "/linecode."
LONG_STREAMS = frozenset({"/linecode.v1.PrintService/PrintJob"})
"""Calls that last as long as a printer prints: authorised when they open, then on threads of their
own (``Pools.jobs``), outside admission (a job holds no work while it waits for its printer; each
message it takes is bounded and checked by the job)."""
MAX_JOBS = 512
"""Print jobs one process runs at once (2 printers on each of 100 lines: 200)."""
"""Methods of linecode's services; the others (health, reflection) pass outside admission."""


@dataclass
class Pools:
    """The threads calls run on: linecode's calls on ``work``; the refusals of calls arriving at a
    full queue on ``refusals``; health and reflection on ``health`` and ``reflection`` (a few
    threads each, never behind the work)."""

    work: WorkPool
    refusals: ThreadPoolExecutor
    health: ThreadPoolExecutor
    reflection: ThreadPoolExecutor
    jobs: ThreadPoolExecutor
    """Print jobs: a thread each for as long as a printer prints (waiting on it, mostly)."""

    @classmethod
    def start(cls, work_threads: int) -> Pools:
        def small(name: str, n: int = 2) -> ThreadPoolExecutor:
            return ThreadPoolExecutor(max_workers=n, thread_name_prefix=f"linecode-{name}")

        return cls(
            WorkPool(work_threads), small("refuse"), small("health"), small("reflect"), small("job", MAX_JOBS)
        )

    def all(self) -> tuple[ThreadPoolExecutor, ...]:
        return (self.work, self.refusals, self.health, self.reflection, self.jobs)


def _on_pool(behavior: Callable[..., Any], pool: ThreadPoolExecutor) -> Callable[..., Any]:
    """``behavior``, run on ``pool`` by gRPC (its ``experimental_thread_pool`` hook); a non-blocking
    stream (health's ``Watch``) stays one, holding no thread while it waits."""

    def call(request: Any, context: grpc.ServicerContext, *more: Any) -> Any:
        return behavior(request, context, *more)

    call.experimental_thread_pool = pool  # type: ignore[attr-defined]
    call.experimental_non_blocking = getattr(behavior, "experimental_non_blocking", False)  # type: ignore[attr-defined]
    return call


def _rebuild(handler: Any, wrap: Callable[[Callable[..., Any], bool], Callable[..., Any]]) -> Any:
    """``handler`` with its behavior wrapped by ``wrap(behavior, streaming_response)``."""
    for kind, make in (
        ("unary_unary", grpc.unary_unary_rpc_method_handler),
        ("unary_stream", grpc.unary_stream_rpc_method_handler),
        ("stream_unary", grpc.stream_unary_rpc_method_handler),
        ("stream_stream", grpc.stream_stream_rpc_method_handler),
    ):
        behavior = getattr(handler, kind)
        if behavior is not None:
            return make(
                wrap(behavior, handler.response_streaming),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    raise AssertionError(f"handler without behavior: {handler!r}")


class CallGuard(grpc.ServerInterceptor):
    """Wraps every handler: bound, authorize, admit, run, map errors, observe."""

    def __init__(
        self,
        authorize: Authorize | None = None,
        observe: Observe | None = None,
        *,
        pools: Pools | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._authorize = authorize
        self._observe = observe
        self._pools = pools
        self._admission = admission
        self._handlers: dict[str, tuple[Any, Any]] = {}
        """Per method: the handler admitted calls get, and the one refused calls get."""

    def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        # Runs on gRPC's polling thread as each call arrives, before its request is read.
        method: str = handler_call_details.method
        handlers = self._handlers.get(method)
        if handlers is None:
            handler = continuation(handler_call_details)
            if handler is None:
                return None
            handlers = self._handlers[method] = self._wrap(method, handler)
        admitted, refused = handlers
        # Refused handlers exist only with admission (and its pools).
        if refused is not None and self._pools.work.waiting >= self._admission.limits.queue:  # type: ignore[union-attr]
            return refused
        return admitted

    def _wrap(self, method: str, handler: Any) -> tuple[Any, Any]:
        pools = self._pools
        if not method.startswith(OURS):
            if pools is None:
                return handler, None
            pool = pools.health if "Health" in method else pools.reflection
            return _rebuild(handler, lambda behavior, _: _on_pool(behavior, pool)), None

        if method in LONG_STREAMS:
            long = lambda behavior, _: self._long(method, behavior)  # noqa: E731
            if pools is not None:
                return _rebuild(handler, lambda behavior, s: _on_pool(long(behavior, s), pools.jobs)), None
            return _rebuild(handler, long), None

        def guarded(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            run = self._streaming(method, behavior) if streaming else self._unary(method, behavior)
            return _on_pool(run, pools.work) if pools is not None else run

        def refusing(behavior: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
            assert pools is not None and self._admission is not None
            refuse = self._refuse_stream(method) if streaming else self._refuse(method)
            return _on_pool(refuse, pools.refusals)

        admitted = _rebuild(handler, guarded)
        refused = _rebuild(handler, refusing) if self._admission is not None else None
        return admitted, refused

    def _fail(self, method: str, context: grpc.ServicerContext, exc: BaseException, started: float) -> None:
        if isinstance(exc, LinecodeError):
            self._done(method, status_code_of(exc), started)
            # A storm's refusals are counted (observe), not each written to the log.
            level = logging.DEBUG if isinstance(exc, Overloaded) else logging.INFO
            log.log(level, "call refused", extra={"method": method, "reason": exc.reason, "error": str(exc)})
            context.abort_with_status(to_status(exc))
        log.exception("call failed", extra={"method": method})
        self._done(method, grpc.StatusCode.INTERNAL, started)
        context.abort_with_status(internal_status(f"internal error in {method}: {type(exc).__name__}: {exc}"))

    def _refuse(self, method: str) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            assert self._admission is not None
            error = self._admission.refusal(
                f"server busy: {self._admission.limits.queue} calls wait for this worker already"
            )
            self._fail(method, context, error, time.perf_counter())

        return call

    def _refuse_stream(self, method: str) -> Callable[..., Iterator[Any]]:
        refuse = self._refuse(method)

        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            refuse(request, context)
            yield from ()

        return call

    def _admit(self, method: str, request: Any, context: grpc.ServicerContext) -> tuple[Caller, int]:
        """Check the request's bounds, then the caller, then admit its work: who calls, and the
        units to release when the call ends. (A client stream's requests, which none of ours is,
        would arrive as an iterator, unchecked.)"""
        if hasattr(request, "ListFields"):
            check_request(request)
        caller = self._authorize(method, request, context) if self._authorize is not None else None
        if caller is None:
            caller = Caller(context.peer(), None)
        if self._admission is None:
            return caller, 0
        limits = self._admission.limits
        units = cost(method, request, limits.caller_cap)
        return caller, self._admission.admit(caller.who, units, context.time_remaining(), method)

    def _release(self, admitted: tuple[Caller, int], method: str, seconds: float | None) -> None:
        caller, units = admitted
        if units and self._admission is not None:
            self._admission.release(caller.who, units, method, seconds)

    def _done(self, method: str, code: grpc.StatusCode, started: float) -> None:
        if self._observe is not None:
            self._observe(method, code, time.perf_counter() - started)

    def _unary(self, method: str, behavior: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            scope = _CALLER_LINES.set(None)
            admitted: tuple[Caller, int] | None = None
            try:
                admitted = self._admit(method, request, context)
                _CALLER_LINES.set(admitted[0].lines)
                response = behavior(request, context)
            except Exception as exc:
                self._fail(method, context, exc, started)
                raise  # abort_with_status raised already; keeps type checkers content
            finally:
                _CALLER_LINES.reset(scope)
                if admitted is not None:
                    self._release(admitted, method, time.perf_counter() - started)
            self._done(method, grpc.StatusCode.OK, started)
            return response

        return call

    def _long(self, method: str, behavior: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        """A :data:`LONG_STREAMS` call: the caller authorised as it opens, its lines in scope."""

        def call(requests: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            try:
                caller = self._authorize(method, requests, context) if self._authorize is not None else None
                yield from _scoped(caller.lines if caller is not None else None, behavior(requests, context))
            except GeneratorExit:
                self._done(method, grpc.StatusCode.CANCELLED, started)
                raise
            except Exception as exc:
                self._fail(method, context, exc, started)
                raise
            self._done(method, grpc.StatusCode.OK, started)

        return call

    def _streaming(self, method: str, behavior: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = time.perf_counter()
            admitted: tuple[Caller, int] | None = None
            try:
                admitted = self._admit(method, request, context)
                yield from _scoped(admitted[0].lines, behavior(request, context))
            except GeneratorExit:  # the client went away (cancelled, deadline) mid-stream
                self._done(method, grpc.StatusCode.CANCELLED, started)
                raise
            except Exception as exc:
                self._fail(method, context, exc, started)
                raise
            finally:
                if admitted is not None:
                    paced = method in PACED_STREAMS
                    self._release(admitted, method, time.perf_counter() - started if paced else None)
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
