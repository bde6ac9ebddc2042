"""DataMatrix kernel and API: Cython equals the reference, the standard's worked example, images,
validation before encoding, sizes, bulk calls, the libdmtx backend."""

from __future__ import annotations

import contextlib
import string
import zlib
from collections.abc import Callable

import numpy as np
import pytest

from linecode import _datamatrix as dm
from linecode import render
from linecode.codes import GS, Gs1Code, Gtin, Nmpa20Code
from linecode.errors import InvalidArgument, InvalidCode, InvalidData
from linecode.reasons import Reason
from linecode.render import SIZES, formats, libdmtx
from linecode.render import image_reference as image_ref
from linecode.render import reference as ref

NMPA20 = "86123451234567890042"
GS1_HRI = "(01)09501101530003(21)ABC123(17)291231(10)L1"
GS1_RAW = "0109501101530003" + "21ABC123" + GS + "17291231" + "10L1"
ALPHABET = string.digits * 3 + string.ascii_uppercase * 2 + string.ascii_lowercase + "-./ !%:;<=>?@[]^_" + GS


def random_data(rng: np.random.Generator, length: int) -> bytes:
    return "".join(rng.choice(list(ALPHABET), length)).encode()


def test_size_table_is_the_standards() -> None:
    fields = ("rows", "cols", "region_rows", "region_cols", "data_codewords", "ecc_per_block", "blocks")
    assert [tuple(getattr(s, f) for f in fields) for s in SIZES] == list(dm.SIZES)
    assert sum(s.square for s in SIZES) == 24 and sum(not s.square and not s.dmre for s in SIZES) == 6
    # ISO/IEC 21471: 18 rectangles after the 30 of ISO/IEC 16022 (zint's size numbers 31..48).
    assert [s.name for s in SIZES if s.dmre] == [s.name for s in SIZES[30:]] == [
        "8x48", "8x64", "8x80", "8x96", "8x120", "8x144", "12x64", "12x88", "16x64",
        "20x36", "20x44", "20x64", "22x48", "24x48", "24x64", "26x40", "26x48", "26x64",
    ]  # fmt: skip
    for s in SIZES:
        # The mapping matrix holds exactly the codewords (plus at most 4 filler modules), and the
        # placement puts every bit of every codeword in exactly one module.
        bits = s.mapping_rows * s.mapping_cols
        assert 0 <= bits - 8 * (s.data_codewords + s.ecc_per_block * s.blocks) <= 4
        spots = ref.placement(s.mapping_rows, s.mapping_cols)
        assert sorted(b for b in spots if b >= 0) == list(range(8 * (bits // 8))), s.name
        assert s.regions_v * (s.region_rows + 2) == s.rows and s.regions_h * (s.region_cols + 2) == s.cols
    for size_set in range(ref.SIZE_SETS):
        assert dm.candidates(size_set) == ref.candidates(size_set)


def test_candidate_order_is_area_then_squarer() -> None:
    for size_set in range(ref.SIZE_SETS):
        order = [SIZES[k] for k in ref.candidates(size_set)]
        keys = [(s.rows * s.cols, -s.rows) for s in order]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)  # no tie left undecided
    names = {n: [s.name for s in (SIZES[k] for k in ref.candidates(n))] for n in range(ref.SIZE_SETS)}
    assert not any(s.dmre for n in (0, 1, 2) for s in (SIZES[k] for k in ref.candidates(n)))
    assert all(render.symbol_size(n).square for n in names[ref.SHAPE_SQUARE])
    assert len(names[ref.SHAPE_ANY_DMRE]) == 48 and len(names[ref.SHAPE_RECTANGLE_DMRE]) == 24
    # Equal areas: square before rectangle, ECC 200 before DMRE, then the squarer DMRE.
    for first, second in [("32x32", "16x64"), ("16x48", "12x64"), ("12x64", "8x96"), ("22x48", "12x88"),
                          ("24x48", "8x144"), ("24x24", "16x36")]:  # fmt: skip
        assert names[ref.SHAPE_ANY_DMRE].index(first) < names[ref.SHAPE_ANY_DMRE].index(second)


def test_iso_16022_worked_example() -> None:
    # ISO/IEC 16022 annex O: "123456" -> digit pairs 142 164 186, check codewords 114 25 5 88 102.
    k, cws = ref.codewords(b"123456", False)
    assert SIZES[k].name == "10x10"
    assert ref.interleave(SIZES[k], cws) == [142, 164, 186, 114, 25, 5, 88, 102]
    assert dm.codewords(b"123456", False) == (k, cws)


def test_cython_equals_reference_value_for_value() -> None:
    rng = np.random.default_rng(16022)
    for t in range(400):
        length = int(rng.integers(0, 40)) if t % 8 else int(rng.integers(40, 700))
        data, gs1, shape = random_data(rng, length), bool(t % 2), t % ref.SIZE_SETS if length < 60 else 0
        k, cws = ref.codewords(data, gs1, shape=shape)
        assert dm.codewords(data, gs1, shape=shape) == (k, cws), data
        assert dm.needs(data, gs1) == (lambda e: (min(e[0], e[4]), e[1], e[3]))(ref.ends(ref.plan(data, gs1)))
        k2, modules = dm.encode(data, gs1, shape=shape)
        expected = ref.symbol(SIZES[k], ref.interleave(SIZES[k], cws))
        assert k2 == k and (modules == np.array(expected, dtype=np.uint8)).all(), data
        px, quiet = 1 + t % 3, t % 4
        assert dm.image(modules, px, quiet, dm.PNG) == image_ref.png(expected, px, quiet)
        assert dm.image(modules, px, quiet, dm.PBM) == image_ref.pbm(expected, px, quiet)


def test_cython_equals_reference_in_every_fixed_size() -> None:
    rng = np.random.default_rng(7)
    for k, s in enumerate(SIZES):
        data = random_data(rng, int(rng.integers(1, s.data_codewords + 1)))
        try:
            expected = ref.encode(data, True, size=k)
        except ValueError as exc:
            with pytest.raises(ValueError) as err:
                dm.encode(data, True, size=k)
            assert refusal(err.value) == refusal(exc) == (InvalidData, Reason.DOES_NOT_FIT, None)
            continue
        kk, modules = dm.encode(data, True, size=k)
        assert kk == k and (modules == np.array(expected[1], dtype=np.uint8)).all()


def refusal(exc: BaseException) -> tuple[type, str, int | None]:
    """What tells one refusal of data from another: error class, reason, index in a bulk call."""
    return type(exc), exc.reason, exc.index  # type: ignore[attr-defined]


def refused(call: Callable[..., object], *args: object) -> tuple[type, str, int | None] | None:
    try:
        call(*args)
    except InvalidData as exc:
        return refusal(exc)
    return None


def test_cython_refuses_what_the_reference_refuses() -> None:
    """Error for error: a byte above 127 (at any length, before any length rule), data too long
    for every size or for the fixed one; in a bulk call the first code the reference refuses, by
    its place in the batch, whichever kernel runs it."""
    rng = np.random.default_rng(16023)
    for data, gs1, size, shape in [
        (b"\xc3\xa9t\xc3\xa9", False, -1, ref.SHAPE_ANY),
        (b"\x80" + b"1" * 4000, True, -1, ref.SHAPE_ANY),
        (random_data(rng, 3500), True, -1, ref.SHAPE_ANY),
        (random_data(rng, 40), False, 0, ref.SHAPE_ANY),
        (random_data(rng, 120), False, -1, ref.SHAPE_RECTANGLE),
    ]:
        expected = refused(ref.codewords, data, gs1, size, shape)
        assert expected is not None and expected[0] is InvalidData and expected[2] is None, data[:8]
        assert refused(dm.codewords, data, gs1, size, shape) == expected, data[:8]
        assert refused(dm.encode, data, gs1, size, shape) == expected, data[:8]
        if expected[1] == Reason.BAD_CHARACTER:
            assert refused(ref.data_values, data, gs1) == refused(dm.needs, data, gs1) == expected
    k = next(i for i, s in enumerate(SIZES) if s.name == "16x16")
    fits, too_long, not_ascii = b"12345678", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "Ünïcödé".encode()
    for batch in ([fits, fits, too_long, fits, not_ascii], [fits, not_ascii, too_long], [fits] * 3):
        flat = np.frombuffer(b"".join(batch), dtype=np.uint8)
        offsets = np.array([0, *np.cumsum([len(code) for code in batch])], dtype=np.int64)
        n = len(batch)
        for size, shape in ((k, ref.SHAPE_ANY), (-1, ref.SHAPE_RECTANGLE)):
            each = [refused(ref.codewords, code, False, size, shape) for code in batch]
            first = next((e for e in each if e is not None), None)  # what the reference says first
            expected = None if first is None else (*first[:2], each.index(first))
            if size >= 0:
                out = np.empty((n, SIZES[k].rows, SIZES[k].cols), dtype=np.uint8)
                assert refused(dm.encode_many, flat, offsets, False, k, out) == expected, batch
            else:
                out, sizes = np.empty((n, 8, 18), dtype=np.uint8), np.empty(n, dtype=np.int32)
                assert refused(dm.encode_many_smallest, flat, offsets, False, shape, out, sizes) == expected
            assert refused(dm.render_many, flat, offsets, False, size, shape, 1, 1, dm.PNG) == expected
        each = [refused(ref.data_values, code, False) for code in batch]
        at = next((i for i, e in enumerate(each) if e is not None), None)
        expected = None if at is None else (InvalidData, Reason.BAD_CHARACTER, at)
        counts = np.empty((n, 3), dtype=np.int32)
        assert refused(dm.needs_many, flat, offsets, False, counts) == expected, batch


def test_bulk_calls_name_the_code_that_does_not_fit_in_any_thread() -> None:
    # The kernels name a code by its place in the slice a thread was given; the API by its data.
    short = "(01)09501101530003(21)A1(17)291231(10)L1"
    long = "(01)09501101530003(21)aB-cD.eF/gH%iJ-kL.mN(17)291231(10)oP-qR.sT/uV%wX-yZ.aB"  # > 49 codewords
    codes = [short] * 5000
    codes[4321] = long
    size = SIZES[dm.codewords(render.symbol_data(short, True)[0], True)[0]].name
    first_too_long = [long, *codes[:10]]  # the smallest-size guess is made on the first code
    for call in (
        lambda: render.render_many(codes, gs1=True, size=size, threads=2),
        lambda: render.matrices(codes, gs1=True, size=size, threads=2),
        lambda: render.matrices(codes, gs1=True, shape="rectangle", threads=2),
        lambda: render.matrices(first_too_long, gs1=True, shape="rectangle"),
    ):
        with pytest.raises(InvalidArgument, match=r"oP-qR\.sT/uV%wX-yZ\.aB.* does not fit: it needs") as err:
            call()
        assert err.value.reason == Reason.DOES_NOT_FIT


def test_144x144_interleaves_blocks_of_156_and_155() -> None:
    k = next(i for i, s in enumerate(SIZES) if s.name == "144x144")
    data = [n % 254 + 1 for n in range(1558)]
    stream = ref.interleave(SIZES[k], data)
    assert len(stream) == 1558 + 620
    # Blocks 0..7 hold 156 data codewords, 8 and 9 hold 155: each block's check is its own.
    assert stream[1558 + 8] == ref.ecc(data[8::10], 62)[0] and len(data[8::10]) == 155
    assert stream[1558 + 10] == ref.ecc(data[0::10], 62)[1] and len(data[0::10]) == 156


def test_padding_is_randomised_per_position() -> None:
    # ISO 16022 5.2.3: first pad 129, then 129 + (149 * position mod 253) + 1, less 254 above 254:
    # positions 3, 4, 5 give 129 + 195 - 254, 129 + 91, 129 + 240 - 254.
    assert ref.pad([142], 5) == [142, 129, 70, 220, 115]


def test_c40_makes_upper_case_alphanumerics_smaller() -> None:
    data = b"ABCDEFGHJKLMNPQRSTUV"
    _, cws = ref.codewords(data, False)
    assert cws[0] == ref.LATCH_C40
    assert ref.ends(ref.plan(data, False))[0] < len(data)  # fewer codewords than ASCII's one each
    text = ref.codewords(b"abcdefghjklmnpqrstuv", False)[1]
    assert text[0] == ref.LATCH_TEXT


def test_edifact_makes_punctuated_upper_case_smaller() -> None:
    # A GS1 serial like zint's test case: EDIFACT packs 4 characters into 3 codewords.
    data = b"0108266811739453" + b"21bSwDjp7C4:-A!=ZCQ" + GS.encode() + b"1744022110UC18T"
    k, cws = dm.codewords(data, True)
    assert ref.LATCH_EDIFACT in cws and SIZES[k].name == "24x24"
    assert ref.codewords(data, True) == (k, cws)


def test_gs1_starts_with_fnc1_and_separates_with_fnc1() -> None:
    _, cws = dm.codewords(GS1_RAW.encode(), True)
    assert cws[0] == ref.FNC1
    data, gs1 = render.symbol_data(GS1_HRI, gs1=True)
    assert (data, gs1) == (GS1_RAW.encode(), True)


def test_gs1_separator_only_after_variable_fields_not_last() -> None:
    assert render.symbol_data("(01)09501101530003(10)B1(21)S1", gs1=True)[0] == b"0109501101530003" + (
        b"10B1\x1d21S1"
    )
    assert render.symbol_data("(00)106141411234567897", gs1=True)[0] == b"00106141411234567897"
    assert render.symbol_data("(01)09501101530003(17)291231", gs1=True)[0] == b"010950110153000317291231"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(01)09501101530004(21)1(17)291231(10)L1", "BAD_CHECK"),  # GTIN check digit
        ("(01)09501101530003(21)1(17)291331(10)L1", "BAD_DATE"),  # month 13
        ("(01)09501101530003(21)1(17)290230(10)L1", "BAD_DATE"),  # 30 February
        ("(00)106141411234567890", "BAD_CHECK"),  # SSCC check digit
        ("(01)09501101530003(21)A B", "BAD_CHARACTER"),  # space is not CSET 82
        ("(99)123", "UNKNOWN_AI"),
    ],
)
def test_invalid_gs1_data_is_refused_before_encoding(text: str, reason: str) -> None:
    with pytest.raises(InvalidCode) as err:
        render.render(text, gs1=True)
    assert err.value.reason == reason


def test_invalid_nmpa20_data_is_refused() -> None:
    with pytest.raises(InvalidCode, match="expected 20 digits, got 19"):
        render.matrix(NMPA20[:-1], gs1=False)
    with pytest.raises(InvalidCode, match="expected only digits"):
        render.matrix("8612345 12345678A 0042", gs1=False)
    with pytest.raises(InvalidCode, match="expected only digits"):
        render.matrix("caf\u00e9", gs1=False)
    assert render.matrix("8612345 123456789 0042", gs1=False).shape == (16, 16)
    with pytest.raises(InvalidArgument, match="gs1=True"):
        render.matrix(NMPA20)  # text needs to say what it is


def test_does_not_fit_names_need_and_capacity() -> None:
    with pytest.raises(InvalidArgument) as err:
        render.render(NMPA20, gs1=False, size="12x12")
    assert err.value.reason == "DOES_NOT_FIT"
    assert "needs 10 data codewords" in str(err.value) and "12x12 holds 5" in str(err.value)
    punctuation = "!%&'*+,-./:;<=>?_!%&"  # 20 characters of one ASCII codeword each at best
    long_gs1 = f"(01)09501101530003(21){punctuation}(17)291231(10){punctuation}"
    with pytest.raises(InvalidArgument, match="largest rectangle size 16x48 holds 49"):
        render.matrix(long_gs1, gs1=True, shape="rectangle")
    assert render.matrix(long_gs1, gs1=True, shape="rectangle", dmre=True).shape == (20, 44)
    with pytest.raises(InvalidArgument, match="size 8x48 holds 18"):
        render.matrix(long_gs1, gs1=True, size="8x48", dmre=True)


def test_bad_options_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="expected ROWSxCOLS"):
        render.matrix(NMPA20, gs1=False, size="15x15")
    with pytest.raises(InvalidArgument, match="not a rectangle"):
        render.matrix(NMPA20, gs1=False, size="16x16", shape="rectangle")
    with pytest.raises(InvalidArgument, match="image format"):
        render.render(NMPA20, gs1=False, fmt="gif")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="module size"):
        render.render(NMPA20, gs1=False, module_px=0)
    with pytest.raises(InvalidArgument, match="quiet zone"):
        render.render(NMPA20, gs1=False, quiet_zone=-1)
    with pytest.raises(InvalidArgument, match="backend"):
        render.matrix(NMPA20, gs1=False, backend="zint")  # type: ignore[arg-type]


def test_size_and_shape_choice() -> None:
    assert render.matrix(NMPA20, gs1=False).shape == (16, 16)  # ties with 8x32: square wins
    assert render.matrix(NMPA20, gs1=False, shape="rectangle").shape == (8, 32)
    assert render.matrix(NMPA20, gs1=False, size="44x44").shape == (44, 44)
    assert render.matrix(GS1_HRI, gs1=True, shape="square").shape == (22, 22)
    areas = [s.rows * s.cols for s in (SIZES[k] for k in dm.candidates(0))]
    assert areas == sorted(areas)
    assert render.matrix(GS1_HRI, gs1=True, shape="rectangle", dmre=True).shape == (8, 64)
    assert render.matrix(GS1_HRI, gs1=True, shape="square", dmre=True).shape == (22, 22)  # DMRE has none
    assert render.matrix(NMPA20, gs1=False, dmre=True).shape == (16, 16)
    assert render.matrix(NMPA20, gs1=False, size="8x48", dmre=True).shape == (8, 48)


def test_dmre_is_opt_in() -> None:
    # libdmtx reads no DMRE symbol (tests/test_render_roundtrip.py), so none comes without dmre=True.
    with pytest.raises(InvalidArgument, match="20x44 is a DMRE size") as err:
        render.matrix(NMPA20, gs1=False, size="20x44")
    assert err.value.reason == "BAD_SIZE" and "dmre=True" in str(err.value.hint)
    with pytest.raises(InvalidArgument, match="no DMRE"):
        render.matrix(NMPA20, gs1=False, dmre=True, backend="libdmtx")
    with pytest.raises(InvalidArgument, match="20x44 is a DMRE size"):
        render.render_many([NMPA20], gs1=False, size="20x44")
    rng = np.random.default_rng(21471)
    for _ in range(300):
        data = random_data(rng, int(rng.integers(1, 120)))
        for size_set in (ref.SHAPE_ANY, ref.SHAPE_SQUARE, ref.SHAPE_RECTANGLE):
            with contextlib.suppress(ValueError):  # too long for a rectangle
                assert not SIZES[dm.codewords(data, True, shape=size_set)[0]].dmre


def test_code_objects_render_like_their_text() -> None:
    code = Gs1Code.parse(GS1_HRI)
    assert render.render(code) == render.render(GS1_HRI, gs1=True)
    assert render.render(Nmpa20Code.parse(NMPA20)) == render.render(NMPA20, gs1=False)


def test_images_are_byte_identical_and_decode_to_the_matrix() -> None:
    modules = render.matrix(GS1_HRI, gs1=True)
    for fmt in render.FORMATS:
        for px, quiet in ((1, 1), (10, 1), (3, 0), (4, 4)):
            first = render.render(GS1_HRI, gs1=True, fmt=fmt, module_px=px, quiet_zone=quiet)
            assert first == render.render(GS1_HRI, gs1=True, fmt=fmt, module_px=px, quiet_zone=quiet)
            pixels = formats.READERS[fmt](first)
            expected = np.kron(np.pad(modules, quiet), np.ones((px, px), dtype=bool))
            assert pixels.shape == expected.shape and (pixels == expected).all(), (fmt, px, quiet)


def test_png_is_well_formed_and_small() -> None:
    png = render.render(NMPA20, gs1=False, module_px=10)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR" and png.endswith(b"IEND\xaeB`\x82")
    idat = png[png.index(b"IDAT") + 4 : -16]
    raw = zlib.decompress(idat)  # zlib checks our Adler-32; read_png checks every CRC
    assert len(raw) == 180 * (1 + 23)
    assert len(png) < 600  # rows repeated by the module size cost a few bytes each


def test_svg_is_one_path_in_pixel_units() -> None:
    svg = render.render(NMPA20, gs1=False, fmt="svg", module_px=4, quiet_zone=2)
    assert svg.startswith(b'<svg xmlns="http://www.w3.org/2000/svg"') and svg.count(b"<path") == 1
    assert b'width="80" height="80"' in svg


def test_bulk_calls_equal_one_by_one() -> None:
    rng = np.random.default_rng(3)
    codes = [
        f"(01){Gtin.build(''.join(rng.choice(list(string.digits), 13))).value}(21){n}(17)300101(10)B{n % 7}"
        for n in range(300)
    ]
    images = render.render_many(codes, gs1=True, module_px=2, threads=2)
    assert images == [render.render(c, gs1=True, module_px=2) for c in codes]
    stack = render.matrices(codes, gs1=True, threads=2)
    size = render.symbol_size(f"{stack.shape[1]}x{stack.shape[2]}")
    assert all((stack[i] == render.matrix(c, gs1=True, size=size)).all() for i, c in enumerate(codes))
    mixed = [GS1_HRI, GS1_HRI.replace("ABC123", "ABCDEFGHIJKLMNOPQRST")]  # smallest sizes differ
    stack = render.matrices(mixed, gs1=True)
    assert (
        stack.shape[1:] == render.matrix(mixed[1], gs1=True).shape != render.matrix(mixed[0], gs1=True).shape
    )
    size = render.symbol_size(f"{stack.shape[1]}x{stack.shape[2]}")
    assert (stack[0] == render.matrix(mixed[0], gs1=True, size=size)).all()
    assert render.render_many(codes[:5], gs1=True, fmt="pbm") == [
        render.render(c, gs1=True, fmt="pbm") for c in codes[:5]
    ]


def test_bulk_takes_pool_output_and_refuses_bad_codes_before_any_image() -> None:
    array = np.array([NMPA20.encode(), b"86123451234567890043"], dtype="S20")
    assert render.render_many(array, gs1=False) == [render.render(c.decode(), gs1=False) for c in array]
    assert render.matrices(array, gs1=False).shape == (2, 16, 16)
    with pytest.raises(InvalidCode, match="code 1 of the batch"):
        render.render_many(np.array([NMPA20.encode(), b"8612345123456789004X"], dtype="S20"), gs1=False)
    with pytest.raises(InvalidCode):
        render.render_many([GS1_HRI, GS1_HRI.replace("0003", "0004")], gs1=True)
    with pytest.raises(InvalidArgument, match="does not fit"):
        render.render_many([NMPA20, NMPA20], gs1=False, size="8x18")
    with pytest.raises(InvalidArgument, match="mixes"):
        render.render_many([Nmpa20Code.parse(NMPA20), Gs1Code.parse(GS1_HRI)])


def test_libdmtx_backend_writes_the_same_symbol_for_ascii_data() -> None:
    # Digits leave no encodation choice: both encoders must place the very same modules.
    for size in ("16x16", "8x32", "44x44", "64x64"):
        ours = render.matrix(NMPA20, gs1=False, size=size)
        theirs = render.matrix(NMPA20, gs1=False, size=size, backend="libdmtx")
        assert (ours == theirs).all(), size
    gs1 = render.matrix(GS1_HRI, gs1=True, backend="libdmtx")
    assert libdmtx.decode(
        np.where(np.kron(np.pad(gs1, 1), np.ones((4, 4), bool)), 0, 255).astype(np.uint8)
    ) == (GS.encode() + GS1_RAW.encode())
    with pytest.raises(InvalidArgument, match="libdmtx cannot encode"):
        render.matrix(NMPA20, gs1=False, size="10x10", backend="libdmtx")
