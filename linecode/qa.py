"""The QA audit: are the codes unique, are their checks right, how guessable are they?

Everything is computed from the finished 20-character codes as a printer would get them, read
back independently of how they were made: checks by recomputing each one from the digits,
randomness by a chi-square test per serial position, duplicates by a counter whose memory does
not grow with the number of codes — a bitmap over a level's 10**9 serials (125 MB), or, for
serial domains too wide for a bitmap, a streaming count that partitions the values to disk.

The hot loops are the kernel ``linecode._audit`` (``ext/_audit.pyx``); :func:`read_back_reference`
and :func:`test_and_set_reference` below are its specification.
"""

from __future__ import annotations

import math
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from linecode import _audit
from linecode.serials import MasterKey, Nmpa20Pool, check_key
from linecode.serials import reference as serials_reference

RANDOMNESS_ALPHA = 1e-4
"""A serial position fails the chi-square test when its p-value is below this (9 tests a run)."""

DEFAULT_BATCH_SIZE = 50_000
"""Units per batch in the audit: 50,000 of 10**9 serials keeps a blind guess below 1 in 10,000."""
SERIAL_SPACE = 10**9
CHUNK_SIZE = 1_000_000
"""Codes generated and read back at a time: the audit's memory besides its duplicate counter
(20 bytes a code and 8 a serial: 28 MB)."""


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


@dataclass
class ReadBack:
    """What reading a slice of codes back under one identifier found."""

    invalid: int
    """Codes with a character that is not a digit, another identifier, or a wrong keyed check."""
    serials: np.ndarray
    """The serial (``uint64``) of each code whose 16 leading characters are digits under the
    identifier, in order: what the duplicate counter is given (a wrong check does not hide one)."""
    counts: np.ndarray
    """counts[position, digit] over the 9 serial characters of every code (digits only)."""


def read_back(codes: np.ndarray, identifier: str, key: bytes, *, out: np.ndarray | None = None) -> ReadBack:
    """Read ``S20`` codes back under ``identifier`` (``key``: its check key), on this thread.

    ``out``, when given, is where the serials are written (a ``uint64`` array at least as long).
    """
    rows = codes.view(np.uint8).reshape(-1, 20)
    serials = np.empty(len(rows), dtype=np.uint64) if out is None else out
    counts = np.zeros((9, 10), dtype=np.int64)
    invalid, kept = _audit.read_back_nmpa20(rows, identifier.encode(), key, serials, counts)
    return ReadBack(invalid, serials[:kept], counts)


def read_back_reference(
    codes: Sequence[bytes], identifier: str, key: bytes
) -> tuple[int, list[int], list[list[int]]]:
    """The specification of :func:`read_back` (and of the kernel): ``(invalid, serials, counts)``."""
    invalid, serials, counts = 0, [], [[0] * 10 for _ in range(9)]
    for code in codes:
        for position, char in enumerate(code[7:16]):
            if 48 <= char <= 57:
                counts[position][char - 48] += 1
        if not (code[:16].isdigit() and code[:7] == identifier.encode()):
            invalid += 1
            continue
        serials.append(int(code[7:16]))
        if code[16:] != serials_reference.nmpa20_check(key, identifier, code[7:16].decode()).encode():
            invalid += 1
    return invalid, serials, counts


def test_and_set_reference(words: list[int], values: Sequence[int]) -> int:
    """The specification of the bitmap kernel: set bit ``v`` (bit ``v % 64`` of ``words[v // 64]``)
    for each value in turn; return how many were set already."""
    seen = 0
    for value in values:
        word, bit = divmod(value, 64)
        seen += words[word] >> bit & 1
        words[word] |= 1 << bit
    return seen


def count_duplicates(numbers: np.ndarray) -> int:
    """How many entries repeat an earlier one (sorting them all: memory grows with the count)."""
    ordered = np.sort(numbers)
    return int(np.count_nonzero(ordered[1:] == ordered[:-1]))


class DuplicateCounter:
    """Counts the values that repeat an earlier one, over everything added, in memory that does
    not grow with how many are added. ``add`` takes a batch of values (see the subclasses for
    their form) and may be called from several threads; :meth:`finish` gives the total."""

    duplicates: int = 0

    def add(self, values: np.ndarray) -> None:
        raise NotImplementedError

    def finish(self) -> int:
        """The number of values that repeated an earlier one; releases what the counter holds."""
        self.close()
        return self.duplicates

    def close(self) -> None:
        """Release memory and files (idempotent)."""

    def __enter__(self) -> DuplicateCounter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class BitmapCounter(DuplicateCounter):
    """One bit per value of a domain ``[0, size)``: a value is a duplicate when its bit was set
    already (by an earlier batch, or earlier in the same one). ``size / 8`` bytes (125 MB for the
    10**9 serials of an nmpa20 identifier), whatever the count. Values: ``uint64`` arrays."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._words: np.ndarray | None = np.zeros(-(-size // 64), dtype=np.uint64)
        self._lock = threading.Lock()

    def add(self, values: np.ndarray) -> None:
        if self._words is None:
            raise ValueError("the counter is finished")
        if len(values) and int(values.max()) >= self.size:
            raise ValueError(f"value {int(values.max())} is outside the domain [0, {self.size})")
        seen = _audit.test_and_set(self._words, np.ascontiguousarray(values, dtype=np.uint64))
        with self._lock:
            self.duplicates += seen

    def close(self) -> None:
        self._words = None


_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> None:
    """SplitMix64's finaliser, in place: every output bit depends on every input bit."""
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)


class PartitionCounter(DuplicateCounter):
    """A streaming count for domains too wide for a bitmap (GS1 serials of up to 20 characters).

    Each value goes to one of 256 files on disk by the high byte of a 64-bit keyed hash (a random
    key per counter, so the files fill evenly whatever the values look like); equal values share a
    file. :meth:`finish` then sorts one file at a time: memory is bounded by ``memory`` bytes of
    values (about three times that while sorting), whatever the count. A file larger than that is
    split again by the hash's next byte; a file whose values share all 64 bits of the hash (one
    repeated value, in practice) is counted piece by piece against its distinct values. Disk: 8
    bytes a value for every 8 characters of its width (24 for a 20-character serial).

    Values: ``uint64`` numbers (``width`` 8), or ``width``-character serials as an ``S<width>``
    array or a ``(n, width)`` ``uint8`` array.
    """

    FAN_OUT = 256

    def __init__(
        self, width: int = 8, *, memory: int = 64 << 20, directory: str | Path | None = None
    ) -> None:
        if width < 1:
            raise ValueError(f"width {width}: expected at least 1")
        self.width = width
        self.words = -(-width // 8)
        self.memory = max(memory, 8 * self.words)
        self._key = np.frombuffer(secrets.token_bytes(16), dtype=np.uint64).copy()
        self._temp: tempfile.TemporaryDirectory[str] | None = tempfile.TemporaryDirectory(
            prefix="linecode-qa-", dir=directory
        )
        self._files: dict[int, BinaryIO] = {}
        self._lock = threading.Lock()
        self.peak_bytes = 0
        """The most bytes of values :meth:`finish` held at once (sorting a file, or a piece of one)."""
        self.bytes_written = 0
        """Bytes written to the files (by :meth:`add`, and again by any split)."""

    def _words_of(self, values: np.ndarray) -> np.ndarray:
        """Values as (n, words) ``uint64``: equal values give equal rows."""
        if values.dtype == np.uint64 and values.ndim == 1 and self.width == 8:
            return values.reshape(-1, 1)
        rows = values.view(np.uint8).reshape(len(values), -1) if values.ndim == 1 else values
        if rows.dtype != np.uint8 or rows.shape[1] != self.width:
            raise ValueError(f"expected {self.width}-byte values, got {values.dtype} {values.shape}")
        padded = np.zeros((len(rows), 8 * self.words), dtype=np.uint8)
        padded[:, : self.width] = rows
        return padded.view(np.uint64)

    def _hash(self, words: np.ndarray) -> np.ndarray:
        h = np.full(len(words), self._key[0], dtype=np.uint64)
        for column in range(self.words):
            h ^= words[:, column]
            _mix(h)
        h ^= self._key[1]
        _mix(h)
        return h

    def _scatter(self, words: np.ndarray, depth: int, files: dict[int, BinaryIO], directory: Path) -> None:
        """Append each row to the file of its hash's byte ``depth`` (0: the highest)."""
        part = ((self._hash(words) >> np.uint64(56 - 8 * depth)) & np.uint64(0xFF)).astype(np.uint8)
        ordered = words[np.argsort(part, kind="stable")]  # a radix sort for 8-bit keys
        bounds = np.concatenate([[0], np.cumsum(np.bincount(part, minlength=self.FAN_OUT))])
        for p in map(int, np.flatnonzero(np.diff(bounds))):
            if p not in files:
                files[p] = open(directory / f"{p:02x}", "ab")  # noqa: SIM115 -- closed by finish/close
            files[p].write(ordered[bounds[p] : bounds[p + 1]].tobytes())
        self.bytes_written += words.nbytes

    def add(self, values: np.ndarray) -> None:
        words = self._words_of(np.asarray(values))
        with self._lock:
            if self._temp is None:
                raise ValueError("the counter is finished")
            self._scatter(words, 0, self._files, Path(self._temp.name))

    def finish(self) -> int:
        if self._temp is not None:
            for f in self._files.values():
                f.close()
            directory = Path(self._temp.name)
            self.duplicates = sum(self._count(directory / f"{p:02x}", 1) for p in sorted(self._files))
        self.close()
        return self.duplicates

    def _pieces(self, path: Path) -> Iterator[np.ndarray]:
        rows = max(1, self.memory // (8 * self.words))
        with open(path, "rb") as f:
            while piece := f.read(rows * 8 * self.words):
                yield np.frombuffer(piece, dtype=np.uint64).reshape(-1, self.words)

    def _count_sorted(self, words: np.ndarray) -> int:
        """Duplicates among rows held in memory."""
        if self.words == 1:
            return count_duplicates(words[:, 0])
        # Sorting by the keyed hash (one uint64 key) is 3-4x faster than sorting rows of several
        # words. Equal rows have equal hashes; when every neighbour with the same hash is also the
        # same row, each run of one hash is one value, and the neighbours count its repeats.
        hashes = self._hash(words)
        order = np.argsort(hashes)
        hashes, words = hashes[order], words[order]
        same_hash = hashes[1:] == hashes[:-1]
        same = same_hash & (words[1:] == words[:-1]).all(axis=1)
        if np.array_equal(same, same_hash):
            return int(np.count_nonzero(same))
        # Two values share a hash: sort the rows themselves.
        ordered = words[np.lexsort(words.T[::-1])]
        return int(np.count_nonzero((ordered[1:] == ordered[:-1]).all(axis=1)))

    def _count(self, path: Path, depth: int) -> int:
        """Duplicates among the values of one file (none of them equals a value of another file)."""
        if path.stat().st_size <= self.memory:
            words = np.fromfile(path, dtype=np.uint64).reshape(-1, self.words)
            path.unlink()
            self.peak_bytes = max(self.peak_bytes, words.nbytes)
            return self._count_sorted(words)
        if depth < 8:
            children: dict[int, BinaryIO] = {}
            sub = path.with_name(path.name + "-")
            sub.mkdir()
            for piece in self._pieces(path):
                self._scatter(piece, depth, children, sub)
            for f in children.values():
                f.close()
            path.unlink()
            return sum(self._count(sub / f"{p:02x}", depth + 1) for p in sorted(children))
        # Every value here has the same 64-bit keyed hash: they are (almost surely) one value.
        total, distinct = 0, np.empty((0, self.words), dtype=np.uint64)
        for piece in self._pieces(path):
            total += len(piece)
            distinct = np.unique(np.concatenate([distinct, piece]), axis=0)
            self.peak_bytes = max(self.peak_bytes, piece.nbytes + distinct.nbytes)
        path.unlink()
        return total - len(distinct)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files = {}
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None


BITMAP_MAX_BITS = 1 << 31
"""The largest domain counted with a bitmap (256 MiB); wider domains stream through disk."""


def duplicate_counter(
    domain_size: int,
    *,
    width: int = 8,
    bitmap_max_bits: int = BITMAP_MAX_BITS,
    directory: str | Path | None = None,
) -> DuplicateCounter:
    """The counter for values of a domain of ``domain_size``: a :class:`BitmapCounter` up to
    ``bitmap_max_bits`` values (they come as ``uint64``), else a :class:`PartitionCounter` (``uint64``
    numbers for domains up to 2**64, else ``width``-character serials)."""
    if domain_size <= bitmap_max_bits:
        return BitmapCounter(domain_size)
    return PartitionCounter(8 if domain_size <= 1 << 64 else width, directory=directory)


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
    chunk_size: int = CHUNK_SIZE,
    bitmap_max_bits: int = BITMAP_MAX_BITS,
) -> AuditReport:
    """Generate ``count`` codes across levels and batches and audit them (see module docstring).

    Levels are audited one after the other, each with its own duplicate counter (one identifier
    each), codes ``chunk_size`` at a time (whole batches where a batch fits: consecutive batches
    are consecutive index ranges, so a chunk holds exactly the codes its batches get), generated
    and read back on ``threads`` threads. ``bitmap_max_bits`` picks the counter
    (:func:`duplicate_counter`): 0 sends the serials through the streaming counter instead.
    """
    levels = levels or default_levels()
    shares = split_count(count, levels)
    duplicates = invalid = 0
    counts = np.zeros((9, 10), dtype=np.int64)
    gen_seconds = audit_seconds = 0.0
    chunk_size = max(1, chunk_size)
    step = max(1, chunk_size // batch_size) * batch_size if batch_size <= chunk_size else chunk_size
    serials = np.empty(min(step, max(shares.values(), default=0)), dtype=np.uint64)
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="linecode-qa") as executor:
        for level in levels:
            pool = Nmpa20Pool(master, level.identifier)
            key = check_key(master, level.identifier)
            with duplicate_counter(SERIAL_SPACE, bitmap_max_bits=bitmap_max_bits) as counter:
                for start, size in batches(shares[level.name], step):
                    t0 = time.perf_counter()
                    codes = pool.codes(start, size, threads=threads)
                    t1 = time.perf_counter()
                    futures = [
                        executor.submit(
                            _audit_piece, counter, codes[a:b], level.identifier, key, serials[a:b]
                        )
                        for a, b in _slices(size, threads)
                    ]
                    for future in futures:
                        found = future.result()
                        invalid += found.invalid
                        counts += found.counts
                    gen_seconds += t1 - t0
                    audit_seconds += time.perf_counter() - t1
                    if progress:
                        progress(size)
                t1 = time.perf_counter()
                duplicates += counter.finish()
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


def _slices(size: int, threads: int) -> list[tuple[int, int]]:
    """[a, b) slices of ``size`` items, one per thread."""
    step = max(1, -(-size // max(1, threads)))
    return [(a, min(a + step, size)) for a in range(0, size, step)]


def _audit_piece(
    counter: DuplicateCounter, codes: np.ndarray, identifier: str, key: bytes, out: np.ndarray
) -> ReadBack:
    found = read_back(codes, identifier, key, out=out)
    counter.add(found.serials)
    return found


def _measured_guess_rate(master: MasterKey, identifier: str, issued: int, guesses: int) -> float:
    """Draw random serials and count how many map back to an index below ``issued``."""
    if guesses <= 0:
        return 0.0
    pool = Nmpa20Pool(master, identifier)
    rng = np.random.default_rng()
    hits = sum(1 for s in rng.integers(0, SERIAL_SPACE, size=guesses) if pool.index(f"{int(s):09d}") < issued)
    return hits / guesses
