"""Reading a TOML config file of the servers (``linecode serve``, ``linecode hub serve``): known
sections and keys only, each key to the setting it names, paths relative to the file."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from linecode.errors import ConfigError
from linecode.reasons import Reason


def read_settings(
    path: Path, sections: Mapping[str, Mapping[str, str]], paths: Iterable[str] = ()
) -> dict[str, Any]:
    """The settings of the TOML file ``path``: ``sections`` maps each known ``[section]``'s keys to
    the names of their settings; settings named in ``paths`` are taken relative to the file's
    directory. Raises :class:`ConfigError` ``NO_CONFIG`` or ``BAD_CONFIG`` (an unknown section or
    key is an error, never ignored)."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", reason=Reason.NO_CONFIG) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}", reason=Reason.BAD_CONFIG) from None
    values: dict[str, Any] = {}
    for section, body in raw.items():
        keys = sections.get(section)
        if keys is None or not isinstance(body, dict):
            raise ConfigError(
                f"config file {path}: unknown section [{section}]; expected one of "
                f"{', '.join(f'[{s}]' for s in sections)}",
                reason=Reason.BAD_CONFIG,
            )
        for key, value in body.items():
            if key not in keys:
                raise ConfigError(
                    f"config file {path}: unknown key {key!r} in [{section}]; expected one of "
                    f"{', '.join(keys)}",
                    reason=Reason.BAD_CONFIG,
                )
            values[keys[key]] = value
    for name in paths:  # relative to the config file, not to wherever the server was started
        if name in values:
            values[name] = Path(path).parent / values[name]
    return values
