"""Code formats: immutable values with ``parse()`` and output methods. Imports nothing of ours but errors."""

from linecode.codes.checksums import gs1_check_digit
from linecode.codes.gs1 import CSET82, GS, Gs1Code, Gtin, Sscc, gs1_date, parse_element_string
from linecode.codes.nmpa20 import CheckAuthority, Nmpa20Code, validate_identifier

__all__ = [
    "CSET82",
    "GS",
    "CheckAuthority",
    "Gs1Code",
    "Gtin",
    "Nmpa20Code",
    "Sscc",
    "gs1_check_digit",
    "gs1_date",
    "parse_element_string",
    "validate_identifier",
]
