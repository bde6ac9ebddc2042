"""``linecode serve`` as its own process, as on a line: what the service benchmarks start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def serve(*args: str, cpus: str | None = None) -> Iterator[str]:
    """A ``linecode serve`` with ``args`` (a test master key), pinned to ``cpus`` (``taskset -c``)
    if given; its announcement line (the port is in it: ``announced_port``). Stopped gracefully at
    the end."""
    pinned = ["taskset", "-c", cpus] if cpus else []
    proc = subprocess.Popen(
        [*pinned, sys.executable, "-m", "linecode", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "LINECODE_MASTER_KEY": "22" * 32},
    )
    assert proc.stdout is not None
    try:
        yield proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
