"""Serial kernels: the Cython copy equals the reference, and the permutation is a bijection."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from linecode import _serials
from linecode.codes import Nmpa20Code
from linecode.errors import ConfigError, InvalidArgument, InvalidCode
from linecode.serials import (
    ALNUM,
    DIGITS,
    KeyedChecks,
    MasterKey,
    Nmpa20Pool,
    SerialDomain,
    SerialPool,
    SsccPool,
    check_key,
)
from linecode.serials import reference as ref

KEY = bytes(range(16))


def test_siphash_matches_published_vectors() -> None:
    # Aumasson & Bernstein's test vectors: key 00..0f, message 00..(n-1).
    assert ref.siphash24(KEY, b"") == 0x726FDB47DD0E0E31
    assert ref.siphash24(KEY, bytes(range(8))) == 0x93F5F5799A932462
    assert ref.siphash24(KEY, bytes(range(15))) == 0xA129CA6149BE45E5
    assert _serials.siphash24(KEY, int.from_bytes(bytes(range(8)), "little")) == 0x93F5F5799A932462


@pytest.mark.parametrize(
    ("radix", "length"),
    [(10, 9), (10, 4), (10, 5), (36, 8), (36, 12), (36, 20), (10, 20), (7, 9), (3, 13), (26, 5)],
)
def test_cython_permutation_equals_reference(radix: int, length: int) -> None:
    fast = _serials.Feistel(KEY, radix, length)
    rng = np.random.default_rng(radix * 100 + length)
    limit = min(radix**length, 1 << 64)
    indices = [0, 1, limit - 1, *(int(x) for x in rng.integers(0, min(limit, 1 << 63), size=40))]
    for i in indices:
        serial = ref.permute(KEY, radix, length, i)
        assert fast.permute(i) == serial
        assert ref.unpermute(KEY, radix, length, serial) == i
        assert fast.unpermute(serial) == i


@pytest.mark.parametrize(("radix", "length"), [(10, 4), (10, 5), (7, 6), (3, 11), (36, 3), (10, 6)])
def test_permutation_is_a_bijection_exhaustively(radix: int, length: int) -> None:
    size = radix**length
    numbers = np.empty(size, dtype=np.uint64)
    _serials.Feistel(KEY, radix, length).fill_numbers(0, numbers)
    assert numbers.max() < size
    assert len(np.unique(numbers)) == size


def test_reference_bijection_on_a_small_domain() -> None:
    serials = {ref.permute(KEY, 10, 3, i) for i in range(1000)}
    assert serials == set(range(1000))


def test_bulk_text_equals_single_serials(master: MasterKey) -> None:
    for domain in (
        SerialDomain(DIGITS, 12),
        SerialDomain(ALNUM, 10),
        SerialDomain("ACDEFGHJKLMNPQRTUVWXY34679", 9),
    ):
        pool = SerialPool(master.derive("t"), domain)
        bulk = pool.serials(1000, 300, threads=2)
        for k, text in enumerate(bulk):
            serial = pool.serial(1000 + k)
            assert text.decode() == serial
            number = ref.permute(master.derive("t"), domain.radix, domain.length, 1000 + k)
            assert serial == _as_text(number, domain)
            assert pool.index(serial) == 1000 + k


def _as_text(number: int, domain: SerialDomain) -> str:
    chars = []
    for _ in range(domain.length):
        number, digit = divmod(number, domain.radix)
        chars.append(domain.alphabet[digit])
    return "".join(reversed(chars))


def test_nmpa20_codes_equal_reference(master: MasterKey) -> None:
    pool = Nmpa20Pool(master, "8612345")
    pool_key = master.derive("pool/nmpa20/8612345")
    ckey = check_key(master, "8612345")
    codes = pool.codes(5_000, 2_000, threads=2)
    for k, raw in enumerate(codes):
        text = raw.decode()
        serial = f"{ref.permute(pool_key, 10, 9, 5_000 + k):09d}"
        assert text == "8612345" + serial + ref.nmpa20_check(ckey, "8612345", serial)
        if k % 100 == 0:  # the one-code kernel too, as Verify and a code's first event use it
            assert pool.check(serial) == ref.nmpa20_check(ckey, "8612345", serial)


def test_threads_do_not_change_the_codes(master: MasterKey) -> None:
    pool = Nmpa20Pool(master, "8612345")
    one = pool.codes(0, 300_000, threads=1)
    two = pool.codes(0, 300_000, threads=2)
    assert np.array_equal(one, two)
    assert len(np.unique(one)) == 300_000


def test_same_key_same_index_same_code_and_pools_differ(master: MasterKey) -> None:
    a = Nmpa20Pool(master, "8612345").codes(0, 100)
    b = Nmpa20Pool(MasterKey(bytes(range(32))), "8612345").codes(0, 100)
    c = Nmpa20Pool(master, "8612346").codes(0, 100)
    d = Nmpa20Pool(MasterKey(bytes(32)), "8612345").codes(0, 100)
    assert np.array_equal(a, b)
    assert not np.any(np.char.ljust(a, 20).astype("S16")[:, None] == c.astype("S16"))
    assert not np.array_equal(a, d)


def test_verify_gives_back_the_index(master: MasterKey) -> None:
    pool = Nmpa20Pool(master, "8612345")
    checks = KeyedChecks(master, ["8612345"])
    code = Nmpa20Code.parse(pool.codes(777, 1)[0].decode(), checks)
    assert pool.index_of(code) == 777
    forged = Nmpa20Code(code.identifier, code.serial, f"{(int(code.check) + 1) % 10000:04d}")
    with pytest.raises(InvalidCode) as err:
        pool.index_of(forged)
    assert err.value.reason == "BAD_CHECK"


def test_check_catches_single_digit_errors_and_transpositions(master: MasterKey) -> None:
    checks = KeyedChecks(master, ["8612345"])
    pool = Nmpa20Pool(master, "8612345")
    missed = tried = 0
    for raw in pool.codes(0, 200):
        text = raw.decode()
        variants = [text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1 :] for i in range(7, 16)]
        variants += [
            text[:i] + text[i + 1] + text[i] + text[i + 2 :] for i in range(7, 15) if text[i] != text[i + 1]
        ]
        for v in variants:
            tried += 1
            missed += checks.expected_check(v[:7], v[7:16]) == v[16:]
    assert tried > 3000
    assert missed <= 3  # about 1 in 10,000 by chance


def test_sscc_pool(master: MasterKey) -> None:
    pool = SsccPool(master, 3, "0614141")
    ssccs = [pool.sscc(i) for i in range(200)]
    assert len({s.value for s in ssccs}) == 200
    assert all(s.value.startswith("30614141") for s in ssccs)
    assert [pool.index_of(s) for s in ssccs] == list(range(200))


def test_domain_rules() -> None:
    with pytest.raises(InvalidArgument, match="too easy to guess"):
        SerialDomain(DIGITS, 5)
    with pytest.raises(InvalidArgument, match="CSET 82"):
        SerialDomain("0123456789#", 9)
    with pytest.raises(InvalidArgument, match="2\\*\\*52"):
        SerialDomain(ALNUM + "abcdefghijklmnopqrstuvwxyz", 20)


def test_out_of_pool_range_is_refused(master: MasterKey) -> None:
    pool = Nmpa20Pool(master, "8612345")
    with pytest.raises(InvalidArgument, match="outside"):
        pool.codes(10**9 - 5, 10)


def test_master_key_file_is_created_private_and_stable(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("LINECODE_MASTER_KEY", raising=False)
    path = tmp_path / "keys" / "master.key"
    first = MasterKey.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MasterKey.load(path).derive("x") == first.derive("x")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        MasterKey.load(path)
    monkeypatch.setenv("LINECODE_MASTER_KEY", "ab" * 32)
    assert MasterKey.load(path).derive("x") == MasterKey(bytes([0xAB] * 32)).derive("x")
    monkeypatch.setenv("LINECODE_MASTER_KEY", "not hex")
    with pytest.raises(ConfigError, match="64 hex digits"):
        MasterKey.load(path)
