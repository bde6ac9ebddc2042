"""The wire kernel (``linecode._wire``) against its specification (``linecode.client.unpacked_reference``),
value for value and error for error."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from linecode._wire import unpacked
from linecode.client import unpacked_reference


def _outcome(fn, data: bytes, width: int):  # type: ignore[no-untyped-def]
    try:
        return fn(data, width)
    except ValueError as exc:  # UnicodeDecodeError too
        return type(exc), str(exc)


@settings(max_examples=300, deadline=None)
@given(width=st.integers(1, 40), rows=st.integers(0, 50), data=st.data())
def test_packed_blocks_unpack_as_the_reference_does(width: int, rows: int, data: st.DataObject) -> None:
    ascii_text = st.text(st.characters(min_codepoint=0, max_codepoint=127), min_size=width, max_size=width)
    entries = data.draw(st.lists(ascii_text, min_size=rows, max_size=rows))
    packed = "".join(entries).encode("ascii")
    assert unpacked(packed, width) == unpacked_reference(packed, width) == entries


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=80), width=st.integers(-2, 25))
def test_any_bytes_and_width_give_what_the_reference_gives(data: bytes, width: int) -> None:
    assert _outcome(unpacked, data, width) == _outcome(unpacked_reference, data, width)
