"""The QA audit: are the codes unique, are their checks right, how guessable are they?

Everything is computed from the finished 20-character codes as a printer would get them, read
back independently of how they were made: duplicates by sorting the 16 leading digits, checks by
recomputing each one from the digits, randomness by a chi-square test per serial position.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from linecode import _serials
from linecode.serials import MasterKey, Nmpa20Pool, check_key

RANDOMNESS_ALPHA = 1e-4
"""A serial position fails the chi-square test when its p-value is below this (9 tests a run)."""

DEFAULT_BATCH_SIZE = 50_000
"""Units per batch in the audit: 50,000 of 10**9 serials keeps a blind guess below 1 in 10,000."""
SERIAL_SPACE = 10**9


@dataclass
class LevelPlan:
    name: str
    identifier: str
    ratio: int
    """Codes of this level in one code of the level above (1 for the top level)."""


@dataclass
class AuditReport:
    count: int
    duplicates: int
    invalid: int
    codes_per_s: float
    guess_probability: float
    """Chance that a random serial under a known identifier is one of a batch's issued serials."""
    guess_probability_with_check: float
    """The same, when the guess must also carry the right keyed check (1 in 10,000)."""
    guess_probability_measured: float
    """Fraction of random serials found issued, measured by inverting the permutation."""
    guess_probability_pool: float
    """Chance that a random serial is any code issued so far under the busiest identifier: a pool
    serves every batch of its identifier, so this share grows over a product's life."""
    guess_probability_pool_with_check: float
    """The same with the keyed check: at most 1/10,000 even when the whole pool has been issued."""
    batch_size: int
    chi2_max: float
    """Largest chi-square statistic (9 degrees of freedom) over the 9 serial positions."""
    chi2_p_min: float
    """Smallest p-value over the positions; uniform digits give values spread over (0, 1)."""
    randomness_ok: bool
    levels: dict[str, int] = field(default_factory=dict)
    seconds_generate: float = 0.0
    seconds_audit: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def default_levels(names: Sequence[str] = ("unit", "bundle", "case")) -> list[LevelPlan]:
    """A demo hierarchy: 10 units a bundle, 10 bundles a case (identifiers 8600001, ...)."""
    return [LevelPlan(n, f"86{i + 1:05d}", 1 if i == len(names) - 1 else 10) for i, n in enumerate(names)]


def split_count(count: int, levels: Sequence[LevelPlan]) -> dict[str, int]:
    """Share ``count`` codes among levels as a full hierarchy would use them."""
    weights, w = [], 1  # weights[i]: units under one code of level i
    for level in levels:
        weights.append(w)
        w *= level.ratio
    inv = [1 / w for w in weights]
    shares = [round(count * x / sum(inv)) for x in inv]
    shares[0] += count - sum(shares)
    return {level.name: n for level, n in zip(levels, shares, strict=True)}


def batches(total: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """(start index, size) of consecutive batches, as leases would hand them out."""
    for start in range(0, total, batch_size):
        yield start, min(batch_size, total - start)


def _leading_numbers(codes: np.ndarray) -> np.ndarray:
    """The 16 leading digits (identifier + serial) of S20 codes as uint64."""
    digits = codes.view(np.uint8).reshape(-1, 20)[:, :16].astype(np.uint64) - 48
    powers = (10 ** np.arange(15, -1, -1, dtype=np.uint64)).astype(np.uint64)
    return digits @ powers


def _checks_of(codes: np.ndarray) -> np.ndarray:
    digits = codes.view(np.uint8).reshape(-1, 20)[:, 16:].astype(np.uint32) - 48
    return digits @ np.array([1000, 100, 10, 1], dtype=np.uint32)


def read_back(codes: np.ndarray, identifier: str, key: bytes) -> tuple[np.ndarray, int]:
    """Read S20 codes back: their 16 leading digits as numbers, and how many are invalid.

    A code is invalid when its identifier is not ``identifier``, a character is not a digit, or its
    check differs from the one recomputed from its digits.
    """
    raw = codes.view(np.uint8).reshape(-1, 20)
    not_digits = ((raw < 48) | (raw > 57)).any(axis=1)
    numbers = _leading_numbers(codes)
    serials = numbers % SERIAL_SPACE
    expected = np.empty(len(codes), dtype=np.uint32)
    _serials.nmpa20_checks(key, int(identifier) * SERIAL_SPACE, serials, expected)
    wrong = (expected != _checks_of(codes)) | (numbers // SERIAL_SPACE != int(identifier)) | not_digits
    return numbers, int(np.count_nonzero(wrong))


def count_duplicates(numbers: np.ndarray) -> int:
    """How many entries repeat an earlier one."""
    ordered = np.sort(numbers)
    return int(np.count_nonzero(ordered[1:] == ordered[:-1]))


def serial_digit_counts(codes: np.ndarray) -> np.ndarray:
    """counts[position, digit] over the 9 serial digits of S20 codes."""
    digits = codes.view(np.uint8).reshape(-1, 20)[:, 7:16].astype(np.intp) - 48
    counts = np.zeros((9, 10), dtype=np.int64)
    for pos in range(9):
        counts[pos] += np.bincount(digits[:, pos].clip(0, 9), minlength=10)
    return counts


def chi2_sf(x: float, dof: int) -> float:
    """Upper tail of the chi-square distribution (regularised incomplete gamma, series form)."""
    a, z = dof / 2, x / 2
    if z <= 0:
        return 1.0
    term = total = 1 / a
    n = 1
    while term > total * 1e-15 and n < 10_000:
        term *= z / (a + n)
        total += term
        n += 1
    lower = math.exp(-z + a * math.log(z) - math.lgamma(a)) * total
    return max(0.0, 1.0 - lower)


def audit_uniqueness(
    master: MasterKey,
    count: int,
    *,
    levels: Sequence[LevelPlan] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    threads: int = 1,
    guesses: int = 200_000,
    progress: Callable[[int], object] | None = None,
) -> AuditReport:
    """Generate ``count`` codes across levels and batches and audit them (see module docstring)."""
    levels = levels or default_levels()
    shares = split_count(count, levels)
    duplicates = invalid = 0
    counts = np.zeros((9, 10), dtype=np.int64)
    gen_seconds = audit_seconds = 0.0
    for level in levels:
        pool = Nmpa20Pool(master, level.identifier)
        chunks: list[np.ndarray] = []
        for start, size in batches(shares[level.name], batch_size):
            t0 = time.perf_counter()
            codes = pool.codes(start, size, threads=threads)
            t1 = time.perf_counter()
            numbers, bad = read_back(codes, level.identifier, check_key(master, level.identifier))
            invalid += bad
            counts += serial_digit_counts(codes)
            chunks.append(numbers)
            gen_seconds += t1 - t0
            audit_seconds += time.perf_counter() - t1
            if progress:
                progress(size)
        t1 = time.perf_counter()
        if chunks:
            duplicates += count_duplicates(np.concatenate(chunks))
        audit_seconds += time.perf_counter() - t1

    expected_per_cell = counts.sum(axis=1, keepdims=True) / 10
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = np.nan_to_num(((counts - expected_per_cell) ** 2 / expected_per_cell).sum(axis=1))
    chi2_max = float(chi2.max()) if count else 0.0
    p_min = min(chi2_sf(float(x), 9) for x in chi2) if count else 1.0

    measured = _measured_guess_rate(master, levels[0].identifier, min(batch_size, count) or 1, guesses)
    issued = min(batch_size, max(shares.values()) if shares else 0) or batch_size
    return AuditReport(
        count=count,
        duplicates=duplicates,
        invalid=invalid,
        codes_per_s=count / gen_seconds if gen_seconds else 0.0,
        guess_probability=issued / SERIAL_SPACE,
        guess_probability_with_check=issued / SERIAL_SPACE / 10_000,
        guess_probability_measured=measured,
        guess_probability_pool=max(shares.values(), default=0) / SERIAL_SPACE,
        guess_probability_pool_with_check=max(shares.values(), default=0) / SERIAL_SPACE / 10_000,
        batch_size=batch_size,
        chi2_max=chi2_max,
        chi2_p_min=p_min,
        randomness_ok=p_min >= RANDOMNESS_ALPHA,
        levels=shares,
        seconds_generate=gen_seconds,
        seconds_audit=audit_seconds,
    )


def _measured_guess_rate(master: MasterKey, identifier: str, issued: int, guesses: int) -> float:
    """Draw random serials and count how many map back to an index below ``issued``."""
    if guesses <= 0:
        return 0.0
    pool = Nmpa20Pool(master, identifier)
    rng = np.random.default_rng()
    hits = sum(1 for s in rng.integers(0, SERIAL_SPACE, size=guesses) if pool.index(f"{int(s):09d}") < issued)
    return hits / guesses
