"""Bounded input (SPEC §6): the longest text and the characters each kind of string may hold.

Every string that reaches linecode from outside — a gRPC field, a CLI argument, a ``Store`` call —
is one of these kinds. The gRPC contract names the kind of each of its fields in
``linecode.service.bounds`` and checks every request there before anything else runs; the store
checks what it stores (ids, actor, line, idempotency keys) with the same rules. A refused value is
quoted by a short prefix only (``errors.shown``), so the error always reaches the caller whole.

Character sets:

* ``printable``: any script, no control or format characters (``str.isprintable``: no NUL, tab,
  newline, escape, bidi overrides, zero-width spaces; the ASCII space is allowed);
* ``line``: ``printable`` but the comma (a role names several lines with commas);
* ``ascii``: printable ASCII (``0x20`` to ``0x7e``);
* ``code``: printable ASCII and GS (``0x1d``, the separator of raw GS1 element strings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from linecode.codes import GS, MAX_CODE_TEXT
from linecode.errors import InvalidArgument, shown
from linecode.reasons import Reason

_CHARSETS = {
    "printable": "printable characters of any script (no control or format characters)",
    "line": "printable characters of any script but the comma (no control or format characters)",
    "ascii": "printable ASCII characters",
    "code": "printable ASCII characters and GS (0x1d)",
    "document": "printable characters of any script, line breaks and tabs",
}


@dataclass(frozen=True, slots=True)
class Bound:
    """One kind of string: at most ``max_len`` characters of ``charset``."""

    kind: str
    """What it is, for error messages and the README table."""
    max_len: int
    charset: str
    """``printable``, ``line``, ``ascii`` or ``code`` (see the module docstring)."""
    reason: Reason | None = None
    """The reason of a refusal; None: ``TOO_LONG`` or ``BAD_CHARACTER``."""

    def fits(self, value: str) -> bool:
        """True when ``value`` is short enough and of the right characters."""
        return len(value) <= self.max_len and _CHARSET_TESTS[self.charset](value)

    def check(self, value: str, field: str) -> str:
        """``value`` if it fits, else :class:`InvalidArgument` (:attr:`reason`, else ``TOO_LONG`` or
        ``BAD_CHARACTER``) naming ``field``, the bound and a short prefix of the value."""
        if len(value) > self.max_len:
            raise InvalidArgument(
                f"{field} {shown(value)} is too long: expected at most {self.max_len} characters "
                f"({self.kind})",
                reason=self.reason or Reason.TOO_LONG,
            )
        test = _CHARSET_TESTS[self.charset]
        if not test(value):
            bad = next(c for c in value if not test(c))
            raise InvalidArgument(
                f"{field} {shown(value)} holds the character {bad!r}: expected {_CHARSETS[self.charset]} "
                f"({self.kind})",
                reason=self.reason or Reason.BAD_CHARACTER,
            )
        return value

    def check_all(self, values: Sequence[str], field: str) -> None:
        """:meth:`check` for every value of a repeated field, in one pass over their joined text
        when they all fit (the usual case: thousands of codes in one report)."""
        if not values:
            return
        if max(map(len, values)) <= self.max_len and _CHARSET_TESTS[self.charset]("".join(values)):
            return
        for i, value in enumerate(values):
            self.check(value, f"{field}[{i}]")

    def describe(self) -> str:
        """``at most N characters: <charset>`` for documentation."""
        return f"at most {self.max_len} {_CHARSETS[self.charset]}"


_CHARSET_TESTS: dict[str, Callable[[str], bool]] = {
    "printable": str.isprintable,
    "line": lambda value: value.isprintable() and "," not in value,
    "ascii": lambda value: value.isascii() and value.isprintable(),
    "code": lambda value: value.isascii() and value.replace(GS, "").isprintable(),
    "document": lambda value: value.replace("\n", "").replace("\r", "").replace("\t", "").isprintable(),
}


ID = Bound("id: product id, batch id, batch number", 100, "printable", Reason.BAD_ID)
LINE = Bound("packaging line id", 64, "line")
ACTOR = Bound("actor: operator, PLC or system name", 100, "printable")
IDEMPOTENCY_KEY = Bound("idempotency key", 128, "ascii", Reason.BAD_IDEMPOTENCY_KEY)
CODE = Bound("a code in any spelling", MAX_CODE_TEXT, "code")
NAME = Bound("name: product, MAH", 200, "printable")
LEVEL = Bound("packaging level name or number", 64, "printable")
SHORT = Bound("short ASCII value: code rule, identifier, serial alphabet, date, pool", 100, "ascii")
TEXT = Bound("free text: reason, override reason, destination", 1000, "printable")
LEASE = Bound("lease text: POOL START-END[,START-END…]", 65536, "ascii")
LAYOUT = Bound("label layout: a TOML document", 65536, "document")
ANY = Bound("any other string", 256, "printable")

ALL: tuple[Bound, ...] = (
    ID,
    LINE,
    ACTOR,
    IDEMPOTENCY_KEY,
    CODE,
    NAME,
    LEVEL,
    SHORT,
    TEXT,
    LEASE,
    LAYOUT,
    ANY,
)
"""Every kind, for the documentation."""
