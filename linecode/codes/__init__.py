"""Code formats: immutable values with ``parse()`` and output methods. Imports nothing of ours but errors."""

from linecode.codes.checksums import gs1_check_digit
from linecode.codes.gs1 import CSET82, GS, Gs1Code, Gtin, Sscc, gs1_date, parse_element_string
from linecode.codes.keys import (
    MAX_CODE_TEXT,
    CodeKey,
    KeyParts,
    code_key,
    gs1_key,
    parts,
    sscc_key,
    symbol_data,
)
from linecode.codes.nmpa20 import CheckAuthority, Nmpa20Code, validate_identifier

__all__ = [
    "CSET82",
    "GS",
    "MAX_CODE_TEXT",
    "CheckAuthority",
    "CodeKey",
    "Gs1Code",
    "Gtin",
    "KeyParts",
    "Nmpa20Code",
    "Sscc",
    "code_key",
    "gs1_check_digit",
    "gs1_date",
    "gs1_key",
    "parse_element_string",
    "parts",
    "sscc_key",
    "symbol_data",
    "validate_identifier",
]
