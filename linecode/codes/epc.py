"""EPC binary encodings of GS1 codes, for RFID tags (GS1 EPC Tag Data Standard 2.x, "TDS").

The seed's third carrier is the RFID tag (电子标签). A UHF tag's EPC memory holds the code in one
of the TDS's binary schemes, which a tag encoder writes from hex; this module makes that hex, the
two URIs the TDS defines for it, and reads the hex back:

* **SGTIN-96** (header ``0x30``) for a GS1 pack whose serial is digits without a leading zero
  (``0`` itself allowed) below 2^38;
* **SGTIN-198** (header ``0x36``) for any other GS1 serial: up to 20 characters of GS1 AI
  encodable character set 82, 7 bits each;
* **SSCC-96** (header ``0x31``) for an SSCC.

An nmpa20 code has no EPC scheme (the TDS encodes GS1 keys only): asking for one is an error.

The binary form splits the GTIN or SSCC at the end of the **GS1 company prefix** (the partition
value says where), and nothing in a GTIN or SSCC says where that is: GS1 assigns prefixes of 6 to
12 digits. So the prefix length is an input with **no default** — a guessed length gives an EPC
that looks valid and names the wrong company prefix. The **filter value** (3 bits, a hint for
readers selecting tags: :data:`SGTIN_FILTERS`, :data:`SSCC_FILTERS`) defaults to 0, "all others".

Field names follow the TDS: ``reference`` is the indicator digit and item reference of an SGTIN,
or the extension digit and serial reference of an SSCC, as both URIs write it.

>>> epc = encode("(01)80614141123458(21)6789", company_prefix_length=7, filter_value=3)
>>> epc.as_hex()
'3074257BF7194E4000001A85'
>>> epc.as_tag_uri()
'urn:epc:tag:sgtin-96:3.0614141.812345.6789'
>>> decode("3074257BF7194E4000001A85").key
'(01)80614141123458(21)6789'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from linecode.codes.gs1 import CSET82, Gtin, Sscc
from linecode.codes.keys import CodeKey, code_key, gs1_key, parts, sscc_key
from linecode.errors import InvalidArgument, shown
from linecode.reasons import Reason


class EpcScheme(StrEnum):
    """The EPC binary schemes linecode writes, by their TDS names."""

    SGTIN_96 = "sgtin-96"
    SGTIN_198 = "sgtin-198"
    SSCC_96 = "sscc-96"


AUTO = "auto"
"""The scheme argument that picks SGTIN-96 where the serial fits it, else SGTIN-198; SSCC-96 for
an SSCC."""

HEADERS: dict[EpcScheme, int] = {
    EpcScheme.SGTIN_96: 0x30,
    EpcScheme.SGTIN_198: 0x36,
    EpcScheme.SSCC_96: 0x31,
}
"""The 8-bit header that starts each scheme's binary encoding (TDS, EPC header values)."""

_SCHEME_OF_HEADER = {header: scheme for scheme, header in HEADERS.items()}

BITS: dict[EpcScheme, int] = {EpcScheme.SGTIN_96: 96, EpcScheme.SGTIN_198: 198, EpcScheme.SSCC_96: 96}
"""Bits of each scheme's encoding; the hex is padded with zero bits to whole 16-bit words, as a
Gen2 tag's EPC memory is written (SGTIN-198: 198 bits + 10)."""

SGTIN_FILTERS: dict[int, str] = {
    0: "all others",
    1: "point of sale (POS) trade item",
    2: "full case for transport",
    3: "reserved",
    4: "inner pack trade item grouping for handling",
    5: "reserved",
    6: "unit load",
    7: "unit inside trade item or component inside a product not intended for individual sale",
}
"""SGTIN filter values (TDS, SGTIN filter values): a sales pack is 1, a case 2, a bundle 4."""

SSCC_FILTERS: dict[int, str] = {
    0: "all others",
    1: "reserved",
    2: "full case for transport",
    3: "reserved",
    4: "reserved",
    5: "reserved",
    6: "unit load",
    7: "reserved",
}
"""SSCC filter values (TDS, SSCC filter values): a pallet is 6."""

PREFIX_LENGTHS = range(6, 13)
"""GS1 company prefix lengths the partition tables have (partition value 12 - length)."""

# Company prefix digits -> (company prefix bits, reference bits); the partition value is 12 - digits.
# TDS SGTIN partition table (reference: indicator + item reference, 13 - prefix digits) and SSCC
# partition table (reference: extension + serial reference, 17 - prefix digits).
_SGTIN_PARTITIONS = {
    12: (40, 4),
    11: (37, 7),
    10: (34, 10),
    9: (30, 14),
    8: (27, 17),
    7: (24, 20),
    6: (20, 24),
}
_SSCC_PARTITIONS = {
    12: (40, 18),
    11: (37, 21),
    10: (34, 24),
    9: (30, 28),
    8: (27, 31),
    7: (24, 34),
    6: (20, 38),
}

SGTIN_96_SERIAL_BITS = 38
SGTIN_198_SERIAL_CHARS = 20
_CHAR_BITS = 7
_SSCC_96_UNUSED_BITS = 24

_URI_ESCAPES = {'"': "%22", "%": "%25", "&": "%26", "/": "%2F", "<": "%3C", ">": "%3E", "?": "%3F"}
"""Characters of CSET 82 a URI writes escaped (TDS, URI form of GS1 AI encodable characters)."""
_URI_ESCAPING = str.maketrans(_URI_ESCAPES)


def fits_sgtin_96(serial: str) -> bool:
    """Whether SGTIN-96 holds ``serial``: digits, no leading zero (``0`` itself is one), below 2^38.

    >>> fits_sgtin_96("6789"), fits_sgtin_96("06789"), fits_sgtin_96("A1"), fits_sgtin_96(str(2**38))
    (True, False, False, False)
    """
    return (
        serial.isascii()
        and serial.isdigit()
        and (serial == "0" or not serial.startswith("0"))
        and int(serial) < 2**SGTIN_96_SERIAL_BITS
    )


def filters_of(scheme: EpcScheme) -> dict[int, str]:
    """The filter table of ``scheme``: :data:`SSCC_FILTERS` or :data:`SGTIN_FILTERS`."""
    return SSCC_FILTERS if scheme is EpcScheme.SSCC_96 else SGTIN_FILTERS


@dataclass(frozen=True, slots=True)
class Epc:
    """One code in one EPC binary scheme, with the filter value its tag carries."""

    scheme: EpcScheme
    filter_value: int
    """0..7; what each means: :func:`filters_of`."""
    company_prefix: str
    """The GS1 company prefix, 6 to 12 digits."""
    reference: str
    """SGTIN: indicator digit + item reference (13 digits with the prefix); SSCC: extension digit +
    serial reference (17 digits with the prefix)."""
    serial: str = ""
    """SGTIN: the (21) serial; SSCC: empty."""

    def __post_init__(self) -> None:
        if not (isinstance(self.filter_value, int) and 0 <= self.filter_value <= 7):
            raise InvalidArgument(
                f"EPC filter value {self.filter_value!r} is not one of 0..7 (3 bits)",
                reason=Reason.BAD_EPC,
                hint=f"{self.scheme} filters: "
                + ", ".join(f"{v} {m}" for v, m in filters_of(self.scheme).items()),
            )
        prefix, reference = self.company_prefix, self.reference
        whole = 17 if self.scheme is EpcScheme.SSCC_96 else 13
        if not (
            len(prefix) in PREFIX_LENGTHS
            and len(prefix) + len(reference) == whole
            and (prefix + reference).isascii()
            and (prefix + reference).isdigit()
        ):
            raise InvalidArgument(
                f"EPC company prefix {shown(prefix)} and reference {shown(reference)}: expected 6 to 12 "
                f"digits and {whole} digits together for {self.scheme}",
                reason=Reason.BAD_EPC,
            )
        if self.scheme is EpcScheme.SSCC_96:
            if self.serial:
                raise InvalidArgument(
                    f"an SSCC-96 EPC has no serial, got {shown(self.serial)}", reason=Reason.BAD_EPC
                )
        elif self.scheme is EpcScheme.SGTIN_96 and not fits_sgtin_96(self.serial):
            raise InvalidArgument(
                f"GS1 serial {shown(self.serial)} does not fit SGTIN-96: expected digits without a "
                f"leading zero, below 2^38 ({2**SGTIN_96_SERIAL_BITS:,})",
                reason=Reason.BAD_SERIAL,
                codes=[self.serial],
                hint="use SGTIN-198 (scheme auto picks it)",
            )
        elif self.scheme is EpcScheme.SGTIN_198:
            bad = [c for c in self.serial if c not in CSET82]
            if not 1 <= len(self.serial) <= SGTIN_198_SERIAL_CHARS or bad:
                raise InvalidArgument(
                    f"GS1 serial {shown(self.serial)} does not fit SGTIN-198: expected 1 to "
                    f"{SGTIN_198_SERIAL_CHARS} characters of GS1 character set 82"
                    + (f", found {bad[0]!r}" if bad else f", got {len(self.serial)}"),
                    reason=Reason.BAD_SERIAL,
                    codes=[self.serial[:SGTIN_198_SERIAL_CHARS]],
                )

    @property
    def key(self) -> CodeKey:
        """The canonical key of the code (``(01)…(21)…`` or ``(00)…``), check digit computed."""
        prefix, reference = self.company_prefix, self.reference
        if self.scheme is EpcScheme.SSCC_96:
            return sscc_key(Sscc.build(int(reference[0]), prefix, reference[1:]).value)
        return gs1_key(Gtin.build(reference[0] + prefix + reference[1:]).value, self.serial)

    def as_bits(self) -> int:
        """The encoding as one integer of :data:`BITS` ``[scheme]`` bits, header first."""
        prefix_digits = len(self.company_prefix)
        partition = 12 - prefix_digits
        table = _SSCC_PARTITIONS if self.scheme is EpcScheme.SSCC_96 else _SGTIN_PARTITIONS
        prefix_bits, reference_bits = table[prefix_digits]
        value = HEADERS[self.scheme]
        for field, bits in (
            (self.filter_value, 3),
            (partition, 3),
            (int(self.company_prefix), prefix_bits),
            (int(self.reference), reference_bits),
        ):
            value = value << bits | field
        if self.scheme is EpcScheme.SGTIN_96:
            return value << SGTIN_96_SERIAL_BITS | int(self.serial)
        if self.scheme is EpcScheme.SGTIN_198:
            for char in self.serial.ljust(SGTIN_198_SERIAL_CHARS, "\0"):
                value = value << _CHAR_BITS | ord(char)
            return value
        return value << _SSCC_96_UNUSED_BITS

    def as_hex(self) -> str:
        """Upper-case hex for a tag encoder: the encoding padded with zero bits to whole 16-bit words.

        >>> Epc(EpcScheme.SSCC_96, 3, "0614141", "1234567890").as_hex()
        '3174257BF4499602D2000000'
        """
        bits = BITS[self.scheme]
        padded = -(-bits // 16) * 16
        return f"{self.as_bits() << (padded - bits):0{padded // 4}X}"

    def as_pure_identity_uri(self) -> str:
        """The EPC pure identity URI: ``urn:epc:id:sgtin:<prefix>.<reference>.<serial>`` (serial
        characters escaped as the TDS requires) or ``urn:epc:id:sscc:<prefix>.<reference>``.

        >>> Epc(EpcScheme.SGTIN_198, 3, "0614141", "712345", "32a/b").as_pure_identity_uri()
        'urn:epc:id:sgtin:0614141.712345.32a%2Fb'
        """
        if self.scheme is EpcScheme.SSCC_96:
            return f"urn:epc:id:sscc:{self.company_prefix}.{self.reference}"
        return f"urn:epc:id:sgtin:{self.company_prefix}.{self.reference}.{_uri_serial(self.serial)}"

    def as_tag_uri(self) -> str:
        """The EPC tag URI: scheme and filter value in front of the pure identity's fields."""
        identity = self.as_pure_identity_uri().split(":", 4)[4]
        return f"urn:epc:tag:{self.scheme}:{self.filter_value}.{identity}"

    def as_dict(self) -> dict[str, Any]:
        """Every field and form, for JSON."""
        return {
            "key": self.key,
            "scheme": str(self.scheme),
            "filter": self.filter_value,
            "filter_meaning": filters_of(self.scheme)[self.filter_value],
            "company_prefix": self.company_prefix,
            "reference": self.reference,
            "serial": self.serial,
            "hex": self.as_hex(),
            "pure_identity_uri": self.as_pure_identity_uri(),
            "tag_uri": self.as_tag_uri(),
        }


def _uri_serial(serial: str) -> str:
    return serial.translate(_URI_ESCAPING)


def scheme_named(name: str) -> EpcScheme | None:
    """The scheme of a name (``sgtin-96``, ``SGTIN-198``…), or None for :data:`AUTO`."""
    if name.lower() == AUTO:
        return None
    try:
        return EpcScheme(name.lower())
    except ValueError:
        raise InvalidArgument(
            f"EPC scheme {shown(name)} is not one linecode writes: expected {AUTO}, " + ", ".join(EpcScheme),
            reason=Reason.BAD_EPC,
        ) from None


def check_prefix_length(company_prefix_length: int | None) -> int:
    """``company_prefix_length`` if it is one of 6..12, else raise ``BAD_COMPANY_PREFIX``."""
    if company_prefix_length is None or company_prefix_length not in PREFIX_LENGTHS:
        given = "none given" if company_prefix_length is None else f"got {company_prefix_length!r}"
        raise InvalidArgument(
            f"EPC encoding needs the GS1 company prefix length, 6 to 12 digits: {given}",
            reason=Reason.BAD_COMPANY_PREFIX,
            hint="a GTIN or SSCC does not say where its company prefix ends: ask the brand owner, "
            "to whom GS1 assigned it; e.g. 7 digits, 0614141, in 80614141123458",
        )
    return company_prefix_length


def encode(
    code: str,
    *,
    company_prefix_length: int | None,
    filter_value: int = 0,
    scheme: EpcScheme | str = AUTO,
) -> Epc:
    """The EPC of a GS1 code or SSCC in any spelling :func:`~linecode.codes.code_key` reads.

    ``scheme`` is ``auto`` (SGTIN-96 where the serial fits it, else SGTIN-198; SSCC-96 for an
    SSCC) or a scheme name. Raises :class:`InvalidArgument`: ``BAD_COMPANY_PREFIX`` without a prefix
    length of 6..12, ``NO_EPC_SCHEME`` for an nmpa20 code or a scheme of the other kind of code,
    ``BAD_SERIAL`` for a serial SGTIN-96 cannot hold, ``BAD_EPC`` for a filter value not 0..7 or an
    unknown scheme; and what :func:`code_key` raises for text that is no code.

    >>> encode("106141412345678908", company_prefix_length=7, filter_value=3).as_pure_identity_uri()
    'urn:epc:id:sscc:0614141.1234567890'
    >>> encode("(01)70614141123451(21)32a/b", company_prefix_length=7).scheme
    <EpcScheme.SGTIN_198: 'sgtin-198'>
    """
    key = code_key(code)
    asked = scheme_named(scheme) if isinstance(scheme, str) else scheme
    length = check_prefix_length(company_prefix_length)
    p = parts(key)
    if p.rule == "nmpa20":
        raise InvalidArgument(
            f"code {shown(key)} is an nmpa20 code: no EPC scheme encodes it (the EPC Tag Data "
            "Standard encodes GS1 keys); expected a GS1 code (01)…(21)… or an SSCC",
            reason=Reason.NO_EPC_SCHEME,
            codes=[key],
        )
    if p.rule == "sscc":
        if asked not in (None, EpcScheme.SSCC_96):
            raise _wrong_kind(key, asked, "an SSCC", EpcScheme.SSCC_96)
        digits = p.identifier
        return Epc(
            EpcScheme.SSCC_96, filter_value, digits[1 : 1 + length], digits[0] + digits[1 + length : 17]
        )
    if asked is EpcScheme.SSCC_96:
        raise _wrong_kind(key, asked, "a GS1 pack code", "sgtin-96 or sgtin-198")
    if asked is None:
        asked = EpcScheme.SGTIN_96 if fits_sgtin_96(p.serial) else EpcScheme.SGTIN_198
    gtin = p.identifier
    return Epc(asked, filter_value, gtin[1 : 1 + length], gtin[0] + gtin[1 + length : 13], p.serial)


def _wrong_kind(key: str, asked: EpcScheme, kind: str, expected: str) -> InvalidArgument:
    return InvalidArgument(
        f"code {shown(key)} is {kind}: {asked} does not encode it; expected {expected} (or auto)",
        reason=Reason.NO_EPC_SCHEME,
        codes=[key],
    )


def decode(text: str) -> Epc:
    """The EPC a tag's hex holds (spaces allowed, any case): SGTIN-96, SGTIN-198 or SSCC-96.

    The hex is the encoding, optionally padded with zero bits up to whole 16-bit words (SGTIN-198:
    50 or 52 hex digits); padding and unused bits must be zero. Raises :class:`InvalidArgument`
    ``BAD_EPC`` saying what is wrong.

    >>> decode("3674257BF6B7A659B2C2BF1000000000000000000000000000").as_tag_uri()
    'urn:epc:tag:sgtin-198:3.0614141.712345.32a%2Fb'
    """
    digits = "".join(text.split())
    if not digits or len(digits) > 64 or not all(c in "0123456789abcdefABCDEF" for c in digits):
        raise _bad_epc(text, "expected hex digits (the tag's EPC memory from the header on)")
    header = int(digits[:2], 16) if len(digits) >= 2 else -1
    scheme = _SCHEME_OF_HEADER.get(header)
    if scheme is None:
        raise _bad_epc(
            text,
            "its header is none of " + ", ".join(f"{s.upper()} ({h:02X})" for s, h in HEADERS.items()),
        )
    bits, given = BITS[scheme], len(digits) * 4
    padded = -(-bits // 16) * 16
    if not bits <= given <= padded:
        wanted = " or ".join(str(n // 4) for n in sorted({-(-bits // 4) * 4, padded}))
        raise _bad_epc(text, f"{scheme.upper()} is {wanted} hex digits, got {len(digits)}")
    whole = int(digits, 16)
    value, padding = whole >> (given - bits), whole & ((1 << (given - bits)) - 1)
    if padding:
        raise _bad_epc(text, "the padding after the encoding is not zero")
    return _fields(text, scheme, value, bits)


def _fields(text: str, scheme: EpcScheme, value: int, bits: int) -> Epc:
    """Cut a scheme's encoding (``bits`` bits, header first) into its fields."""

    def take(n: int) -> int:
        nonlocal value, bits
        bits -= n
        field = value >> bits
        value &= (1 << bits) - 1
        return field

    take(8)  # the header, known
    filter_value, partition = take(3), take(3)
    if partition > 6:
        raise _bad_epc(text, f"partition value {partition} is none of 0..6")
    prefix_digits = 12 - partition
    table = _SSCC_PARTITIONS if scheme is EpcScheme.SSCC_96 else _SGTIN_PARTITIONS
    prefix_bits, reference_bits = table[prefix_digits]
    reference_digits = (17 if scheme is EpcScheme.SSCC_96 else 13) - prefix_digits
    prefix, reference = take(prefix_bits), take(reference_bits)
    if prefix >= 10**prefix_digits or reference >= 10**reference_digits:
        raise _bad_epc(
            text,
            f"company prefix {prefix} or reference {reference} has more digits than partition "
            f"{partition} allows ({prefix_digits} and {reference_digits})",
        )
    serial = ""
    if scheme is EpcScheme.SGTIN_96:
        serial = str(take(SGTIN_96_SERIAL_BITS))
    elif scheme is EpcScheme.SGTIN_198:
        chars = [take(_CHAR_BITS) for _ in range(SGTIN_198_SERIAL_CHARS)]
        end = chars.index(0) if 0 in chars else len(chars)
        serial = "".join(map(chr, chars[:end]))
        if any(chars[end:]) or not serial or any(c not in CSET82 for c in serial):
            raise _bad_epc(text, "its serial is not 1 to 20 characters of GS1 character set 82, zero-filled")
    elif take(_SSCC_96_UNUSED_BITS):
        raise _bad_epc(text, "the 24 unallocated bits of SSCC-96 are not zero")
    return Epc(
        scheme, filter_value, f"{prefix:0{prefix_digits}d}", f"{reference:0{reference_digits}d}", serial
    )


def _bad_epc(text: str, what: str) -> InvalidArgument:
    return InvalidArgument(f"EPC hex {shown(text)} is not readable: {what}", reason=Reason.BAD_EPC)
