"""``linecode demo``, the main job: a simulated line over real gRPC, end to end, run twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zxingcpp

from linecode.render import formats

pytestmark = pytest.mark.slow


def linecode(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linecode", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def test_demo_runs_a_line_and_leaves_data_to_inspect_and_export(tmp_path: Path) -> None:
    year_batches = []
    for _ in range(2):  # a kept data dir gets the next batch on the second run
        run = linecode(
            "demo",
            "--data",
            str(tmp_path),
            "--units",
            "250",
            "--lines",
            "2",
            "--speed",
            "0",
            "--json",
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout.splitlines()[-1])
        year_batches += summary["batches"]
        assert summary["reconciled"] == [True, True]
        assert summary["images"] >= 500 and summary["codes"] >= summary["images"]
        assert summary["aggregations"] >= 2 * (25 + 3 + 1)
        assert summary["p99_ms"] > 0 and summary["qa"]["duplicates"] == 0
    assert len(set(year_batches)) == 4 and year_batches[2][-3:] == "003"

    # What the demo tells a newcomer to try runs as printed, wherever they are (no `linecode` on
    # their PATH after `./dev demo`, say).
    (tried,) = [
        line.removeprefix("try").strip() for line in run.stdout.splitlines() if line.startswith("try ")
    ]
    done = subprocess.run(tried, shell=True, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and summary["pallet"] in done.stdout, (tried, done.stderr)

    pallet = summary["pallet"]
    inspect = linecode("inspect", pallet, "--data", str(tmp_path), "--json")
    assert inspect.returncode == 0, inspect.stderr
    info = json.loads(inspect.stdout.splitlines()[-1])
    assert info["units"] == 250 - 0 and info["level"] == 4

    export = linecode("export", summary["batch"], "--data", str(tmp_path), "-o", str(tmp_path / "b.json"))
    assert export.returncode == 0, export.stderr
    document = json.loads((tmp_path / "b.json").read_text())
    assert document["type"] == "EPCISDocument" and document["epcisBody"]["eventList"]

    for path in summary["sample_images"]:
        pixels = formats.read_png(Path(path).read_bytes())
        gray = np.pad(np.where(pixels, 0, 255).astype(np.uint8), 8, constant_values=255)
        (barcode,) = zxingcpp.read_barcodes(gray)
        assert barcode.text == Path(path).stem
