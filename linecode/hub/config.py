"""``linecode hub serve`` settings: a TOML file, overridden by command-line options.

```toml
[hub]
dsn = "host=/var/run/postgresql dbname=linecode_hub"   # libpq connection string
listen = "0.0.0.0:50061"    # HOST:PORT; port 0 picks a free one
processes = 2               # hub processes sharing the port, all stateless over one database
connections = 8             # database connections per process
min_lease = 1000            # the range sizes the hub grants (announced by HubService.GetLimits)
default_lease = 100000
max_lease = 10000000

[tls]                       # as for `linecode serve`; with client_ca, sites are known by certificate
cert = "hub.crt"
key = "hub.key"
client_ca = "ca.crt"

[auth]                      # certificate common name -> role; sites are site:<id>
clients = { "site-S1" = "site:S1", "site-S2" = "site:S2", "ops" = "admin" }
```
Relative paths are relative to the config file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from linecode.config_file import read_settings
from linecode.errors import ConfigError
from linecode.hub.authority import Limits
from linecode.reasons import Reason

_SECTIONS = {
    "hub": {
        key: key
        for key in ("dsn", "listen", "processes", "connections", "min_lease", "default_lease", "max_lease")
    },
    "tls": {"cert": "tls_cert", "key": "tls_key", "client_ca": "tls_client_ca"},
    "auth": {"clients": "auth_clients"},
}


@dataclass(frozen=True)
class HubConfig:
    dsn: str = ""
    listen: str = "127.0.0.1:50061"
    processes: int = 1
    connections: int = 8
    min_lease: int = Limits.min_size
    default_lease: int = Limits.default_size
    max_lease: int = Limits.max_size
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    auth_clients: dict[str, str] = field(default_factory=dict)

    @property
    def limits(self) -> Limits:
        limits = Limits(self.min_lease, self.max_lease, self.default_lease)
        limits.check()
        return limits

    @classmethod
    def load(cls, path: Path | None) -> HubConfig:
        """Defaults, then ``path`` (TOML) if given; unknown sections and keys are errors."""
        config = cls()
        if path is None:
            return config
        return config.override(**read_settings(path, _SECTIONS, ("tls_cert", "tls_key", "tls_client_ca")))

    def override(self, **values: Any) -> HubConfig:
        """A copy with ``values`` (None ignored), checked."""
        config = replace(self, **{k: v for k, v in values.items() if v is not None})
        for name in ("processes", "connections", "min_lease", "default_lease", "max_lease"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"[hub] {name} = {value!r}: expected a whole number of 1 or more",
                    reason=Reason.BAD_CONFIG,
                )
        if not config.dsn:
            raise ConfigError(
                "no database: expected [hub] dsn or --dsn (a libpq connection string)",
                reason=Reason.BAD_CONFIG,
                hint='e.g. --dsn "host=/var/run/postgresql dbname=linecode_hub"',
            )
        if (config.tls_cert is None) != (config.tls_key is None):
            raise ConfigError("[tls] needs both cert and key", reason=Reason.BAD_CONFIG)
        if config.auth_clients and config.tls_client_ca is None:
            raise ConfigError(
                "[auth] clients without [tls] client_ca: sites could never be recognised",
                reason=Reason.BAD_CONFIG,
            )
        if config.processes > 64:
            raise ConfigError(
                f"[hub] processes = {config.processes}: expected 1 to 64", reason=Reason.BAD_CONFIG
            )
        config.limits  # noqa: B018 - checks the lease sizes
        return config
