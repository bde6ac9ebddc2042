"""GS1 identifiers and element strings: GTIN-14, serial (21), expiry (17), batch (10), SSCC (00).

One parser reads every form a scanner or a person hands us: the HRI ``(01)…(21)…``, the raw element
string with GS (0x1D) after variable-length fields, optionally behind the ``]d2`` symbology
identifier or a leading FNC1/GS. One writer produces what goes into a GS1 DataMatrix.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from linecode.codes.checksums import gs1_check_digit
from linecode.errors import InvalidCode, shown
from linecode.reasons import Reason

GS = "\x1d"
"""Group separator: ends a variable-length field that is not last (it is FNC1 in the symbol)."""

CSET82 = frozenset("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")
"""GS1 AI encodable character set 82 (General Specifications figure 7.11-1)."""

# AI -> (fixed length or None, max length) for the AIs this product reads and writes.
_AIS: dict[str, tuple[int | None, int]] = {
    "00": (18, 18),
    "01": (14, 14),
    "10": (None, 20),
    "11": (6, 6),
    "17": (6, 6),
    "21": (None, 20),
}
_SYMBOLOGY_PREFIXES = ("]d2", "]d8", "]C1", "]Q3", "]e0")
"""AIM identifiers of GS1 data: DataMatrix (]d8 for DMRE, as zxing-cpp reports it), GS1-128, QR, DataBar."""
_HRI_FIELD = re.compile(r"\((\d{2,4})\)([^()]*)")


def _check_digits(kind: str, text: str, length: int) -> str:
    if not text.isascii() or not text.isdigit():
        bad = next((c for c in text if not ("0" <= c <= "9")), "")
        raise InvalidCode(
            f"Invalid {kind} {shown(text)}: expected {length} ASCII digits, found {bad!r}",
            reason=Reason.BAD_CHARACTER,
        )
    if len(text) != length:
        raise InvalidCode(
            f"Invalid {kind} {shown(text)}: expected {length} digits, got {len(text)}",
            reason=Reason.BAD_LENGTH,
        )
    expected = gs1_check_digit(text[:-1])
    if int(text[-1]) != expected:
        raise InvalidCode(
            f"Invalid {kind} check digit for {shown(text)}: expected {expected}, got {text[-1]}",
            reason=Reason.BAD_CHECK,
        )
    return text


def validate_cset82(kind: str, text: str, max_length: int = 20) -> str:
    """Return ``text`` if it is 1..max_length characters of CSET 82, else raise."""
    if not 1 <= len(text) <= max_length:
        raise InvalidCode(
            f"Invalid {kind} {shown(text)}: expected 1 to {max_length} characters, got {len(text)}",
            reason=Reason.BAD_LENGTH,
        )
    bad = [c for c in text if c not in CSET82]
    if bad:
        raise InvalidCode(
            f"Invalid {kind} {shown(text)}: {bad[0]!r} is not in GS1 character set 82",
            reason=Reason.BAD_CHARACTER,
        )
    return text


def gs1_date(text: str, kind: str = "expiry date") -> dt.date:
    """The date a GS1 ``YYMMDD`` field stands for; day 00 means the last day of the month.

    The century follows the sliding window of General Specifications 7.12: a year more than 50
    years ahead of today belongs to the previous century, one more than 49 years back to the next.

    >>> gs1_date("290200")
    datetime.date(2029, 2, 28)
    """
    if len(text) != 6 or not text.isascii() or not text.isdigit():
        raise InvalidCode(f"Invalid {kind} {shown(text)}: expected YYMMDD, 6 digits", reason=Reason.BAD_DATE)
    yy, mm, dd = int(text[:2]), int(text[2:4]), int(text[4:])
    this_year = dt.date.today().year
    year = this_year // 100 * 100 + yy
    if year - this_year > 50:
        year -= 100
    elif this_year - year > 49:
        year += 100
    if not 1 <= mm <= 12:
        raise InvalidCode(
            f"Invalid {kind} {shown(text)}: month {mm:02d} is not 01..12", reason=Reason.BAD_DATE
        )
    last = calendar.monthrange(year, mm)[1]
    if dd > last:
        raise InvalidCode(
            f"Invalid {kind} {shown(text)}: day {dd:02d} is past the end of {year}-{mm:02d} ({last})",
            reason=Reason.BAD_DATE,
        )
    return dt.date(year, mm, dd or last)


@dataclass(frozen=True, slots=True)
class Gtin:
    """A GTIN, always held as GTIN-14 (indicator digit first: one GTIN per packaging level)."""

    value: str
    """14 digits, mod-10 check digit last."""

    @classmethod
    def parse(cls, text: str) -> Gtin:
        """Parse a GTIN-8/12/13/14 (shorter ones are zero-padded to 14); the check must be right.

        >>> Gtin.parse("09501101530003").value
        '09501101530003'
        >>> Gtin.parse("09501101530004")
        Traceback (most recent call last):
        ...
        linecode.errors.InvalidCode: Invalid GTIN check digit for '09501101530004': expected 3, got 4
        """
        text = text.strip()
        if len(text) in (8, 12, 13) and text.isdigit():
            text = text.zfill(14)
        return cls(_check_digits("GTIN", text, 14))

    @classmethod
    def build(cls, payload13: str) -> Gtin:
        """A GTIN-14 from its first 13 digits, check digit computed."""
        return cls.parse(payload13 + str(gs1_check_digit(payload13)))

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Sscc:
    """Serial Shipping Container Code: extension digit + company prefix + serial reference + check."""

    value: str
    """18 digits, mod-10 check digit last."""

    @classmethod
    def parse(cls, text: str) -> Sscc:
        """Parse 18 digits, ``(00)`` HRI or ``00``-prefixed element string; the check must be right.

        >>> Sscc.parse("(00)106141411234567897").as_hri()
        '(00)106141411234567897'
        """
        text = text.strip()
        if text.startswith("(00)"):
            text = text[4:]
        elif len(text) == 20 and text.startswith("00"):
            text = text[2:]
        return cls(_check_digits("SSCC", text, 18))

    @classmethod
    def build(cls, extension: int, company_prefix: str, serial_reference: str) -> Sscc:
        """Assemble an SSCC; the serial reference fills the 16 - len(prefix) digits left."""
        payload = f"{extension}{company_prefix}{serial_reference}"
        if len(payload) != 17 or not payload.isdigit():
            raise InvalidCode(
                f"Invalid SSCC parts: extension {extension!r} + prefix {company_prefix!r} + "
                f"serial reference {serial_reference!r} must make 17 digits, got {len(payload)}",
                reason=Reason.BAD_LENGTH,
            )
        return cls(payload + str(gs1_check_digit(payload)))

    @property
    def data(self) -> str:
        return self.as_element_string()

    def as_element_string(self) -> str:
        return "00" + self.value

    def as_hri(self) -> str:
        return f"(00){self.value}"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Gs1Code:
    """A sales pack's GS1 identification: GTIN, serial, expiry and batch."""

    gtin: Gtin
    serial: str
    """Up to 20 characters of CSET 82."""
    expiry: str
    """YYMMDD; day 00 allowed (end of month)."""
    batch: str
    """Batch/lot number, up to 20 characters of CSET 82."""

    def __post_init__(self) -> None:
        validate_cset82("GS1 serial (21)", self.serial)
        validate_cset82("GS1 batch (10)", self.batch)
        gs1_date(self.expiry)

    @classmethod
    def parse(cls, text: str) -> Gs1Code:
        """Parse HRI or raw element string; (01), (21), (17) and (10) must all be there.

        >>> c = Gs1Code.parse("(01)09501101530003(21)ABC123(17)291231(10)L1")
        >>> c.as_element_string() == "0109501101530003" + "21ABC123" + GS + "17291231" + "10L1"
        True
        """
        fields = parse_element_string(text)
        missing = [ai for ai in ("01", "21", "17", "10") if ai not in fields]
        if missing:
            raise InvalidCode(
                f"Invalid GS1 pack code {shown(text)}: missing AI {', '.join(missing)}; "
                "expected (01), (21), (17) and (10)",
                reason=Reason.MISSING_AI,
            )
        return cls(Gtin.parse(fields["01"]), fields["21"], fields["17"], fields["10"])

    @property
    def data(self) -> str:
        """What goes into the GS1 DataMatrix after the leading FNC1."""
        return self.as_element_string()

    def expiry_date(self) -> dt.date:
        return gs1_date(self.expiry)

    def as_element_string(self) -> str:
        """``01`` GTIN, ``21`` serial, GS, ``17`` expiry, ``10`` batch (last: no GS)."""
        return f"01{self.gtin.value}21{self.serial}{GS}17{self.expiry}10{self.batch}"

    def as_hri(self) -> str:
        return f"(01){self.gtin.value}(21){self.serial}(17){self.expiry}(10){self.batch}"

    def __str__(self) -> str:
        return self.as_hri()


def parse_element_string(text: str) -> dict[str, str]:
    """Split HRI or a raw element string into ``{AI: value}``, checking every field's shape.

    Accepts a ``]d2``-style symbology prefix and a leading FNC1 (as GS). Repeated AIs, unknown AIs,
    wrong lengths and characters outside CSET 82 are errors.
    """
    raw = text.strip("\r\n")
    for prefix in _SYMBOLOGY_PREFIXES:
        if raw.startswith(prefix):
            raw = raw[len(prefix) :]
            break
    raw = raw.lstrip(GS)
    pairs = _split_hri(raw, text) if raw.startswith("(") else _split_raw(raw, text)
    fields: dict[str, str] = {}
    for ai, value in pairs:
        if ai in fields:
            raise InvalidCode(
                f"Invalid GS1 data {shown(text)}: AI ({ai}) appears twice", reason=Reason.DUPLICATE_AI
            )
        fixed, max_len = _AIS[ai]
        if fixed is not None:
            if len(value) != fixed or not value.isdigit():
                raise InvalidCode(
                    f"Invalid GS1 data {shown(text)}: AI ({ai}) needs {fixed} digits, got {shown(value)}",
                    reason=Reason.BAD_LENGTH,
                )
        else:
            validate_cset82(f"GS1 AI ({ai}) value", value, max_len)
        fields[ai] = value
    if "17" in fields:
        gs1_date(fields["17"])
    if "11" in fields:
        gs1_date(fields["11"], "production date")
    if "01" in fields:
        Gtin.parse(fields["01"])
    if "00" in fields:
        Sscc.parse(fields["00"])
    return fields


def _known_ai(ai: str, text: str) -> str:
    if ai not in _AIS:
        raise InvalidCode(
            f"Invalid GS1 data {shown(text)}: AI ({ai}) is not one linecode reads; "
            f"expected one of {', '.join(f'({a})' for a in _AIS)}",
            reason=Reason.UNKNOWN_AI,
        )
    return ai


def _split_hri(raw: str, text: str) -> list[tuple[str, str]]:
    pairs = [(m.group(1), m.group(2)) for m in _HRI_FIELD.finditer(raw)]
    if "".join(f"({a}){v}" for a, v in pairs) != raw:
        raise InvalidCode(
            f"Invalid GS1 HRI {shown(text)}: expected (AI)value(AI)value…", reason=Reason.BAD_SYNTAX
        )
    return [(_known_ai(a, text), v) for a, v in pairs]


def _split_raw(raw: str, text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(raw):
        ai = _known_ai(raw[pos : pos + 2], text)
        fixed = _AIS[ai][0]
        pos += 2
        if fixed is not None:
            value, pos = raw[pos : pos + fixed], pos + fixed
            if pos < len(raw) and raw[pos] == GS:  # tolerated: some printers add one anyway
                pos += 1
        else:
            end = raw.find(GS, pos)
            end = len(raw) if end < 0 else end
            value, pos = raw[pos:end], end + 1
        pairs.append((ai, value))
    return pairs
