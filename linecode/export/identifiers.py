"""Code keys and lines as the URIs an export names them by.

GS1 codes become GS1 Digital Link URIs (valid EPCIS 2.0 identifiers, and unlike SGTIN EPC URIs they
do not need the GS1 company prefix length, which the store does not know). The others get private
URNs of the ``linecode`` namespace:

================================ ==========================================================
store key                        URI
================================ ==========================================================
``(01)<GTIN-14>(21)<serial>``    ``https://id.gs1.org/01/<GTIN-14>/21/<serial>``
``(00)<SSCC 18 digits>``         ``https://id.gs1.org/00/<SSCC>``
``<20 digits>`` (nmpa20)         ``urn:linecode:nmpa20:<20 digits>``
line id (read point)             ``urn:linecode:line:<line id, percent-encoded>``
================================ ==========================================================

GS1 serials are percent-encoded as the Digital Link standard asks (our serials are digits or
upper-case letters, which stay as they are).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from linecode.errors import InvalidArgument

DIGITAL_LINK = "https://id.gs1.org/"
NMPA20_URN = "urn:linecode:nmpa20:"
LINE_URN = "urn:linecode:line:"


def code_uri(key: str) -> str:
    """The URI of a code given by its store key.

    >>> code_uri("86000011234567890123")
    'urn:linecode:nmpa20:86000011234567890123'
    >>> code_uri("(01)09501101530003(21)ABC123")
    'https://id.gs1.org/01/09501101530003/21/ABC123'
    >>> code_uri("(00)069012340000000017")
    'https://id.gs1.org/00/069012340000000017'
    """
    if key.startswith("(01)") and key[18:22] == "(21)":
        return f"{DIGITAL_LINK}01/{key[4:18]}/21/{quote(key[22:], safe='')}"
    if key.startswith("(00)"):
        return f"{DIGITAL_LINK}00/{key[4:]}"
    if len(key) == 20 and key.isascii() and key.isdigit():
        return NMPA20_URN + key
    raise InvalidArgument(
        f"code key {key!r} is none of the store's forms: expected 20 digits (nmpa20), "
        "'(01)<GTIN-14>(21)<serial>' or '(00)<18 digits>'",
        reason="BAD_CODE_KEY",
        codes=[key],
    )


def code_of_uri(uri: str) -> str:
    """The store key of a URI made by :func:`code_uri` (for readers of our exports).

    >>> code_of_uri("https://id.gs1.org/01/09501101530003/21/ABC123")
    '(01)09501101530003(21)ABC123'
    >>> code_of_uri(code_uri("(00)069012340000000017"))
    '(00)069012340000000017'
    """
    if uri.startswith(NMPA20_URN):
        return uri[len(NMPA20_URN) :]
    if uri.startswith(DIGITAL_LINK + "01/"):
        gtin, ai, serial = uri[len(DIGITAL_LINK) + 3 :].split("/", 2)
        if ai == "21":
            return f"(01){gtin}(21){unquote(serial)}"
    if uri.startswith(DIGITAL_LINK + "00/"):
        return "(00)" + uri[len(DIGITAL_LINK) + 3 :]
    raise InvalidArgument(
        f"URI {uri!r} names no code of ours: expected {NMPA20_URN}<20 digits>, "
        f"{DIGITAL_LINK}01/<GTIN-14>/21/<serial> or {DIGITAL_LINK}00/<SSCC>",
        reason="BAD_CODE_URI",
    )


def line_uri(line: str) -> str:
    """The read point URN of a packaging line.

    >>> line_uri("L1")
    'urn:linecode:line:L1'
    >>> line_uri("Line 2/A")
    'urn:linecode:line:Line%202%2FA'
    """
    return LINE_URN + quote(line, safe="")
