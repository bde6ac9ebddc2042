"""The master secret and the per-pool keys derived from it.

The master secret never goes into the data store: it comes from ``LINECODE_MASTER_KEY`` (64 hex
digits) or from a key file created on first use with 0600 rights. Every pool and every identifier's
check get their own 16-byte SipHash key, derived with HMAC-SHA256 and a purpose label, so one leaked
derived key says nothing about another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from linecode.errors import ConfigError
from linecode.reasons import Reason

ENV_VAR = "LINECODE_MASTER_KEY"
KEY_FILE_NAME = "master.key"
_LABEL = b"linecode/v1/"


class MasterKey:
    """A 32-byte master secret and the keys derived from it."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise ConfigError(f"master key must be 32 bytes, got {len(secret)}", reason=Reason.BAD_MASTER_KEY)
        self._secret = secret

    def __repr__(self) -> str:
        return "MasterKey(<secret>)"

    @classmethod
    def from_hex(cls, text: str, source: str = ENV_VAR) -> MasterKey:
        try:
            secret = bytes.fromhex(text.strip())
        except ValueError:
            secret = b""
        if len(secret) != 32:
            raise ConfigError(
                f"{source} must be 64 hex digits (32 bytes), got {len(text.strip())} characters",
                reason=Reason.BAD_MASTER_KEY,
                hint='make one with: python -c "import secrets; print(secrets.token_hex(32))"',
            )
        return cls(secret)

    @classmethod
    def load(cls, key_file: Path | str, *, create: bool = True) -> MasterKey:
        """The key from ``LINECODE_MASTER_KEY`` if set, else from ``key_file`` (made if missing).

        An existing key file readable by group or others is refused: a leaked master key lets
        anyone compute genuine codes.
        """
        env = os.environ.get(ENV_VAR)
        if env:
            return cls.from_hex(env)
        path = Path(key_file)
        if not path.exists():
            if not create:
                raise ConfigError(
                    f"no master key: {ENV_VAR} is not set and {path} does not exist",
                    reason=Reason.NO_MASTER_KEY,
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"key file {path} has rights {mode:04o}; expected 0600 (owner only)",
                reason=Reason.KEY_FILE_RIGHTS,
                hint=f"chmod 600 {path}",
            )
        return cls.from_hex(path.read_text(), source=str(path))

    def derive(self, purpose: str) -> bytes:
        """A 16-byte key for ``purpose`` (e.g. ``"pool/nmpa20/8612345"``)."""
        return hmac.new(self._secret, _LABEL + purpose.encode(), hashlib.sha256).digest()[:16]
