"""A site of a hub ships every event it commits to the hub, in order (SPEC §7, "no event only on
one disk").

A :class:`Shipper` thread, woken by every commit, sends the events after the last one the hub has
acknowledged (``HubService.Ship``), in shipments bounded by count and bytes, and gathers for
``GATHER_S`` after a wake so a busy line's commits travel together. The hub stores a shipment in one
transaction, exactly once, and answers how far it has the site's log; the site keeps that number in
its store (``Store.set_shipped``), so after any crash it ships on from there: events the hub had
already (its answer lost) are sent again and passed over by the hub, and none is ever skipped.
Before its first shipment the shipper asks the hub where it is (``GetPosition``), so a site whose
acknowledgement was lost in a crash does not resend what the hub has.

With the hub away the site works on; the backlog ships when the hub is back (tries back off to one
every few seconds). The lag — events the hub does not have yet, and the age of the oldest — is in
``/metrics`` (``linecode_ship_lag_events``, ``linecode_ship_lag_seconds``), in the health service
``linecode.shipping`` (NOT_SERVING while the hub refuses the site's log, or the oldest unshipped
event is older than ``LAG_ALARM_S``), and on the hub (``linecode hub status``).

Once the hub has acknowledged every event of a closed batch, the site marks it EXPORTED (a
BATCH_EXPORTED event to ``hub``, shipped like any other). Once an hour the shipper prunes what the
hub holds and the site no longer needs (``store/retention.py``). Several processes of one site share one
store: one of them ships at a time (a lock file in the data dir); the others stand by.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import grpc

from linecode.errors import LinecodeError
from linecode.service.background import CommitWoken
from linecode.service.config import ServeConfig
from linecode.store import BatchState, Event, Origin, Store
from linecode.v1 import hub_pb2, hub_pb2_grpc

log = logging.getLogger("linecode.ship")

GATHER_S = 0.05
"""After a commit wakes the shipper, how long it lets more commits gather before it sends."""
POLL_S = 1.0
"""Longest the shipper sleeps without a commit to wake it."""
MAX_BACKOFF_S = 5.0
"""Longest wait between tries while the hub does not answer or refuses."""
MAX_EVENTS = 20_000
"""Most events in one shipment."""
MAX_BYTES = 2 << 20
"""Most bytes of events in one shipment (gRPC's default message limit is 4 MiB)."""
PRUNE_EVERY_S = 3600.0
"""How often retention looks for what it may prune."""
LAG_ALARM_S = 300.0
"""Health says NOT_SERVING for shipping once the oldest unshipped event is older than this."""
EXPORTED_TO = "hub"
"""The destination a batch the hub holds whole is marked exported to."""
LOCK_FILE = "ship.lock"
_NOT_THERE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.CANCELLED,
    }
)
"""The hub's answers that say it is away or failed, not that it refuses the site's events."""
EXPORT_LOOK_MAX = 50_000
"""Closed batches are looked at for EXPORTED once the hub lacks at most this many events."""


@dataclass
class Shipper(CommitWoken):
    """Ships the events of ``store`` to the hub behind ``channel`` as site ``site_id``."""

    THREAD = "linecode-ship"

    store: Store
    channel: grpc.Channel
    site_id: str
    max_events: int = MAX_EVENTS
    max_bytes: int = MAX_BYTES
    gather_s: float = GATHER_S
    retention_days: int = 30
    """Shipped events and idempotency answers older than this are pruned (0: never; ``retention.py``)."""
    shipped: int = 0
    """Events this shipper has had stored on the hub."""
    code_events: int = 0
    """Code-events of those (an event naming n codes counts n, one naming none counts 1)."""
    error: str | None = None
    """Why the last try failed (None once one succeeds)."""
    refused: bool = False
    """Whether the hub refused the last shipment (not merely did not answer)."""
    on_change: Callable[[Shipper], None] | None = None
    """Told after every try (the server's health shows it)."""
    lag_observed: list[float] = field(default_factory=list)
    """Seconds from commit to the hub's acknowledgement of the oldest event of each shipment (the
    benchmark's figure; kept for the last 100,000 shipments)."""
    _pruned_at: float | None = None
    _position: int | None = None
    _seen: dict[int, float] = field(default_factory=dict)
    _lock: IO[bytes] | None = None

    def stop(self) -> None:
        super().stop()
        if self._lock is not None:
            self._lock.close()

    def _committed(self, _n: int) -> None:
        self._seen.setdefault(self.store.last_event_seq(), time.monotonic())
        self._wake.set()

    def lag(self) -> tuple[int, float]:
        """(events the hub does not have yet, seconds since the oldest of them happened)."""
        return lag(self.store)

    def _run(self) -> None:
        stub = hub_pb2_grpc.HubServiceStub(self.channel)
        backoff = 0.0
        while not self._stop.is_set():
            if backoff:
                if self._stop.wait(backoff):
                    return
            else:
                self._wake.wait(POLL_S)
                if self._stop.wait(self.gather_s):
                    return
            self._wake.clear()
            if not self._holds_lock():
                backoff = MAX_BACKOFF_S
                continue
            try:
                while self.ship_once(stub) and not self._stop.is_set():
                    pass
                self.error, self.refused = None, False
                self._prune()
                backoff = 0.0
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                self.refused = code not in _NOT_THERE
                self._failed(f"the hub did not take the events: {code.name} {exc.details()}")  # type: ignore[attr-defined]
                backoff = min(MAX_BACKOFF_S, max(0.1, backoff * 2))
            except LinecodeError as exc:
                self.refused = True
                self._failed(f"shipping stopped: {exc}")
                backoff = MAX_BACKOFF_S
            if self.on_change is not None:
                self.on_change(self)

    def _prune(self) -> None:
        """Retention, at most once every ``PRUNE_EVERY_S`` (the first time once the log is shipped)."""
        now = time.monotonic()
        if not self.retention_days or (self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY_S):
            return
        self._pruned_at = now
        done = self.store.prune(self.retention_days)
        if done.events or done.answers:
            log.info(
                "pruned %d shipped events of %d batches and %d idempotency answers older than %d days",
                done.events,
                len(done.batches),
                done.answers,
                self.retention_days,
            )

    def _failed(self, message: str) -> None:
        if self.error != message:
            log.warning("shipping failed: %s", message, extra={"site": self.site_id})
        self.error = message
        self._position = None  # ask the hub where it is before the next try

    def _holds_lock(self) -> bool:
        """Whether this process is the one of the site that ships (a lock file in the data dir)."""
        if self._lock is not None:
            return True
        handle = open(self.store.path / LOCK_FILE, "ab")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock = handle
        return True

    def ship_once(self, stub: Any) -> bool:
        """Send the next shipment, if there is one, and keep the hub's answer; whether one was sent."""
        if self._position is None:
            answer = stub.GetPosition(hub_pb2.PositionRequest(site_id=self.site_id), timeout=30)
            self._position = answer.acked_seq
            self._acknowledged(answer.acked_seq)
        after = self._position
        packed, names = self.store.packed_events(after, max_events=self.max_events, max_bytes=self.max_bytes)
        if not packed:
            return False
        head = self.store.last_event_seq()
        block = hub_pb2.EventBlock(first_seq=after + 1, events=packed, batches=names)
        answer = stub.Ship(hub_pb2.Shipment(site_id=self.site_id, block=block, head_seq=head), timeout=60)
        now = time.monotonic()
        oldest = min((t for seq, t in self._seen.items() if seq > after), default=None)
        if oldest is not None:
            self.lag_observed.append(now - oldest)
            del self.lag_observed[:-100_000]
        for seq in [s for s in self._seen if s <= answer.acked_seq]:
            del self._seen[seq]
        self.shipped += answer.stored
        self.code_events += answer.code_events
        self._position = answer.acked_seq
        self._acknowledged(answer.acked_seq)
        return answer.acked_seq > after

    def _acknowledged(self, acked: int) -> None:
        """Keep ``acked`` in the store, then mark EXPORTED each closed batch the hub holds whole."""
        if acked <= self.store.shipped():
            return
        self.store.set_shipped(acked)
        closed = [b.batch_id for b in self.store.batches() if b.state is BatchState.CLOSED]
        if not closed or self.store.last_event_seq() - acked > EXPORT_LOOK_MAX:
            return  # nothing to mark, or a backlog to ship first (looked at again once it is shipped)
        pending = {e.batch_id for e in self.store.events(since=acked)}  # events the hub lacks: few
        for batch_id in closed:
            if batch_id not in pending:
                self.store.mark_exported(batch_id, EXPORTED_TO, origin=Origin(actor=f"hub:{self.site_id}"))


def lag(store: Store) -> tuple[int, float]:
    """(events of ``store`` the hub has not acknowledged, seconds since the oldest happened)."""
    shipped, last = store.shipped(), store.last_event_seq()
    if last <= shipped:
        return 0, 0.0
    oldest = next(store.events(since=shipped), None)
    age = max(0.0, time.time() - oldest.time_us / 1e6) if oldest is not None else 0.0
    return last - shipped, age


@contextmanager
def site_log(config: ServeConfig) -> Iterator[tuple[int, Iterator[Event]]]:
    """The hub's position for ``config``'s site and every event it holds of it, oldest first, each
    checked as the hub's ingest checks a shipment (``linecode restore --from-hub``)."""
    from linecode.hub.ingest import Block, unpack
    from linecode.service.refill import hub_channel

    assert config.hub_site_id is not None
    with hub_channel(config) as channel:
        stub = hub_pb2_grpc.HubServiceStub(channel)
        position = stub.GetPosition(hub_pb2.PositionRequest(site_id=config.hub_site_id), timeout=30).acked_seq

        def events() -> Iterator[Event]:
            request = hub_pb2.SiteEventsRequest(site_id=config.hub_site_id)
            for block in stub.SiteEvents(request, timeout=3600):
                yield from unpack(Block(block.first_seq, block.events, block.batches))

        yield position, events()
