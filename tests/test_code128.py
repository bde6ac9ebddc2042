"""Code 128 / GS1-128: the kernel against its reference, minimality, the check character, round
trips through zxing-cpp, and the input the API refuses.

The kernel (``linecode._code128``) is held to ``code128_reference`` value for value on random data
(digit runs, lower case, control characters, FNC1 anywhere); the reference's encodation is held to
an exhaustive search over every encodation ISO/IEC 15417 allows (short inputs) and, on longer ones,
is never longer than zint's; every symbol decodes back to its data with a decoder written from the
standard here, and thousands of our codes' images read back in zxing-cpp (``]C0`` for Code 128,
``]C1`` and the exact element string for GS1-128).
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from linecode import _code128 as kernel
from linecode.cli import main
from linecode.codes import GS, Gs1Code, Gtin, Nmpa20Code
from linecode.errors import InvalidArgument, InvalidCode, InvalidData
from linecode.reasons import Reason
from linecode.render import code128, formats, render, symbol_data
from linecode.render import code128_reference as ref
from linecode.serials import MasterKey, Nmpa20Pool, SsccPool

MASTER = MasterKey(bytes(range(32)))
UPPER_ALNUM = string.digits + string.ascii_uppercase
CSET82_SAMPLE = UPPER_ALNUM + string.ascii_lowercase + "!%&*+,-./:;<=>?_"  # no "(": HRI syntax

# Random data that exercises every code set: runs of digits (set C, odd and even), upper case and
# control characters (A), lower case (B), GS (FNC1 in GS1 mode), anything ASCII.
_pieces = st.one_of(
    st.text(string.digits, min_size=1, max_size=9),
    st.text(string.ascii_uppercase, min_size=1, max_size=4),
    st.text(string.ascii_lowercase, min_size=1, max_size=4),
    st.text("".join(map(chr, range(32))), min_size=1, max_size=3),
    st.just(GS),
    st.text(st.characters(max_codepoint=127), min_size=1, max_size=4),
)
ascii_data = st.lists(_pieces, min_size=1, max_size=12).map(lambda p: "".join(p).encode())


# --- kernel == reference ------------------------------------------------------------------------


@settings(max_examples=1500, deadline=None)
@given(data=ascii_data, gs1=st.booleans())
def test_kernel_equals_reference(data: bytes, gs1: bool) -> None:
    assert kernel.symbol(data, gs1) == ref.symbol(data, gs1)
    assert kernel.widths(data, gs1) == ref.widths(data, gs1)


@settings(max_examples=200, deadline=None)
@given(
    data=ascii_data,
    gs1=st.booleans(),
    module_px=st.integers(1, 4),
    quiet_zone=st.integers(0, 12),
    height_px=st.integers(1, 5),
)
def test_kernel_pixels_equal_reference(data: bytes, gs1: bool, module_px: int, quiet_zone: int,
                                       height_px: int) -> None:  # fmt: skip
    got = kernel.pixels(data, gs1, module_px, quiet_zone, height_px)
    assert got.dtype == np.uint8 and got.flags.c_contiguous
    assert got.astype(bool).tolist() == ref.pixels(data, gs1, module_px, quiet_zone, height_px)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", Reason.BAD_LENGTH),
        (b"abc\x80", Reason.BAD_CHARACTER),
        ("é".encode(), Reason.BAD_CHARACTER),
        (b"1" * (ref.MAX_DATA + 1), Reason.DOES_NOT_FIT),
    ],
)
@pytest.mark.parametrize("gs1", [False, True])
def test_kernel_refuses_what_the_reference_refuses(data: bytes, reason: Reason, gs1: bool) -> None:
    for fn in (kernel.symbol, kernel.widths, ref.symbol, ref.widths):
        with pytest.raises(InvalidData) as caught:
            fn(data, gs1)
        assert caught.value.reason == reason


def test_longest_data_every_character_shifted() -> None:
    # The kernel's buffers: MAX_DATA characters that each need a shift (alternating "a" and a
    # control character), after FNC1 in first position.
    data = b"a\x01" * (ref.MAX_DATA // 2)
    for gs1 in (False, True):
        assert kernel.symbol(data, gs1) == ref.symbol(data, gs1)


def test_patterns() -> None:
    assert len(ref.PATTERNS) == 107
    assert all(sum(map(int, p)) == 11 for p in ref.PATTERNS[:106])
    assert ref.PATTERNS[ref.STOP] == "2331112"  # the stop character and its termination bar
    # Bars (odd positions from 1) have an even module count, spaces odd: the parity readers check.
    assert all(sum(map(int, p[0:6:2])) % 2 == 0 for p in ref.PATTERNS[:106])


# --- a decoder written from the standard: every encodation means its data -----------------------


def decode(chars: list[int]) -> list[int]:
    """The data values (FNC1 as ``ref.FNC1_VALUE``) of start + data characters (no FNC4)."""
    current, out, k = chars[0] - ref.START, [], 1
    while k < len(chars):
        c, here = chars[k], current
        if c == ref.SHIFT and current != ref.SET_C:
            here, k = 1 - current, k + 1
            c = chars[k]
        elif c in ref.LATCH and not (current == ref.SET_C and c == 99):  # 99 in C: the pair 99
            # A code-set change (the change to the set we are in would be FNC4: never written).
            assert ref.LATCH.index(c) != current
            current, k = ref.LATCH.index(c), k + 1
            continue
        if c == ref.FNC1:
            out.append(ref.FNC1_VALUE)
        elif here == ref.SET_C:
            out += [48 + c // 10, 48 + c % 10]
        else:
            out.append(c - 64 if here == ref.SET_A and c >= 64 else c + 32)
        k += 1
    return out


@settings(max_examples=1000, deadline=None)
@given(data=ascii_data, gs1=st.booleans())
def test_encodation_decodes_to_its_data(data: bytes, gs1: bool) -> None:
    chars = ref.encodation(data, gs1)
    assert decode(chars) == ref.values(data, gs1)
    assert all(0 <= c <= 102 for c in chars[1:]) and 103 <= chars[0] <= 105


# --- minimality ---------------------------------------------------------------------------------


def exhaustive_minimum(v: list[int]) -> int:
    """Fewest symbol characters (start included) over every encodation ISO/IEC 15417 allows: each
    start character, then at every step any character that fits the current set, any shift A↔B,
    any code-set change (never two in a row: that is never shorter). Branch and bound, exhaustive."""
    best = [1 << 30]

    def search(i: int, s: int, used: int, just_latched: bool) -> None:
        if used >= best[0]:
            return
        if i == len(v):
            best[0] = used
            return
        if s == ref.SET_C:
            if v[i] == ref.FNC1_VALUE:
                search(i + 1, s, used + 1, False)
            elif i + 1 < len(v) and all(48 <= x <= 57 for x in v[i : i + 2]):
                search(i + 2, s, used + 1, False)
        else:
            fits_a = v[i] == ref.FNC1_VALUE or v[i] < 96
            fits_b = v[i] == ref.FNC1_VALUE or v[i] >= 32
            if (fits_a, fits_b)[s]:
                search(i + 1, s, used + 1, False)
            if (fits_b, fits_a)[s]:
                search(i + 1, s, used + 2, False)  # shift + the character
        if not just_latched:
            for t in range(3):
                if t != s:
                    search(i, t, used + 1, True)

    for s in range(3):
        search(0, s, 1, False)
    return best[0]


@settings(max_examples=600, deadline=None)
@given(
    data=st.text("0123aA\x01\x1d", min_size=1, max_size=7).map(str.encode),
    gs1=st.booleans(),
)
def test_encodation_is_minimal(data: bytes, gs1: bool) -> None:
    assert len(ref.encodation(data, gs1)) == exhaustive_minimum(ref.values(data, gs1))


@pytest.mark.parametrize(
    ("data", "count"),
    [
        (b"86123451234567890042", 11),  # start C + 10 pairs
        (b"12345", 5),  # start C 12 34, code B 5 (or start B 1, code C 23 45)
        (b"1234a1234", 8),  # start C 12 34, code B a, code C 12 34
        (b"a\x01b", 5),  # start B a, shift \x01, b
        (b"\x01a\x02b\x03", 8),  # start A, then a shift before each lower-case character
        (b"0", 2),
    ],
)
def test_known_lengths(data: bytes, count: int) -> None:
    assert len(ref.encodation(data, False)) == count == exhaustive_minimum(ref.values(data, False))


@settings(max_examples=300, deadline=None)
@given(data=st.text(string.digits + string.ascii_letters + "-./", min_size=1, max_size=40))
def test_never_longer_than_zint(data: str) -> None:
    zint_mod = pytest.importorskip("zint")
    symbol = zint_mod.Symbol()
    symbol.symbology = zint_mod.Symbology.CODE128
    symbol.encode(data.encode())
    assert sum(ref.widths(data.encode(), False)) <= symbol.width


# --- the check character ------------------------------------------------------------------------


def test_check_character_worked_example() -> None:
    chars = [105, 86, 12, 34, 51, 23, 45, 67, 89, 0, 42]  # start C, then "86123451234567890042"
    total = 105 + 1 * 86 + 2 * 12 + 3 * 34 + 4 * 51 + 5 * 23 + 6 * 45 + 7 * 67 + 8 * 89 + 9 * 0 + 10 * 42
    assert total % 103 == 35 == ref.check_character(chars)
    assert code128.encode("86123451234567890042", gs1=False) == [*chars, 35, ref.STOP]
    assert code128.check_character("86123451234567890042", gs1=False) == 35


def gray(pixels: np.ndarray) -> np.ndarray:
    return np.where(pixels, 0, 255).astype(np.uint8)


def read(pixels: np.ndarray) -> list[zxingcpp.Barcode]:
    return list(zxingcpp.read_barcodes(gray(pixels), formats=zxingcpp.BarcodeFormat.Code128))


def test_wrong_check_character_does_not_read() -> None:
    chars = kernel.symbol(b"86123451234567890042", False)
    for wrong in ((chars[-2] + 1) % 103, (chars[-2] + 50) % 103):
        bad = [*chars[:-2], wrong, ref.STOP]
        row = [k % 2 == 0 for c in bad for k, w in enumerate(ref.PATTERNS[c]) for _ in range(int(w) * 2)]
        quiet = [False] * 20
        assert read(np.array([quiet + row + quiet] * 30)) == []


# --- the API: GS1-128, images, round trips ------------------------------------------------------


def test_gs1_128_fnc1_first_and_after_variable_fields() -> None:
    hri = "(01)09501101530003(21)ABC123(17)291231(10)L1"
    data, _ = symbol_data(hri, gs1=True)
    assert data == b"010950110153000321ABC123" + GS.encode() + b"1729123110L1"
    chars = code128.encode(hri, gs1=True)
    assert chars[1] == ref.FNC1  # FNC1 in first position, right after the start character
    assert chars.count(ref.FNC1) == 2  # and one separator, after (21); (17) is fixed length; (10) last
    found = read(code128.pixels(hri, gs1=True, module_px=2, height_px=40))
    assert [(b.bytes, b.symbology_identifier, b.content_type) for b in found] == [
        (data, "]C1", zxingcpp.ContentType.GS1)
    ]
    assert found[0].text == hri


def test_code_objects_carry_their_kind() -> None:
    nmpa = Nmpa20Code.parse("86123451234567890042")
    assert code128.encode(nmpa) == code128.encode("86123451234567890042", gs1=False)
    sscc = SsccPool(MASTER, 3, "0614141").sscc(7)
    assert code128.encode(sscc)[:2] == [105, ref.FNC1]


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_image_layout(fmt: formats.Format) -> None:
    code = "86123451234567890042"
    image = code128.render(code, gs1=False, fmt=fmt, module_px=3, height_px=50, quiet_zone=12)
    pixels = formats.READERS[fmt](image)
    modules = sum(code128.widths(code, gs1=False))
    assert modules == 11 * 13 + 2
    assert pixels.shape == (50, (modules + 24) * 3)
    assert (pixels == pixels[0]).all()  # one row repeated
    assert not pixels[:, : 12 * 3].any() and not pixels[:, -12 * 3 :].any()
    assert (
        pixels.tolist() == code128.pixels(code, gs1=False, module_px=3, height_px=50, quiet_zone=12).tolist()
    )
    assert image == code128.render(code, gs1=False, fmt=fmt, module_px=3, height_px=50, quiet_zone=12)


@pytest.mark.parametrize("fmt", ["png", "pbm"])
@pytest.mark.parametrize(("module_px", "height_px"), [(1, 7), (2, 40), (3, 90), (4, 4), (5, 100)])
def test_scaled_writing_gives_the_same_bytes(fmt: formats.Format, module_px: int, height_px: int) -> None:
    # render() hands the writer one pixel per module when the height allows: same bytes as drawing
    # every pixel.
    for code, gs1 in [("86123451234567890042", False), ("(00)106141411234567897", True)]:
        drawn = code128.pixels(code, gs1=gs1, module_px=module_px, height_px=height_px)
        image = code128.render(code, gs1=gs1, fmt=fmt, module_px=module_px, height_px=height_px)
        assert image == formats.write(drawn, fmt, 1, 0)


def nmpa20_codes(count: int) -> list[str]:
    return [c.decode() for c in Nmpa20Pool(MASTER, "8612345").codes(1000, count)]


def sscc_codes(count: int) -> list[str]:
    pool = SsccPool(MASTER, 3, "0614141")
    return [pool.sscc(i).as_hri() for i in range(count)]


def gs1_codes(count: int, seed: int) -> list[str]:
    """GS1 pack codes within GS1-128's 48 characters; serials of digits, upper-case alphanumerics
    or CSET 82 in turn; HRI and raw element strings in turn."""
    rng = np.random.default_rng(seed)

    def pick(alphabet: str, lo: int, hi: int) -> str:
        return "".join(rng.choice(list(alphabet), int(rng.integers(lo, hi + 1))))

    codes = []
    for n in range(count):
        expiry = f"{rng.integers(25, 45):02d}{rng.integers(1, 13):02d}{rng.integers(0, 29):02d}"
        code = Gs1Code(
            Gtin.build(pick(string.digits, 13, 13)),
            pick((string.digits, UPPER_ALNUM, CSET82_SAMPLE)[n % 3], 1, 11),  # at most 48 characters
            expiry,
            pick(UPPER_ALNUM, 1, 8),
        )
        codes.append(code.as_hri() if n % 2 else code.as_element_string())
    return codes


@pytest.mark.slow
def test_round_trip_thousands_through_zxing() -> None:
    batches = [(nmpa20_codes(1200), False), (sscc_codes(1200), True), (gs1_codes(1600, seed=19), True)]
    failures, n = [], 0
    for codes, gs1 in batches:
        for code in codes:
            fmt = formats.FORMATS[n % 3]
            module_px = 1 + n % 3
            image = code128.render(code, gs1=gs1, fmt=fmt, module_px=module_px, height_px=20 + n % 30)
            found = read(formats.READERS[fmt](image))
            data = symbol_data(code, gs1=gs1)[0]
            expected = [(data, "]C1" if gs1 else "]C0")]
            got = [(b.bytes, b.symbology_identifier) for b in found]
            if got != expected or (gs1 and found[0].content_type != zxingcpp.ContentType.GS1):
                failures.append((code, fmt, module_px, got))
            n += 1
    assert n == 4000
    assert failures == []


def test_round_trip_a_few() -> None:
    for code, gs1 in [*((c, False) for c in nmpa20_codes(20)), *((c, True) for c in sscc_codes(20))]:
        found = read(code128.pixels(code, gs1=gs1, module_px=1, height_px=10))
        assert [(b.bytes, b.symbology_identifier) for b in found] == [
            (symbol_data(code, gs1=gs1)[0], "]C1" if gs1 else "]C0")
        ]


# --- refused input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"module_px": 0}, "module size 0 px"),
        ({"module_px": 101}, "module size 101 px"),
        ({"height_px": 0}, "bar height 0 px"),
        ({"quiet_zone": 9}, "quiet zone 9"),
        ({"quiet_zone": 0}, "quiet zone 0"),
    ],
)
def test_bad_layout(options: dict[str, int], words: str) -> None:
    for call in (code128.render, code128.pixels):
        with pytest.raises(InvalidArgument, match=words) as caught:
            call("86123451234567890042", gs1=False, **options)  # type: ignore[operator]
        assert caught.value.reason == Reason.BAD_SIZE


def test_bad_format() -> None:
    with pytest.raises(InvalidArgument) as caught:
        code128.render("86123451234567890042", gs1=False, fmt="gif")  # type: ignore[arg-type]
    assert caught.value.reason == Reason.BAD_FORMAT


def test_bad_data() -> None:
    with pytest.raises(InvalidCode):
        code128.encode("8612345123456789004X", gs1=False)
    with pytest.raises(InvalidArgument, match="say whether it is GS1"):
        code128.encode("86123451234567890042")
    with pytest.raises(InvalidCode):
        code128.encode("(01)09501101530004", gs1=True)  # wrong check digit
    long_gs1 = "(01)09501101530003(21)" + "A" * 20 + "(10)" + "B" * 20
    with pytest.raises(InvalidArgument, match="at most 48") as caught:
        code128.render(long_gs1, gs1=True)
    assert caught.value.reason == Reason.DOES_NOT_FIT


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_code128(tmp_path: Path) -> None:
    nmpa20, gs1 = "86123451234567890042", "(01)09501101530003(21)ABC123(17)291231(10)L1"
    assert main(["render", nmpa20, "--symbology", "code128", "-o", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").read_bytes() == code128.render(nmpa20, gs1=False)  # X 3 px, 100 px, 10 X
    options = ["--module-px", "2", "--height-px", "40", "--quiet-zone", "12"]
    assert main(["render", gs1, "--symbology", "code128", "-o", str(tmp_path / "b.svg"), *options]) == 0
    image = (tmp_path / "b.svg").read_bytes()
    assert image == code128.render(gs1, gs1=True, fmt="svg", module_px=2, height_px=40, quiet_zone=12)
    assert [b.symbology_identifier for b in read(formats.read_svg(image))] == ["]C1"]
    # DataMatrix stays the default, with its own defaults.
    assert main(["render", nmpa20, "-o", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes() == render(nmpa20, gs1=False)


def test_cli_code128_refuses(tmp_path: Path) -> None:
    command = ["render", "86123451234567890042", "--symbology", "code128", "-o", str(tmp_path / "x.png")]
    assert main([*command, "--quiet-zone", "9"]) == 2
    assert main([*command, "--size", "16x16"]) == 2
    assert not (tmp_path / "x.png").exists()
