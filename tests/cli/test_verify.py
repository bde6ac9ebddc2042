"""``linecode verify DATA --data DIR`` as a process, on a store built here: every scanned form, every
verdict, and the exit status a script can rely on (0 usable, 1 not, 2 could not check)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from linecode.codes import GS
from linecode.store import Lock, Store
from tests.factories import (
    EXPORT,
    EXPORT_LEVELS,
    LEVELS,
    MADE,
    PRODUCT,
    commissioned,
    make_batch,
    make_product,
)


def run(data_dir: Path, data: str, *options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LINECODE_MASTER_KEY"}  # the key file is used
    return subprocess.run(
        [sys.executable, "-m", "linecode", "verify", data, "--data", str(data_dir), *options],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def verdict(data_dir: Path, data: str) -> tuple[int, dict[str, Any]]:
    done = run(data_dir, data, "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A data dir (with its own master.key) and the codes the tests scan."""
    data = tmp_path_factory.mktemp("verify") / "data"
    with Store.open(data, sync=False) as store:
        make_product(store, PRODUCT, LEVELS[:2])  # unit and bundle
        make_product(store, EXPORT, EXPORT_LEVELS[:1])  # GS1 unit
        for product, batch, made, expires in (
            (PRODUCT, "B1", MADE, dt.date(2099, 1, 1)),
            (PRODUCT, "OLD", dt.date(2020, 1, 1), dt.date(2021, 1, 1)),
            (EXPORT, "LOT7", MADE, dt.date(2099, 12, 31)),
        ):
            make_batch(store, batch, product, made=made, expires=expires, planned=100)
        units = commissioned(store, "B1", "unit", 6)
        (bundle,) = commissioned(store, "B1", "bundle", 1)
        store.aggregate(bundle, units[:5])
        store.set_lock(Lock.PENDING, codes=[units[5]], reason="complaint")
        (gs1,) = commissioned(store, "LOT7", "unit", 1)
        symbol, is_gs1 = store.symbol(gs1)
        assert is_gs1 and GS in symbol
        return {
            "data": data,
            "unit": units[0],
            "bundle": bundle,
            "locked": units[5],
            "allocated": store.allocate("B1", "unit", 1).codes[0],
            "old": commissioned(store, "OLD", "unit", 1)[0],
            "gs1": gs1,
            "gs1_symbol": symbol,
        }


def test_a_genuine_code_in_use_in_every_scanned_form(line: dict[str, Any]) -> None:
    unit = line["unit"]
    for form in (unit, f"{unit[:7]} {unit[7:16]} {unit[16:]}", f"{unit[:7]}-{unit[7:16]}-{unit[16:]}"):
        status, answer = verdict(line["data"], form)
        assert status == 0 and answer["genuine"] and answer["issued"] and answer["usable"], answer
        assert answer["reason"] == "OK" and not answer["expired"]
        info = answer["info"]
        assert (info["code"], info["batch"], info["state"]) == (unit, "B1", "aggregated")
        assert (info["status"], info["lock"], info["path"]) == ("none", "normal", [line["bundle"]])
    for form in (line["gs1_symbol"], "]d2" + line["gs1_symbol"]):  # raw element string with GS
        status, answer = verdict(line["data"], form)
        assert status == 0 and answer["info"]["code"] == line["gs1"] and answer["info"]["batch"] == "LOT7"


def test_text_output_answers_every_question(line: dict[str, Any]) -> None:
    done = run(line["data"], line["unit"])
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("USABLE  [OK]")
    for expected in ("genuine   yes", "issued    yes", "state     aggregated", "lock      normal"):
        assert expected in out
    assert "batch     B1" in out and "(not passed)" in out and f"path      {line['bundle']}" in out


@pytest.mark.parametrize(
    ("which", "reason", "genuine", "issued"),
    [
        ("forged", "BAD_CHECK", False, False),
        ("unknown", "UNKNOWN_IDENTIFIER", False, False),
        ("allocated", "NOT_IN_USE", True, True),
        ("locked", "LOCKED", True, True),
        ("old", "EXPIRED", True, True),
        ("garbage", "BAD_LENGTH", False, False),
    ],
)
def test_codes_that_are_not_usable_exit_1(
    line: dict[str, Any], which: str, reason: str, genuine: bool, issued: bool
) -> None:
    unit = line["unit"]
    data = {
        "forged": unit[:16] + f"{(int(unit[16:]) + 1) % 10000:04d}",
        "unknown": "12345678901234567890",
        "garbage": "(01)123",
    }.get(which) or line[which]
    status, answer = verdict(line["data"], data)
    assert status == 1
    assert (answer["reason"], answer["genuine"], answer["issued"], answer["usable"]) == (
        reason,
        genuine,
        issued,
        False,
    ), answer
    assert answer["expired"] == (which == "old")
    text = run(line["data"], data)
    assert text.returncode == 1 and text.stdout.startswith(f"NOT USABLE  [{reason}]")


def test_no_master_key_is_an_error_not_a_forgery(tmp_path: Path) -> None:
    with Store.open(tmp_path / "data", sync=False):
        pass
    (tmp_path / "data" / "master.key").unlink()
    done = run(tmp_path / "data", "86000011234567890000")
    assert done.returncode == 2 and "NO_MASTER_KEY" in done.stderr
