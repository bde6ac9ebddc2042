"""Who may call what: identities (client certificate or bearer token) mapped to roles.

Roles (SPEC §6):

* ``line:<id>``    — LineService, changing only codes and batches of line ``<id>``: every code the
  write changes, named or implied (the children a whole-parent disaggregate takes out, the old
  parents a re-parent empties, a replaced child), decided by the store inside the write
  transaction (the ``lines`` of the write's ``Origin``), so it cannot race;
* ``line:<id>,<id>…`` — the same over several lines (mixed pallets packed from several lines);
* ``printer:<id>[,<id>…]`` — PrintService, only images of codes of those lines;
* ``qa``           — QueryService and the read-only AdminService calls; on a hub, its exports
  (HubService ExportBatch, PullEvents);
* ``site:<id>``    — HubService only (``linecode hub``), but its exports: leases for site ``<id>``,
  its own events shipped and read back;
* ``admin``        — everything.

Health and reflection are open to every caller, so probes and ``grpcurl list`` work. An identity
the configuration does not know is UNAUTHENTICATED; a known one outside its role is
PERMISSION_DENIED. Both are logged and counted. :class:`Access` is the ``authorize`` hook of
:class:`~linecode.service.guard.CallGuard`: it holds for every RPC without a line in any servicer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from linecode.errors import ConfigError, NotFound, PermissionDenied, Unauthenticated
from linecode.reasons import Reason
from linecode.service.admission import Caller
from linecode.store import Store

log = logging.getLogger("linecode.auth")

OPEN_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
QA_ADMIN_READS = frozenset({"GetProduct", "ListProducts", "GetBatch", "ReconcileBatch", "ExportBatch"})
HUB_EXPORTS = frozenset({"ExportBatch", "PullEvents"})
"""HubService calls that read every site's events: qa and admin only, never a site."""
KINDS = ("line", "printer", "qa", "admin", "site")


@dataclass(frozen=True)
class Role:
    kind: str
    lines: frozenset[str] | None = None
    """The lines a ``line`` or ``printer`` role is limited to, or the one site a ``site`` role is;
    None for ``qa`` and ``admin``."""

    @classmethod
    def parse(cls, text: str) -> Role:
        kind, _, rest = text.partition(":")
        lines = frozenset(part.strip() for part in rest.split(",")) if rest else None
        if (
            kind not in KINDS
            or (kind in ("line", "printer", "site")) != bool(rest)
            or (lines is not None and "" in lines)
            or (kind == "site" and lines is not None and len(lines) != 1)
        ):
            raise ConfigError(
                f"role {text!r}: expected line:<line-id>[,<line-id>…], printer:<line-id>[,<line-id>…], "
                "qa, admin or site:<site-id>",
                reason=Reason.BAD_ROLE,
            )
        return cls(kind, lines)

    def __str__(self) -> str:
        return f"{self.kind}:{','.join(sorted(self.lines))}" if self.lines else self.kind


def _lines_of_print_request(store: Store, request: Any) -> set[str]:
    """The lines whose codes a PrintService request would render (reads: checked before the call)."""
    if request.DESCRIPTOR.name in ("RenderImageRequest", "LabelRequest"):
        return store.lines_of([request.code])
    if request.WhichOneof("source") == "range":
        return {store.batch(request.range.batch_id).line}
    return store.lines_of(list(request.codes.codes))


class Access:
    """Authenticates a call (certificate common name, else bearer token) and checks its role."""

    def __init__(
        self,
        store: Store | None,
        *,
        clients: Mapping[str, str] = {},
        tokens: Mapping[str, str] = {},
        on_refusal: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.clients = {name: Role.parse(role) for name, role in clients.items()}
        # Tokens may be given as "sha256:<hex>" so the config file need not hold the secret itself.
        self.tokens = {key: Role.parse(role) for key, role in tokens.items()}
        self.on_refusal = on_refusal

    def identify(self, context: grpc.ServicerContext, method: str = "") -> tuple[str, Role]:
        """Who is calling and in which role; raises :class:`Unauthenticated` (logged and counted)."""
        for name in context.auth_context().get("x509_common_name", []):
            cn = name.decode(errors="replace")
            if cn in self.clients:
                return f"cert:{cn}", self.clients[cn]
            raise self._unknown(
                context,
                method,
                f"cert:{cn}",
                "unknown_certificate",
                Unauthenticated(
                    f"client certificate {cn!r} is not known to this server",
                    reason=Reason.UNKNOWN_CLIENT,
                    hint="add its common name to [auth] clients in the server config",
                ),
            )
        for key, value in context.invocation_metadata():
            if key == "authorization" and value.startswith("Bearer "):
                token = value[len("Bearer ") :]
                who = f"token:{hashlib.sha256(token.encode()).hexdigest()[:12]}"
                role = self._token_role(token)
                if role is None:
                    raise self._unknown(
                        context,
                        method,
                        who,
                        "unknown_token",
                        Unauthenticated(
                            "bearer token is not known to this server",
                            reason=Reason.UNKNOWN_TOKEN,
                            hint="add it (or sha256:<its hex digest>) to [auth] tokens in the server config",
                        ),
                    )
                return who, role
        raise self._unknown(
            context,
            method,
            "anonymous",
            "no_credentials",
            Unauthenticated(
                "no credentials: expected a client certificate or 'authorization: Bearer <token>' metadata",
                reason=Reason.NO_CREDENTIALS,
            ),
        )

    def _token_role(self, token: str) -> Role | None:
        """The role of ``token``: config keys ``sha256:<hex>`` match its digest (never the digest
        sent as a token, or reading the config would be enough to get in), other keys the token."""
        digest = "sha256:" + hashlib.sha256(token.encode()).hexdigest()
        found = None
        for key, role in self.tokens.items():
            # Every key compared, in constant time each: no early exit telling how far a guess got.
            if key.startswith("sha256:"):
                match = hmac.compare_digest(key.lower().encode(), digest.encode())
            else:
                match = hmac.compare_digest(key.encode(), token.encode())
            if match:
                found = role
        return found

    def _refuse(self, why: str) -> None:
        if self.on_refusal is not None:
            self.on_refusal(why)

    def _unknown(
        self, context: grpc.ServicerContext, method: str, who: str, why: str, error: Unauthenticated
    ) -> Unauthenticated:
        self._refuse(why)
        log.warning(
            "caller unknown", extra={"who": who, "why": why, "method": method, "peer": context.peer()}
        )
        return error

    def __call__(self, method: str, request: Any, context: grpc.ServicerContext) -> Caller | None:
        """Refuse the call unless the caller may make it; who calls and the lines its writes are
        limited to (None: any), for the store to check inside each write (``CallGuard`` hands them
        on). None for the open methods."""
        if method.startswith(OPEN_PREFIXES):
            return None
        who, role = self.identify(context, method)
        service, name = method[1:].split("/", 1)
        allowed = (
            role.kind == "admin"
            or (
                role.kind == "qa"
                and (
                    service == "linecode.v1.QueryService"
                    or (service == "linecode.v1.AdminService" and name in QA_ADMIN_READS)
                )
            )
            or (role.kind == "line" and service == "linecode.v1.LineService")
            or (role.kind == "printer" and service == "linecode.v1.PrintService")
            or (role.kind == "qa" and service == "linecode.v1.HubService" and name in HUB_EXPORTS)
            or (role.kind == "site" and service == "linecode.v1.HubService" and name not in HUB_EXPORTS)
        )
        if not allowed:
            self._denied(who, role, method, f"role {role} may not call {name}")
        if role.lines is not None and role.kind != "site":
            origin = getattr(request, "origin", None)
            if origin is not None and origin.line and origin.line not in role.lines:
                self._denied(who, role, method, f"role {role} may not write events as line {origin.line!r}")
            if role.kind == "printer" and self.store is not None and hasattr(request, "ListFields"):
                # (a print job's requests are a stream: its job checks its batch's line itself)
                try:
                    foreign = _lines_of_print_request(self.store, request) - role.lines
                except NotFound:  # refused alike, so a printer cannot tell unknown codes from others'
                    foreign = {"(unknown)"}
                if foreign:
                    self._denied(
                        who,
                        role,
                        method,
                        f"role {role} may print codes of line(s) {', '.join(sorted(role.lines))} only",
                    )
        log.debug("call allowed", extra={"who": who, "role": str(role), "method": method})
        return Caller(who, role.lines)

    def _denied(self, who: str, role: Role, method: str, message: str) -> None:
        self._refuse("permission_denied")
        log.warning("call denied", extra={"who": who, "role": str(role), "method": method})
        raise PermissionDenied(
            message, reason=Reason.ROLE_FORBIDS, hint="ask an admin for a role that allows it"
        )
