"""PrintService.PrintJob: a printer that says what it printed (SPEC §5).

A job is opened by its printer (``JobStart``) and keyed by its job id: its codes are an allocation
of the batch's level made under the key ``job:<id>``, so they go to no other printer or job, and a
printer that reconnects with the same id gets the same codes. The server sends the job's codes in
print order (the symbol's data, and its image if asked) ahead of the printer, never more than the
queue depth it states unacknowledged; the printer acknowledges the positions it really printed —
they become ENCODED through the store's group commit (``report_events("printed")``, the printer
the actor) — and reports those it dropped. When it ends the job (``JobDone``, or closing its side),
the answer says how many of the job's codes are printed and which are not: dropped, sent but never
acknowledged, or never sent; none of those is ever sent again, to it or any other printer.

Resuming (``resume``, ``next_position``): the printer says where it is and which positions it printed
while it was away; the server sends from there — no code twice, none skipped. An acknowledgement of
a position the server never sent on this connection (nor the printer's own resume point covers) is
refused (``NOT_SENT``); a job of a batch of a line the caller's role does not name is refused as
every write of another line is.

The reading of the printer's messages runs on a thread of its own, so acknowledgements are taken
while codes are being sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from linecode.errors import AlreadyExists, InvalidArgument, LinecodeError, Overloaded, Precondition
from linecode.reasons import Reason
from linecode.service import convert
from linecode.service.bounds import check_request
from linecode.service.guard import caller_lines
from linecode.store import Origin, State, Store
from linecode.v1 import print_pb2

log = logging.getLogger("linecode.print")
DEFAULT_DEPTH = 16
MAX_DEPTH = 1024
MAX_JOB = 100_000
"""Most codes one job may hold."""
BLOCK = 16
MAX_ACTIVE = 480
"""Jobs one process prints at once (below its job pool's 512 threads: a job past it is refused, not
queued behind the others)."""
"""Codes rendered at a time ahead of the printer."""


@dataclass
class _Job:
    """One connection's view of a job: what was sent, printed and dropped, and the printer's end."""

    codes: list[str]
    symbols: list[str]
    sent: int
    """Positions below this were sent (on this connection, or before a resume)."""
    resumed_from: int
    printed: set[int] = field(default_factory=set)
    dropped: set[int] = field(default_factory=set)
    recorded: list[int] = field(default_factory=list)
    """Positions recorded printed, not yet told to the printer."""
    done: bool = False
    said_done: bool = False
    """The printer ended the job (JobDone)."""
    gone: bool = False
    """The printer went away (its stream broke): the job stays open for a resume."""
    superseded: bool = False
    """A resume of the job on another connection took over: this one ends, with no summary."""
    error: BaseException | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    settled: int = 0
    """Positions from ``resumed_from`` on printed or dropped (each counted once)."""

    def in_flight(self) -> int:
        return self.sent - self.resumed_from - self.settled

    def settle(self, positions: Iterator[int] | list[int], into: set[int]) -> None:
        """Add ``positions`` to ``into`` (printed or dropped), counting the newly settled ones."""
        for p in positions:
            if p not in self.printed and p not in self.dropped and p >= self.resumed_from:
                self.settled += 1
            into.add(p)


class PrintJobs:
    """Runs print jobs against ``store`` (see the module's docstring)."""

    def __init__(self, store: Store, layout_of: Any) -> None:
        self.store = store
        self.layout_of = layout_of
        self._active: dict[str, _Job] = {}
        """Jobs being printed in this process, by id: one connection each."""
        self._lock = threading.Lock()
        self._ended: set[str] = set()
        """Jobs of this process whose printer ended them (no resume after that)."""
        self._sent_upto: dict[str, int] = {}
        """How far each job of this process was sent (a resume may not claim further)."""
        """``printing.Layout``: the image options of a job, checked."""

    def run(
        self, requests: Iterator[print_pb2.PrinterMessage], context: Any
    ) -> Iterator[print_pb2.JobMessage]:
        first = next(requests, None)
        if first is None or first.WhichOneof("message") != "start":
            raise InvalidArgument(
                "a print job opens with its JobStart; expected start first", reason=Reason.NO_SOURCE
            )
        check_request(first)
        start = first.start
        layout = self.layout_of(start.options) if start.images else None
        depth = start.queue_depth or DEFAULT_DEPTH
        if not 0 < start.count <= MAX_JOB or depth > MAX_DEPTH or not start.job_id:
            raise InvalidArgument(
                f"job {start.job_id!r} of {start.count} codes, queue depth {depth}: expected a job id, 1 to "
                f"{MAX_JOB:,} codes and a depth of at most {MAX_DEPTH}",
                reason=Reason.BAD_COUNT,
            )
        actor, lines = start.printer or "printer", caller_lines()
        origin = Origin(actor=actor, idempotency_key=f"job:{start.job_id}", lines=lines)
        allocation = self.store.allocate(
            start.batch_id, convert.level_arg(start.level), start.count, origin=origin
        )
        if allocation.replayed != start.resume:
            raise AlreadyExists(
                f"job {start.job_id!r} "
                + (
                    "was opened before: resume it (resume, next_position) or use a new job id"
                    if allocation.replayed
                    else "was never opened: a resume needs a job that ran; open it first"
                ),
                reason=Reason.JOB_IN_PROGRESS,
            )
        codes = list(allocation.codes)
        symbols, gs1 = self._symbols(codes)
        begin = start.next_position if start.resume else 0
        if start.job_id in self._ended:
            raise AlreadyExists(
                f"job {start.job_id!r} ended (its printer said done): its codes not printed stay unprinted; "
                "expected a new job id",
                reason=Reason.JOB_IN_PROGRESS,
            )
        known = self._sent_upto.get(start.job_id)
        if start.resume and known is not None and begin > known:
            raise InvalidArgument(
                f"resume at position {begin}: this job was sent positions below {known} only",
                reason=Reason.NOT_SENT,
            )
        if begin > len(codes):
            raise InvalidArgument(
                f"resume at position {begin}: the job holds {len(codes)} codes", reason=Reason.NOT_SENT
            )
        job = _Job(codes, symbols, sent=begin, resumed_from=begin)
        self._take(start, job)
        try:
            yield from self._print(start, job, requests, context, actor, lines, depth, layout, gs1)
        finally:
            with self._lock:
                self._sent_upto[start.job_id] = max(job.sent, self._sent_upto.get(start.job_id, 0))
                if self._active.get(start.job_id) is job:
                    del self._active[start.job_id]

    def _take(self, start: print_pb2.JobStart, job: _Job) -> None:
        """Make ``job`` the one connection printing its job id: a resume takes over from an earlier
        connection (a printer back before the server noticed it gone); a new start of an open job is
        refused — its codes would go to two printers."""
        with self._lock:
            if len(self._active) >= MAX_ACTIVE:
                raise Overloaded(
                    f"{len(self._active)} print jobs run in this process already; expected fewer",
                    retry_after_s=1.0,
                    hint="retry shortly, or spread the printers over more processes",
                )
            old = self._active.get(start.job_id)
            if old is not None and not start.resume:
                raise AlreadyExists(
                    f"job {start.job_id!r} is being printed on another connection; expected a new job id, "
                    "or resume to take the job over",
                    reason=Reason.JOB_IN_PROGRESS,
                )
            if old is not None:
                with old.changed:
                    old.superseded = True
                    old.changed.notify_all()
            self._active[start.job_id] = job

    def _print(
        self,
        start: print_pb2.JobStart,
        job: _Job,
        requests: Iterator[print_pb2.PrinterMessage],
        context: Any,
        actor: str,
        lines: frozenset[str] | None,
        depth: int,
        layout: Any,
        gs1: bool,
    ) -> Iterator[print_pb2.JobMessage]:
        codes = job.codes
        begin = job.resumed_from
        writer = Origin(actor=actor, lines=lines)
        self._printed(job, [p for p in start.printed if p < begin], writer)
        reader = threading.Thread(
            target=self._read, args=(requests, job, writer), name="linecode-print-job", daemon=True
        )
        reader.start()
        yield print_pb2.JobMessage(
            started=print_pb2.JobStarted(job_id=start.job_id, count=len(codes), next_position=begin, gs1=gs1)
        )
        while True:
            with job.changed:
                job.changed.wait_for(
                    lambda: (
                        job.done
                        or job.superseded
                        or job.error is not None
                        or bool(job.recorded)
                        or (job.sent < len(codes) and job.in_flight() < depth)
                    ),
                    timeout=1.0,
                )
                if job.error is not None:
                    raise job.error
                if job.superseded:
                    return
                told, job.recorded = job.recorded, []
                if job.done and not told:
                    break
                room = min(depth - job.in_flight(), len(codes) - job.sent, BLOCK)
                first_at = job.sent
                if room > 0:  # counted sent before they leave: a fast printer's ack may beat the loop
                    job.sent = first_at + room
            if not context.is_active():
                return
            if told:
                yield print_pb2.JobMessage(recorded=print_pb2.PrintedCodes(positions=told))
            if room > 0:
                yield from self._codes(job, first_at, room, layout, gs1)
        reader.join(5)
        if job.gone or not context.is_active():  # the printer went away (cancelled): the job stays open
            return
        if job.said_done:  # only the printer's JobDone ends a job for good (a stream may just break)
            with self._lock:
                self._ended.add(start.job_id)
        yield print_pb2.JobMessage(summary=self._summary(start.job_id, job))

    def _codes(self, job: _Job, first: int, n: int, layout: Any, gs1: bool) -> Iterator[print_pb2.JobMessage]:
        codes, symbols = job.codes[first : first + n], job.symbols[first : first + n]
        images = layout.images(codes, symbols, gs1, first) if layout is not None else [None] * n
        for k, (code, symbol, image) in enumerate(zip(codes, symbols, images, strict=True)):
            item = print_pb2.JobCode(position=first + k, code=code, data=symbol)
            if image is not None:
                item.image.CopyFrom(image)
            yield print_pb2.JobMessage(code=item)

    def _symbols(self, codes: list[str]) -> tuple[list[str], bool]:
        pairs = [self.store.symbol(c) for c in codes]
        return [s for s, _ in pairs], bool(pairs and pairs[0][1])

    def _read(self, requests: Iterator[print_pb2.PrinterMessage], job: _Job, writer: Origin) -> None:
        """The printer's messages, until it ends the job or goes away. A message the job refuses,
        or a failure to record one (the store's), ends the job with that error; the printer going
        away (its stream ending or breaking) ends it quietly."""
        while True:
            try:
                message = next(requests)
            except StopIteration:
                break
            except Exception:  # the printer went away: it may resume the job; what it printed is recorded
                with job.changed:
                    job.gone = True
                break
            try:
                if not self._take_message(message, job, writer):
                    break
            except Exception as exc:
                if not isinstance(exc, LinecodeError):
                    log.exception("print job failed to record a printer's message")
                with job.changed:
                    job.error = exc
                break
        with job.changed:
            job.done = True
            job.changed.notify_all()

    def _take_message(self, message: print_pb2.PrinterMessage, job: _Job, writer: Origin) -> bool:
        """One message of the printer; False when it ends the job."""
        check_request(message)
        which = message.WhichOneof("message")
        if which == "printed":
            self._printed(job, list(message.printed.positions), writer)
        elif which == "dropped":
            self._check_sent(job, list(message.dropped.positions))
            with job.changed:
                job.settle(list(message.dropped.positions), job.dropped)
                job.changed.notify_all()
        elif which == "done":
            with job.changed:
                job.said_done = True
            return False
        else:
            raise InvalidArgument(
                f"a print job takes one JobStart, first; got {which} later", reason=Reason.NO_SOURCE
            )
        return True

    def _check_sent(self, job: _Job, positions: list[int]) -> None:
        """Refuse positions the printer was never sent (on this connection, or before its resume point)."""
        with job.changed:
            bad = [p for p in positions if p >= job.sent]
        if bad:
            raise InvalidArgument(
                f"positions {bad[:5]} acknowledged, but the job sent positions below {job.sent} only; "
                "expected positions of codes this printer was sent",
                reason=Reason.NOT_SENT,
            )

    def _printed(self, job: _Job, positions: list[int], writer: Origin) -> None:
        """Positions the printer printed: each becomes ENCODED once (a repeat, or one acknowledged on
        an earlier connection of the job, changes nothing)."""
        if not positions:
            return
        self._check_sent(job, positions)
        with job.changed:
            new = sorted({p for p in positions if p not in job.printed})
        keys = [job.codes[p] for p in new]
        if keys:
            try:
                self.store.report_events("printed", keys, origin=writer)
            except Precondition as exc:  # some printed and recorded before (a resumed job): the rest
                if exc.reason != Reason.ILLEGAL_TRANSITION:
                    raise
                keys = [k for k in keys if self.store.record(k).state is State.ALLOCATED]
                if keys:
                    self.store.report_events("printed", keys, origin=writer)
        with job.changed:
            job.settle(new, job.printed)
            job.recorded += new
            job.changed.notify_all()

    def _summary(self, job_id: str, job: _Job) -> print_pb2.JobSummary:
        states = [self.store.record(c).state for c in job.codes]
        printed = [c for c, s in zip(job.codes, states, strict=True) if s is not State.ALLOCATED]
        return print_pb2.JobSummary(
            job_id=job_id,
            printed=len(printed),
            not_printed=[c for c, s in zip(job.codes, states, strict=True) if s is State.ALLOCATED],
            dropped=[job.codes[p] for p in sorted(job.dropped) if p < len(job.codes)],
        )
