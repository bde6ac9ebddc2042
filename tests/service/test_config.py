"""Listen addresses: one parser for every place that takes HOST:PORT, and its refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from linecode.errors import ConfigError
from linecode.service.config import Address

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
