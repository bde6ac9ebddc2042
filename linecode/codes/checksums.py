"""The GS1 mod-10 check digit, shared by GTIN and SSCC."""

from __future__ import annotations


def gs1_check_digit(payload: str) -> int:
    """Check digit for ``payload`` (all digits but the check), GS1 General Specifications 7.9.1.

    Weights 3 and 1 alternate from the right-most payload digit.

    >>> gs1_check_digit("0950110153000")
    3
    >>> gs1_check_digit("00614141123456789")
    0
    """
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(payload)))
    return (10 - total % 10) % 10
