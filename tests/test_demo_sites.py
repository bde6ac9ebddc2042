"""``linecode demo --sites N``: the demo line at two sites of a hub over a throwaway PostgreSQL, what
the hub holds of them, and nothing left behind (also on Ctrl-C, or without PostgreSQL)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from linecode.sim import DEMO_LEVELS
from tests.factories import run_linecode

UNITS = 500


def _postgres_of(root: str) -> list[int]:
    """Processes whose command line names ``root`` (a cluster's PostgreSQL)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and root.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_two_sites_ship_everything_to_the_hub_which_traces_a_pallet_as_the_site_does() -> None:
    started = time.monotonic()
    run = run_linecode("demo", "--sites", "2", "--units", str(UNITS), "--speed", "0", "--json", timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout.splitlines()[-1])
    assert summary["sites"] == 2
    assert summary["codes"] > 0 and summary["events_shipped"] > 0
    assert [s["lag_events"] for s in summary["per_site"]] == [0, 0]
    assert summary["duplicates"] == 0
    assert summary["lag_p99_ms"] > 0
    pallet = summary["pallet"]
    # a line packs its units onto one pallet until it is full (the pack ratios' product)
    full = math.prod(lv.ratio for lv in DEMO_LEVELS)
    assert pallet["units"] == min(UNITS, full)
    inner = 1  # the pallet itself, its cases, bundles and units, each level filled to its ratio
    below = UNITS
    for lv in DEMO_LEVELS[:-1]:
        below = math.ceil(below / lv.ratio) if lv.ratio > 1 else below
        inner += below
    assert pallet["codes"] == inner
    assert pallet["same_as_site"] is True and pallet["site"] == "S1"
    assert "the same tree as the site's" in run.stdout
    assert not Path(summary["postgres_dir"]).exists() and not Path(summary["stores_dir"]).exists()
    assert _postgres_of(summary["postgres_dir"]) == []
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_ctrl_c_stops_and_removes_everything(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "linecode", "demo", "--sites", "2", "--units", "5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    header = proc.stdout.readline()
    assert "PostgreSQL in " in header, header
    pg_dir = header.split("PostgreSQL in ")[1].split(",")[0]
    stores_dir = header.split("site stores in ")[1].split(" ")[0]
    while not (line := proc.stdout.readline()).startswith("S2 "):  # every site serves and packs
        assert line, proc.stderr.read() if proc.stderr else ""
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert not Path(pg_dir).exists() and not Path(stores_dir).exists()
    assert _postgres_of(pg_dir) == []


def test_without_postgresql_it_says_how_to_install_it(tmp_path: Path) -> None:
    """Neither Debian's versioned directories nor ``PATH`` have ``initdb``: a clear error, nothing
    made (an empty TMPDIR stays empty)."""
    hide = (
        "import glob, sys\n"
        "real = glob.glob\n"
        "glob.glob = lambda p, *a, **k: [] if p.startswith('/usr/lib/postgresql/') else real(p, *a, **k)\n"
        "from linecode.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "PATH": str(tmp_path), "TMPDIR": str(tmp)}
    run = subprocess.run(
        [sys.executable, "-c", hide, "demo", "--sites", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "NO_POSTGRES" in run.stderr and "apt-get install postgresql" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize("extra", [["--hub", "127.0.0.1:1"], ["--data", "somewhere"]])
def test_sites_refuse_a_hub_or_a_kept_data_dir(extra: list[str]) -> None:
    run = run_linecode("demo", "--sites", "2", *extra)
    assert run.returncode == 2 and "INVALID_ARGUMENT" in run.stderr, run.stderr
