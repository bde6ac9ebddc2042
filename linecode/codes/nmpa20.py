"""The 20-digit numeric trace code used in China (药品追溯码).

``PPPPPPP SSSSSSSSS CCCC``: a 7-digit product identifier (药品标识码, assigned by the national platform
per product and packaging level), a 9-digit serial and a 4-digit keyed check. The check is keyed, so
this module can only check the shape; whoever holds the key (``linecode.serials``) supplies the
expected check through a :class:`CheckAuthority`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from linecode.errors import InvalidCode, NotFound, shown
from linecode.reasons import Reason

IDENTIFIER_DIGITS = 7
SERIAL_DIGITS = 9
CHECK_DIGITS = 4
CODE_DIGITS = IDENTIFIER_DIGITS + SERIAL_DIGITS + CHECK_DIGITS
_HRI_SEPARATORS = " -"


class CheckAuthority(Protocol):
    """Knows the keyed checks: the one place that can tell a genuine code from a forged one."""

    def expected_check(self, identifier: str, serial: str) -> str | None:
        """The 4-digit check for ``identifier`` + ``serial``; None if the identifier is not ours."""
        ...


def validate_identifier(identifier: str) -> str:
    """Return ``identifier`` if it is exactly 7 digits, else raise :class:`InvalidCode`."""
    if len(identifier) != IDENTIFIER_DIGITS or not identifier.isascii() or not identifier.isdigit():
        raise InvalidCode(
            f"Invalid nmpa20 product identifier {shown(identifier)}: expected exactly "
            f"{IDENTIFIER_DIGITS} ASCII digits, got {len(identifier)} characters"
            f"{'' if identifier.isascii() and identifier.isdigit() else ', not all of them ASCII digits'}",
            reason=Reason.BAD_IDENTIFIER,
        )
    return identifier


@dataclass(frozen=True, slots=True)
class Nmpa20Code:
    """One 20-digit trace code."""

    identifier: str
    """7-digit product identifier (per product and packaging level)."""
    serial: str
    """9-digit serial, a keyed permutation of an index (never a counter)."""
    check: str
    """4-digit keyed check over identifier + serial."""

    @classmethod
    def parse(cls, text: str, checks: CheckAuthority | None = None) -> Nmpa20Code:
        """Parse 20 digits, or the HRI form with spaces or dashes between groups.

        With ``checks`` the identifier must be known and the check right; without it only the
        shape is checked.

        >>> Nmpa20Code.parse("8612345 123456789 0042").data
        '86123451234567890042'
        >>> Nmpa20Code.parse("8612345123")
        Traceback (most recent call last):
        ...
        linecode.errors.InvalidCode: Invalid nmpa20 code '8612345123': expected 20 digits, got 10
        """
        digits = text.strip()
        for sep in _HRI_SEPARATORS:
            digits = digits.replace(sep, "")
        if not digits.isascii() or not digits.isdigit():
            bad = next((c for c in digits if not ("0" <= c <= "9")), "")
            raise InvalidCode(
                f"Invalid nmpa20 code {shown(text)}: expected only digits, found {bad!r}",
                reason=Reason.BAD_CHARACTER,
            )
        if len(digits) != CODE_DIGITS:
            raise InvalidCode(
                f"Invalid nmpa20 code {shown(text)}: expected {CODE_DIGITS} digits, got {len(digits)}",
                reason=Reason.BAD_LENGTH,
            )
        code = cls(
            digits[:IDENTIFIER_DIGITS],
            digits[IDENTIFIER_DIGITS : IDENTIFIER_DIGITS + SERIAL_DIGITS],
            digits[IDENTIFIER_DIGITS + SERIAL_DIGITS :],
        )
        if checks is not None:
            code.verify(checks)
        return code

    def verify(self, checks: CheckAuthority) -> None:
        """Raise unless the identifier is known to ``checks`` and the check is right."""
        expected = checks.expected_check(self.identifier, self.serial)
        if expected is None:
            raise NotFound(
                f"Unknown nmpa20 product identifier {self.identifier!r} in code {self.data!r}: "
                "no product of this server has it",
                reason=Reason.UNKNOWN_IDENTIFIER,
                codes=[self.data],
            )
        if expected != self.check:
            raise InvalidCode(
                f"Invalid nmpa20 check for {self.data!r}: expected {expected}, got {self.check} "
                "(misread, mistyped or forged)",
                reason=Reason.BAD_CHECK,
                codes=[self.data],
            )

    @property
    def data(self) -> str:
        """The 20 digits as they go into the symbol."""
        return self.identifier + self.serial + self.check

    def as_hri(self) -> str:
        """Human-readable form, grouped identifier / serial / check."""
        return f"{self.identifier} {self.serial} {self.check}"

    def __str__(self) -> str:
        return self.data
