"""10 M finished nmpa20 codes: linecode's kernel vs the numpy way vs the plain-Python way.

Each alternative is what a user could write in an afternoon to get unique random 9-digit serials
formatted as 20-digit codes. They do less than we do: no keyed check (they put 0000), no keyed
permutation (their uniqueness needs a global de-duplication, so they cannot run per lease).
"""

from __future__ import annotations

import os
import secrets

import numpy as np
import pytest

from linecode.serials import MasterKey, Nmpa20Pool

N = int(os.environ.get("LINECODE_BENCH_CODES", 10_000_000))
IDENTIFIER = "8612345"


@pytest.fixture(scope="module")
def pool() -> Nmpa20Pool:
    return Nmpa20Pool(MasterKey(bytes(range(32))), IDENTIFIER)


def numpy_way(n: int) -> np.ndarray:
    """default_rng().integers + np.unique + vectorised formatting into S20."""
    rng = np.random.default_rng()
    serials = np.unique(rng.integers(0, 10**9, size=n + n // 100))
    while len(serials) < n:  # birthday collisions: draw more until there are enough
        serials = np.unique(np.concatenate([serials, rng.integers(0, 10**9, size=n - len(serials) + 1000)]))
    return format_codes(serials[:n])


def numpy_sort_way(n: int) -> np.ndarray:
    """As numpy_way, de-duplicating with np.sort instead of np.unique (np.unique is slow in numpy 2.4)."""
    rng = np.random.default_rng()
    serials = np.sort(rng.integers(0, 10**9, size=n + n // 100))
    serials = serials[np.concatenate(([True], serials[1:] != serials[:-1]))]
    assert len(serials) >= n, "not enough distinct draws"
    return format_codes(serials[:n])


def format_codes(serials: np.ndarray) -> np.ndarray:
    """Vectorised formatting of 9-digit serials into S20 codes with a 0000 check."""
    n = len(serials)
    serials = serials.astype(np.uint32)
    out = np.empty((n, 20), dtype=np.uint8)
    out[:, :7] = np.frombuffer(IDENTIFIER.encode(), dtype=np.uint8)
    for pos in range(15, 6, -1):
        serials, digit = np.divmod(serials, 10)
        out[:, pos] = digit + 48
    out[:, 16:] = ord("0")
    return out.view("S20").reshape(n)


def python_way(n: int) -> list[str]:
    """secrets + a set + f-strings."""
    seen: set[int] = set()
    while len(seen) < n:
        seen.add(secrets.randbelow(10**9))
    return [f"{IDENTIFIER}{s:09d}0000" for s in seen]


@pytest.mark.benchmark(group="nmpa20 10M codes")
def test_linecode_one_core(benchmark, pool: Nmpa20Pool) -> None:  # type: ignore[no-untyped-def]
    codes = benchmark.pedantic(pool.codes, args=(0, N), kwargs={"threads": 1}, rounds=5, warmup_rounds=1)
    assert len(codes) == N


@pytest.mark.benchmark(group="nmpa20 10M codes")
def test_linecode_two_cores(benchmark, pool: Nmpa20Pool) -> None:  # type: ignore[no-untyped-def]
    codes = benchmark.pedantic(pool.codes, args=(0, N), kwargs={"threads": 2}, rounds=5, warmup_rounds=1)
    assert len(codes) == N


@pytest.mark.benchmark(group="nmpa20 10M codes")
def test_numpy_way(benchmark) -> None:  # type: ignore[no-untyped-def]
    codes = benchmark.pedantic(numpy_way, args=(N,), rounds=2)
    assert len(codes) == N


@pytest.mark.benchmark(group="nmpa20 10M codes")
def test_numpy_sort_way(benchmark) -> None:  # type: ignore[no-untyped-def]
    codes = benchmark.pedantic(numpy_sort_way, args=(N,), rounds=2)
    assert len(codes) == N


@pytest.mark.benchmark(group="nmpa20 10M codes")
def test_python_way(benchmark) -> None:  # type: ignore[no-untyped-def]
    codes = benchmark.pedantic(python_way, args=(N,), rounds=1)
    assert len(codes) == N
