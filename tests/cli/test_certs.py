"""``linecode certs``: the certificates and config it writes start a mutual-TLS server that knows them."""

from __future__ import annotations

import stat
from pathlib import Path

import grpc
import pytest

from linecode.cli import main
from linecode.service.config import ServeConfig
from linecode.service.errors import error_detail
from linecode.service.server import start
from linecode.store import Store
from linecode.v1 import admin_pb2, admin_pb2_grpc, line_pb2, line_pb2_grpc


def channel(folder: Path, name: str, port: int) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(folder / "ca.crt").read_bytes(),
        private_key=(folder / f"{name}.key").read_bytes(),
        certificate_chain=(folder / f"{name}.crt").read_bytes(),
    )
    return grpc.secure_channel(f"localhost:{port}", credentials)


def test_certs_and_config_serve_mutual_tls_with_roles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "pki"
    assert main(["certs", str(folder), "--client", "plc-L7=line:L7", "--client", "ops=admin"]) == 0
    assert "linecode serve --config" in capsys.readouterr().out
    for name in ("ca", "server", "plc-L7", "ops"):
        assert (folder / f"{name}.crt").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        assert stat.S_IMODE((folder / f"{name}.key").stat().st_mode) == 0o600
    config = ServeConfig.load(folder / "linecode.toml").override(
        listen="127.0.0.1:0", metrics_listen="127.0.0.1:0"
    )
    assert config.tls_client_ca == folder / "ca.crt" and config.data == folder / "data"
    assert config.auth_clients == {"plc-L7": "line:L7", "ops": "admin"}
    store = Store.open(config.data, sync=False)  # type: ignore[arg-type]
    running, _ = start(store, config)
    try:
        ops = admin_pb2_grpc.AdminServiceStub(channel(folder, "ops", running.port))
        assert ops.ListProducts(admin_pb2.ListProductsRequest(), timeout=10).products == []
        plc = line_pb2_grpc.LineServiceStub(channel(folder, "plc-L7", running.port))
        with pytest.raises(grpc.RpcError) as info:
            list(plc.Allocate(line_pb2.AllocateRequest(batch_id="nope", level="unit", count=1), timeout=10))
        assert info.value.code() == grpc.StatusCode.NOT_FOUND  # past the role check: a line may allocate
        plc_admin = admin_pb2_grpc.AdminServiceStub(channel(folder, "plc-L7", running.port))
        with pytest.raises(grpc.RpcError) as info:
            plc_admin.ListProducts(admin_pb2.ListProductsRequest(), timeout=10)
        detail = error_detail(info.value)
        assert detail is not None and detail.reason == "ROLE_FORBIDS"
    finally:
        running.stop(1)
        store.close()


def test_certs_keeps_an_existing_ca_and_checks_roles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", str(tmp_path)]) == 0  # default clients: one per role
    assert set(ServeConfig.load(tmp_path / "linecode.toml").auth_clients.values()) == {
        "line:L1",
        "printer:L1",
        "qa",
        "admin",
    }
    ca = (tmp_path / "ca.crt").read_bytes()
    assert main(["certs", str(tmp_path)]) == 2
    assert "CA_EXISTS" in capsys.readouterr().err and (tmp_path / "ca.crt").read_bytes() == ca
    assert main(["certs", str(tmp_path), "--force", "--client", "x=line"]) == 2
    assert "BAD_ROLE" in capsys.readouterr().err
    assert main(["certs", str(tmp_path), "--force", "--client", "../evil=qa"]) == 2
    assert "BAD_CLIENT_NAME" in capsys.readouterr().err
    assert main(["certs", str(tmp_path), "--force", "--client", "desk"]) == 0
    assert ServeConfig.load(tmp_path / "linecode.toml").auth_clients == {"desk": "qa"}
    assert (tmp_path / "ca.crt").read_bytes() != ca
