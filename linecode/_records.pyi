"""Stub of the Cython code record kernel (ext/_records.pyx)."""

def packed_into(
    raws: list[bytes | memoryview | None],
    parent: bytes,
    level: int,
    batch_ref: int,
    time_us: int,
    loose_state: int,
    packed_state: int,
    unlocked: int,
) -> list[bytes] | None: ...
