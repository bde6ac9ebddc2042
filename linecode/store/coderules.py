"""Code keys: how each level's codes are generated from a pool's index range, and how scanned text
is turned back into the key the store files the code under.

The key of a code in LMDB is:

* ``nmpa20``: its 20 digits (``86123451234567890042``);
* ``gs1``: the HRI of what identifies the pack, ``(01)<GTIN-14>(21)<serial>`` — expiry and batch
  are the batch's, so they are not part of the identity;
* ``sscc``: ``(00)<18 digits>``.

The parentheses keep the three shapes apart (an SSCC element string is also 20 digits).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from linecode.codes import Gs1Code, Gtin, Sscc, gs1_check_digit, parse_element_string, validate_identifier
from linecode.errors import InvalidArgument, InvalidCode
from linecode.serials import MasterKey, Nmpa20Pool, SerialDomain, SerialPool, SsccPool
from linecode.store.model import Batch, CodeRule, Level

_HRI_SEPARATORS = str.maketrans("", "", " -")


def pool_name(level: Level) -> str:
    """The serial pool a level draws from: ``<rule>/<identifier>``."""
    return f"{level.rule.value}/{level.identifier}"


def validate_level(level: Level) -> None:
    """Raise :class:`InvalidArgument` unless the level's identifier fits its rule."""
    if level.rule is CodeRule.NMPA20:
        validate_identifier(level.identifier)
    elif level.rule is CodeRule.GS1:
        if Gtin.parse(level.identifier).value != level.identifier:
            raise InvalidArgument(
                f"level {level.name!r}: GTIN {level.identifier!r} must be given as GTIN-14",
                reason="BAD_IDENTIFIER",
            )
        SerialDomain(level.serial_alphabet, level.serial_length)
    else:
        ext, prefix = level.identifier[:1], level.identifier[1:]
        if not level.identifier.isdigit():
            raise InvalidArgument(
                f"level {level.name!r}: SSCC identifier {level.identifier!r} must be the extension digit "
                "followed by the GS1 company prefix (digits only)",
                reason="BAD_IDENTIFIER",
            )
        SsccPool(MasterKey(bytes(32)), int(ext), prefix)  # checks the shape only
    if level.pack_ratio < 1:
        raise InvalidArgument(
            f"level {level.name!r}: pack ratio {level.pack_ratio} must be at least 1", reason="BAD_PACK_RATIO"
        )


@lru_cache(maxsize=64)
def _pool(master: MasterKey, rule: CodeRule, identifier: str, alphabet: str, length: int) -> SerialPool:
    if rule is CodeRule.NMPA20:
        return Nmpa20Pool(master, identifier)
    if rule is CodeRule.SSCC:
        return SsccPool(master, int(identifier[0]), identifier[1:])
    return SerialPool(master.derive(f"pool/gs1/{identifier}"), SerialDomain(alphabet, length))


def serial_pool(master: MasterKey, level: Level) -> SerialPool:
    """The keyed serial pool of a level (cached: building one costs milliseconds)."""
    return _pool(master, level.rule, level.identifier, level.serial_alphabet, level.serial_length)


def pool_size(level: Level) -> int:
    """How many indices the level's pool has."""
    if level.rule is CodeRule.NMPA20:
        return 10**9
    if level.rule is CodeRule.SSCC:
        return int(10 ** (16 - len(level.identifier[1:])))
    return min(SerialDomain(level.serial_alphabet, level.serial_length).size, 1 << 64)


def generate(
    master: MasterKey, level: Level, batch: Batch, start: int, count: int
) -> tuple[list[str], list[str]]:
    """Keys and symbol data of the codes of indices ``start`` .. ``start + count - 1``."""
    pool = serial_pool(master, level)
    if level.rule is CodeRule.NMPA20:
        assert isinstance(pool, Nmpa20Pool)
        keys = pool.codes(start, count).astype("U20").tolist()
        return keys, keys
    serials = [s.decode() for s in pool.serials(start, count).tolist()]
    if level.rule is CodeRule.SSCC:
        heads = [level.identifier + s for s in serials]
        values = [h + str(gs1_check_digit(h)) for h in heads]
        return [f"(00){v}" for v in values], [f"00{v}" for v in values]
    gtin = Gtin(level.identifier)
    expiry = batch.expiry_date.strftime("%y%m%d")
    keys = [f"(01){level.identifier}(21){s}" for s in serials]
    symbols = [Gs1Code(gtin, s, expiry, batch.batch_number).as_element_string() for s in serials]
    return keys, symbols


def candidate_keys(text: str) -> Sequence[str]:
    """The keys scanned or typed ``text`` may be filed under (usually one).

    Accepts the key itself, nmpa20 HRI (spaces or dashes between groups), GS1 HRI or raw element
    strings (with or without ``]d2`` and FNC1/GS), and SSCC as 18 digits, ``(00)…`` or ``00…``.

    >>> candidate_keys("8612345 123456789 0042")
    ['86123451234567890042']
    >>> candidate_keys("(01)09501101530003(21)ABC123(17)291231(10)L1")
    ['(01)09501101530003(21)ABC123']
    """
    if len(text) == 20 and text.isdigit():  # the hot path: nmpa20 keys as the line sends them
        return [text, f"(00){text[2:]}"] if text.startswith("00") else [text]
    stripped = text.strip()
    digits = stripped.translate(_HRI_SEPARATORS)
    if len(digits) == 20 and digits.isascii() and digits.isdigit():
        return [digits, f"(00){digits[2:]}"] if digits.startswith("00") else [digits]
    if len(digits) == 18 and digits.isascii() and digits.isdigit():
        return [f"(00){Sscc.parse(digits).value}"]
    if stripped.startswith("(00)"):
        return [f"(00){Sscc.parse(stripped).value}"]
    if not stripped:
        raise InvalidCode(
            "empty code: expected an nmpa20 code, a GS1 element string or an SSCC", reason="EMPTY"
        )
    fields = parse_element_string(stripped)
    if "00" in fields and len(fields) == 1:
        return [f"(00){fields['00']}"]
    if "01" not in fields or "21" not in fields:
        raise InvalidCode(
            f"code {text!r} is not one this store issues: expected 20 nmpa20 digits, a GS1 string with "
            "(01) and (21), or an SSCC",
            reason="NOT_A_PACK_CODE",
            codes=[text],
        )
    return [f"(01){Gtin.parse(fields['01']).value}(21){fields['21']}"]


def symbol_of(key: str, batch: Batch) -> tuple[str, bool]:
    """What goes into the DataMatrix of the code filed under ``key``, and whether it is GS1.

    The inverse of :func:`generate` for one code: GS1 packs take expiry (17) and batch (10) from
    their batch; an SSCC is its ``00`` element string; an nmpa20 code is its digits.
    """
    if key.startswith("(00)"):
        return "00" + key[4:], True
    if key.startswith("(01)"):
        gtin, serial = key[4:18], key[22:]
        expiry = batch.expiry_date.strftime("%y%m%d")
        return Gs1Code(Gtin(gtin), serial, expiry, batch.batch_number).as_element_string(), True
    return key, False
