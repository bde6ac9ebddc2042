"""A code key back to its pool index (``coderules.index_of``): the inverse of ``coderules.generate``
for every code rule, and no index for a code no index makes."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from linecode.codes import parts
from linecode.serials import MasterKey
from linecode.store import Batch, CodeRule, Level, coderules

MASTER = MasterKey(bytes(range(32)))
RULES = {
    "nmpa20": Level("unit", CodeRule.NMPA20, "8600001"),
    "gs1": Level("unit", CodeRule.GS1, "09501101530003", serial_alphabet="0123456789ABCDEF", serial_length=9),
    "sscc": Level("pallet", CodeRule.SSCC, "06901234"),
}
BATCH = Batch("B1", "vaccine", "L-1", dt.date(2026, 1, 1), dt.date(2030, 1, 1), "L1", 100, ref=1)


@settings(max_examples=200, deadline=None)
@given(rule=st.sampled_from(sorted(RULES)), data=st.data())
def test_every_code_goes_back_to_its_index_and_keys_are_what_generate_makes(
    rule: str, data: st.DataObject
) -> None:
    level = RULES[rule]
    size = coderules.pool_size(level)
    start = data.draw(st.integers(0, size - 5), label="start")
    keys, symbols = coderules.generate(MASTER, level, BATCH, start, 5)
    assert coderules.keys(MASTER, level, start, 5) == keys
    packed, packed_symbols = coderules.generate_packed(MASTER, level, BATCH, start, 5)
    assert packed.astype(str).tolist() == keys
    made = keys if packed_symbols is None else packed_symbols.astype(str).tolist()
    assert made == symbols
    for i, key in enumerate(keys):
        assert coderules.index_of(MASTER, level, parts(key)) == start + i


@settings(max_examples=200, deadline=None)
@given(
    rule=st.sampled_from(sorted(RULES)), index=st.integers(0, 10**6), at=st.integers(0, 40), data=st.data()
)
def test_a_changed_character_makes_no_index_or_another_code(
    rule: str, index: int, at: int, data: st.DataObject
) -> None:
    level = RULES[rule]
    (key,) = coderules.keys(MASTER, level, index, 1)
    at %= len(key)
    replacement = data.draw(st.sampled_from("0123456789ABCDEFZ"), label="replacement")
    changed = key[:at] + replacement + key[at + 1 :]
    try:
        p = parts(changed)
    except Exception:
        return  # no key at all
    found = coderules.index_of(MASTER, level, p)
    if changed == key:
        assert found == index
    elif found is not None:  # another index's code, never this one's
        assert found != index and coderules.keys(MASTER, level, found, 1) == [changed]
