"""``linecode backup --data DIR -o PATH``: a hot backup, a consistent compacted copy of the store while
the server runs (opened read-only: no writer lock needed), with the master key if the data dir has it."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from linecode.reasons import Reason


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser(
        "backup", help="copy the store, consistent and compacted, while the server runs (read-only)"
    )
    cmd.add_argument("--data", type=Path, required=True, help="the store's data dir (opened read-only)")
    cmd.add_argument(
        "-o", "--output", type=Path, required=True, help="a new (or empty) directory for the backup"
    )
    cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.store import Store

    with Store.open(args.data, readonly=True) as store:
        last = store.backup(args.output)
    size = (args.output / "data.mdb").stat().st_size
    print(f"backed up {args.data} as of event {last} to {args.output} ({size:,} bytes, compacted)")
    print(copy_master_key(args.data, args.output))
    return 0


def copy_master_key(data: Path, out: Path) -> str:
    """Copy ``data``'s ``master.key`` into ``out`` (0600, durable); what was done, for the operator."""
    from linecode.errors import ConfigError
    from linecode.serials.keys import ENV_VAR, KEY_FILE_NAME

    source = data / KEY_FILE_NAME
    if not source.exists():
        if os.environ.get(ENV_VAR):
            return (
                f"the master key is NOT in the backup: {data} has no {KEY_FILE_NAME}, the key comes from "
                f"{ENV_VAR}; keep that key with the backup (without it no code can be verified or issued)"
            )
        return (
            f"the master key is NOT in the backup: {data} has no {KEY_FILE_NAME} and {ENV_VAR} is not set "
            "here; keep the server's key with the backup (without it no code can be verified or issued)"
        )
    try:
        place_key(source, out)
    except OSError as exc:
        raise ConfigError(
            f"the store was backed up to {out}, but its master key was not: {exc}",
            reason=Reason.BACKUP_FAILED,
            hint=f"copy {source} to {out} yourself, with 0600 rights",
        ) from exc
    note = (
        f" ({ENV_VAR} is set here: a server with it set uses that key instead; keep it too)"
        if os.environ.get(ENV_VAR)
        else ""
    )
    return f"copied {KEY_FILE_NAME} (0600): keep the backup as secret as the data dir{note}"


def place_key(source: Path, out: Path) -> None:
    """Copy the key file ``source`` into the data dir ``out`` as its ``master.key`` (0600, durable;
    an existing one is never overwritten)."""
    from linecode.serials.keys import KEY_FILE_NAME

    secret = source.read_bytes()
    fd = os.open(out / KEY_FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secret)
        os.fsync(fd)
    finally:
        os.close(fd)
