"""``linecode render``: one code to a file, a run of a pool to a folder or an archive."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from linecode import render
from linecode.cli import main
from linecode.render import formats
from linecode.serials import MasterKey, Nmpa20Pool
from linecode.serials.keys import KEY_FILE_NAME

NMPA20 = "86123451234567890042"
GS1_HRI = "(01)09501101530003(21)ABC123(17)291231(10)L1"


def test_render_one_code_in_each_format(tmp_path: Path) -> None:
    assert main(["render", NMPA20, "-o", str(tmp_path / "a.png")]) == 0
    assert (tmp_path / "a.png").read_bytes() == render.render(NMPA20, gs1=False)
    assert (
        main(["render", GS1_HRI, "-o", str(tmp_path / "b.svg"), "--module-px", "3", "--size", "16x36"]) == 0
    )
    assert (tmp_path / "b.svg").read_bytes() == render.render(
        GS1_HRI, gs1=True, fmt="svg", module_px=3, size="16x36"
    )
    assert (
        main(["render", NMPA20, "-o", str(tmp_path / "c.img"), "--format", "pbm", "--quiet-zone", "0"]) == 0
    )
    assert formats.read_pbm((tmp_path / "c.img").read_bytes()).shape == (160, 160)


def test_render_refuses_invalid_data_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "bad.png"
    assert main(["render", GS1_HRI.replace("291231", "291331"), "-o", str(target)]) == 2
    assert not target.exists()
    assert "month 13 is not 01..12" in capsys.readouterr().err
    assert main(["render", NMPA20, "-o", str(target), "--size", "12x12"]) == 2
    assert "DOES_NOT_FIT" in capsys.readouterr().err


def test_bulk_render_to_folder_and_archive(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    master = MasterKey.load(data / KEY_FILE_NAME)
    codes = [c.decode() for c in Nmpa20Pool(master, "8612345").codes(100, 30)]
    args = ["render", "--identifier", "8612345", "--start", "100", "--count", "30", "--data", str(data)]
    assert main([*args, "--out", str(tmp_path / "out"), "--module-px", "2"]) == 0
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == [f"{100 + k:010d}_{c}.png" for k, c in enumerate(codes)]
    assert files[7].read_bytes() == render.render(codes[7], gs1=False, module_px=2)
    for n in (1, 2):
        assert main([*args, "--out", str(tmp_path / f"run{n}.zip"), "--format", "svg"]) == 0
    assert (tmp_path / "run1.zip").read_bytes() == (tmp_path / "run2.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "run1.zip") as zf:
        assert len(zf.namelist()) == 30
        assert zf.read(zf.namelist()[0]) == render.render(codes[0], gs1=False, fmt="svg")
