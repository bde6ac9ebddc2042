"""One code, one key (SPEC §1): the canonical key every spelling of a code resolves to.

A code reaches us in many spellings: 20 digits, grouped HRI (``8600001 123456789 0042``, or with
dashes), GS1 HRI with parentheses, the raw element string with or without ``]d2`` and GS, an SSCC
as 18 digits, ``(00)…`` or ``00…``. :func:`code_key` turns each of them into exactly one
:data:`CodeKey`, which is what the store files, counts and indexes a code under:

* ``nmpa20``: its 20 digits (``86000011234567890042``);
* ``gs1``: ``(01)<GTIN-14>(21)<serial>`` — expiry and batch are the batch's, not the pack's identity;
* ``sscc``: ``(00)<18 digits>``.

The parentheses keep the three shapes apart. 20 plain digits would be ambiguous: an nmpa20 code,
but also an SSCC element string (``00`` + 18 digits) or a GS1 element string with a 2-digit serial
(``01`` + GTIN-14 + ``21`` + 2 digits). So nmpa20 identifiers never start ``00`` or ``01``
(:data:`AMBIGUOUS_PREFIXES`, refused for a product's levels), and 20 digits starting so are read as
the SSCC or GS1 element string they spell: each spelling has one reading, whatever products exist.
The conversions between a key and its parts and its symbol data live here too, so no other module
cuts a key apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

from linecode.codes.gs1 import GS, Gs1Code, Gtin, Sscc, parse_element_string
from linecode.codes.nmpa20 import CODE_DIGITS, IDENTIFIER_DIGITS, SERIAL_DIGITS
from linecode.errors import InvalidCode, shown
from linecode.reasons import Reason

CodeKey = NewType("CodeKey", str)
"""A code's canonical key: the only form rules, counters and indexes ever see."""

MAX_CODE_TEXT = 150
"""Characters of one spelling of a code at most (the longest GS1 pack string with ``]d2``, every
separator and a 20-character serial and batch is about 80)."""

_HRI_SEPARATORS = str.maketrans("", "", " -")
_GTIN_END = 4 + 14
_SERIAL_AT = _GTIN_END + 4


@dataclass(frozen=True, slots=True)
class KeyParts:
    """What a key is made of: its rule and the fields that identify the code."""

    rule: str
    """``nmpa20``, ``gs1`` or ``sscc``."""
    identifier: str
    """nmpa20: the 7-digit product identifier; gs1: the GTIN-14; sscc: the 18 digits."""
    serial: str
    """nmpa20: the 9-digit serial; gs1: the (21) serial; sscc: empty."""
    check: str = ""
    """nmpa20: the 4-digit keyed check; empty otherwise."""


def gs1_key(gtin: str, serial: str) -> CodeKey:
    """The key of a GS1 pack: ``(01)<GTIN-14>(21)<serial>``.

    >>> gs1_key("09501101530003", "ABC123")
    '(01)09501101530003(21)ABC123'
    """
    return CodeKey(f"(01){gtin}(21){serial}")


def sscc_key(sscc: str) -> CodeKey:
    """The key of an SSCC given as its 18 digits: ``(00)<18 digits>``."""
    return CodeKey(f"(00){sscc}")


def parts(key: str) -> KeyParts:
    """Cut a key into its parts; raises :class:`InvalidCode` ``BAD_CODE_KEY`` for a non-key.

    >>> parts("(01)09501101530003(21)ABC123")
    KeyParts(rule='gs1', identifier='09501101530003', serial='ABC123', check='')
    """
    if key.startswith("(01)") and key[_GTIN_END:_SERIAL_AT] == "(21)" and len(key) > _SERIAL_AT:
        return KeyParts("gs1", key[4:_GTIN_END], key[_SERIAL_AT:])
    if key.startswith("(00)") and len(key) == 22 and key[4:].isascii() and key[4:].isdigit():
        return KeyParts("sscc", key[4:], "")
    if len(key) == CODE_DIGITS and key.isascii() and key.isdigit():
        at = IDENTIFIER_DIGITS + SERIAL_DIGITS
        return KeyParts("nmpa20", key[:IDENTIFIER_DIGITS], key[IDENTIFIER_DIGITS:at], key[at:])
    raise InvalidCode(
        f"code key {shown(key)} is none of the store's forms: expected 20 digits (nmpa20), "
        "'(01)<GTIN-14>(21)<serial>' or '(00)<18 digits>'",
        reason=Reason.BAD_CODE_KEY,
        codes=[key[:MAX_CODE_TEXT]],
    )


def symbol_data(key: str, expiry: str, batch_number: str) -> tuple[str, bool]:
    """What goes into the symbol of the code filed under ``key``, and whether it is GS1 data.

    GS1 packs take expiry (17, ``YYMMDD``) and batch (10) from their batch; an SSCC is its ``00``
    element string; an nmpa20 code is its digits.

    >>> symbol_data("(00)069012340000000016", "", "")
    ('00069012340000000016', True)
    """
    p = parts(key)
    if p.rule == "sscc":
        return "00" + p.identifier, True
    if p.rule == "gs1":
        return Gs1Code(Gtin(p.identifier), p.serial, expiry, batch_number).as_element_string(), True
    return key, False


def _all_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


AMBIGUOUS_PREFIXES = ("00", "01")
"""No nmpa20 identifier starts so: 20 such digits are an SSCC or GS1 element string."""


def _twenty(digits: str) -> CodeKey:
    """20 plain digits: an nmpa20 code, unless they start ``00`` or ``01`` and spell a valid SSCC or
    GS1 element string."""
    if digits[0] != "0" or digits[1] > "1":
        return CodeKey(digits)
    try:
        fields = parse_element_string(digits)
    except InvalidCode:
        return CodeKey(digits)  # not an SSCC or GS1 either: an nmpa20 code nobody here issued
    if set(fields) == {"00"}:
        return sscc_key(fields["00"])
    if set(fields) == {"01", "21"}:
        return gs1_key(fields["01"], fields["21"])
    return CodeKey(digits)


def code_key(text: str) -> CodeKey:
    """The canonical key of a code in any accepted spelling; depends on nothing but the text.

    Raises :class:`InvalidCode` (what was wrong, a short prefix of the text) for text that is no
    code's spelling.

    >>> code_key("8600001 123456789 0042")
    '86000011234567890042'
    >>> code_key("]d2" + "0109501101530003" + "21ABC123" + GS + "17291231" + "10L1")
    '(01)09501101530003(21)ABC123'
    >>> code_key("00069012340000000016")
    '(00)069012340000000016'
    >>> code_key("106141411234567897")
    '(00)106141411234567897'
    """
    if len(text) == CODE_DIGITS and text.isascii() and text.isdigit():
        return _twenty(text)  # the hot path: nmpa20 keys as the line sends them
    if len(text) > MAX_CODE_TEXT:
        raise InvalidCode(
            f"code {shown(text)} is too long: expected at most {MAX_CODE_TEXT} characters",
            reason=Reason.CODE_TOO_LONG,
        )
    stripped = text.strip()
    if not stripped:
        raise InvalidCode(
            "empty code: expected an nmpa20 code, a GS1 element string or an SSCC", reason=Reason.EMPTY
        )
    digits = stripped.translate(_HRI_SEPARATORS)
    if len(digits) == CODE_DIGITS and _all_ascii_digits(digits):
        return _twenty(digits)
    if len(digits) == 18 and _all_ascii_digits(digits):
        return sscc_key(Sscc.parse(digits).value)
    if stripped.startswith("("):
        stripped = stripped.replace(" ", "")  # HRI as printed under a symbol: "(00) 0690…", "(21) AB"
    if stripped.startswith("(00)") and len(stripped) == 22:
        return sscc_key(Sscc.parse(stripped).value)
    if any(c < " " and c != GS for c in stripped) or not stripped.isascii():
        bad = next(c for c in stripped if (c < " " and c != GS) or not c.isascii())
        raise InvalidCode(
            f"code {shown(text)} holds the character {bad!r}: expected digits, GS1 character set 82, "
            "spaces, dashes or GS",
            reason=Reason.BAD_CHARACTER,
        )
    fields = parse_element_string(stripped)
    if "00" in fields and len(fields) == 1:
        return sscc_key(fields["00"])
    if "01" not in fields or "21" not in fields:
        raise InvalidCode(
            f"code {shown(text)} is not one this service issues: expected 20 nmpa20 digits, a GS1 string "
            "with (01) and (21), or an SSCC",
            reason=Reason.NOT_A_PACK_CODE,
        )
    return gs1_key(Gtin.parse(fields["01"]).value, fields["21"])
