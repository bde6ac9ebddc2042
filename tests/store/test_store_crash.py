"""Crash test: SIGKILL a process in the middle of allocations and aggregations, several times.

After every kill the store must hold every promise the dead process made: no serial handed out
twice (across all runs), every acknowledged aggregation present, records equal to the replayed
event log.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from linecode.serials import MasterKey
from linecode.store import Store
from linecode.store.replay import differences

pytestmark = pytest.mark.slow

CHILD = Path(__file__).with_name("crash_child.py")
KILLS = 4


def _wait_running(journal: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count("R \n") > 0:
            return
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "child died"
        time.sleep(0.02)
    raise AssertionError("crash child did not start")


def test_sigkill_never_loses_a_promise(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rng = random.Random(20260105)
    handed_out: list[str] = []
    for run in range(KILLS):
        journal = tmp_path / f"journal-{run}"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(data), str(journal)], stderr=subprocess.PIPE, env=env
        )
        _wait_running(journal, proc)
        time.sleep(rng.uniform(0.3, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lines = [line.split() for line in journal.read_text().splitlines()]
        acked = [line[1:] for line in lines if line and line[0] == "G"]
        handed_out += [code for line in lines if line and line[0] == "A" for code in line[1:]]
        assert acked, f"run {run}: the child acknowledged no aggregation before it was killed"
        print(f"run {run}: {len(acked)} aggregations, {len(handed_out)} codes handed out so far")

        with Store.open(data, master_key=MasterKey(bytes(range(32)))) as store:
            assert len(handed_out) == len(set(handed_out)), "a serial was handed out twice"
            for parent, *children in acked:
                assert store.record(parent).children == 5
                assert all(store.parent_of(child) == parent for child in children)
            assert all(store.record(code) for code in handed_out)  # raises NotFound if one is missing
            assert not differences(store)
            report = store.reconcile("B1")
            assert report.levels[0].allocated >= len([c for c in handed_out if c.startswith("8600001")])
