"""``linecode inspect`` and ``linecode batch report``: read-only, in another process, beside a live writer."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import Line


def _linecode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linecode", *args], capture_output=True, text=True, timeout=60
    )


def test_inspect_and_batch_report_while_the_store_is_open_for_writing(line: Line) -> None:
    store = line.store
    (case,) = line.commissioned("case", 1)
    bundles = [line.bundle() for _ in range(4)]
    store.aggregate(case, [b for b, _ in bundles])
    unit = bundles[0][1][0]
    data = str(store.path)

    out = _linecode("inspect", unit, "--data", data, "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.splitlines()[-1])
    assert info["level"] == 1 and info["state"] == "aggregated"
    assert info["parent"] == bundles[0][0] and info["path"] == [bundles[0][0], case]
    assert info["children"] == 0 and info["units"] == 1

    out = _linecode("inspect", case, "--data", data, "--json")
    info = json.loads(out.stdout)
    assert (info["children"], info["units"], info["path"], info["parent"]) == (4, 20, [], None)

    text = _linecode("inspect", case, "--data", data)
    assert "case" in text.stdout and "units     20" in text.stdout

    out = _linecode("batch", "report", "B1", "--data", data, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["levels"][0]["aggregated"] == 20 and report["levels"][2]["loose"] == 1
    assert not report["ok"]
    text = _linecode("batch", "report", "B1", "--data", data)
    assert "discrepancies" in text.stdout and "loose" in text.stdout


def test_inspect_unknown_code_says_so(line: Line) -> None:
    out = _linecode("inspect", "86000019999999990000", "--data", str(line.store.path))
    assert out.returncode == 2 and "UNKNOWN_CODE" in out.stderr
    out = _linecode("batch", "report", "B1", "--data", str(line.store.path / "nowhere"))
    assert out.returncode == 2 and "NO_STORE" in out.stderr


def test_demo_runs_a_batch_through_the_store_and_can_run_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for batch in ("B2026001", "B2026002"):
        out = _linecode("demo", "--data", str(tmp_path), "--json")
        assert out.returncode == 0, out.stderr
        summary = json.loads(out.stdout.splitlines()[-1])
        assert summary["batch"] == batch and summary["report"]["ok"] and summary["qa"]["duplicates"] == 0
        unit = summary["report"]["levels"][0]
        assert (unit["released"], unit["scrapped"], unit["sampled"], unit["unused"]) == (400, 3, 2, 7)
    info = json.loads(_linecode("inspect", summary["pallets"][0], "--data", str(tmp_path), "--json").stdout)
    assert info["units"] == 400 and info["state"] == "released"
