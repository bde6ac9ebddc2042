"""``linecode serve`` settings: a TOML file, overridden by command-line options.

```toml
[server]
listen = "127.0.0.1:50051"   # HOST:PORT; port 0 picks a free one
data = "/var/lib/linecode"   # data dir: LMDB environment and (by default) master.key
workers = 64                 # work one process runs at once, in cost units (a small call is 1,
                             # an Allocate of 5,000 codes 21); beyond it calls are refused at once
                             # (RESOURCE_EXHAUSTED, OVERLOADED) but for callers under an equal share
queue = 64                   # calls waiting for a thread, per process; more are refused at once
caller_share = 0.5           # the part of `workers` one caller (certificate, token, else connection)
                             # may hold
retry_after_ms = 250         # the back-off refused calls are told to wait (RetryInfo, gRPC pushback)
streams_per_connection = 32  # calls one connection may have open (HTTP/2); more wait in the client
admission = true             # false: admit every call as it comes (only to measure what it does)
processes = 0                # server processes sharing the port and the store; 0: one per
                             # core this process may run on
grace_s = 10                 # in-flight calls get this long to finish on SIGTERM/SIGINT

[store]
map_size_mb = 1024           # initial LMDB map size; it grows when full (one process; with
                             # several, the map is reserved at its maximum from the start)
max_map_size_mb = 1048576    # largest map size (1 TiB; caps map_size_mb): beyond it writes fail with
                             # RESOURCE_EXHAUSTED (STORE_FULL), reads go on; raise it and restart

[log]
json = false                 # one JSON object per log line
level = "INFO"

[tls]                        # TLS; with client_ca, mutual TLS (client certificates required)
cert = "server.crt"
key = "server.key"
client_ca = "ca.crt"

[auth]                       # who may call (needs [tls]); without [auth] every caller is admin
clients = { "plc-L1" = "line:L1", "printer-L1" = "printer:L1", "qa-desk" = "qa", "ops" = "admin" }
tokens = { "sha256:<hex of the token>" = "qa" }   # bearer tokens (TLS without client certs)

[metrics]
listen = "127.0.0.1:9464"    # Prometheus /metrics over HTTP; unset: no metrics endpoint

[hub]                        # a site of a hub (`linecode hub`): pools filled with its grants
address = "hub.example:50061"
site_id = "S1"
low_water = 20000            # ask for the next range when a pool holds fewer unused indices
lease_size = 0               # indices per grant; 0: the hub's suggested size (its GetLimits)
retention_days = 30          # events the hub holds, of batches no longer open, and idempotency
                             # answers are pruned here once this old; 0: keep everything
ca = "hub-ca.crt"            # TLS to the hub (with cert and key: this site's client certificate)
cert = "site.crt"
key = "site.key"
```
Relative paths are relative to the config file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

from linecode.config_file import read_settings
from linecode.errors import ConfigError
from linecode.reasons import Reason
from linecode.service.admission import DEFAULT_LIMITS, Limits

MAX_PROCESSES = 64
_SECTIONS = {
    "server": {
        "listen": "listen",
        "data": "data",
        "workers": "workers",
        "queue": "queue",
        "caller_share": "caller_share",
        "retry_after_ms": "retry_after_ms",
        "streams_per_connection": "streams_per_connection",
        "admission": "admission",
        "processes": "processes",
        "grace_s": "grace_s",
    },
    "store": {"map_size_mb": "map_size_mb", "max_map_size_mb": "max_map_size_mb"},
    "log": {"json": "log_json", "level": "log_level"},
    "tls": {"cert": "tls_cert", "key": "tls_key", "client_ca": "tls_client_ca"},
    "auth": {"clients": "auth_clients", "tokens": "auth_tokens"},
    "metrics": {"listen": "metrics_listen"},
    "hub": {
        "address": "hub_address",
        "site_id": "hub_site_id",
        "low_water": "hub_low_water",
        "lease_size": "hub_lease_size",
        "retention_days": "hub_retention_days",
        "ca": "hub_ca",
        "cert": "hub_cert",
        "key": "hub_key",
    },
}
_PATHS = ("data", "tls_cert", "tls_key", "tls_client_ca", "hub_ca", "hub_cert", "hub_key")
_FLOATS = ("grace_s", "caller_share")
_TYPES: dict[str, type | tuple[type, ...]] = {
    "workers": int,
    "queue": int,
    "caller_share": (int, float),
    "retry_after_ms": int,
    "streams_per_connection": int,
    "admission": bool,
    "processes": int,
    "grace_s": (int, float),
    "map_size_mb": int,
    "max_map_size_mb": int,
    "log_json": bool,
    "auth_clients": dict,
    "auth_tokens": dict,
    "hub_low_water": int,
    "hub_lease_size": int,
    "hub_retention_days": int,
}


class Address(NamedTuple):
    """A ``HOST:PORT`` address as configured (an IPv6 host in brackets, ``[::1]:50051``)."""

    host: str
    """As written, brackets included: for showing the address."""
    port: int

    @property
    def bind_host(self) -> str:
        """The host as sockets take it (no brackets)."""
        return self.host.strip("[]")

    @classmethod
    def parse(cls, address: str, what: str = "listen") -> Address:
        """Raises :class:`ConfigError` ``BAD_CONFIG``, naming the setting ``what``, unless
        ``address`` is HOST:PORT with a port of 0 to 65535."""
        host, sep, port = address.rpartition(":")
        if not sep or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
            raise ConfigError(
                f"{what} = {address!r}: expected HOST:PORT, e.g. 127.0.0.1:50051", reason=Reason.BAD_CONFIG
            )
        return cls(host, int(port))


def _as_tuple(t: type | tuple[type, ...]) -> tuple[type, ...]:
    return t if isinstance(t, tuple) else (t,)


def _describe(t: type | tuple[type, ...]) -> str:
    names = {
        "int": "a whole number",
        "float": "a number",
        "bool": "true or false",
        "str": "a string",
        "dict": "a table of strings",
        "Path": "a path",
    }
    return " or ".join(dict.fromkeys(names[c.__name__] for c in _as_tuple(t)))


@dataclass(frozen=True)
class ServeConfig:
    listen: str = "127.0.0.1:50051"
    data: Path | None = None
    workers: int = DEFAULT_LIMITS.work
    queue: int = DEFAULT_LIMITS.queue
    caller_share: float = DEFAULT_LIMITS.caller_share
    retry_after_ms: int = round(DEFAULT_LIMITS.retry_after_s * 1000)
    streams_per_connection: int = DEFAULT_LIMITS.streams_per_connection
    admission: bool = True
    processes: int = 0
    grace_s: float = 10.0
    map_size_mb: int = 1024
    max_map_size_mb: int = 1 << 20
    log_json: bool = False
    log_level: str = "INFO"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    auth_clients: dict[str, str] = field(default_factory=dict)
    auth_tokens: dict[str, str] = field(default_factory=dict)
    metrics_listen: str | None = None
    hub_address: str | None = None
    hub_site_id: str | None = None
    hub_low_water: int = 20_000
    hub_lease_size: int = 0
    hub_retention_days: int = 30
    hub_ca: Path | None = None
    hub_cert: Path | None = None
    hub_key: Path | None = None

    @property
    def process_count(self) -> int:
        """How many server processes to run (``processes``, 0 meaning one per core)."""
        return self.processes or min(len(os.sched_getaffinity(0)) or 1, MAX_PROCESSES)

    @property
    def limits(self) -> Limits:
        """What each worker process admits (``admission = false``: sized alike, admitting all)."""
        return Limits(
            work=self.workers,
            queue=self.queue,
            caller_share=self.caller_share,
            retry_after_s=self.retry_after_ms / 1000,
            streams_per_connection=self.streams_per_connection,
            enforce=self.admission,
        )

    @property
    def threads(self) -> int:
        """gRPC work threads per process (each may hold an LMDB reader)."""
        return self.limits.threads

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def auth(self) -> bool:
        return bool(self.auth_clients or self.auth_tokens)

    @classmethod
    def load(cls, path: Path | None) -> ServeConfig:
        """Defaults, then ``path`` (TOML) if given; unknown keys are errors, not silently ignored."""
        config = cls()
        if path is None:
            return config
        values = read_settings(path, _SECTIONS, _PATHS)
        return config.override(**values)

    def override(self, **values: Any) -> ServeConfig:
        """A copy with ``values`` (None values are ignored), checked and converted."""
        names = {f.name for f in fields(self)}
        clean: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue
            if name not in names:
                raise ConfigError(f"unknown setting {name!r}", reason=Reason.BAD_CONFIG)
            expected = _TYPES.get(name, str)
            if name in _PATHS:
                expected = (str, Path)
            ok = isinstance(value, expected) and not (
                isinstance(value, bool) and bool not in _as_tuple(expected)
            )
            if name in ("auth_clients", "auth_tokens") and ok:
                ok = all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
            if not ok:
                raise ConfigError(
                    f"setting {name} = {value!r}: expected {_describe(expected)}", reason=Reason.BAD_CONFIG
                )
            clean[name] = Path(value) if name in _PATHS else float(value) if name in _FLOATS else value
        config = replace(self, **clean)
        if config.log_level.upper() not in logging.getLevelNamesMapping():
            raise ConfigError(
                f"[log] level = {config.log_level!r}: expected DEBUG, INFO, WARNING or ERROR",
                reason=Reason.BAD_CONFIG,
            )
        for name, low, high in (
            ("workers", 1, 4096),
            ("queue", 1, 1_000_000),
            ("retry_after_ms", 1, 600_000),
            ("streams_per_connection", 1, 1_000_000),
        ):
            if not low <= getattr(config, name) <= high:
                raise ConfigError(
                    f"[server] {name} = {getattr(config, name)}: expected {low} to {high:,}",
                    reason=Reason.BAD_CONFIG,
                )
        if not 0 < config.caller_share <= 1:
            raise ConfigError(
                f"[server] caller_share = {config.caller_share}: expected more than 0 and at most 1",
                reason=Reason.BAD_CONFIG,
            )
        for name in ("map_size_mb", "max_map_size_mb"):
            if getattr(config, name) < 1:
                raise ConfigError(
                    f"[store] {name} = {getattr(config, name)}: expected at least 1", reason=Reason.BAD_CONFIG
                )
        if not 0 <= config.processes <= MAX_PROCESSES:
            raise ConfigError(
                f"processes = {config.processes}: expected 1 to {MAX_PROCESSES}, or 0 for one per core",
                reason=Reason.BAD_CONFIG,
            )
        if (config.hub_address is None) != (config.hub_site_id is None):
            raise ConfigError(
                "[hub] needs both address and site_id",
                reason=Reason.BAD_CONFIG,
                hint='e.g. address = "hub.example:50061", site_id = "S1"',
            )
        if (config.hub_ca or config.hub_cert) and config.hub_address is None:
            raise ConfigError("[hub] ca, cert and key need address and site_id", reason=Reason.BAD_CONFIG)
        if config.hub_site_id is not None and not (
            0 < len(config.hub_site_id) <= 100 and config.hub_site_id.isprintable()
        ):
            raise ConfigError(
                f"[hub] site_id = {config.hub_site_id!r}: expected 1 to 100 printable characters",
                reason=Reason.BAD_CONFIG,
            )
        if not 0 <= config.hub_retention_days <= 36_500:
            raise ConfigError(
                f"[hub] retention_days = {config.hub_retention_days}: expected 0 (keep everything) to 36500",
                reason=Reason.BAD_CONFIG,
            )
        if not 1 <= config.hub_low_water <= 10**8 or not 0 <= config.hub_lease_size <= 10**8:
            raise ConfigError(
                f"[hub] low_water = {config.hub_low_water}, lease_size = {config.hub_lease_size}: expected "
                "low_water 1 to 100,000,000 and lease_size 0 (the hub's suggestion) to 100,000,000",
                reason=Reason.BAD_CONFIG,
            )
        if (config.hub_cert is None) != (config.hub_key is None) or (config.hub_cert and not config.hub_ca):
            raise ConfigError("[hub] cert and key go together, and with ca", reason=Reason.BAD_CONFIG)
        for what, address in (
            ("listen", config.listen),
            ("metrics listen", config.metrics_listen),
            ("[hub] address", config.hub_address),
        ):
            if address is None:
                continue
            Address.parse(address, what)
        if (config.tls_cert is None) != (config.tls_key is None):
            raise ConfigError("[tls] needs both cert and key", reason=Reason.BAD_CONFIG)
        if config.tls_client_ca is not None and config.tls_cert is None:
            raise ConfigError("[tls] client_ca needs cert and key too", reason=Reason.BAD_CONFIG)
        if config.auth_clients and config.tls_client_ca is None:
            raise ConfigError(
                "[auth] clients without [tls] client_ca: no client certificate would ever be asked for, "
                "so these clients could never be recognised",
                reason=Reason.BAD_CONFIG,
                hint="set [tls] client_ca to the CA that signs the client certificates",
            )
        if config.auth and not config.tls:
            raise ConfigError(
                "[auth] without [tls]: identities and tokens would travel in plain text",
                reason=Reason.BAD_CONFIG,
                hint="configure [tls] cert and key (and client_ca for client certificates)",
            )
        return config
