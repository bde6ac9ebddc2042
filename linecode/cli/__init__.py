"""The ``linecode`` command: the only place that parses argv and prints for humans.

Each sub-command lives in its own module here with ``register(subparsers)``; heavy imports happen
inside the handlers so ``linecode --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from linecode.errors import LinecodeError

COMMANDS = (
    "demo",
    "serve",
    "certs",
    "qa",
    "render",
    "label",
    "epc",
    "export",
    "inspect",
    "verify",
    "batch",
    "check",
    "backup",
    "migrate",
    "restore",
    "hub",
    "leases",
    "client_config",
)
"""Sub-command modules of ``linecode.cli``, in ``--help`` order."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="linecode",
        description="Trace codes for a vaccine or medicine packaging line.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"linecode.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``linecode`` script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except LinecodeError as exc:
        print(f"linecode {args.command}: error [{exc.reason}]: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"linecode {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
