"""``linecode hub serve`` settings from TOML: known sections and keys only, TLS paths relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from linecode.errors import ConfigError
from linecode.hub.config import HubConfig


def test_a_hub_config_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        '[hub]\ndsn = "host=/x dbname=h"\nprocesses = 2\nmin_lease = 10\n'
        '[tls]\ncert = "hub.crt"\nkey = "hub.key"\nclient_ca = "ca.crt"\n'
        '[auth]\nclients = { "site-S1" = "site:S1" }\n'
    )
    config = HubConfig.load(path)
    assert (config.dsn, config.processes, config.limits.min_size) == ("host=/x dbname=h", 2, 10)
    assert config.tls_cert == tmp_path / "hub.crt" and config.auth_clients == {"site-S1": "site:S1"}
    for text, says in (
        ('[hub]\ndsn = "x"\nworkers = 3\n', "unknown key 'workers' in [hub]"),
        ('[server]\nlisten = "x"\n', "unknown section [server]"),
        ('[hub]\ndsn = "x"\nprocesses = 65\n', "expected 1 to 64"),
        ('[hub]\nlisten = "127.0.0.1:0"\n', "no database"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            HubConfig.load(path)
        assert says in str(info.value)
