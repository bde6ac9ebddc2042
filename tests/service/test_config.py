"""Listen addresses: one parser for every place that takes HOST:PORT, and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from linecode.errors import ConfigError
from linecode.service.admission import Limits
from linecode.service.config import Address, ServeConfig

from .conftest import serve_refused


@pytest.mark.parametrize(
    ("text", "host", "bind_host", "port"),
    [
        ("127.0.0.1:50051", "127.0.0.1", "127.0.0.1", 50051),
        ("localhost:0", "localhost", "localhost", 0),
        ("[::1]:9100", "[::1]", "::1", 9100),
        ("0.0.0.0:65535", "0.0.0.0", "0.0.0.0", 65535),
    ],
)
def test_addresses_are_read_once_for_showing_and_binding(
    text: str, host: str, bind_host: str, port: int
) -> None:
    where = Address.parse(text)
    assert (where.host, where.bind_host, where.port) == (host, bind_host, port)


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",
        ":50051",
        "127.0.0.1:",
        "127.0.0.1:http",
        "127.0.0.1:65536",
        "127.0.0.1:²",
        "h:\uff15\uff10\uff10\uff15\uff11",  # full-width digits 50051
        "",
    ],
)
def test_a_malformed_address_is_refused_naming_the_setting(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        Address.parse(text, "metrics listen")
    assert info.value.reason == "BAD_CONFIG"
    assert str(info.value).startswith(f"metrics listen = {text!r}: expected HOST:PORT")


def test_serve_refuses_a_malformed_listen_address_and_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = serve_refused("--data", str(data), "--listen", "127.0.0.1")
    assert done.returncode == 2, done.stderr
    assert "listen = '127.0.0.1': expected HOST:PORT" in done.stderr
    assert not data.exists()


def test_admission_settings_are_read_and_checked(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(
        "[server]\nworkers = 16\nqueue = 8\ncaller_share = 0.25\nretry_after_ms = 100\n"
        "streams_per_connection = 4\n"
    )
    limits = ServeConfig.load(config).limits
    assert limits == Limits(work=16, queue=8, caller_share=0.25, retry_after_s=0.1, streams_per_connection=4)
    assert (limits.caller_cap, limits.hard) == (4, 20)
    assert not ServeConfig().override(admission=False).limits.enforce
    for setting, value, expected in (
        ("workers", 0, "expected 1 to"),
        ("queue", 0, "expected 1 to"),
        ("caller_share", 0, "expected more than 0 and at most 1"),
        ("caller_share", 1.5, "expected more than 0 and at most 1"),
        ("retry_after_ms", 0, "expected 1 to"),
        ("streams_per_connection", 0, "expected 1 to"),
        ("admission", "yes", "expected true or false"),
    ):
        with pytest.raises(ConfigError) as info:
            ServeConfig().override(**{setting: value})
        assert info.value.reason == "BAD_CONFIG" and expected in str(info.value), (setting, str(info.value))
