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
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import grpc

from linecode.errors import LinecodeError
from linecode.reasons import Reason
from linecode.service.background import CommitWoken
from linecode.service.config import ServeConfig
from linecode.service.errors import error_detail
from linecode.store import BatchState, Event, EventKind, Origin, Store, leases, records
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
EXPORTED_BY = "linecode-ship"
"""The actor of the BATCH_EXPORTED events the shipper writes."""
SEEN_EVERY_S = 0.005
"""Commits closer together than this share one entry of the lag's clock."""
MAX_SEEN = 100_000
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
EXPORT_LOOK_MAX = 2_000
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
    _seen: deque[tuple[int, float]] = field(default_factory=deque)
    """(last event, when) of commits, at most one each ``SEEN_EVERY_S`` (the lag's clock)."""
    _closed: set[str] | None = None
    """Closed batches not marked EXPORTED yet (None: to be read from the store)."""
    _lock: IO[bytes] | None = None

    def stop(self) -> None:
        super().stop()
        if self._lock is not None:
            self._lock.close()

    def _committed(self, _n: int) -> None:
        now = time.monotonic()
        if not self._seen or now - self._seen[-1][1] >= SEEN_EVERY_S:
            self._seen.append((self.store.last_event_seq(), now))
            if len(self._seen) > MAX_SEEN:  # a long outage: keep every other one (coarser, bounded)
                self._seen = deque(itertools.islice(self._seen, 0, None, 2))
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
        """Send the next shipment, if there is one, and keep the hub's answer; whether one was sent.

        It ships after the last event the site knows the hub acknowledged (``Store.shipped``); events
        the hub has already (an answer lost in a crash) are sent again and passed over by the hub,
        or refused if they are not the hub's (``SHIP_CONFLICT``: this log is not the one the hub
        has). Only a hub that has less than it acknowledged (``SHIP_GAP``: its database put back)
        moves the site back, to where the hub is."""
        if self._position is None:
            self._position = self.store.shipped()
        after = self._position
        packed, names, levels = self.store.packed_events(
            after, max_events=self.max_events, max_bytes=self.max_bytes
        )
        if not packed:
            return False
        head = self.store.last_event_seq()
        block = hub_pb2.EventBlock(first_seq=after + 1, events=packed, batches=names, levels=levels)
        size = sum(len(p) for p in packed)
        try:
            answer = stub.Ship(
                hub_pb2.Shipment(site_id=self.site_id, block=block, head_seq=head), timeout=60 + size / 1e6
            )
        except grpc.RpcError as exc:
            detail = error_detail(exc)
            if detail is None or detail.reason != Reason.SHIP_GAP:
                raise
            hub = stub.GetPosition(hub_pb2.PositionRequest(site_id=self.site_id), timeout=30).acked_seq
            log.warning(
                "the hub holds this site's events to %d only, fewer than it acknowledged (%d)", hub, after
            )
            self._position = min(hub, after)
            return hub < after
        now = time.monotonic()
        while self._seen and self._seen[0][0] <= after:
            self._seen.popleft()
        if self._seen:
            self.lag_observed.append(now - self._seen[0][1])
            del self.lag_observed[:-100_000]
        while self._seen and self._seen[0][0] <= answer.acked_seq:
            self._seen.popleft()
        self.shipped += answer.stored
        self.code_events += answer.code_events
        self._position = answer.acked_seq
        if self._closed is not None and any(
            records.event_kind(raw) is EventKind.BATCH_CLOSED for raw in packed
        ):
            self._closed = None
        self._acknowledged(answer.acked_seq)
        return answer.acked_seq > after

    def _acknowledged(self, acked: int) -> None:
        """Keep ``acked`` in the store, then mark EXPORTED each closed batch the hub holds whole
        (once the hub lacks at most ``EXPORT_LOOK_MAX`` events: which batches they are of is read
        from their records without unpacking them)."""
        self.store.set_shipped(acked)
        if self._closed is None:
            self._closed = {b.batch_id for b in self.store.batches() if b.state is BatchState.CLOSED}
        if not self._closed:
            return
        backlog, names, _ = self.store.packed_events(acked, max_events=EXPORT_LOOK_MAX + 1, max_bytes=1 << 62)
        if len(backlog) > EXPORT_LOOK_MAX:
            return  # a backlog to ship first: looked at again once it is shipped
        pending = {names.get(records.event_batch_ref(raw)) for raw in backlog}
        for batch_id in sorted(self._closed - pending):
            try:
                self.store.mark_exported(batch_id, EXPORTED_TO, origin=Origin(actor=EXPORTED_BY))
            except LinecodeError as exc:  # e.g. exported by hand meanwhile: not this shipper's to mark
                log.info("batch %s not marked exported: %s", batch_id, exc)
            self._closed.discard(batch_id)


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


def give_up_held_ranges(store: Store) -> int:
    """Give up every unused index ``store`` holds of the hub's pools (a LEASE_EXPORTED event each
    pool: never issued here, and shipped to the hub like any event); how many. A store rebuilt from
    the hub does this: the lost store may have issued from them after its last shipment."""
    given = 0
    for held in leases.holdings(store.pools()):
        if held.remaining:
            store.export_lease(held.pool, held.remaining, origin=Origin(actor="linecode-restore"))
            given += held.remaining
    return given
