"""``linecode certs DIR``: a test CA, a server certificate, client certificates and a config using them.

For trying TLS, mutual TLS and roles on one machine; a line in production takes its certificates
from the site's PKI.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from linecode.reasons import Reason

DEFAULT_CLIENTS = ("plc-L1=line:L1", "printer-L1=printer:L1", "qa-desk=qa", "ops=admin")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "certs",
        help="make a test CA, server and client certificates and a linecode.toml using them",
        description="Writes ca.crt/ca.key, server.crt/server.key, CN.crt/CN.key per client and "
        "linecode.toml (mutual TLS, one role per client certificate, metrics on 127.0.0.1:9464). "
        "Then: linecode serve --config DIR/linecode.toml",
    )
    cmd.add_argument("dir", type=Path, metavar="DIR", help="folder to write into (created if missing)")
    cmd.add_argument(
        "--client",
        action="append",
        metavar="CN[=ROLE]",
        help="a client certificate with common name CN and its role in linecode.toml: line:<line-id>, "
        "printer:<line-id>, qa or admin (default qa); repeatable "
        f"(default: {' '.join(DEFAULT_CLIENTS)})",
    )
    cmd.add_argument(
        "--host",
        action="append",
        metavar="H",
        help="DNS name or IP address the server certificate is valid for; repeatable "
        "(default: localhost 127.0.0.1)",
    )
    cmd.add_argument("--days", type=int, default=825, help="validity of the certificates (default 825)")
    cmd.add_argument("--force", action="store_true", help="overwrite an existing CA in DIR")
    cmd.set_defaults(handler=run)


def parse_clients(specs: list[str]) -> dict[str, str]:
    """``CN[=ROLE]`` arguments as {common name: role}, each role checked."""
    from linecode.errors import InvalidArgument
    from linecode.service.auth import Role

    clients: dict[str, str] = {}
    for spec in specs:
        name, _, role = spec.partition("=")
        if not _NAME.fullmatch(name) or name in ("ca", "server"):
            raise InvalidArgument(
                f"--client {spec!r}: expected a common name of letters, digits, '.', '_' and '-' "
                "(not 'ca' or 'server', they name the CA and server files), optionally =ROLE",
                reason=Reason.BAD_CLIENT_NAME,
            )
        clients[name] = str(Role.parse(role or "qa"))
    return clients


def example_config(clients: dict[str, str], *, listen: str = "127.0.0.1:50051") -> str:
    """A ``linecode.toml`` for the certificates ``certs`` writes (paths relative to it)."""
    roles = ", ".join(f'"{name}" = "{role}"' for name, role in clients.items())
    return f"""\
# Written by `linecode certs`: mutual TLS with a test CA, one role per client certificate.
# Run: linecode serve --config linecode.toml
[server]
listen = "{listen}"
data = "data"

[log]
json = false

[tls]
cert = "server.crt"
key = "server.key"
client_ca = "ca.crt"        # client certificates required; drop this line for TLS with bearer tokens

[auth]
clients = {{ {roles} }}
# With TLS but no client_ca, callers send 'authorization: Bearer <token>' instead; list the tokens
# here as "sha256:<hex digest of the token>" = "<role>", e.g. printf %s TOKEN | sha256sum
# tokens = {{ "sha256:..." = "qa" }}

[metrics]
listen = "127.0.0.1:9464"
"""


def run(args: argparse.Namespace) -> int:
    from linecode.certs import issue, make_ca
    from linecode.errors import ConfigError

    clients = parse_clients(args.client or list(DEFAULT_CLIENTS))
    hosts = tuple(args.host or ("localhost", "127.0.0.1"))
    folder: Path = args.dir
    if (folder / "ca.key").exists() and not args.force:
        raise ConfigError(
            f"{folder / 'ca.key'} exists already; a new CA would orphan every certificate it signed",
            reason=Reason.CA_EXISTS,
            hint="pick another DIR, or pass --force to replace it",
        )
    ca = make_ca()
    ca.write(folder, "ca")
    issue(ca, hosts[0], server=True, hosts=hosts, days=args.days).write(folder, "server")
    for name in clients:
        issue(ca, name, days=args.days).write(folder, name)
    config = folder / "linecode.toml"
    config.write_text(example_config(clients))
    print(f"{folder}: ca.crt, ca.key (test CA); server.crt, server.key (for {', '.join(hosts)})")
    for name, role in clients.items():
        print(f"{folder}: {name}.crt, {name}.key -> role {role}")
    print(f"{config}: mutual TLS config using them")
    print(f"serve:   linecode serve --config {config}")
    first = next(iter(clients))
    print(
        f"try:     grpcurl -cacert {folder}/ca.crt -cert {folder}/{first}.crt -key {folder}/{first}.key "
        "localhost:50051 list"
    )
    return 0
