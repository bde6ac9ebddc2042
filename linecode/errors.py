"""The one error hierarchy of linecode.

Every error says what was wrong, what was expected and, where it helps, what to do. Each class
carries a machine-readable ``reason`` (a member of :class:`~linecode.reasons.Reason`, the one
registry) and optionally the offending codes, so the gRPC layer can map the class to a status code
in one table and pass the reason and codes on as status details. Nothing below the service layer
knows about gRPC.
"""

from __future__ import annotations

from collections.abc import Iterable

from linecode.reasons import Reason

SHOWN_CHARS = 40
"""Characters of a refused value an error message quotes at most."""


def shown(value: str, limit: int = SHOWN_CHARS) -> str:
    """``value`` as an error message quotes it: its repr, cut to a short prefix when long, so an
    error about a megabyte of input stays a line and reaches the client whole.

    >>> shown("L1")
    "'L1'"
    >>> shown("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'… (1,000 characters)"
    """
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value):,} characters)"


class LinecodeError(Exception):
    """Base of every error linecode raises on purpose."""

    default_reason = Reason.LINECODE_ERROR

    def __init__(
        self,
        message: str,
        *,
        reason: Reason | None = None,
        codes: Iterable[str] = (),
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.reason = reason or self.default_reason
        self.codes: tuple[str, ...] = tuple(codes)
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class InvalidArgument(LinecodeError):
    """The caller sent something malformed: wrong length, alphabet, date, option."""

    default_reason = Reason.INVALID_ARGUMENT


class InvalidCode(InvalidArgument):
    """A code (or scanned data) is not well-formed or fails its check."""

    default_reason = Reason.INVALID_CODE


class InvalidData(InvalidArgument, ValueError):
    """Data a compiled kernel, or its pure-Python reference, cannot encode: no allowed symbol size
    holds it (``DOES_NOT_FIT``), or it has a byte above 127 (``BAD_CHARACTER``). Also a
    ``ValueError`` (as asyncpg's ``DataError`` is), so code that catches that around a kernel call
    still works."""

    def __init__(self, message: str, *, reason: Reason, index: int | None = None) -> None:
        super().__init__(message, reason=reason)
        self.index = index
        """Which code of a bulk call's batch it is (0-based); None for a call on one code."""


class NotFound(LinecodeError):
    """A product, batch, code or lease that does not exist here."""

    default_reason = Reason.NOT_FOUND


class AlreadyExists(LinecodeError):
    """Creating something that exists already (product, batch, idempotency key with a new body)."""

    default_reason = Reason.ALREADY_EXISTS


class Precondition(LinecodeError):
    """The request is well-formed but the current state does not allow it."""

    default_reason = Reason.FAILED_PRECONDITION


class TimeWentBackwards(Precondition):
    """An event time earlier than the last event of a code or batch the request touches."""

    default_reason = Reason.TIME_WENT_BACKWARDS

    def __init__(
        self, message: str, *, latest_us: int, codes: Iterable[str] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, codes=codes, hint=hint)
        self.latest_us = latest_us
        """The last event's time (µs): a request at this time or later passes the rule."""


class Exhausted(LinecodeError):
    """A pool, lease or store has no room left."""

    default_reason = Reason.RESOURCE_EXHAUSTED


class Overloaded(Exhausted):
    """The server is at its limit for this caller or for everyone; nothing was done, and the same
    call may be retried after ``retry_after_s`` seconds."""

    default_reason = Reason.OVERLOADED

    def __init__(self, message: str, *, retry_after_s: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class TooLate(LinecodeError):
    """The call's deadline leaves no time for its work: nothing was done (its caller would be gone
    before the answer)."""

    default_reason = Reason.DEADLINE_TOO_SHORT


class Aborted(LinecodeError):
    """A concurrent change got in the way; retrying the same request is safe."""

    default_reason = Reason.ABORTED


class Unauthenticated(LinecodeError):
    """The caller is not known."""

    default_reason = Reason.UNAUTHENTICATED


class PermissionDenied(LinecodeError):
    """The caller is known but its role does not allow this."""

    default_reason = Reason.PERMISSION_DENIED


class ConfigError(LinecodeError):
    """Local set-up is wrong: key file, data dir, config file."""

    default_reason = Reason.CONFIG_ERROR
