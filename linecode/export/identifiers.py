"""Code keys and lines as the URIs an export names them by.

GS1 codes become GS1 Digital Link URIs (valid EPCIS 2.0 identifiers, and unlike SGTIN EPC URIs they
do not need the GS1 company prefix length, which the store does not know). The others get private
URNs of the ``linecode`` namespace; the table is in ``docs/exports.md`` (Identifiers).

GS1 serials are percent-encoded as the Digital Link standard asks (our serials are digits or
upper-case letters, which stay as they are).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from linecode.codes import gs1_key, parts, sscc_key
from linecode.errors import InvalidArgument, shown
from linecode.reasons import Reason

DIGITAL_LINK = "https://id.gs1.org/"
NMPA20_URN = "urn:linecode:nmpa20:"
LINE_URN = "urn:linecode:line:"


def code_uri(key: str) -> str:
    """The URI of a code given by its store key.

    >>> code_uri("86000011234567890123")
    'urn:linecode:nmpa20:86000011234567890123'
    >>> code_uri("(01)09501101530003(21)ABC123")
    'https://id.gs1.org/01/09501101530003/21/ABC123'
    >>> code_uri("(00)069012340000000016")
    'https://id.gs1.org/00/069012340000000016'
    """
    p = parts(key)
    if p.rule == "gs1":
        return f"{DIGITAL_LINK}01/{p.identifier}/21/{quote(p.serial, safe='')}"
    if p.rule == "sscc":
        return f"{DIGITAL_LINK}00/{p.identifier}"
    return NMPA20_URN + key


def code_of_uri(uri: str) -> str:
    """The store key of a URI made by :func:`code_uri` (for readers of our exports).

    >>> code_of_uri("https://id.gs1.org/01/09501101530003/21/ABC123")
    '(01)09501101530003(21)ABC123'
    >>> code_of_uri(code_uri("(00)069012340000000016"))
    '(00)069012340000000016'
    """
    if uri.startswith(NMPA20_URN):
        return uri[len(NMPA20_URN) :]
    if uri.startswith(DIGITAL_LINK + "01/"):
        gtin, ai, serial = [*uri[len(DIGITAL_LINK) + 3 :].split("/", 2), "", ""][:3]
        if ai == "21" and serial:
            return gs1_key(gtin, unquote(serial))
    if uri.startswith(DIGITAL_LINK + "00/"):
        return sscc_key(uri[len(DIGITAL_LINK) + 3 :])
    raise InvalidArgument(
        f"URI {shown(uri)} names no code of ours: expected {NMPA20_URN}<20 digits>, "
        f"{DIGITAL_LINK}01/<GTIN-14>/21/<serial> or {DIGITAL_LINK}00/<SSCC>",
        reason=Reason.BAD_CODE_URI,
    )


def line_uri(line: str) -> str:
    """The read point URN of a packaging line.

    >>> line_uri("L1")
    'urn:linecode:line:L1'
    >>> line_uri("Line 2/A")
    'urn:linecode:line:Line%202%2FA'
    """
    return LINE_URN + quote(line, safe="")
