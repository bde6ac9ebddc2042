"""The QA audit finds what it is there to find, and the CLI reports it."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linecode import _audit, qa
from linecode.qa import (
    BitmapCounter,
    PartitionCounter,
    audit_uniqueness,
    chi2_sf,
    count_duplicates,
    default_levels,
    duplicate_counter,
    read_back,
    read_back_reference,
    split_count,
)
from linecode.serials import MasterKey, Nmpa20Pool, check_key


def test_audit_of_real_codes_is_clean(master: MasterKey) -> None:
    # Chunks of 3 batches (and a last short one) on two threads: 0 duplicates across all of them.
    report = audit_uniqueness(
        master, 300_000, batch_size=20_000, threads=2, guesses=50_000, chunk_size=60_000
    )
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
    # A check that adds up but is not digits: "..d0" written "..(d-1):" (':' is '0' + 10).
    row = next(r for r in range(20, 1000) if raw[r, 19] == ord("0") and raw[r, 18] != ord("0"))
    raw[row, 18], raw[row, 19] = raw[row, 18] - 1, ord(":")
    found = read_back(codes, "8600001", check_key(master, "8600001"))
    assert found.invalid == 4
    assert len(found.serials) == 999  # the code with a letter in its identifier has no serial here


def test_duplicates_are_counted() -> None:
    assert count_duplicates(np.array([5, 1, 5, 2, 5, 3], dtype=np.uint64)) == 2
    assert count_duplicates(np.arange(10, dtype=np.uint64)) == 0


def test_skewed_digits_fail_the_chi_square(master: MasterKey) -> None:
    codes = Nmpa20Pool(master, "8600001").codes(0, 20_000).copy()
    counts = read_back(codes, "8600001", check_key(master, "8600001")).counts
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


def _corrupt(rows: np.ndarray, edits: list[tuple[int, int, int]]) -> np.ndarray:
    rows = rows.copy()
    for row, column, byte in edits:
        rows[row % len(rows), column] = byte
    return rows


@settings(max_examples=25, deadline=None)
@given(
    start=st.integers(0, 10**9 - 400),
    edits=st.lists(
        st.tuples(
            st.integers(0, 399),
            st.integers(0, 19),
            st.one_of(st.integers(48, 57), st.integers(0, 255)),
        ),
        max_size=30,
    ),
    copies=st.lists(st.tuples(st.integers(0, 399), st.integers(0, 399)), max_size=5),
)
def test_read_back_kernel_equals_reference(
    start: int, edits: list[tuple[int, int, int]], copies: list[tuple[int, int]]
) -> None:
    # Misprinted digits, foreign bytes, other identifiers, copied rows: invalid count, serials
    # and digit counts agree value for value (a digit written over a check is a wrong check).
    master = MasterKey(bytes(range(32)))
    key = check_key(master, "8600001")
    rows = _corrupt(Nmpa20Pool(master, "8600001").codes(start, 400).view(np.uint8).reshape(-1, 20), edits)
    for src, dst in copies:
        rows[dst] = rows[src]
    found = read_back(rows.view("S20").reshape(-1), "8600001", key)
    invalid, serials, counts = read_back_reference([r.tobytes() for r in rows], "8600001", key)
    assert found.invalid == invalid
    assert found.serials.tolist() == serials
    assert found.counts.tolist() == counts


def test_read_back_of_other_identifiers_and_letters(master: MasterKey) -> None:
    key = check_key(master, "8600001")
    rows = Nmpa20Pool(master, "8600002").codes(0, 50).view(np.uint8).reshape(-1, 20)
    found = read_back(rows.view("S20").reshape(-1), "8600001", key)
    assert (found.invalid, len(found.serials)) == (50, 0)
    assert found.counts.sum() == 9 * 50
    assert read_back_reference([r.tobytes() for r in rows], "8600001", key) == (50, [], found.counts.tolist())


@settings(max_examples=60, deadline=None)
@given(
    words=st.integers(1, 4),
    calls=st.lists(st.lists(st.integers(0, 255), max_size=120), min_size=1, max_size=4),
)
def test_test_and_set_kernel_equals_reference(words: int, calls: list[list[int]]) -> None:
    fast, ref = np.zeros(words, dtype=np.uint64), [0] * words
    for values in calls:
        values = [v % (64 * words) for v in values]
        seen = _audit.test_and_set(fast, np.array(values, dtype=np.uint64))
        assert seen == qa.test_and_set_reference(ref, values)
        assert fast.tolist() == ref


def test_test_and_set_refuses_values_outside_the_bitmap() -> None:
    with pytest.raises(ValueError, match="outside the bitmap"):
        _audit.test_and_set(np.zeros(2, dtype=np.uint64), np.array([3, 128], dtype=np.uint64))
    with pytest.raises(ValueError, match="outside the domain"):
        BitmapCounter(100).add(np.array([100], dtype=np.uint64))


def _planted(values: list[int], plants: list[tuple[int, int]]) -> list[int]:
    """``values`` with some entries overwritten by earlier or later ones (planted duplicates)."""
    values = list(values)
    for src, dst in plants:
        if values:
            values[dst % len(values)] = values[src % len(values)]
    return values


def _expected(values: list) -> int:  # type: ignore[type-arg]
    return len(values) - len(set(values))


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(0, 10**9 - 1), max_size=300, unique=True),
    plants=st.lists(st.tuples(st.integers(0, 299), st.integers(0, 299)), max_size=10),
    splits=st.lists(st.integers(0, 300), max_size=3),
)
def test_bitmap_counter_equals_a_set(
    values: list[int], plants: list[tuple[int, int]], splits: list[int]
) -> None:
    # Distinct serials count 0 (no false duplicate); each planted copy counts once, whether it
    # lands in the same add as its original or in a later one.
    values = _planted(values, plants)
    counter = BitmapCounter(10**9)
    edges = sorted({0, len(values), *(min(s, len(values)) for s in splits)})
    for a, b in itertools.pairwise(edges):
        counter.add(np.array(values[a:b], dtype=np.uint64))
    assert counter.finish() == _expected(values)


def test_bitmap_counter_is_exact_from_two_threads() -> None:
    # Two threads add overlapping halves at once: every value of the overlap counts exactly once.
    rng = np.random.default_rng(7)
    values = rng.choice(10**8, size=400_000, replace=False).astype(np.uint64)
    first, second = values[:250_000], values[150_000:]
    counter = BitmapCounter(10**8)
    workers = [threading.Thread(target=counter.add, args=(part,)) for part in (first, second)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert counter.finish() == 100_000


@settings(max_examples=30, deadline=None)
@given(
    serials=st.lists(st.text("AB", min_size=10, max_size=10), max_size=400),
    plants=st.lists(st.tuples(st.integers(0, 399), st.integers(0, 399)), max_size=10),
    memory=st.sampled_from([32, 400, 1 << 20]),
)
def test_partition_counter_equals_a_set_on_a_small_domain(
    tmp_path_factory: pytest.TempPathFactory, serials: list[str], plants: list[tuple[int, int]], memory: int
) -> None:
    # 2**10 serials of 10 characters (two words each, the first shared by 4 serials): many natural
    # duplicates besides the planted ones. A budget of 32 bytes (two values) splits files down to
    # the last hash byte and counts the rest piece by piece; 400 bytes splits once or twice; 1 MiB
    # sorts every file whole.
    serials = _planted(serials, plants)
    counter = PartitionCounter(10, memory=memory, directory=tmp_path_factory.mktemp("parts"))
    for a in range(0, len(serials), 150):
        counter.add(np.array([s.encode() for s in serials[a : a + 150]], dtype="S10"))
    assert counter.finish() == _expected(serials)


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.integers(0, 2**64 - 1), max_size=300),
    plants=st.lists(st.tuples(st.integers(0, 299), st.integers(0, 299)), max_size=10),
    memory=st.sampled_from([16, 1 << 20]),
)
def test_partition_counter_of_numbers_equals_a_set(
    tmp_path_factory: pytest.TempPathFactory, values: list[int], plants: list[tuple[int, int]], memory: int
) -> None:
    values = _planted(values, plants)
    counter = PartitionCounter(memory=memory, directory=tmp_path_factory.mktemp("parts"))
    counter.add(np.array(values, dtype=np.uint64))
    assert counter.finish() == _expected(values)


def test_partition_counter_finds_no_false_duplicate_and_every_planted_one(tmp_path: Path) -> None:
    # 20-character serials (three words each) under one 8-character lot prefix, half a million
    # distinct, then 37 planted copies; no file sorted at once holds more than the budget.
    rng = np.random.default_rng(11)
    rows = rng.integers(ord("A"), ord("Z") + 1, size=(500_000, 20), dtype=np.uint8)
    rows[:, :8] = np.frombuffer(b"LOT2417A", dtype=np.uint8)
    rows = rows[np.unique(rows, axis=0, return_index=True)[1]]
    planted = rows[rng.choice(len(rows), size=37, replace=False)]
    for extra, expected in ((None, 0), (planted, 37)):
        counter = PartitionCounter(20, memory=1 << 20, directory=tmp_path)
        for a in range(0, len(rows), 100_000):
            counter.add(rows[a : a + 100_000])
        if extra is not None:
            counter.add(extra)
        assert counter.finish() == expected
        assert 0 < counter.peak_bytes <= 1 << 20
    assert not list(tmp_path.iterdir())  # the partition files are gone


def test_partition_counter_when_values_share_a_hash(tmp_path: Path) -> None:
    # Neighbours by hash are then not always equal: the rows themselves are sorted instead.
    rng = np.random.default_rng(5)
    serials = [bytes(r) for r in rng.integers(ord("A"), ord("D"), size=(3000, 12), dtype=np.uint8)]
    serials += serials[:40]
    counter = PartitionCounter(12, directory=tmp_path)
    counter._hash = lambda words: np.zeros(len(words), dtype=np.uint64)  # type: ignore[method-assign]
    counter.add(np.array(serials, dtype="S12"))
    assert counter.finish() == _expected(serials)


def test_partition_counter_of_one_value_repeated(tmp_path: Path) -> None:
    # Every value in one file that no hash byte can split: counted piece by piece.
    counter = PartitionCounter(memory=64, directory=tmp_path)
    for _ in range(3):
        counter.add(np.full(1000, 123456789, dtype=np.uint64))
    counter.add(np.array([5, 6, 5], dtype=np.uint64))
    assert counter.finish() == 2999 + 1


def test_the_counter_follows_the_domain_size() -> None:
    assert isinstance(duplicate_counter(10**9), BitmapCounter)
    assert isinstance(duplicate_counter(10**12), PartitionCounter)
    wide = duplicate_counter(36**20, width=20)
    assert isinstance(wide, PartitionCounter) and wide.width == 20
    wide.close()


def test_the_audit_streams_when_no_bitmap_fits(master: MasterKey) -> None:
    report = audit_uniqueness(master, 30_000, batch_size=5_000, threads=2, guesses=0, bitmap_max_bits=0)
    assert (report.count, report.duplicates, report.invalid) == (30_000, 0, 0)


@pytest.mark.parametrize("bitmap_max_bits", [qa.BITMAP_MAX_BITS, 0])
def test_the_audit_counts_planted_duplicates_and_bad_checks(
    master: MasterKey, monkeypatch: pytest.MonkeyPatch, bitmap_max_bits: int
) -> None:
    # A generator gone wrong: the unit pool's chunk at index 10,000 repeats a code of the first
    # chunk and, in the half the second thread reads, a code of the first thread's half; one code
    # gets a wrong check.
    real = Nmpa20Pool.codes

    def broken(pool: Nmpa20Pool, start: int, count: int, *, threads: int = 1) -> np.ndarray:
        codes = real(pool, start, count, threads=threads).copy()
        if pool.identifier == "8600001" and start == 10_000:
            codes[0] = real(pool, 17, 1)[0]
            codes[5_000] = codes[1]
            raw = codes.view(np.uint8).reshape(-1, 20)
            raw[4, 19] = ord("0") + (raw[4, 19] - ord("0") + 1) % 10
        return codes

    monkeypatch.setattr(Nmpa20Pool, "codes", broken)
    report = audit_uniqueness(
        master,
        33_300,
        batch_size=5_000,
        threads=2,
        guesses=0,
        chunk_size=10_000,
        bitmap_max_bits=bitmap_max_bits,
    )
    assert (report.duplicates, report.invalid) == (2, 1)
