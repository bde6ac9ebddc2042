"""What a gRPC client of linecode loads to back off when the server is busy.

``service_config.json`` (beside this file; ``linecode client-config`` prints it) is a standard gRPC
service config: calls refused with RESOURCE_EXHAUSTED (the server's ``OVERLOADED``, which changed
nothing) are retried, up to 5 attempts with exponential backoff (0.1 s doubling to 5 s, jittered),
after the delay the server asks for when it gives one (``grpc-retry-pushback-ms``, sent beside
``google.rpc.RetryInfo``). The idempotent methods — reads, health, and the writes that take an
idempotency key (every ``LineService`` call, ``SetLock``, ``SetStatus``) — are retried after
UNAVAILABLE (connection lost) too: send the key, and a retry of a write the server did make is
answered from the first. Retry throttling stops retrying while more than about one call in ten
fails, so clients never multiply a storm. gRPC clients in any language load the same file.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SERVICE_CONFIG: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("service_config.json").read_text(encoding="utf-8")
)
"""The service config, as a dict."""


def channel_options() -> list[tuple[str, Any]]:
    """gRPC channel options that load :data:`SERVICE_CONFIG` (retries on)."""
    return [("grpc.service_config", json.dumps(SERVICE_CONFIG)), ("grpc.enable_retries", 1)]
