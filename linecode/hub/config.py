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

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from linecode.errors import ConfigError
from linecode.hub.authority import Limits
from linecode.reasons import Reason

_KEYS = {
    "hub": ("dsn", "listen", "processes", "connections", "min_lease", "default_lease", "max_lease"),
    "tls": ("cert", "key", "client_ca"),
    "auth": ("clients",),
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
        try:
            raw = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist", reason=Reason.NO_CONFIG) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"config file {path} is not valid TOML: {exc}", reason=Reason.BAD_CONFIG
            ) from None
        values: dict[str, Any] = {}
        for section, body in raw.items():
            keys = _KEYS.get(section)
            if keys is None or not isinstance(body, dict):
                raise ConfigError(
                    f"config file {path}: unknown section [{section}]; expected [hub], [tls] or [auth]",
                    reason=Reason.BAD_CONFIG,
                )
            for key, value in body.items():
                if key not in keys:
                    raise ConfigError(
                        f"config file {path}: unknown key {key!r} in [{section}]; expected one of "
                        f"{', '.join(keys)}",
                        reason=Reason.BAD_CONFIG,
                    )
                name = key if section == "hub" else f"{section}_{key}"
                if section == "tls":
                    value = Path(path).parent / value
                values[name] = value
        return config.override(**values)

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
