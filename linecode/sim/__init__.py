"""A simulated site over real gRPC: what ``linecode demo`` runs and the benchmarks measure.

A client package — it talks to a server as a site's PLCs, printers, cameras and QA would, and
nothing of the server imports it. :class:`Site` is its one API (set up the demo product and
batches, run the lines, close the batches); :mod:`linecode.sim.lines` holds the line itself.
"""

from linecode.sim.lines import LinePlan, LineStats, percentile, run_lines
from linecode.sim.site import (
    DEMO_LEVELS,
    DEMO_MAH,
    DEMO_NAME,
    Packaging,
    Site,
    demo_product,
    is_unit,
    setup_batches,
    tree_at,
    tree_size,
)

__all__ = [
    "DEMO_LEVELS",
    "DEMO_MAH",
    "DEMO_NAME",
    "LinePlan",
    "LineStats",
    "Packaging",
    "Site",
    "demo_product",
    "is_unit",
    "percentile",
    "run_lines",
    "setup_batches",
    "tree_at",
    "tree_size",
]
