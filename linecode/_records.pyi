"""Stub of the Cython code record kernel (ext/_records.pyx); its parameters are those of
``linecode.store.records.pack_children_reference``, which is its specification."""

from collections.abc import Callable
from typing import Any

from linecode.store.records import PackedChildren

def pack_children(
    get: Callable[[bytes, None, Any], bytes | memoryview | None],
    slots: Any,
    codes: Any,
    children: list[str],
    parent: str,
    parent_slot: bytes,
    level: int,
    batch_ref: int,
    time_us: int,
    loose_state: int,
    packed_state: int,
    unlocked: int,
) -> PackedChildren | None: ...
