"""Human-readable text under symbols (``linecode/render/hri.py``): the text of every code kind, the
symbol still read by both decoders with the text under it, the text really there (compared with
the same text rendered alone; no OCR here), any symbology (a Code 128 image), and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import zxingcpp

from linecode import render
from linecode.cli import main
from linecode.codes import GS, Gs1Code, Nmpa20Code, Sscc, code_key
from linecode.errors import InvalidArgument, InvalidCode
from linecode.reasons import Reason
from linecode.render import formats, hri
from linecode.serials import MasterKey, Nmpa20Pool
from linecode.serials.keys import KEY_FILE_NAME
from tests.test_render_roundtrip import decode_both

NMPA20 = "86123451234567890042"
GS1_HRI = "(01)09501101530003(21)ABC123(17)291231(10)L1"
GS1_RAW = "0109501101530003" + "21ABC123" + GS + "17291231" + "10L1"
SSCC = "106141411234567897"

NMPA20_TEXT = "8612345 123456789 0042"
SSCC_TEXT = "(00) 106141411234567897"


@pytest.mark.parametrize(
    ("code", "gs1", "text"),
    [
        (Nmpa20Code.parse(NMPA20), None, NMPA20_TEXT),
        (NMPA20, False, NMPA20_TEXT),
        (NMPA20, None, NMPA20_TEXT),
        ("8612345-123456789-0042", False, NMPA20_TEXT),
        (Gs1Code.parse(GS1_HRI), None, GS1_HRI),
        (GS1_HRI, True, GS1_HRI),
        (GS1_RAW, True, GS1_HRI),
        ("]d2" + GS1_RAW, None, GS1_HRI),
        ("(01)09501101530003(21)ABC123", None, "(01)09501101530003(21)ABC123"),  # a code key
        (Sscc.parse(SSCC), None, SSCC_TEXT),
        ("00" + SSCC, True, SSCC_TEXT),
        ("(00)" + SSCC, None, SSCC_TEXT),
        (SSCC, None, SSCC_TEXT),
    ],
)
def test_the_text_of_every_code_kind(code: render.Code, gs1: bool | None, text: str) -> None:
    assert hri.hri_text(code, gs1) == text
    # what a person types from the pack finds the same code
    assert code_key(text) == code_key(str(code) if not isinstance(code, Sscc) else code.as_hri())


def test_bad_codes_have_no_text() -> None:
    with pytest.raises(InvalidCode, match="expected 20 digits"):
        hri.hri_text("8612345", gs1=False)
    with pytest.raises(InvalidCode, match="month 13"):
        hri.hri_text(GS1_HRI.replace("291231", "291331"), gs1=True)
    with pytest.raises(InvalidCode, match="check digit"):
        hri.hri_text("(00)106141411234567890")


def pixels(image: bytes, fmt: formats.Format) -> npt.NDArray[np.bool_]:
    return formats.READERS[fmt](image)


@pytest.mark.parametrize("fmt", formats.FORMATS)
@pytest.mark.parametrize(
    ("code", "gs1", "expected"),
    [
        (NMPA20, False, NMPA20.encode()),
        (GS1_HRI, True, GS1_RAW.encode()),
        ("(00)" + SSCC, True, ("00" + SSCC).encode()),
    ],
)
@pytest.mark.parametrize(("module_px", "dpi"), [(10, 300), (4, 203), (2, 600)])
def test_symbols_with_text_decode_in_both_decoders(
    code: str, gs1: bool, expected: bytes, fmt: formats.Format, module_px: int, dpi: int
) -> None:
    image = pixels(render.render(code, gs1=gs1, fmt=fmt, module_px=module_px, hri=True, dpi=dpi), fmt)
    zxing, symbology, dmtx = decode_both(image, module_px)
    assert zxing == expected
    assert symbology == ("]d2" if gs1 else "]d1")
    assert dmtx == (GS.encode() + expected if gs1 else expected)


@pytest.mark.parametrize(("code", "gs1"), [(NMPA20, False), (GS1_HRI, True), ("(00)" + SSCC, True)])
def test_the_text_is_under_the_symbol(code: str, gs1: bool) -> None:
    """Symbol untouched above, the same text rendered alone below, a white border all round."""
    module_px, quiet_zone = 10, 2
    symbol = formats.read_png(render.render(code, gs1=gs1, module_px=module_px, quiet_zone=quiet_zone))
    out = formats.read_png(render.render(code, gs1=gs1, module_px=module_px, quiet_zone=quiet_zone, hri=True))
    text = hri.text_bitmap(hri.hri_text(code, gs1), hri.cap_height_px(300))
    height, width = symbol.shape
    border = quiet_zone * module_px
    assert out.shape == (height + text.shape[0] + border, max(width, text.shape[1] + 2 * border))
    left = (out.shape[1] - width) // 2
    assert (out[:height, left : left + width] == symbol).all()
    assert not out[:height, :left].any() and not out[:height, left + width :].any()
    band = out[height : height + text.shape[0]]
    left = (out.shape[1] - text.shape[1]) // 2
    assert (band[:, left : left + text.shape[1]] == text).all()
    assert not band[:, :left].any() and not band[:, left + text.shape[1] :].any()
    assert not out[height + text.shape[0] :].any()  # the bottom quiet zone again
    assert text.any(axis=0).sum() > 10 * len(hri.hri_text(code, gs1).replace(" ", ""))


@pytest.mark.parametrize(("dpi", "cap"), [(300, 30), (203, 20), (600, 59)])
def test_digits_are_the_cap_height_at_the_printers_dpi(dpi: int, cap: int) -> None:
    """2.5 mm at the printer's resolution: an H is that tall (one pixel either way: the font comes
    in whole pixel sizes), the digits of an nmpa20 line too, but for the overshoot of 0, 6 and 8."""
    assert hri.cap_height_px(dpi) == cap

    def ink_height(text: str) -> int:
        rows = np.flatnonzero(hri.text_bitmap(text, cap).any(axis=1))
        return int(rows[-1] - rows[0] + 1)

    assert abs(ink_height("H") - cap) <= 1
    assert abs(ink_height("H") / dpi * 25.4 - hri.CAP_HEIGHT_MM) < 0.1
    assert cap - 1 <= ink_height(NMPA20_TEXT) <= cap * 1.05 + 1


def test_svg_has_the_pngs_pixels_and_the_text_as_title() -> None:
    png = render.render(GS1_HRI, gs1=True, hri=True)
    svg = render.render(GS1_HRI, gs1=True, fmt="svg", hri=True)
    assert (formats.read_svg(svg) == formats.read_png(png)).all()
    assert f"<title>{GS1_HRI}</title>".encode() in svg
    assert b"<text" not in svg
    assert render.render(GS1_HRI, gs1=True, hri=True) == png  # same input, same bytes


def test_text_of_the_callers_choice_and_several_lines() -> None:
    one = formats.read_png(render.render(GS1_HRI, gs1=True, hri="(01)09501101530003"))
    two = formats.read_png(render.render(GS1_HRI, gs1=True, hri="(01)09501101530003\n(21)ABC123"))
    line = hri.text_bitmap("(01)09501101530003", 30).shape[0]
    assert two.shape[0] == one.shape[0] + line
    assert two.shape[1] == one.shape[1]  # the longer line sets the width


def test_any_symbol_a_code_128_image() -> None:
    """The API is image level: a Code 128 image (zxing-cpp's, quiet zones of 10 modules) takes its
    text the same way and still reads. At 4 dots a module (0.34 mm at 300 dpi) the 20 digits fit
    under the bars; at 3 the text widens the image (tested above for DataMatrix)."""
    code128 = zxingcpp.create_barcode(NMPA20, zxingcpp.BarcodeFormat.Code128)
    symbol = np.asarray(code128.to_image(scale=4, add_quiet_zones=True)) < 128
    out = hri.with_hri(symbol, hri.hri_text(NMPA20, gs1=False))
    assert out.shape[1] == symbol.shape[1]
    assert (out[: symbol.shape[0]] == symbol).all()
    found = zxingcpp.read_barcodes(np.where(out, 0, 255).astype(np.uint8))
    assert [(f.format, f.text) for f in found] == [(zxingcpp.BarcodeFormat.Code128, NMPA20)]


def test_a_fixed_width() -> None:
    symbol = hri.symbol_pixels(render.matrix(NMPA20, gs1=False), 10, 1)
    out = hri.with_hri(symbol, NMPA20_TEXT, width_px=800)
    assert out.shape[1] == 800
    assert out[:, :100].sum() == 0 and out[:, 700:].sum() == 0  # centred
    with pytest.raises(InvalidArgument, match=r"HRI text '8612345 123456789 0042' .* is 557 px wide") as exc:
        hri.with_hri(symbol, NMPA20_TEXT, width_px=400)
    assert exc.value.reason == Reason.DOES_NOT_FIT
    assert hri.with_hri(symbol, NMPA20_TEXT, width_px=400, cap_px=14).shape[1] == 400
    with pytest.raises(InvalidArgument, match="symbol image is 180 px wide"):
        hri.with_hri(symbol, "1", width_px=100)


def test_bad_input_is_refused_clearly() -> None:
    symbol = hri.symbol_pixels(render.matrix(NMPA20, gs1=False), 10, 1)
    with pytest.raises(InvalidArgument, match="module size 0 px: expected 1 to 100"):
        render.render(NMPA20, gs1=False, module_px=0, hri=True)
    with pytest.raises(InvalidArgument, match="module size 0 px"):
        hri.symbol_pixels(render.matrix(NMPA20, gs1=False), 0, 1)
    with pytest.raises(InvalidArgument, match="HRI cap height 5 px: expected at least 7"):
        hri.with_hri(symbol, NMPA20_TEXT, cap_px=5)
    with pytest.raises(InvalidArgument, match="printer resolution 0 dpi"):
        hri.with_hri(symbol, NMPA20_TEXT, dpi=0)
    with pytest.raises(InvalidArgument, match=r"expected printable ASCII.*found '\\x1d'"):
        hri.with_hri(symbol, GS1_RAW)
    with pytest.raises(InvalidArgument, match="expected printable ASCII, no empty line"):
        hri.with_hri(symbol, "a\n\nb")
    with pytest.raises(InvalidArgument, match="expected a 2-D bitmap with a symbol in it"):
        hri.with_hri(np.zeros((10, 10), dtype=bool), NMPA20_TEXT)


def test_cli_hri_on_and_off(tmp_path: Path) -> None:
    assert main(["render", NMPA20, "-o", str(tmp_path / "a.png"), "--hri", "--dpi", "203"]) == 0
    assert (tmp_path / "a.png").read_bytes() == render.render(NMPA20, gs1=False, hri=True, dpi=203)
    assert main(["render", NMPA20, "-o", str(tmp_path / "b.png")]) == 0
    assert (tmp_path / "b.png").read_bytes() == render.render(NMPA20, gs1=False)
    assert main(["render", GS1_HRI, "-o", str(tmp_path / "c.svg"), "--hri", "--no-hri"]) == 0
    assert (tmp_path / "c.svg").read_bytes() == render.render(GS1_HRI, gs1=True, fmt="svg")


@pytest.mark.parametrize("fmt", formats.FORMATS)
def test_cli_bulk_with_hri(tmp_path: Path, fmt: formats.Format) -> None:
    data = tmp_path / "data"
    data.mkdir()
    codes = [c.decode() for c in Nmpa20Pool(MasterKey.load(data / KEY_FILE_NAME), "8612345").codes(5, 3)]
    args = ["render", "--identifier", "8612345", "--start", "5", "--count", "3", "--data", str(data)]
    assert main([*args, "--out", str(tmp_path / "out"), "--format", fmt, "--module-px", "3", "--hri"]) == 0
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == [f"{5 + k:010d}_{c}.{fmt}" for k, c in enumerate(codes)]
    assert files[1].read_bytes() == render.render(codes[1], gs1=False, fmt=fmt, module_px=3, hri=True)


@pytest.mark.parametrize(
    ("code", "text", "symbology"), [(NMPA20, NMPA20_TEXT, "]C0"), ("(00)" + SSCC, SSCC_TEXT, "]C1")]
)
def test_cli_code128_with_its_text(tmp_path: Path, code: str, text: str, symbology: str) -> None:
    """Code 128 / GS1-128 bars with their text under them (a gap of two modules between): the bars
    still read, and the band under them is the text rendered alone."""
    out = tmp_path / "bars.png"
    assert main(["render", code, "--symbology", "code128", "--hri", "-o", str(out)]) == 0
    bitmap = formats.read_png(out.read_bytes())
    (found,) = zxingcpp.read_barcodes((~bitmap).astype("uint8") * 255)
    assert found.symbology_identifier == symbology and found.text.replace(" ", "") in (code, code[4:])
    bars_end = next(r for r in range(bitmap.shape[0]) if bitmap[r].any() and not bitmap[r + 1].any())
    band = bitmap[bars_end + 1 :]
    assert not bitmap[bars_end + 1 : bars_end + 1 + 6].any()  # the gap: two modules of 3 px
    assert np.array_equal(_ink(band), _ink(hri.text_bitmap(text, hri.cap_height_px(300))))


def _ink(bitmap: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """``bitmap`` cut to its dark pixels' bounding box."""
    rows, cols = np.nonzero(bitmap)
    return bitmap[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
