"""Prometheus metrics of a running server, on their own HTTP port.

* ``linecode_codes{level, state}``: codes per packaging level and life-cycle state, read from the
  store's counters at scrape time;
* ``linecode_rpc_seconds{method, code}``: a latency histogram per RPC and outcome (its ``_count``
  is the number of allocations, aggregations, ... per outcome);
* ``linecode_commit_group_size``: requests sharing one durable commit (group commit at work);
* ``linecode_allocations_total``, ``linecode_aggregations_total``: successful Allocate calls and
  packing calls (Aggregate, Reparent, Replace);
* ``linecode_auth_refusals_total{why}``: refused callers;
* ``linecode_store_bytes``: size of the LMDB data file; ``linecode_store_used_bytes``: the part of
  it in use;
* on a site of a hub, per pool: ``linecode_pool_remaining`` (unused indices held),
  ``linecode_pool_ranges`` (ranges held), ``linecode_pool_granted`` (indices granted so far);
  and its shipping lag: ``linecode_ship_lag_events`` (events the hub has not acknowledged) and
  ``linecode_ship_lag_seconds`` (the age of the oldest of them).

A server of several processes (``processes = N``) records in each worker through prometheus_client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set before the workers start) and its supervisor
serves :func:`summed_registry`: every worker's counters and histograms summed, the store's gauges
read once.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from linecode.errors import ConfigError
from linecode.reasons import Reason
from linecode.service.config import Address
from linecode.service.ship import lag as ship_lag
from linecode.store import Store, leases

_PACKING = frozenset({"Aggregate", "Reparent", "Replace"})
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class _StoreCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        codes = GaugeMetricFamily(
            "linecode_codes", "Codes per packaging level and state", labels=["level", "state"]
        )
        tally: Tally[tuple[str, str]] = Tally()
        for row in self.store.counts():
            tally[(row.level_name, row.state.label)] += row.count
        for (level, state), n in sorted(tally.items()):
            codes.add_metric([level, state], n)
        yield codes
        size = GaugeMetricFamily("linecode_store_bytes", "Size of the LMDB data file")
        data = self.store.path / "data.mdb"
        size.add_metric([], data.stat().st_size if data.exists() else 0)
        yield size
        used = GaugeMetricFamily("linecode_store_used_bytes", "Bytes of the LMDB data file in use")
        used.add_metric([], self.store.used_bytes())
        yield used
        held = leases.holdings(self.store.pools())
        if held:
            remaining = GaugeMetricFamily(
                "linecode_pool_remaining", "Unused indices a site holds of a hub pool", labels=["pool"]
            )
            ranges = GaugeMetricFamily(
                "linecode_pool_ranges", "Unused index ranges a site holds of a hub pool", labels=["pool"]
            )
            granted = GaugeMetricFamily(
                "linecode_pool_granted", "Indices the hub granted this site of a pool", labels=["pool"]
            )
            for h in held:
                remaining.add_metric([h.pool], h.remaining)
                ranges.add_metric([h.pool], len(h.ranges))
                granted.add_metric([h.pool], h.owned)
            yield from (remaining, ranges, granted)
            events, seconds = ship_lag(self.store)
            lag_events = GaugeMetricFamily(
                "linecode_ship_lag_events", "Events the hub has not acknowledged yet"
            )
            lag_events.add_metric([], events)
            lag_seconds = GaugeMetricFamily(
                "linecode_ship_lag_seconds", "Age of the oldest event the hub has not acknowledged (0: none)"
            )
            lag_seconds.add_metric([], seconds)
            yield from (lag_events, lag_seconds)


class Metrics:
    """The server's metrics; ``observe`` and ``refused`` are hooks for the call guard and auth."""

    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.rpc = Histogram(
            "linecode_rpc_seconds",
            "RPC latency by method and status code",
            ["method", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.groups = Histogram(
            "linecode_commit_group_size",
            "Write requests per durable commit",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )
        self.allocations = Counter(
            "linecode_allocations", "Successful Allocate calls", registry=self.registry
        )
        self.aggregations = Counter(
            "linecode_aggregations",
            "Successful packing calls (Aggregate, Reparent, Replace)",
            registry=self.registry,
        )
        self.refusals = Counter(
            "linecode_auth_refusals", "Callers refused, by why", ["why"], registry=self.registry
        )
        self.registry.register(_StoreCollector(store))
        self._http: list[Endpoint] = []
        store.on_commit(self.groups.observe)

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        name = method.rsplit("/", 1)[-1]
        self.rpc.labels(name, code.name).observe(seconds)
        if code is grpc.StatusCode.OK:
            if name == "Allocate":
                self.allocations.inc()
            elif name in _PACKING:
                self.aggregations.inc()

    def refused(self, why: str) -> None:
        self.refusals.labels(why).inc()

    def serve(self, address: str) -> int:
        """Start the /metrics HTTP endpoint on ``address``; the port it listens on (see :class:`Endpoint`)."""
        endpoint = Endpoint(self.registry, address)
        self._http.append(endpoint)
        return endpoint.port

    def close(self) -> None:
        """Stop the /metrics endpoint (if serving) and free its port."""
        for endpoint in self._http:
            endpoint.close()
        self._http.clear()


class Endpoint:
    """``registry`` served over HTTP at /metrics on ``address`` (HOST:PORT, port 0: a free one).
    Raises :class:`ConfigError` ``PORT_UNAVAILABLE`` if it cannot listen there."""

    def __init__(self, registry: CollectorRegistry, address: str) -> None:
        where = Address.parse(address, "metrics listen")
        try:
            self._server, self._thread = start_http_server(
                where.port, addr=where.bind_host, registry=registry
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot serve metrics on {address}: {exc.strerror or exc}",
                reason=Reason.PORT_UNAVAILABLE,
                hint="pick another [metrics] listen / --metrics HOST:PORT, or port 0 for any free port",
            ) from None
        self.port = int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def summed_registry(store: Store, directory: str) -> CollectorRegistry:
    """The metrics of a server of several processes: the workers' (multiprocess files in
    ``directory``) summed, and the store's gauges."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    registry.register(_StoreCollector(store))
    return registry
