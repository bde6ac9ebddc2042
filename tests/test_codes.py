"""Code formats: every rejection has its own reason, and what we write, biip reads the same."""

from __future__ import annotations

import datetime as dt

import biip
import pytest
from biip.gs1_messages import GS1Message

from linecode.codes import (
    GS,
    Gs1Code,
    Gtin,
    Nmpa20Code,
    Sscc,
    gs1_check_digit,
    gs1_date,
    parse_element_string,
)
from linecode.errors import InvalidCode, NotFound


class FixedChecks:
    def expected_check(self, identifier: str, serial: str) -> str | None:
        return "1234" if identifier == "8612345" else None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("8612345123456789123", "BAD_LENGTH"),
        ("861234512345678912345", "BAD_LENGTH"),
        ("8612345A23456789-1234", "BAD_CHARACTER"),
        ("\uff18612345123456789\uff11234", "BAD_CHARACTER"),
        ("86123451234567891235", "BAD_CHECK"),
        ("86123461234567891234", "UNKNOWN_IDENTIFIER"),
    ],
)
def test_nmpa20_rejections_are_distinct(text: str, reason: str) -> None:
    with pytest.raises((InvalidCode, NotFound)) as err:
        Nmpa20Code.parse(text, FixedChecks())
    assert err.value.reason == reason
    assert repr(text) in str(err.value)


def test_nmpa20_parse_hri_and_data() -> None:
    code = Nmpa20Code.parse(" 8612345-123456789 1234 ", FixedChecks())
    assert code == Nmpa20Code("8612345", "123456789", "1234")
    assert code.data == "86123451234567891234"
    assert Nmpa20Code.parse(code.as_hri()) == code


def test_gtin_check_digit() -> None:
    assert gs1_check_digit("0950110153000") == 3
    assert Gtin.parse("9501101530003").value == "09501101530003"
    with pytest.raises(InvalidCode, match="expected 3, got 4") as err:
        Gtin.parse("09501101530004")
    assert err.value.reason == "BAD_CHECK"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("291231", dt.date(2029, 12, 31)), ("290200", dt.date(2029, 2, 28)), ("280200", dt.date(2028, 2, 29))],
)
def test_gs1_dates(text: str, expected: dt.date) -> None:
    assert gs1_date(text) == expected


@pytest.mark.parametrize("text", ["291301", "290230", "2912", "29123A", "290000"[:-1] + "x"])
def test_gs1_bad_dates(text: str) -> None:
    with pytest.raises(InvalidCode) as err:
        gs1_date(text)
    assert err.value.reason == "BAD_DATE"


def test_gs1_code_round_trips_hri_and_element_string() -> None:
    code = Gs1Code(Gtin.parse("09501101530003"), "A1B2C3", "291200", "LOT-7/2")
    assert code.as_hri() == "(01)09501101530003(21)A1B2C3(17)291200(10)LOT-7/2"
    assert code.as_element_string() == f"010950110153000321A1B2C3{GS}1729120010LOT-7/2"
    assert Gs1Code.parse(code.as_hri()) == code
    assert Gs1Code.parse(code.as_element_string()) == code
    assert Gs1Code.parse("]d2" + GS + code.as_element_string()) == code


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(01)09501101530004(21)A(17)291231(10)L", "BAD_CHECK"),
        ("(01)09501101530003(21)a b(17)291231(10)L", "BAD_CHARACTER"),
        ("(01)09501101530003(21)" + "9" * 21 + "(17)291231(10)L", "BAD_LENGTH"),
        ("(01)09501101530003(21)A(17)291331(10)L", "BAD_DATE"),
        ("(01)09501101530003(21)A(10)L", "MISSING_AI"),
        ("(01)09501101530003(21)A(21)B(17)291231(10)L", "DUPLICATE_AI"),
        ("(01)09501101530003(99)A(17)291231(10)L", "UNKNOWN_AI"),
        ("(01)0950110153000321A", "BAD_LENGTH"),
        ("(01)09501101530003)(21)A", "BAD_SYNTAX"),
    ],
)
def test_gs1_rejections(text: str, reason: str) -> None:
    with pytest.raises(InvalidCode) as err:
        Gs1Code.parse(text)
    assert err.value.reason == reason


def test_sscc_build_and_parse() -> None:
    sscc = Sscc.build(1, "0614141", "123456789")
    assert sscc.value == "106141411234567897"
    assert Sscc.parse("(00)106141411234567897") == sscc
    assert Sscc.parse("00106141411234567897") == sscc
    with pytest.raises(InvalidCode) as err:
        Sscc.parse("106141411234567890")
    assert err.value.reason == "BAD_CHECK"


def test_our_gs1_output_reads_the_same_in_biip() -> None:
    code = Gs1Code(Gtin.parse("09501101530003"), "0000012345678", "290200", "B2026001")
    result = biip.parse(code.as_element_string())
    assert result.gs1_message is not None
    for message in (result.gs1_message, GS1Message.parse_hri(code.as_hri())):
        values = {e.ai.ai: e.value for e in message.element_strings}
        assert values == {"01": "09501101530003", "21": "0000012345678", "17": "290200", "10": "B2026001"}
    sscc = Sscc.build(0, "6901234", "000000123")
    parsed = biip.parse(sscc.as_element_string())
    assert parsed.gs1_message is not None
    assert parsed.gs1_message.element_strings[0].value == sscc.value
    assert parse_element_string(sscc.as_hri()) == {"00": sscc.value}


# --- one code, one key ------------------------------------------------------------------------------


def test_every_spelling_of_a_code_is_one_key() -> None:
    from linecode.codes import GS, code_key

    nmpa = "86000011234567890042"
    for text in (
        nmpa,
        "8600001 123456789 0042",
        "8600001-123456789-0042",
        f"  {nmpa}\r\n",
        "86000 01123 45678 90042",
    ):
        assert code_key(text) == nmpa, text
    gs1 = "(01)09501101530003(21)ABC123"
    for text in (
        gs1,
        "(01)09501101530003(21)ABC123(17)291231(10)L1",
        f"010950110153000321ABC123{GS}1729123110L1",
        f"]d2{GS}010950110153000321ABC123{GS}1729123110L1",
        "010950110153000321ABC123",
        "01095011015300031729123121ABC123",
    ):
        assert code_key(text) == gs1, text
    sscc = "(00)106141411234567897"
    for text in (sscc, "106141411234567897", "00106141411234567897", "]C100106141411234567897"):
        assert code_key(text) == sscc, text
    # 20 digits starting 00 or 01 are the SSCC or GS1 string they spell (no nmpa20 identifier starts
    # so), else an nmpa20 code nobody issued.
    assert code_key("01095011015300032112") == "(01)09501101530003(21)12"
    assert code_key("00106141411234567898") == "00106141411234567898"  # wrong SSCC check digit
    # HRI as printed under a symbol, with spaces after the AIs
    assert code_key("(00) 106141411234567897") == sscc
    assert code_key("(01) 09501101530003 (21) ABC123 (17) 291231 (10) L1") == gs1


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "EMPTY"),
        ("8" * 10_000, "CODE_TOO_LONG"),
        ("8600001\x00123456789 0042", "BAD_CHARACTER"),
        ("".join(chr(0xFF10 + int(d)) for d in "86000011234567890042"), "BAD_CHARACTER"),  # full-width
        ("(01)09501101530003", "NOT_A_PACK_CODE"),
    ],
)
def test_a_text_that_is_no_code_is_refused_with_a_short_message(text: str, reason: str) -> None:
    from linecode.codes import code_key

    with pytest.raises(InvalidCode) as info:
        code_key(text)
    assert info.value.reason == reason
    assert len(str(info.value)) < 300
