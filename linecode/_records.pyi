"""Stub of the Cython code record kernel (ext/_records.pyx)."""

from collections.abc import Callable
from typing import Any

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
) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]] | None: ...
