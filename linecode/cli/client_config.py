"""``linecode client-config``: print the gRPC service config clients load to back off when busy."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "client-config",
        help="print the gRPC service config (retries with backoff) for clients of this server",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.client import SERVICE_CONFIG

    print(json.dumps(SERVICE_CONFIG, indent=2))
    return 0
