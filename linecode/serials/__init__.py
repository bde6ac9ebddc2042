"""Serial pools: an index range in, unique and unguessable serials out.

A pool is the whole serial domain of one identifier (nmpa20 product identifier, GTIN, or SSCC
company prefix). Index ``i`` maps to serial ``permute(key, i)``, a keyed bijection (see
``reference.py``), so two different indices can never give the same serial and nothing needs to
remember which serials were used: only how far the index has gone (the store's job).

The Cython kernel (``linecode._serials``) does the work with the GIL released; ``threads=`` splits a
bulk request across cores.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

import linecode._serials as _serials
from linecode.codes import CSET82, Nmpa20Code, Sscc, validate_identifier
from linecode.codes.nmpa20 import SERIAL_DIGITS
from linecode.errors import InvalidArgument, InvalidCode
from linecode.reasons import Reason
from linecode.serials.keys import MasterKey
from linecode.serials.reference import ROUNDS

__all__ = [
    "ALNUM",
    "DIGITS",
    "ROUNDS",
    "KeyedChecks",
    "MasterKey",
    "Nmpa20Pool",
    "SerialDomain",
    "SerialPool",
    "SsccPool",
    "check_key",
]

DIGITS = string.digits
ALNUM = string.digits + string.ascii_uppercase
MIN_DOMAIN = 1_000_000
"""NIST SP 800-38G Rev. 1 requires radix**length >= 10**6 for FF1/FF3-1; we hold pack serials to it."""

_CHUNK = 1 << 16  # smallest piece worth a thread


@dataclass(frozen=True, slots=True)
class SerialDomain:
    """Every serial a pool can issue: ``length`` characters from ``alphabet``."""

    alphabet: str
    """Characters by value: the first is digit 0. Must be CSET 82."""
    length: int
    """Characters per serial."""
    min_size: int = MIN_DOMAIN
    """Smallest acceptable ``radix**length`` (guessability floor)."""

    def __post_init__(self) -> None:
        if len(set(self.alphabet)) != len(self.alphabet) or len(self.alphabet) < 2:
            raise InvalidArgument(f"serial alphabet {self.alphabet!r}: expected 2+ distinct characters")
        if any(c not in CSET82 for c in self.alphabet):
            raise InvalidArgument(f"serial alphabet {self.alphabet!r}: expected GS1 CSET 82 characters only")
        if not 2 <= self.length <= 20:
            raise InvalidArgument(f"serial length {self.length}: expected 2 to 20 characters")
        if self.size < self.min_size:
            raise InvalidArgument(
                f"serial domain {self.radix}**{self.length} = {self.size} is below {self.min_size}: "
                "too easy to guess",
                hint="use a longer serial or a larger alphabet",
            )
        half = self.radix ** (self.length - self.length // 2)
        if half >= 1 << 52:
            raise InvalidArgument(
                f"serial domain {self.radix}**{self.length} is too large: each half must stay below 2**52",
                hint=f"use at most {2 * _max_half_digits(self.radix) - 1} characters of this alphabet",
            )

    @property
    def radix(self) -> int:
        return len(self.alphabet)

    @property
    def size(self) -> int:
        return self.radix**self.length


def _max_half_digits(radix: int) -> int:
    digits = 1
    while radix ** (digits + 1) < 1 << 52:
        digits += 1
    return digits


@lru_cache(maxsize=256)
def _feistel(key: bytes, radix: int, length: int) -> _serials.Feistel:
    # Building the round tables of a small domain takes ~20 ms: keep recently used pools.
    return _serials.Feistel(key, radix, length)


def _executor() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="linecode-serials")
    return _POOL


_POOL: ThreadPoolExecutor | None = None


def _split_work(start: int, count: int, threads: int) -> list[tuple[int, int]]:
    """(offset, count) pieces of ``count`` for ``threads`` workers (one piece when small)."""
    pieces = max(1, min(threads, count // _CHUNK))
    step = -(-count // pieces)
    return [(off, min(step, count - off)) for off in range(0, count, step)] or [(0, 0)]


def _run(fill, start: int, out: np.ndarray, threads: int) -> None:  # type: ignore[no-untyped-def]
    parts = _split_work(start, len(out), threads)
    if len(parts) == 1:
        fill(start, out)
        return
    futures = [_executor().submit(fill, start + off, out[off : off + n]) for off, n in parts]
    for f in futures:
        f.result()


class SerialPool:
    """The keyed permutation of one pool's domain."""

    def __init__(self, key: bytes, domain: SerialDomain) -> None:
        self.domain = domain
        self._feistel = _feistel(key, domain.radix, domain.length)
        self._alphabet = domain.alphabet.encode()
        self._values = {c: v for v, c in enumerate(domain.alphabet)}
        self._decimal = domain.alphabet == "0123456789"

    @property
    def size(self) -> int:
        """How many serials (and indices) the pool has; indices also stay below 2**64."""
        return min(self.domain.size, 1 << 64)

    def _check_range(self, start: int, count: int) -> None:
        if start < 0 or count < 0 or start + count > self.size:
            raise InvalidArgument(
                f"index range [{start}, {start + count}) is outside the pool's [0, {self.size})"
            )

    def serial(self, index: int) -> str:
        """The serial of ``index``."""
        self._check_range(index, 1)
        value = self._feistel.permute(index)
        chars = []
        for _ in range(self.domain.length):
            value, digit = divmod(value, self.domain.radix)
            chars.append(self.domain.alphabet[digit])
        return "".join(reversed(chars))

    def index(self, serial: str) -> int:
        """The index whose serial is ``serial``; raises :class:`InvalidCode` for a foreign shape.

        An index at or past what the store has issued means "never issued": that is the store's
        call, not ours.
        """
        if len(serial) != self.domain.length:
            raise self._foreign(serial)
        if self._decimal:  # the digits are the value (this runs for every code's first event)
            if not (serial.isascii() and serial.isdigit()):
                raise self._foreign(serial)
            return int(self._feistel.unpermute(int(serial)))
        if any(c not in self._values for c in serial):
            raise self._foreign(serial)
        value = 0
        for c in serial:
            value = value * self.domain.radix + self._values[c]
        return int(self._feistel.unpermute(value))

    def _foreign(self, serial: str) -> InvalidCode:
        return InvalidCode(
            f"serial {serial!r} is not {self.domain.length} characters of {self.domain.alphabet!r}",
            reason=Reason.BAD_SERIAL,
        )

    def serials(self, start: int, count: int, *, threads: int = 1) -> np.ndarray:
        """Serials of indices ``start`` .. ``start + count - 1`` as a ``S<length>`` array."""
        self._check_range(start, count)
        out = np.empty((count, self.domain.length), dtype=np.uint8)
        _run(lambda s, o: self._feistel.fill_text(s, o, self._alphabet), start, out, threads)
        return out.view(f"S{self.domain.length}").reshape(count)

    def numbers(self, start: int, count: int, *, threads: int = 1) -> np.ndarray:
        """Serials of a range as integers (``uint64``; domains up to 2**64 only)."""
        self._check_range(start, count)
        out = np.empty(count, dtype=np.uint64)
        _run(self._feistel.fill_numbers, start, out, threads)
        return out


class Nmpa20Pool(SerialPool):
    """The 10**9 serials of one nmpa20 product identifier, with their keyed checks."""

    def __init__(self, master: MasterKey, identifier: str) -> None:
        self.identifier = validate_identifier(identifier)
        super().__init__(master.derive(f"pool/nmpa20/{identifier}"), SerialDomain(DIGITS, SERIAL_DIGITS))
        self._check_key = check_key(master, identifier)
        self._prefix = int(identifier) * 10**SERIAL_DIGITS

    def check(self, serial: str) -> str:
        """The keyed 4-digit check of ``serial`` under this identifier."""
        return f"{_serials.nmpa20_check(self._check_key, self._prefix, int(serial)):04d}"

    def code(self, index: int) -> Nmpa20Code:
        serial = self.serial(index)
        return Nmpa20Code(self.identifier, serial, self.check(serial))

    def codes(self, start: int, count: int, *, threads: int = 1) -> np.ndarray:
        """Finished 20-digit codes of indices ``start`` .. ``start + count - 1`` (``S20`` array)."""
        self._check_range(start, count)
        out = np.empty((count, 20), dtype=np.uint8)
        ident = self.identifier.encode()
        _run(lambda s, o: self._feistel.fill_nmpa20(s, o, ident, self._check_key), start, out, threads)
        return out.view("S20").reshape(count)

    def index_of(self, code: Nmpa20Code) -> int:
        """The index of a genuine code of this pool; raises :class:`InvalidCode` on a bad check."""
        if code.identifier != self.identifier:
            raise InvalidCode(
                f"code {code.data!r} has identifier {code.identifier}, expected {self.identifier}",
                reason=Reason.WRONG_IDENTIFIER,
                codes=[code.data],
            )
        code.verify(KeyedChecks.for_pool(self))
        return self.index(code.serial)


class SsccPool(SerialPool):
    """Serial references of SSCCs under one extension digit and GS1 company prefix."""

    def __init__(self, master: MasterKey, extension: int, company_prefix: str) -> None:
        if not (0 <= extension <= 9) or not company_prefix.isdigit() or not 6 <= len(company_prefix) <= 12:
            raise InvalidArgument(
                f"SSCC extension {extension!r} / company prefix {company_prefix!r}: expected a digit "
                "and a 6 to 12 digit GS1 company prefix"
            )
        self.extension = extension
        self.company_prefix = company_prefix
        super().__init__(
            master.derive(f"pool/sscc/{extension}{company_prefix}"),
            SerialDomain(DIGITS, 16 - len(company_prefix), min_size=100),
        )

    def sscc(self, index: int) -> Sscc:
        return Sscc.build(self.extension, self.company_prefix, self.serial(index))

    def index_of(self, sscc: Sscc) -> int:
        head = f"{self.extension}{self.company_prefix}"
        if not sscc.value.startswith(head):
            raise InvalidCode(f"SSCC {sscc.value} is not under {head}", reason=Reason.WRONG_PREFIX)
        return self.index(sscc.value[len(head) : 17])


def check_key(master: MasterKey, identifier: str) -> bytes:
    """The SipHash key of the nmpa20 checks under ``identifier``."""
    return master.derive(f"check/nmpa20/{identifier}")


class KeyedChecks:
    """The :class:`linecode.codes.CheckAuthority` of a server: knows its identifiers' check keys."""

    def __init__(self, master: MasterKey, identifiers: Iterable[str] = ()) -> None:
        self._master = master
        self._keys: dict[str, bytes] = {}
        for identifier in identifiers:
            self.add(identifier)

    @classmethod
    def for_pool(cls, pool: Nmpa20Pool) -> KeyedChecks:
        checks = cls.__new__(cls)
        checks._keys = {pool.identifier: pool._check_key}
        return checks

    def add(self, identifier: str) -> None:
        self._keys[validate_identifier(identifier)] = check_key(self._master, identifier)

    def expected_check(self, identifier: str, serial: str) -> str | None:
        key = self._keys.get(identifier)
        if key is None:
            return None
        return f"{_serials.nmpa20_check(key, int(identifier) * 10**SERIAL_DIGITS, int(serial)):04d}"
