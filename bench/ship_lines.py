"""Simulated lines against a site server, as a process of their own (the shipping-lag benchmark):
``python -m bench.ship_lines TARGET LINES UNITS``. Prints one line of what they did."""

from __future__ import annotations

import asyncio
import sys

import grpc

from linecode import sim
from linecode.v1 import admin_pb2_grpc


def main(target: str, lines: int, units: int) -> None:
    with grpc.insecure_channel(target) as channel:
        batches = sim.setup_batches(
            admin_pb2_grpc.AdminServiceStub(channel), sim.demo_product(), lines, units, "L-"
        )
    levels = [(lv.name, lv.ratio) for lv in sim.DEMO_LEVELS]
    plans = [sim.LinePlan(b, f"L{i + 1}", levels, units, 600.0) for i, b in enumerate(batches)]
    stats = asyncio.run(sim.run_lines(target, plans))
    latencies = stats.all_latencies()
    print(
        f"{lines} lines x {units} units: {stats.images} images, {len(latencies)} calls, "
        f"p99 {sim.percentile(latencies, 0.99):.1f} ms"
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
