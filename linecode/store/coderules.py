"""Code rules of a packaging level: its serial pool, and how its codes are generated from a pool's
index range as keys (``linecode.codes.keys``: the one canonical form of a code) and symbol data.
"""

from __future__ import annotations

from functools import lru_cache

from linecode.codes import Gs1Code, Gtin, gs1_check_digit, gs1_key, sscc_key, validate_identifier
from linecode.codes.keys import AMBIGUOUS_PREFIXES
from linecode.errors import InvalidArgument, shown
from linecode.reasons import Reason
from linecode.serials import MasterKey, Nmpa20Pool, SerialDomain, SerialPool, SsccPool
from linecode.store.model import Batch, CodeRule, Level


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
        return [sscc_key(v) for v in values], [f"00{v}" for v in values]
    gtin = Gtin(level.identifier)
    expiry = batch.expiry_date.strftime("%y%m%d")
    keys = [gs1_key(level.identifier, s) for s in serials]
    symbols = [Gs1Code(gtin, s, expiry, batch.batch_number).as_element_string() for s in serials]
    return keys, symbols
