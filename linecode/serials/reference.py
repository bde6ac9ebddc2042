"""Pure-Python reference of the serial kernels: the readable specification.

``linecode._serials`` (Cython) is the fast copy; tests hold it to these functions value for value.

* :func:`siphash24` — SipHash-2-4 (Aumasson & Bernstein), the keyed PRF every round uses.
* :func:`permute` / :func:`unpermute` — an FF1-shaped Feistel network (NIST SP 800-38G): the
  ``n``-digit radix-``r`` index is split into ``u = n // 2`` high and ``v = n - u`` low digits, and
  each of ``ROUNDS`` rounds adds a PRF of one half to the other modulo ``r**m``. The domain is exactly
  ``r**n``, so the map is a bijection with no cycle-walking and no "already used?" lookups.
* :func:`nmpa20_check` — the keyed 4-digit check of a 20-digit code.
"""

from __future__ import annotations

ROUNDS = 10
"""Feistel rounds, as in FF1 (FF3-1 has 8): at or above the spec's minimum of 8."""

_MASK = (1 << 64) - 1


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def siphash24(key: bytes, message: bytes) -> int:
    """SipHash-2-4 of ``message`` under the 16-byte ``key``, as an unsigned 64-bit integer."""
    k0 = int.from_bytes(key[:8], "little")
    k1 = int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def sipround() -> None:
        v[0] = (v[0] + v[1]) & _MASK
        v[1] = _rotl(v[1], 13) ^ v[0]
        v[0] = _rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & _MASK
        v[3] = _rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & _MASK
        v[3] = _rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & _MASK
        v[1] = _rotl(v[1], 17) ^ v[2]
        v[2] = _rotl(v[2], 32)

    tail = len(message) % 8
    blocks = [int.from_bytes(message[i : i + 8], "little") for i in range(0, len(message) - tail, 8)]
    blocks.append((len(message) & 0xFF) << 56 | int.from_bytes(message[len(message) - tail :], "little"))
    for m in blocks:
        v[3] ^= m
        sipround()
        sipround()
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        sipround()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def round_function(key: bytes, round_index: int, half: int, modulus: int) -> int:
    """The PRF of round ``round_index`` applied to ``half``, reduced modulo ``modulus``.

    Two SipHash outputs make a 128-bit value, so the reduction bias is below 2**-75 for every
    modulus we use (at most 36**10 < 2**52). The half (< 2**52) and the round index share one
    64-bit message with a bit telling the two outputs apart.
    """
    base = round_index << 56 | half
    hi = siphash24(key, base.to_bytes(8, "little"))
    lo = siphash24(key, (base | 1 << 52).to_bytes(8, "little"))
    return (hi << 64 | lo) % modulus


def _split(radix: int, length: int) -> tuple[int, int]:
    u = length // 2
    return radix**u, radix ** (length - u)


def permute(key: bytes, radix: int, length: int, index: int) -> int:
    """The serial number (0 <= s < radix**length) that ``index`` maps to under ``key``."""
    mod_u, mod_v = _split(radix, length)
    a, b = divmod(index, mod_v)
    for i in range(ROUNDS):
        mod_m = mod_u if i % 2 == 0 else mod_v
        a, b = b, (a + round_function(key, i, b, mod_m)) % mod_m
    return a * mod_v + b


def unpermute(key: bytes, radix: int, length: int, serial: int) -> int:
    """The index that maps to ``serial``: the inverse of :func:`permute`."""
    mod_u, mod_v = _split(radix, length)
    a, b = divmod(serial, mod_v)
    for i in reversed(range(ROUNDS)):
        mod_m = mod_u if i % 2 == 0 else mod_v
        a, b = (b - round_function(key, i, a, mod_m)) % mod_m, a
    return a * mod_v + b


def nmpa20_check(check_key: bytes, identifier: str, serial: str) -> str:
    """The 4-digit keyed check of an nmpa20 code: SipHash of the 16 leading digits, high 32 bits,
    mod 10**4 (32 bits vectorise well; the bias, 10**4 / 2**32, is below 3 in a million).

    Any change to the 16 digits (a misread digit, two swapped digits, a forged serial) gives a
    matching check with probability 1/10,000, and without the key nobody can compute it.
    """
    number = int(identifier + serial)
    return f"{(siphash24(check_key, number.to_bytes(8, 'little')) >> 32) % 10_000:04d}"
