"""Labels for label printers (linecode/render/label.py, ``linecode label``): the ZPL's structure and
escapes, the graphic-field variant read back to the exact symbol bitmaps (our ^GF decoder, and
zebrafy's) that decode with zxing-cpp to the exact data, the PNG preview's symbols decoding to the
exact data, layouts from TOML and JSON, clear refusals with no output, and the command."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import zxingcpp

from linecode.errors import InvalidArgument, NotFound, Precondition
from linecode.reasons import Reason
from linecode.render.formats import read_png
from linecode.render.label import (
    Field,
    LabelFacts,
    Layout,
    default_layout,
    facts_of,
    label,
    label_for,
    placed,
    zpl_code128_data,
    zpl_datamatrix_data,
    zpl_hex,
)
from linecode.serials import MasterKey
from linecode.store import Store
from tests.factories import EXPORT, EXPORT_LEVELS, make_batch, make_product, run_linecode

MASTER = MasterKey(bytes(range(32)))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("labels")
    with Store.open(path, master_key=MASTER, sync=False) as store:
        make_product(store)
        make_batch(store, "B1")
        store.allocate("B1", "case", 3)
        store.allocate("B1", "pallet", 2)
        make_product(store, EXPORT, EXPORT_LEVELS)
        make_batch(store, "G1", EXPORT)
        store.allocate("G1", "case", 2)
    return path


@pytest.fixture(scope="module")
def store(data_dir: Path) -> Store:
    with Store.open(data_dir, master_key=MASTER, readonly=True) as s:
        yield s  # type: ignore[misc]


def codes(store: Store, batch: str, level: str) -> list[str]:
    return list(store.codes(batch, level))


# --- reading back ------------------------------------------------------------------------------------

_GF = re.compile(r"\^FO(\d+),(\d+)\^GFA,(\d+),(\d+),(\d+),([^\^]*)\^FS")


def decode_gf(data: str, per_row: int) -> npt.NDArray[np.bool_]:
    """ZPL ^GFA ASCII data (hex, ``G``..``z`` repeat counts, ``,`` ``!`` ``:``) to dots, True = dark:
    written from the ZPL II manual's ^GF and ACS rules, independently of linecode's writer."""
    width = per_row * 2
    rows: list[str] = []
    row, repeat = "", 0
    for c in data:
        if "G" <= c <= "Y":
            repeat += ord(c) - ord("F")
        elif "g" <= c <= "z":
            repeat += (ord(c) - ord("f")) * 20
        elif c in ",!":
            rows.append(row.ljust(width, "0" if c == "," else "F"))
            row = ""
        elif c == ":":
            assert not row
            rows.append(rows[-1])
        else:
            row += c * max(repeat, 1)
            repeat = 0
            if len(row) == width:
                rows.append(row)
                row = ""
    assert not row
    packed = np.frombuffer(bytes.fromhex("".join(rows)), dtype=np.uint8).reshape(len(rows), per_row)
    return np.unpackbits(packed, axis=1).astype(bool)


def graphic_fields(zpl: str) -> list[tuple[int, int, npt.NDArray[np.bool_]]]:
    out = []
    for m in _GF.finditer(zpl):
        x, y, total, count, per_row, data = m.groups()
        assert total == count
        dots = decode_gf(data, int(per_row))
        assert dots.shape[0] * int(per_row) == int(total)
        out.append((int(x), int(y), dots))
    return out


def reads(dots: npt.NDArray[np.bool_]) -> set[tuple[bytes, str]]:
    """(bytes, symbology identifier) of every symbol zxing-cpp finds in the dots."""
    gray = np.pad(np.where(dots, 0, 255).astype(np.uint8), 40, constant_values=255)
    return {(bytes(b.bytes), b.symbology_identifier) for b in zxingcpp.read_barcodes(gray)}


def expected(facts: LabelFacts, kinds: set[str]) -> set[tuple[bytes, str]]:
    data = facts.data.encode()
    out = set()
    if "datamatrix" in kinds:
        out.add((data, "]d2" if facts.gs1 else "]d1"))
    if "code128" in kinds:
        out.add((data, "]C1" if facts.gs1 else "]C0"))
    return out


CASES = [("B1", "case"), ("B1", "pallet"), ("G1", "case")]


# --- symbols read back -------------------------------------------------------------------------------


@pytest.mark.parametrize(("batch", "level"), CASES)
@pytest.mark.parametrize("dpi", [203, 300])
def test_preview_symbols_decode_to_the_exact_data(store: Store, batch: str, level: str, dpi: int) -> None:
    for code in codes(store, batch, level):
        facts = facts_of(store, code, level)
        layout = default_layout(level, facts.rule, dpi)
        dots = read_png(label(layout, facts, fmt="png"))
        assert dots.shape == (round(layout.height_mm * dpi / 25.4), round(layout.width_mm * dpi / 25.4))
        kinds = {p.spec.kind for p in placed(layout, facts)}
        assert reads(dots) == expected(facts, kinds)
        assert ("code128" in kinds) == (facts.rule != "gs1")  # the default: Code 128 for nmpa20, SSCC


@pytest.mark.parametrize(("batch", "level"), CASES)
def test_graphic_fields_are_the_exact_symbol_bitmaps(store: Store, batch: str, level: str) -> None:
    code = codes(store, batch, level)[0]
    facts = facts_of(store, code, level)
    layout = default_layout(level, facts.rule)
    zpl = label(layout, facts, "graphic", "zpl").decode()
    assert "^BX" not in zpl and "^BC" not in zpl
    symbols = [p for p in placed(layout, facts) if p.spec.kind != "text"]
    fields = graphic_fields(zpl)
    assert len(fields) == len(symbols)
    for (x, y, dots), p in zip(fields, symbols, strict=True):
        assert (x, y) == (p.x, p.y)
        width = p.bitmap.shape[1]
        assert not dots[:, width:].any()  # the byte padding is light
        assert np.array_equal(dots[:, :width], p.bitmap)
        assert reads(dots[:, :width]) == expected(facts, {p.spec.kind})


def test_zebrafy_reads_our_graphic_fields_back(store: Store) -> None:
    zebrafy = pytest.importorskip("zebrafy")
    facts = facts_of(store, codes(store, "B1", "pallet")[0], "pallet")
    layout = default_layout("pallet", facts.rule)
    zpl = label(layout, facts, "graphic").decode()
    images = zebrafy.ZebrafyZPL(zpl).to_images()
    ours = graphic_fields(zpl)
    assert len(images) == len(ours) == 2
    for image, (_, _, dots) in zip(images, ours, strict=True):
        theirs = np.asarray(image.convert("L")) < 128
        assert np.array_equal(theirs, dots)
        assert reads(theirs) == expected(facts, {"datamatrix", "code128"}) & reads(theirs)
        assert reads(theirs)


# --- the printer's own symbols ---------------------------------------------------------------------


def test_printer_profile_draws_symbols_with_zpl_commands(store: Store) -> None:
    facts = facts_of(store, codes(store, "B1", "pallet")[0], "pallet")
    layout = default_layout("pallet", facts.rule)
    zpl = label(layout, facts).decode()
    assert zpl.startswith("^XA\n^CI28\n^PW799\n^LL1199\n") and zpl.endswith("^XZ\n")
    assert "^GF" not in zpl
    sscc = facts.data  # "00" + 18 digits
    dm = next(p for p in placed(layout, facts) if p.spec.kind == "datamatrix")
    rows, cols = dm.modules
    assert f"^BXN,8,200,{cols},{rows},,_\n^FD_1{sscc}^FS" in zpl
    assert f"^BY4^BCN,200,N,N,N,N\n^FH^FD>;>8{sscc}^FS" in zpl
    assert "^FH^FD(00) " + sscc[2:] + "^FS" in zpl  # HRI as text under the bars
    nmpa = facts_of(store, codes(store, "B1", "case")[0], "case")
    assert f"^FH^FD>;{nmpa.data}^FS" in label(default_layout("case"), nmpa).decode()
    # every command is one ZPL knows, every field closed
    commands = re.findall(r"\^([A-Z0-9]{2})", zpl)
    assert set(commands) <= {
        "XA",
        "CI",
        "PW",
        "LL",
        "LH",
        "FO",
        "A0",
        "FH",
        "FD",
        "FS",
        "BX",
        "BY",
        "BC",
        "FB",
        "XZ",
    }
    assert zpl.count("^FD") == zpl.count("^FS")


def test_zpl_escapes() -> None:
    assert zpl_hex("Lot ^1 ~2 _3 \\4 批号") == "Lot _5E1 _7E2 _5F3 _5C4 _E6_89_B9_E5_8F_B7"
    assert zpl_datamatrix_data("010950110153000321A_B\x1d1729123110L1", gs1=True) == (
        "_1010950110153000321A__B_11729123110L1"
    )
    assert zpl_datamatrix_data("A^B~C", gs1=False) == "A_d094B_d126C"
    # start B, '>' as '><', shift to A for a control character, latch to C, FNC1
    assert zpl_code128_data([104, 30, 98, 64 + 9, 99, 12, 102]) == ">:><>4_09>512>8"


def test_code128_data_for_gs1_pack_data_round_trips(store: Store) -> None:
    """A GS1 pack code in GS1-128 (set changes, FNC1 separators): the printer gets exactly the
    symbol characters our encoder chose, and our bars decode to the data."""
    from linecode.render.code128 import encode

    facts = facts_of(store, codes(store, "G1", "case")[0], "case")
    layout = Layout(160, 40, fields=(Field("code128", 12, 5, module_dots=2, height_mm=10, hri=False),))
    zpl = label(layout, facts).decode()
    chars = encode(facts.data, gs1=True)[:-2]
    assert f"^FH^FD{zpl_code128_data(chars)}^FS" in zpl
    assert ">8" in zpl_code128_data(chars)
    assert reads(read_png(label(layout, facts, fmt="png"))) == expected(facts, {"code128"})


# --- layouts ---------------------------------------------------------------------------------------------

TOML = """
width_mm = 80
height_mm = 50
dpi = 300
symbols = "graphic"

[[field]]
kind = "text"
text = "{product} / {batch_number} / exp. {expiry}"
x_mm = 3
y_mm = 3
font_mm = 2

[[field]]
kind = "datamatrix"
x_mm = 30
y_mm = 12
module_dots = 6
size = "18x18"
"""


def test_a_layout_file_in_toml_and_json(store: Store, tmp_path: Path) -> None:
    layout = Layout.parse(TOML)
    assert layout.dpi == 300 and layout.symbols == "graphic" and len(layout.fields) == 2
    as_json = (
        '{"width_mm": 80, "height_mm": 50, "dpi": 300, "symbols": "graphic", "field": ['
        '{"kind": "text", "text": "{product} / {batch_number} / exp. {expiry}", "x_mm": 3, "y_mm": 3,'
        ' "font_mm": 2}, {"kind": "datamatrix", "x_mm": 30, "y_mm": 12, "module_dots": 6, "size": "18x18"}]}'
    )
    assert Layout.parse(as_json, "json") == layout
    (tmp_path / "l.json").write_text(as_json)
    assert Layout.load(tmp_path / "l.json") == layout
    code = codes(store, "B1", "case")[0]
    zpl = label_for(store, code, "case", layout).decode()
    assert "^GFA" in zpl and "^BX" not in zpl  # the layout's symbols setting
    assert "^BX" in label_for(store, code, "case", layout, "printer").decode()  # the profile wins
    facts = facts_of(store, code, "case")
    assert reads(read_png(label(layout, facts, fmt="png"))) == expected(facts, {"datamatrix"})
    assert next(p for p in placed(layout, facts) if p.spec.kind == "datamatrix").modules == (18, 18)


@pytest.mark.parametrize(
    ("change", "reason", "words"),
    [
        ("colour = 'red'\n", Reason.BAD_LAYOUT, "unknown key 'colour'"),
        ("[[field]]\nkind = 'text'\ntext = 'x'\nx_mm = 1\ny_mm = 1\nfont = 2\n", Reason.BAD_LAYOUT, "'font'"),
        ("[[field]]\nkind = 'qr'\nx_mm = 1\ny_mm = 1\n", Reason.BAD_LAYOUT, "kind 'qr'"),
        ("[[field]]\nkind = 'datamatrix'\nx_mm = 1\ny_mm = 1\nmodule_dots = 0\n", Reason.BAD_SIZE, "0 dots"),
        ("[[field]]\nkind = 'text'\ntext = '{price}'\nx_mm = 1\ny_mm = 1\n", Reason.BAD_LAYOUT, "{price}"),
        ("[[field]]\nkind = 'text'\ntext = 'x'\nx_mm = '1'\ny_mm = 1\n", Reason.BAD_LAYOUT, "a number"),
    ],
)
def test_bad_layouts_are_refused(change: str, reason: Reason, words: str) -> None:
    text = "width_mm = 50\nheight_mm = 30\n" + change
    if change.startswith("["):
        text = "width_mm = 50\nheight_mm = 30\n" + change
    with pytest.raises(InvalidArgument) as caught:
        Layout.parse(text)
    assert caught.value.reason == reason
    assert words in str(caught.value)


def test_bad_dpi_and_profile() -> None:
    with pytest.raises(InvalidArgument, match="dpi 600") as caught:
        Layout.parse("width_mm = 50\nheight_mm = 30\ndpi = 600\n")
    assert caught.value.reason == Reason.BAD_LAYOUT
    with pytest.raises(InvalidArgument, match="not valid TOML"):
        Layout.parse("width_mm = ")


def test_a_field_that_does_not_fit_makes_no_label(store: Store) -> None:
    facts = facts_of(store, codes(store, "B1", "pallet")[0], "pallet")
    narrow = Layout(60, 150, fields=default_layout("pallet", "sscc").fields)
    for fmt in ("zpl", "png"):
        with pytest.raises(InvalidArgument, match=r"label field \d \(.*the label is 480 x 1199") as caught:
            label(narrow, facts, fmt=fmt)  # type: ignore[arg-type]
        assert caught.value.reason == Reason.DOES_NOT_FIT
    off = Layout(100, 70, fields=(Field("datamatrix", 99, 5, module_dots=4),))
    with pytest.raises(InvalidArgument, match="field 1") as caught:
        label(off, facts)
    assert caught.value.reason == Reason.DOES_NOT_FIT
    small = Layout(100, 70, fields=(Field("datamatrix", 5, 5, module_dots=4, size="10x10"),))
    with pytest.raises(InvalidArgument, match="label field 1 \\(datamatrix\\)") as caught:
        label(small, facts)
    assert caught.value.reason == Reason.DOES_NOT_FIT


def test_wrong_level_unknown_code_and_format(store: Store) -> None:
    case = codes(store, "B1", "case")[0]
    with pytest.raises(Precondition) as caught:
        label_for(store, case, "pallet")
    assert caught.value.reason == Reason.LEVEL_MISMATCH
    with pytest.raises(NotFound):
        label_for(store, "86000039999999999999", "case")
    with pytest.raises(InvalidArgument) as caught:
        label_for(store, case, "case", fmt="pdf")  # type: ignore[arg-type]
    assert caught.value.reason == Reason.BAD_FORMAT
    with pytest.raises(InvalidArgument) as caught:
        label_for(store, case, "case", profile="inkjet")  # type: ignore[arg-type]
    assert caught.value.reason == Reason.BAD_LAYOUT


def test_same_input_same_label(store: Store) -> None:
    code = codes(store, "B1", "pallet")[0]
    for fmt in ("zpl", "png"):
        assert label_for(store, code, "pallet", fmt=fmt) == label_for(store, code, "pallet", fmt=fmt)  # type: ignore[arg-type]


# --- the command -----------------------------------------------------------------------------------------


def test_cli_one_code_and_a_batch(data_dir: Path, store: Store, tmp_path: Path) -> None:
    import zipfile

    pallet = codes(store, "B1", "pallet")[0]
    out = tmp_path / "one.zpl"
    done = run_linecode("label", pallet, "--level", "pallet", "--data", str(data_dir), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == label_for(store, pallet, "pallet")
    out = tmp_path / "cases.zpl"
    done = run_linecode("label", "B1", "--level", "case", "--data", str(data_dir), "--profile", "graphic",
                        "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == b"".join(
        label_for(store, c, "case", profile="graphic") for c in codes(store, "B1", "case")
    )
    out = tmp_path / "pallets.zip"
    done = run_linecode(
        "label", "B1", "--level", "pallet", "--data", str(data_dir), "--format", "png", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as zf:
        images = [zf.read(n) for n in sorted(zf.namelist())]
    assert images == [label_for(store, c, "pallet", fmt="png") for c in codes(store, "B1", "pallet")]


def test_cli_refusals_leave_no_file(data_dir: Path, tmp_path: Path) -> None:
    layout = tmp_path / "bad.toml"
    layout.write_text(
        "width_mm = 50\nheight_mm = 30\n[[field]]\nkind = 'datamatrix'\nx_mm = 1\ny_mm = 1\nmodule_dots = 0\n"
    )
    out = tmp_path / "x.zpl"
    for args, reason in (
        (["B1", "--level", "case", "--layout", str(layout)], "BAD_SIZE"),
        (["B1", "--level", "case", "--format", "png"], "BAD_FORMAT"),
        (["nothing", "--level", "case"], "NOT_FOUND"),
    ):
        done = run_linecode("label", *args, "--data", str(data_dir), "-o", str(out))
        assert done.returncode == 2 and f"[{reason}]" in done.stderr, done.stderr
        assert list(tmp_path.glob("x.zpl*")) == [] and list(tmp_path.glob(".x.zpl*")) == []
