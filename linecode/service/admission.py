"""Bounded, fair admission: one misbehaving client never starves a line.

Each worker process admits calls in two steps, and refuses at once (RESOURCE_EXHAUSTED, reason
``OVERLOADED``, with a retry hint) what does not fit, so no call waits in a queue until its deadline:

1. **On arrival** (gRPC's polling thread, before the request is read): a call goes to the work pool
   unless :attr:`Limits.queue` calls already wait there for a thread. HTTP/2 bounds what one
   connection can send at all (:attr:`Limits.streams_per_connection`); streams beyond it wait in
   the client, costing the server nothing.
2. **On a thread** (the request read, the caller known): the call's *cost* — a small call is 1
   unit, large ones in proportion to their work (:func:`cost`) — is admitted if the process has
   room (:attr:`Limits.work` units) and the caller stays within its cap (:attr:`Limits.caller_share`
   of it). Beyond the room, up to a quarter more is kept for callers using less than an equal share
   (the work divided by the callers with calls in flight), so a line that makes one call now and
   then always gets in beside a client that floods.

A caller is its client certificate or bearer token when ``[auth]`` is configured, else its
connection (the peer address). Health and reflection never pass through here: they have threads of
their own (``linecode.service.guard``), and refusals are served by a few threads of their own too.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from linecode.errors import Overloaded, TooLate

SPARE_THREADS = 8
"""Work-pool threads beyond the most calls admission lets run at once: every call is read and
admitted (or refused) on one of them, so a full house of admitted calls never holds up refusals."""
CODES_PER_UNIT = 250
"""Codes a call writes, allocates or reads per unit of cost beyond its first (measured: an Allocate
of 5,000 codes takes about as long as twenty Verify calls)."""
IMAGES_PER_UNIT = 10
"""Images rendered per unit of cost beyond the first (an image costs about ten codes)."""
SECONDS_PER_UNIT = 0.002
"""The least time a unit of work takes, and the first guess for a method before its calls teach
better (:class:`Admission` learns each method's pace from the calls it runs). A call whose deadline
leaves less than its units take at its method's pace is not started (``DEADLINE_TOO_SHORT``): its
caller would be gone before the answer, and under a storm the calls that waited long in their
client would otherwise take the room, and the work, of calls that can still be answered."""
PACE_LEARNING = 0.1
"""Weight of each finished call in its method's pace (an exponential moving average)."""
PACED_STREAMS = frozenset({"/linecode.v1.LineService/Allocate"})
"""Streams that do their work before the first message: their duration is their work's, so they
teach the pace (an image stream's duration is its printer's)."""
HEAVY_METHODS = frozenset(
    {
        "/linecode.v1.AdminService/ExportBatch",
        "/linecode.v1.AdminService/CheckStore",
        "/linecode.v1.AdminService/CloseBatch",
        "/linecode.v1.AdminService/ReconcileBatch",
    }
)
HEAVY_UNITS = 8
"""What a call of :data:`HEAVY_METHODS` (reading a whole batch or store) costs: more than any line's
call, and still little enough to get in on a busy site, where a batch must be closed however many
lines run (a cost of a caller's whole cap would fit only while the process is half idle)."""


class Caller(NamedTuple):
    """Who makes a call, as admission counts it, and the lines its writes are limited to."""

    who: str
    """Client certificate or token (``[auth]``), else the connection's peer address."""
    lines: frozenset[str] | None
    """The packaging lines the caller may change codes of (None: any)."""


@dataclass(frozen=True)
class Limits:
    """What one worker process admits (``[server]`` settings)."""

    work: int = 64
    """Cost units running at once before only callers under an equal share get in."""
    queue: int = 64
    """Calls waiting for a work-pool thread; a call arriving beyond them is refused."""
    caller_share: float = 0.5
    """The part of :attr:`work` one caller may hold at most."""
    retry_after_s: float = 0.25
    """The back-off a refusal asks for."""
    streams_per_connection: int = 32
    """HTTP/2 streams one connection may have open at once."""
    enforce: bool = True
    """False: the pools are sized as above but every call is admitted as it comes (to measure)."""

    @property
    def hard(self) -> int:
        """Units running at most: :attr:`work` and a quarter more for callers under an equal share."""
        return self.work + max(1, self.work // 4)

    @property
    def caller_cap(self) -> int:
        return max(1, int(self.work * self.caller_share))

    @property
    def threads(self) -> int:
        """Work-pool threads: every admitted call holds one (each costs one unit or more)."""
        return self.hard + SPARE_THREADS

    @property
    def backstop(self) -> int:
        """Calls one process holds at most, whatever state they are in (gRPC refuses more before
        reading them, with a plain RESOURCE_EXHAUSTED): a call holds its thread while its request
        is read, so clients that send headers and never the body could otherwise take every
        thread, and then the queue, without holding a unit."""
        return 2 * (self.threads + self.queue)

    def retry_after(self) -> float:
        """The back-off a refusal asks for: :attr:`retry_after_s`, ±50 % at random, so callers
        refused together do not come back together (gRPC waits exactly what the server says)."""
        return self.retry_after_s * random.uniform(0.5, 1.5)


DEFAULT_LIMITS = Limits()


def _codes_in(message: Any) -> int:
    """Strings in repeated fields of ``message``, nested messages included: the codes it names."""
    total = 0
    for field, value in message.ListFields():
        if field.message_type is not None:
            for item in value if field.is_repeated else (value,):
                total += _codes_in(item)
        elif field.is_repeated:
            total += len(value)
    return total


def cost(method: str, request: Any, cap: int) -> int:
    """The units ``request`` to ``method`` costs: 1, plus its work (codes allocated or named,
    images rendered); a whole-batch or whole-store call :data:`HEAVY_UNITS` (at most ``cap``)."""
    if method in HEAVY_METHODS:
        return min(HEAVY_UNITS, cap)
    if method == "/linecode.v1.LineService/Allocate":
        return 1 + request.count // CODES_PER_UNIT
    if method == "/linecode.v1.PrintService/StreamImages":
        images = request.range.count if request.HasField("range") else len(request.codes.codes)
        return 1 + images // IMAGES_PER_UNIT
    return 1 + _codes_in(request) // CODES_PER_UNIT if hasattr(request, "ListFields") else 1


class Admission:
    """The work admitted in one process, by caller; thread-safe."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._total = 0
        self._held: dict[str, int] = {}
        self._pace: dict[str, float] = {}
        """Seconds a unit of each method's calls takes now."""

    def admit(self, caller: str, units: int, time_left_s: float | None = None, method: str = "") -> int:
        """Admit ``units`` of work of a ``method`` call for ``caller`` (more than its cap counts as
        its cap) with ``time_left_s`` until its deadline (None: none); the units to :meth:`release`
        when the call ends. Raises :class:`Overloaded` if they do not fit, :class:`TooLate` if the
        deadline leaves less time than they take at the method's pace."""
        limits = self.limits
        units = max(1, min(units, limits.caller_cap))
        if time_left_s is not None:
            needs = units * max(SECONDS_PER_UNIT, self._pace.get(method, SECONDS_PER_UNIT))
            if time_left_s < needs:
                raise TooLate(
                    f"the call's deadline leaves {max(0.0, time_left_s) * 1000:.1f} ms, less than its work "
                    f"takes now ({needs * 1000:.0f} ms); nothing was done",
                    hint="give the call a longer deadline",
                )
        with self._lock:
            held = self._held.get(caller, 0)
            total = self._total + units
            fits = total <= limits.work and held + units <= limits.caller_cap
            if not fits:
                callers = len(self._held) + (caller not in self._held)
                fair = max(1, min(limits.caller_cap, limits.work // callers))
                fits = total <= limits.hard and held + units <= fair
            if fits:
                self._total = total
                self._held[caller] = held + units
                return units
        raise self.refusal(
            f"server busy: this caller has {held} work unit(s) in flight and the call needs {units} "
            f"more (a caller may hold {limits.caller_cap} of {limits.work}; fewer when others wait)"
        )

    def release(self, caller: str, units: int, method: str = "", seconds: float | None = None) -> None:
        """Give back what :meth:`admit` admitted; a call's duration in ``seconds`` (its work's
        alone) teaches its method's pace."""
        with self._lock:
            if seconds is not None:
                pace = self._pace.get(method, SECONDS_PER_UNIT)
                self._pace[method] = pace + PACE_LEARNING * (seconds / units - pace)
            self._total -= units
            left = self._held[caller] - units
            if left:
                self._held[caller] = left
            else:
                del self._held[caller]

    def in_flight(self) -> tuple[int, int]:
        """Units admitted now, and the callers holding them."""
        with self._lock:
            return self._total, len(self._held)

    def refusal(self, message: str) -> Overloaded:
        ms = round(self.limits.retry_after_s * 1000)
        return Overloaded(
            message,
            retry_after_s=self.limits.retry_after(),
            hint=f"nothing was done; retry in about {ms} ms (linecode.client's service config "
            "does), and keep fewer calls in flight",
        )


class WorkPool(ThreadPoolExecutor):
    """The threads calls run on, counting the calls that wait for one (:attr:`waiting`)."""

    def __init__(self, threads: int) -> None:
        super().__init__(max_workers=threads, thread_name_prefix="linecode-rpc")
        self._count_lock = threading.Lock()
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._count_lock:
            self._waiting += 1
        try:
            return super().submit(self._start, fn, args, kwargs)
        except BaseException:
            self._started()
            raise

    def _started(self) -> None:
        with self._count_lock:
            self._waiting -= 1

    def _start(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._started()
        return fn(*args, **kwargs)
