"""A simulated packaging line: real gRPC clients doing what a line's PLC, printer, camera and QA do.

One coroutine and one connection per line, all on one asyncio event loop (cheap enough to drive a
hundred lines from one process). Per bundle of units the line: takes unit codes from its allocation
(``Allocate`` in blocks), pulls their images from a ``StreamImages`` stream as the printer would, reports them
``printed``, has the camera verify them (a few fail and are ``scrapped``, a few are ``sampled`` by
QA and replaced), allocates, prints and verifies the bundle code and aggregates the units into it;
every full case likewise, and at the end one pallet (SSCC) takes the cases. Every unary call's
latency is recorded per method. :class:`linecode.sim.Site` runs them.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc import aio

from linecode.client import channel_options
from linecode.v1 import (
    common_pb2,
    line_pb2,
    line_pb2_grpc,
    print_pb2,
    print_pb2_grpc,
)

BLOCK = 50
JOB_BLOCKS = 10
"""A printer's job holds this many blocks of its level's codes (a job is an allocation: fewer, larger)."""
"""Unit codes per Allocate call of a line (5 s ahead at 600 packs/min); a level above gets as many as
it needs for that many units. Small on purpose: an allocation writes one record per code in one
durable commit, and a large one holds every other write of the site back while it syncs
(``bench/RESULTS.md``, Service)."""


@dataclass
class LinePlan:
    """What one simulated line runs."""

    batch_id: str
    line: str
    levels: list[tuple[str, int]]
    """(level name, pack ratio) from the unit up; the top level takes whatever is left."""
    units: int
    """Units to pack."""
    speed_ppm: float
    """Packs per minute (units); 0 runs as fast as the server answers."""
    fail_rate: float = 0.01
    """Share of units the camera cannot read (scrapped)."""
    sample_every: int = 250
    """QA pulls one unit in this many."""
    image_format: print_pb2.ImageFormat = print_pb2.IMAGE_FORMAT_PNG
    in_step: bool = False
    """True: every line's cases fill in the same second (start phases spread over one bundle's
    cycle only), a worst case; False: independent lines, start phases spread over a whole cycle
    of the level below the top (a case)."""

    @property
    def start_spread_s(self) -> float:
        """How late after the others this line may start (seconds)."""
        below_top = self.levels[1:-1] if len(self.levels) > 2 else self.levels[1:2]
        if self.in_step:
            below_top = below_top[:1]
        units = math.prod(ratio for _, ratio in below_top) if below_top else 1
        return units * 60.0 / self.speed_ppm if self.speed_ppm > 0 else 0.0


@dataclass
class LineStats:
    codes: int = 0
    images: int = 0
    aggregations: int = 0
    scrapped: int = 0
    sampled: int = 0
    top: list[str] = field(default_factory=list)
    """Codes of the top level (pallets) the line built."""
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def merge(self, other: LineStats) -> None:
        self.codes += other.codes
        self.images += other.images
        self.aggregations += other.aggregations
        self.scrapped += other.scrapped
        self.sampled += other.sampled
        self.top += other.top
        for method, values in other.latencies_ms.items():
            self.latencies_ms[method] += values

    def all_latencies(self) -> list[float]:
        return sorted(v for values in self.latencies_ms.values() for v in values)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


class _Level:
    """A level's printer: a print job (``PrintService.PrintJob``) hands it the codes of the level,
    in print order, with their images; it acknowledges each one it prints, and the server's note
    that it recorded them printed (ENCODED) comes back before the line's camera reports them."""

    def __init__(self, sim: _Line, name: str, block: int) -> None:
        self.sim, self.name, self.block = sim, name, block
        self.job: Any = None
        self.jobs = 0
        self.left = 0
        """Codes the open job has not handed out yet."""
        self.waiting: set[int] = set()
        """Positions acknowledged, not yet recorded printed by the server."""
        self.ahead: deque[Any] = deque()
        """Codes the server sent ahead, in the printer's queue."""

    async def take(self, n: int) -> list[str]:
        taken: list[str] = []
        positions: list[int] = []
        while len(taken) < n:
            if not self.left:
                await self._printed(positions)  # acknowledged to the job they came from
                positions = []
                await self._open()
            code = await self._next_code()
            taken.append(code.code)
            positions.append(code.position)
            self.left -= 1
            self.sim.stats.images += 1
            self.sim.on_image(code.image)
        await self._printed(positions)
        return taken

    async def _printed(self, positions: list[int]) -> None:
        """Acknowledge ``positions`` printed, and wait until the server has recorded them."""
        if not positions:
            return
        self.waiting.update(positions)
        started = time.perf_counter()
        await self.job.write(print_pb2.PrinterMessage(printed=print_pb2.PrintedCodes(positions=positions)))
        while self.waiting:  # the camera reads them once the server has them printed
            await self._next_code(until_recorded=True)
        self.sim.record("PrintJob", started)

    async def _next_code(self, *, until_recorded: bool = False) -> Any:
        """The next code sent (``until_recorded``: the next note of codes recorded printed; codes
        sent ahead meanwhile wait in the printer's queue)."""
        if self.ahead and not until_recorded:
            return self.ahead.popleft()
        while True:
            message = await self.job.read()
            if message is aio.EOF:
                raise RuntimeError(f"the print job of {self.name} ended early")
            kind = message.WhichOneof("message")
            if kind == "recorded":
                self.waiting.difference_update(message.recorded.positions)
                if until_recorded:
                    return None
            elif kind == "code" and not until_recorded:
                return message.code
            elif kind == "code":
                self.ahead.append(message.code)

    async def _open(self) -> None:
        await self.close()
        self.jobs += 1
        self.job = self.sim.printer.PrintJob()
        start = print_pb2.JobStart(
            job_id=f"{self.sim.plan.batch_id}/{self.name}/{self.jobs}",
            printer=f"printer-{self.sim.plan.line}",
            batch_id=self.sim.plan.batch_id,
            level=self.name,
            count=self.block * JOB_BLOCKS,
            queue_depth=min(self.block, 64),
            options=print_pb2.ImageOptions(format=self.sim.plan.image_format, module_px=4),
            images=True,
        )
        started = time.perf_counter()
        await self.job.write(print_pb2.PrinterMessage(start=start))
        message = await self.job.read()
        self.sim.record("Allocate", started)  # the job's codes are allocated as it opens
        assert message.WhichOneof("message") == "started", message
        self.left = message.started.count
        self.sim.stats.codes += message.started.count

    async def close(self) -> None:
        """End the open job: the codes it did not hand out are reported not printed (unused)."""
        if self.job is None:
            return
        job, self.job, self.left = self.job, None, 0
        self.ahead.clear()
        await job.write(print_pb2.PrinterMessage(done=print_pb2.JobDone()))
        await job.done_writing()
        while await job.read() is not aio.EOF:  # the rest, then the summary
            pass


class _Line:
    def __init__(
        self,
        channel: aio.Channel,
        plan: LinePlan,
        seed: int,
        on_image: Callable[[Any], None],
        measure_from: float = 0.0,
        measure_until: float = float("inf"),
    ) -> None:
        self.plan = plan
        self.measure_from = measure_from
        self.measure_until = measure_until
        self.line = line_pb2_grpc.LineServiceStub(channel)
        self.printer = print_pb2_grpc.PrintServiceStub(channel)
        self.origin = common_pb2.Origin(line=plan.line, actor=f"plc-{plan.line}")
        self.stats = LineStats()
        self.rng = random.Random(seed)
        self.keys = 0
        self.on_image = on_image
        self.levels: dict[str, _Level] = {}
        units_per_code = 1
        for name, ratio in plan.levels:
            units_per_code *= ratio
            self.levels[name] = _Level(self, name, max(1, BLOCK // units_per_code))

    def next_key(self) -> int:
        self.keys += 1
        return self.keys

    def record(self, method: str, started: float) -> None:
        if self.measure_from <= started < self.measure_until:
            self.stats.latencies_ms[method].append((time.perf_counter() - started) * 1000)

    async def report(self, *groups: tuple[line_pb2.LineEventKind, list[str]]) -> None:
        request = line_pb2.ReportEventsRequest(
            groups=[line_pb2.EventGroup(kind=kind, codes=codes) for kind, codes in groups if codes],
            origin=self.origin,
            idempotency_key=f"{self.plan.batch_id}/r{self.next_key()}",
        )
        if not request.groups:
            return
        started = time.perf_counter()
        await self.line.ReportEvents(request)
        self.record("ReportEvents", started)

    async def commissioned(self, level: str, n: int) -> list[str]:
        """n codes of ``level`` printed and read back by the camera (failures replaced); one
        ReportEvents per machine cycle: verified and verify-failed together (printed: the printer
        says, through its print job)."""
        good: list[str] = []
        while len(good) < n:
            codes = await self.levels[level].take(n - len(good))
            failed = [c for c in codes if self.rng.random() < self.plan.fail_rate] if level == "unit" else []
            read = [c for c in codes if c not in failed]
            await self.report(  # printed: the printer said so (its print job)
                (line_pb2.LINE_EVENT_VERIFIED, read),
                (line_pb2.LINE_EVENT_VERIFY_FAILED, failed),
            )
            self.stats.scrapped += len(failed)
            good += read
        return good

    async def aggregate(self, parent: str, children: list[str], partial: bool) -> None:
        started = time.perf_counter()
        await self.line.Aggregate(
            line_pb2.AggregateRequest(
                parent=parent,
                children=children,
                partial=partial,
                origin=self.origin,
                idempotency_key=f"{self.plan.batch_id}/a{self.next_key()}",
            )
        )
        self.record("Aggregate", started)
        self.stats.aggregations += 1

    async def units(self, n: int, deadline: list[float]) -> list[str]:
        """n commissioned units, paced to the line speed; QA samples a few, which are replaced."""
        units = await self.commissioned("unit", n)
        sampled = [u for u in units if self.rng.randrange(self.plan.sample_every) == 0]
        await self.report((line_pb2.LINE_EVENT_SAMPLED, sampled))
        self.stats.sampled += len(sampled)
        if sampled:
            units = [u for u in units if u not in sampled] + await self.commissioned("unit", len(sampled))
        await self._pace(len(units), deadline)
        return units

    async def build(self, depth: int, budget: int, deadline: list[float]) -> tuple[str, int]:
        """One code of level ``depth`` (1 = bundle) filled with at most ``budget`` units."""
        name, ratio = self.plan.levels[depth]
        children: list[str] = []
        used = 0
        if depth == 1:
            children = await self.units(min(ratio, budget), deadline)
            used = len(children)
        else:
            while len(children) < ratio and used < budget:
                child, n = await self.build(depth - 1, budget - used, deadline)
                children.append(child)
                used += n
        (parent,) = await self.commissioned(name, 1)
        await self.aggregate(parent, children, partial=len(children) < ratio)
        return parent, used

    async def _pace(self, units: int, deadline: list[float]) -> None:
        if self.plan.speed_ppm <= 0:
            return
        deadline[0] += units * 60.0 / self.plan.speed_ppm
        delay = deadline[0] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)

    async def run(self, alone: bool = False) -> LineStats:
        if not alone:
            # Lines on a site are not in step: each starts at a random point of its cycle, so their
            # calls spread over time instead of arriving in bursts.
            await asyncio.sleep(self.rng.random() * self.plan.start_spread_s)
        deadline = [time.perf_counter()]
        top = len(self.plan.levels) - 1
        below_top: list[str] = []
        used = 0
        while used < self.plan.units:
            if top <= 1:  # units go straight into the top level (or there is no other level)
                chunk = await self.units(min(self.plan.levels[top][1] or 1, self.plan.units - used), deadline)
                below_top += chunk
                used += len(chunk)
            else:
                child, n = await self.build(top - 1, self.plan.units - used, deadline)
                below_top.append(child)
                used += n
        if top > 0:
            name, ratio = self.plan.levels[top]
            for first in range(0, len(below_top), ratio):  # as many pallets as the ratio needs
                children = below_top[first : first + ratio]
                (pallet,) = await self.commissioned(name, 1)
                await self.aggregate(pallet, children, partial=len(children) < ratio)
                self.stats.top.append(pallet)
        for level in self.levels.values():
            await level.close()
        return self.stats


async def run_lines(
    target: str,
    plans: list[LinePlan],
    *,
    on_image: Callable[[print_pb2.Image], None] = lambda image: None,
    credentials: grpc.ChannelCredentials | None = None,
    warmup_s: float = 0.0,
    measure_s: float | None = None,
) -> LineStats:
    """Run every plan at once against the server at ``target``; the merged statistics.

    Calls started in the first ``warmup_s`` seconds (every line starting up at once: first
    allocations, pools' round tables) are not counted in the latencies, nor those started more than
    ``measure_s`` seconds after that (e.g. once the first lines finish)."""
    total = LineStats()
    start = time.perf_counter()
    measure_from = start + warmup_s
    measure_until = measure_from + measure_s if measure_s is not None else float("inf")
    # Every line its own connection, as every PLC on a site has: a server of several processes
    # then spreads the lines over its processes (a local subchannel pool stops grpc from sharing one
    # connection between channels to the same target). Each loads the client service config, so a
    # busy server's refusals are retried after the delay it asks for.
    options = [("grpc.use_local_subchannel_pool", 1), *channel_options()]
    channels = [
        aio.secure_channel(target, credentials, options=options)
        if credentials
        else aio.insecure_channel(target, options=options)
        for _ in plans
    ]
    try:
        results = await asyncio.gather(
            *(
                _Line(channel, plan, seed, on_image, measure_from, measure_until).run(alone=len(plans) == 1)
                for seed, (channel, plan) in enumerate(zip(channels, plans, strict=True))
            )
        )
    finally:
        for channel in channels:
            await channel.close()
    for stats in results:
        total.merge(stats)
    return total
