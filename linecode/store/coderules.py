"""Code rules of a packaging level: its serial pool, how its codes are generated from a pool's
index range as keys (``linecode.codes.keys``: the one canonical form of a code) and symbol data,
and the way back: which pool index a code key is (:func:`index_of`, the permutation's inverse).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np

from linecode.codes import Gs1Code, Gtin, gs1_check_digit, gs1_key, sscc_key, validate_identifier
from linecode.codes.keys import AMBIGUOUS_PREFIXES, KeyParts, parts
from linecode.errors import InvalidArgument, LinecodeError, shown
from linecode.reasons import Reason
from linecode.serials import MasterKey, Nmpa20Pool, SerialDomain, SerialPool, SsccPool
from linecode.store.model import Batch, CodeRule, Level
from linecode.store.records import plain_key


def pool_name(level: Level) -> str:
    """The serial pool a level draws from: ``<rule>/<identifier>``."""
    return f"{level.rule.value}/{level.identifier}"


def validate_level(level: Level) -> None:
    """Raise :class:`InvalidArgument` unless the level's identifier fits its rule."""
    if level.rule is CodeRule.NMPA20:
        validate_identifier(level.identifier)
        if level.identifier.startswith(AMBIGUOUS_PREFIXES):
            raise InvalidArgument(
                f"level {shown(level.name)}: nmpa20 identifier {shown(level.identifier)} starts with "
                f"{level.identifier[:2]}; expected one that does not start with "
                f"{' or '.join(AMBIGUOUS_PREFIXES)}, or 20 digits of its codes would also be an SSCC or "
                "GS1 element string",
                reason=Reason.AMBIGUOUS_IDENTIFIER,
            )
    elif level.rule is CodeRule.GS1:
        if Gtin.parse(level.identifier).value != level.identifier:
            raise InvalidArgument(
                f"level {shown(level.name)}: GTIN {shown(level.identifier)} must be given as GTIN-14",
                reason=Reason.BAD_IDENTIFIER,
            )
        SerialDomain(level.serial_alphabet, level.serial_length)
    else:
        ext, prefix = level.identifier[:1], level.identifier[1:]
        if not (level.identifier.isascii() and level.identifier.isdigit()):
            raise InvalidArgument(
                f"level {shown(level.name)}: SSCC identifier {shown(level.identifier)} must be the "
                "extension digit followed by the GS1 company prefix (ASCII digits only)",
                reason=Reason.BAD_IDENTIFIER,
            )
        SsccPool(MasterKey(bytes(32)), int(ext), prefix)  # checks the shape only
    if level.pack_ratio < 1:
        raise InvalidArgument(
            f"level {level.name!r}: pack ratio {level.pack_ratio} must be at least 1",
            reason=Reason.BAD_PACK_RATIO,
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


def overlapping_pool(name: str, others: Iterable[str]) -> str | None:
    """A pool among ``others`` whose codes could be pool ``name``'s too, or None. Only SSCC pools
    can: their identifiers (extension digit and company prefix) have no fixed length, so one
    nested in another (``sscc/06901234`` and ``sscc/069012345``) makes some of the same SSCCs."""
    if not name.startswith("sscc/"):
        return None  # nmpa20 identifiers and GTINs have one length: different ones never meet
    mine = name.removeprefix("sscc/")
    for other in others:
        theirs = other.removeprefix("sscc/")
        if (
            other != name
            and other.startswith("sscc/")
            and (mine.startswith(theirs) or theirs.startswith(mine))
        ):
            return other
    return None


def pool_rule(level: Level) -> dict[str, Any]:
    """What a pool record keeps of the code rule its indices are codes by (the same for every level
    drawing from the pool): enough to turn a code key back into its index (:func:`index_of`)."""
    rule: dict[str, Any] = {"rule": level.rule.value, "identifier": level.identifier}
    if level.rule is CodeRule.GS1:
        rule.update(serial_alphabet=level.serial_alphabet, serial_length=level.serial_length)
    return rule


def rule_level(rule: dict[str, Any]) -> Level:
    """A level of the code rule :func:`pool_rule` kept (its name and ratio mean nothing here)."""
    return Level(
        "",
        CodeRule(rule["rule"]),
        rule["identifier"],
        1,
        **{k: rule[k] for k in ("serial_alphabet", "serial_length") if k in rule},
    )


def index_of(master: MasterKey, level: Level, key: KeyParts) -> int | None:
    """The pool index whose code is ``key`` under ``level``'s rule, or None if no index of the pool
    makes exactly that code (a wrong check, a foreign identifier or serial): the inverse of
    :func:`generate`, held to it by the tests."""
    pool = serial_pool(master, level)
    try:
        if level.rule is CodeRule.NMPA20:
            assert isinstance(pool, Nmpa20Pool)
            if key.identifier != level.identifier or pool.check(key.serial) != key.check:
                return None
            return pool.index(key.serial)
        if level.rule is CodeRule.SSCC:
            head = level.identifier
            value = key.identifier
            if not value.startswith(head) or gs1_check_digit(value[:17]) != int(value[17]):
                return None
            return pool.index(value[len(head) : 17])
        if key.identifier != level.identifier:
            return None
        return pool.index(key.serial)
    except LinecodeError:
        return None


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
    made = keys(master, level, start, count)
    if level.rule is CodeRule.NMPA20:
        return made, made
    if level.rule is CodeRule.SSCC:
        return made, ["00" + key.removeprefix("(00)") for key in made]
    gtin = Gtin(level.identifier)
    expiry = batch.expiry_date.strftime("%y%m%d")
    serial_at = len(gs1_key(level.identifier, ""))
    return made, [
        Gs1Code(gtin, key[serial_at:], expiry, batch.batch_number).as_element_string() for key in made
    ]


def generate_packed(
    master: MasterKey, level: Level, batch: Batch, start: int, count: int, *, threads: int = 1
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`generate` as fixed-width byte arrays (``S<n>``): the codes' keys, and their symbol data
    (None when it is the keys themselves, as for nmpa20). nmpa20 codes come straight from the
    kernel, ``threads`` at a time, without a Python string each."""
    if level.rule is CodeRule.NMPA20:
        pool = serial_pool(master, level)
        assert isinstance(pool, Nmpa20Pool)
        return pool.codes(start, count, threads=threads), None
    keys, symbols = generate(master, level, batch, start, count)
    return np.array(keys, dtype=bytes), np.array(symbols, dtype=bytes)


def keys(master: MasterKey, level: Level, start: int, count: int) -> list[str]:
    """The keys alone of the codes of indices ``start`` .. ``start + count - 1``."""
    if level.rule is CodeRule.NMPA20:
        pool = serial_pool(master, level)
        assert isinstance(pool, Nmpa20Pool)
        return pool.codes(start, count).astype("U20").tolist()  # type: ignore[no-any-return]
    serials = [s.decode() for s in serial_pool(master, level).serials(start, count).tolist()]
    if level.rule is CodeRule.SSCC:
        heads = [level.identifier + s for s in serials]
        return [sscc_key(h + str(gs1_check_digit(h))) for h in heads]
    return [gs1_key(level.identifier, s) for s in serials]


def pool_of(code: str, pools: Iterable[str]) -> str | None:
    """The pool among ``pools`` whose rule makes ``code`` (a key), if any."""
    if plain_key(code):
        name = "nmpa20/" + code[:7]
        return name if name in pools else None
    key = parts(code)
    if key.rule != "sscc":
        name = f"{key.rule}/{key.identifier}"
        return name if name in pools else None
    return next((p for p in pools if p.startswith("sscc/") and key.identifier.startswith(p[5:])), None)
