"""A site of a hub keeps its pools filled: in the background, never at issue time (SPEC §7).

A :class:`Refiller` thread looks at the site's hub pools after every commit (and every second):
one holding fewer than ``low_water`` unused indices gets the next range from the hub
(``HubService.Grant``) and imports it (``Store.import_lease``). Both steps are keyed by what the
site has owned of the pool so far (``<pool>@<indices owned>``): a grant whose answer was lost, or
whose import a crash cut short, is asked again under the same key and gets the same range; the
import of a range imported already is a replay. So several processes of one site may refill at once,
and none of a site's crashes wastes a range. With the hub away the site issues from what it holds;
when that runs out ``Allocate`` says ``LEASE_EXHAUSTED`` (``store/leases.py``), and the refiller
keeps asking, backing off to one try every few seconds.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from linecode.errors import ConfigError, LinecodeError
from linecode.reasons import Reason
from linecode.service.background import CommitWoken
from linecode.service.config import ServeConfig
from linecode.store import IndexRange, Lease, Origin, Store, coderules, leases
from linecode.v1 import hub_pb2, hub_pb2_grpc

log = logging.getLogger("linecode.refill")

POLL_S = 1.0
"""Longest a look at the pools waits without a commit to wake it."""
LOOK_EVERY_S = 0.02
"""Least time between two looks: commits come by the thousand a second, and a look reads every
pool; a pool's low water is thousands of codes, so a look a little later loses nothing."""
MAX_BACKOFF_S = 5.0
MAX_GRANTS_PER_LOOK = 4
"""Grants one pool takes in one look at most (a low water far above the lease size drains no pool)."""
"""Longest wait between tries while the hub does not answer."""


def hub_channel(config: ServeConfig) -> grpc.Channel:
    """A channel to the hub of ``config`` (TLS with this site's certificate when configured)."""
    assert config.hub_address is not None
    # a hub back after an outage is found within a second, not after gRPC's default 2 minutes
    options = [
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
        ("grpc.max_receive_message_length", 512 << 20),  # a restore's blocks (the hub's MAX_MESSAGE)
        ("grpc.max_send_message_length", 512 << 20),
    ]
    if config.hub_ca is None:
        return grpc.insecure_channel(config.hub_address, options)
    try:
        key = config.hub_key.read_bytes() if config.hub_key else None
        cert = config.hub_cert.read_bytes() if config.hub_cert else None
        ca = config.hub_ca.read_bytes()
    except OSError as exc:
        raise ConfigError(f"[hub] cannot read a TLS file: {exc}", reason=Reason.BAD_TLS_FILE) from None
    credentials = grpc.ssl_channel_credentials(ca, key, cert)
    return grpc.secure_channel(config.hub_address, credentials, options)


@dataclass
class Refiller(CommitWoken):
    """Keeps the hub pools of ``store`` above ``low_water`` from the hub behind ``channel``."""

    THREAD = "linecode-refill"

    store: Store
    channel: grpc.Channel
    site_id: str
    low_water: int
    lease_size: int = 0
    grants: int = 0
    """Grants imported by this refiller."""
    errors: dict[str, str] = field(default_factory=dict)
    """Per pool, why its last refill failed (cleared when one succeeds); "": the hub as a whole."""
    last_contact: float | None = None
    on_holdings: Callable[[list[leases.PoolHolding]], None] | None = None
    """Told what the site holds after every look (the server's health shows it)."""

    def _run(self) -> None:
        stub = hub_pb2_grpc.HubServiceStub(self.channel)
        backoff = 0.0
        while not self._stop.is_set():
            if backoff:  # a refusal or an absent hub: commits do not hasten the next try
                if self._stop.wait(backoff):
                    return
            else:
                self._wake.wait(POLL_S)
                if self._stop.wait(LOOK_EVERY_S):
                    return
            self._wake.clear()
            if self._stop.is_set():
                return
            failed = self.refill(stub)
            backoff = min(MAX_BACKOFF_S, max(0.1, backoff * 2)) if failed else 0.0

    def _failed(self, pool: str, message: str) -> None:
        """Keep why ``pool`` (or "" for the hub as a whole) was not refilled; logged when it changes."""
        if self.errors.get(pool) != message:
            log.warning("refill failed", extra={"site": self.site_id, "pool": pool, "error": message})
        self.errors[pool] = message

    def refill(self, stub: Any) -> bool:
        """One look at every hub pool, each on its own (a pool the hub refuses holds up no other);
        True if any refill failed."""
        if not self.lease_size:  # the hub's suggestion, asked once
            try:
                self.lease_size = stub.GetLimits(hub_pb2.GetLimitsRequest(), timeout=10).default_size
                self.errors.pop("", None)
            except grpc.RpcError as exc:
                self._failed("", f"the hub did not answer: {exc.code().name} {exc.details()}")  # type: ignore[attr-defined]
                return True
        every = leases.holdings(self.store.pools())
        if self.on_holdings is not None:
            self.on_holdings(every)
        failed = taken = False
        for held in every:
            try:
                taken |= self._refill_pool(stub, held)
            except grpc.RpcError as exc:
                failed = True
                self._failed(held.pool, f"the hub did not grant it: {exc.code().name} {exc.details()}")  # type: ignore[attr-defined]
            except (LinecodeError, ValueError) as exc:
                failed = True
                self._failed(held.pool, f"a grant could not be taken: {exc}")
        if taken and self.on_holdings is not None:
            self.on_holdings(leases.holdings(self.store.pools()))
        return failed

    def _refill_pool(self, stub: Any, held: leases.PoolHolding) -> bool:
        """Grants of one pool until it holds its low water, or what an allocation asked for (at
        most a few per look); whether any was taken."""
        want = max(self.low_water, self.store.lease_demand.get(held.pool, 0))
        taken = 0
        while held.remaining < want and taken < MAX_GRANTS_PER_LOOK and not self._stop.is_set():
            # The key names this store, what it has owned of the pool and the size asked: a
            # lost answer asked again gets the same range; another store of the site (a second
            # server, a copy brought back) or another size asks for a new one.
            key = f"{held.pool}@{self.store.store_id()}@{held.owned}#{self.lease_size}"
            grant = stub.Grant(
                hub_pb2.GrantRequest(
                    pool=held.pool, count=self.lease_size, idempotency_key=key, site_id=self.site_id
                ),
                timeout=10,
            )
            self.last_contact = time.time()
            self.errors.pop(held.pool, None)
            self._check_rule(held.pool, grant)
            self.store.import_lease(
                Lease(held.pool, (IndexRange(grant.start, grant.end),)),
                origin=Origin(actor=f"hub:{self.site_id}", idempotency_key=f"hub:{key}"),
            )
            taken += 1
            self.grants += 1
            held.remaining += grant.end - grant.start
            held.owned += grant.end - grant.start
        if held.remaining >= want:
            self.store.lease_demand.pop(held.pool, None)
        return taken > 0

    def _check_rule(self, pool: str, grant: Any) -> None:
        """A range of a pool whose rule is not this site's would be codes nobody here makes."""
        here = coderules.pool_rule(coderules.rule_level(self.store.pools()[pool]))
        theirs = json.loads(grant.rule_json)
        if here != theirs or grant.pool != pool or grant.end <= grant.start:
            raise ValueError(
                f"the hub granted {grant.start}-{grant.end} of pool {grant.pool!r} with the rule {theirs}; "
                f"this site makes pool {pool!r} by {here}: not imported"
            )
