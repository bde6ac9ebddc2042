"""HubService: the lease authority's gRPC face (``linecode hub serve``). Proto <-> ``Authority`` only."""

from __future__ import annotations

import json

import grpc

from linecode.errors import InvalidArgument, PermissionDenied, shown
from linecode.hub.authority import Authority
from linecode.reasons import Reason
from linecode.service.guard import caller_lines
from linecode.v1 import hub_pb2, hub_pb2_grpc


class HubServicer(hub_pb2_grpc.HubServiceServicer):
    def __init__(self, authority: Authority) -> None:
        self.authority = authority

    def GetLimits(
        self, request: hub_pb2.GetLimitsRequest, context: grpc.ServicerContext
    ) -> hub_pb2.LeaseLimits:
        limits = self.authority.limits
        return hub_pb2.LeaseLimits(
            min_size=limits.min_size, max_size=limits.max_size, default_size=limits.default_size
        )

    def Grant(self, request: hub_pb2.GrantRequest, context: grpc.ServicerContext) -> hub_pb2.LeaseGrant:
        grant = self.authority.grant(
            _site(request.site_id), request.pool, request.count, request.idempotency_key
        )
        return hub_pb2.LeaseGrant(
            pool=grant.pool,
            start=grant.start,
            end=grant.end,
            rule_json=json.dumps(grant.rule, sort_keys=True),
            replayed=grant.replayed,
            idempotency_key=grant.key,
            site_id=grant.site_id,
        )


def _site(named: str) -> str:
    """The site a grant is for: a site caller's own (its certificate's role), else the one named."""
    own = caller_lines()
    if own is not None:  # a site:<id> role (the only role with an id the hub lets in)
        (site,) = own
        if named and named != site:
            raise PermissionDenied(
                f"site {site!r} asked for a lease for site {shown(named)}; a site leases for itself only",
                reason=Reason.ROLE_FORBIDS,
            )
        return site
    if not named:
        raise InvalidArgument(
            "no site: a caller that is not a site (admin, or a hub without [auth]) must name site_id",
            reason=Reason.UNKNOWN_SITE,
        )
    return named
