"""A simulated site: the demo product, one batch per line, the lines run, the batches closed.

What ``linecode demo`` and the benchmarks drive, over real gRPC, as a site's clients would: an admin
creates the product and batches, the lines (:mod:`linecode.sim.lines`) pack, QA closes the batches.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from linecode.client import channel_options
from linecode.sim.lines import LinePlan, LineStats, run_lines
from linecode.v1 import admin_pb2, admin_pb2_grpc, common_pb2, query_pb2, query_pb2_grpc


@dataclass(frozen=True)
class Packaging:
    """One packaging level of the demo product."""

    name: str
    rule: str
    identifier: str
    ratio: int
    """Packs of the level below in one of these (1 for the unit)."""


DEMO_PRODUCT_ID = "demo-vaccine"
DEMO_NAME, DEMO_MAH = "Demo vaccine 0.5 ml", "Demo Bio"
DEMO_LEVELS = (
    Packaging("unit", "nmpa20", "8600001", 1),
    Packaging("bundle", "nmpa20", "8600002", 10),
    Packaging("case", "nmpa20", "8600003", 10),
    Packaging("pallet", "sscc", "06901234", 100),
)
"""The demo's product, the one place it is spelled out: units in bundles of 10, bundles in cases of
10, cases on an SSCC pallet."""


def demo_product(product_id: str = DEMO_PRODUCT_ID) -> admin_pb2.Product:
    """The demo product as the Admin service takes it."""
    return admin_pb2.Product(
        product_id=product_id,
        name=DEMO_NAME,
        mah=DEMO_MAH,
        levels=[
            admin_pb2.Level(name=lv.name, rule=lv.rule, identifier=lv.identifier, pack_ratio=lv.ratio)
            for lv in DEMO_LEVELS
        ],
    )


def is_unit(code: str) -> bool:
    """Whether ``code`` is a unit code of the demo product."""
    return code.startswith(DEMO_LEVELS[0].identifier)


class Site:
    """A simulated site's clients of the server at ``target`` (plaintext, loopback)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def setup(self, lines: int, units: int, speed_ppm: float, prefix: str | None = None) -> list[LinePlan]:
        """Create the demo product (if new) and one open batch per line (``L1``, ``L2``, ...); what
        each line is to run."""
        with grpc.insecure_channel(self.target, options=channel_options()) as channel:
            batch_ids = setup_batches(
                admin_pb2_grpc.AdminServiceStub(channel), demo_product(), lines, units, prefix
            )
        levels = [(lv.name, lv.ratio) for lv in DEMO_LEVELS]
        return [LinePlan(b, f"L{i + 1}", levels, units, speed_ppm) for i, b in enumerate(batch_ids)]

    def run(
        self, plans: list[LinePlan], on_image: Callable[[str, bytes], None] = lambda code, data: None
    ) -> LineStats:
        """Run every line at once until each has packed its units; ``on_image(code, png)`` sees each
        image its printer pulls."""
        return asyncio.run(
            run_lines(self.target, plans, on_image=lambda image: on_image(image.code, image.data))
        )

    def close(self, plans: list[LinePlan], actor: str = "qa-demo") -> None:
        """Close every line's batch, as QA does at the end of a run (refused on a discrepancy)."""
        with grpc.insecure_channel(self.target, options=channel_options()) as channel:
            admin = admin_pb2_grpc.AdminServiceStub(channel)
            for plan in plans:
                admin.CloseBatch(
                    admin_pb2.CloseBatchRequest(
                        batch_id=plan.batch_id, origin=common_pb2.Origin(line=plan.line, actor=actor)
                    )
                )


def setup_batches(
    admin: admin_pb2_grpc.AdminServiceStub,
    product: admin_pb2.Product,
    lines: int,
    units: int,
    prefix: str | None = None,
) -> list[str]:
    """Create the product (if new) and one open batch per line, numbered on from the last one
    (``B<year>001``, ``B<year>002``, ...); the batch ids."""
    try:
        admin.CreateProduct(product)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:  # type: ignore[attr-defined]
            raise
    today = dt.date.today()
    prefix = prefix if prefix is not None else f"B{today.year}"
    ids: list[str] = []
    number = 0
    while len(ids) < lines:
        number += 1
        batch_id = f"{prefix}{number:03d}"
        try:
            admin.CreateBatch(
                admin_pb2.Batch(
                    batch_id=batch_id,
                    product_id=product.product_id,
                    batch_number=batch_id,
                    production_date=today.isoformat(),
                    expiry_date=today.replace(year=today.year + 2, day=1).isoformat(),
                    line=f"L{len(ids) + 1}",
                    planned_quantity=units,
                )
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:  # type: ignore[attr-defined]
                raise
            continue
        ids.append(batch_id)
    return ids


def tree_at(target: str, code: str) -> common_pb2.TreeNode:
    """``code``'s tree as the QueryService at ``target`` (a site's, or a hub's) gives it."""
    with grpc.insecure_channel(target, options=channel_options()) as channel:
        query = query_pb2_grpc.QueryServiceStub(channel)
        return query.GetTree(query_pb2.CodeRequest(code=code), timeout=30)


def tree_size(node: common_pb2.TreeNode, *, unit_only: bool) -> int:
    """Codes in the tree under ``node`` (itself included), or its units only."""
    own = 1 if not unit_only or node.level == 1 else 0
    return own + sum(tree_size(child, unit_only=unit_only) for child in node.children)
