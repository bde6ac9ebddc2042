"""The QA audit finds what it is there to find, and the CLI reports it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from linecode.qa import (
    audit_uniqueness,
    chi2_sf,
    count_duplicates,
    default_levels,
    read_back,
    serial_digit_counts,
    split_count,
)
from linecode.serials import MasterKey, Nmpa20Pool, check_key


def test_audit_of_real_codes_is_clean(master: MasterKey) -> None:
    report = audit_uniqueness(master, 300_000, batch_size=20_000, threads=2, guesses=50_000)
    assert (report.count, report.duplicates, report.invalid) == (300_000, 0, 0)
    assert sum(report.levels.values()) == 300_000
    assert report.guess_probability == 20_000 / 10**9
    assert report.guess_probability_measured < 1e-3
    assert report.guess_probability_pool == max(report.levels.values()) / 10**9
    assert report.guess_probability_pool_with_check == report.guess_probability_pool / 10_000
    assert report.randomness_ok


def test_read_back_flags_corrupted_codes(master: MasterKey) -> None:
    codes = Nmpa20Pool(master, "8600001").codes(0, 1000).copy()
    raw = codes.view(np.uint8).reshape(-1, 20)
    raw[3, 12] = ord("0") + (raw[3, 12] - ord("0") + 1) % 10  # a misprinted serial digit
    raw[7, 19] = ord("0") + (raw[7, 19] - ord("0") + 1) % 10  # a misprinted check digit
    raw[9, 2] = ord("A")  # not a digit
    _, invalid = read_back(codes, "8600001", check_key(master, "8600001"))
    assert invalid == 3


def test_duplicates_are_counted() -> None:
    assert count_duplicates(np.array([5, 1, 5, 2, 5, 3], dtype=np.uint64)) == 2
    assert count_duplicates(np.arange(10, dtype=np.uint64)) == 0


def test_skewed_digits_fail_the_chi_square(master: MasterKey) -> None:
    codes = Nmpa20Pool(master, "8600001").codes(0, 20_000).copy()
    counts = serial_digit_counts(codes)
    assert counts.sum() == 9 * 20_000
    skewed = np.full((9, 10), 2000)
    skewed[4] = [4000, 0, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000]
    stat = float((((skewed[4] - 2000) ** 2) / 2000).sum())
    assert chi2_sf(stat, 9) < 1e-6
    assert abs(chi2_sf(27.877, 9) - 0.001) < 1e-5


def test_split_follows_the_hierarchy() -> None:
    assert split_count(111_000, default_levels()) == {"unit": 100_000, "bundle": 10_000, "case": 1_000}


def test_cli_qa_uniqueness_json() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "linecode", "qa", "uniqueness", "--count", "50000", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["count"] == 50_000
    assert summary["duplicates"] == 0 and summary["invalid"] == 0
    assert summary["codes_per_s"] > 0
    assert summary["guess_probability"] < 1e-4


def test_cli_rejects_bad_arguments() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "linecode", "qa", "uniqueness", "--count", "0"], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert "--count 0: expected at least 1" in run.stderr
