"""Overload (issue 14): a retry storm beside a well-behaved line, admission control on and off.

Each run starts a fresh ``linecode serve`` (its own data dir), then ``bench/storm.py``'s two client
processes: the storm (``nice 10``; N calls in flight back to back, a tenth ``Allocate`` of 5,000
codes, 5 s deadlines) and the line (10 calls a second, ``Verify`` and health in turn, 1 s deadline).
For every storm size the server runs with admission on and off in turn (alternating pairs). The
site's throughput is the work completed — Verify calls answered over the most the server answers
with nothing else to do, plus codes allocated over the most it allocates alone (each measured
first, admission on and off, the better taken) — as a share of the most the same mix achieves on
the same server (admission on) from a client that does not overload it, 16 or 64 calls in flight:
the *unloaded maximum*. The mix alone with admission off is shown against it too (one client's
allocations then run many at once, which admission does not let one caller do).

Run with ``--processes 1`` too (``LINECODE_BENCH_OVERLOAD_PROCESSES=1,0``): with one process the line
always shares the storm's worker, the worst case; with one per core (0, the default) the kernel puts
the two connections on the same worker or not, by chance.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench import storm
from bench.serving import serve
from linecode.service.server import announced_port

SIZES = [int(n) for n in os.environ.get("LINECODE_BENCH_STORM", "300,1000,3000,10000").split(",")]
PROCESSES = [int(n) for n in os.environ.get("LINECODE_BENCH_OVERLOAD_PROCESSES", "1,0").split(",")]
SECONDS = float(os.environ.get("LINECODE_BENCH_STORM_S", "15"))
SERVER_EXTRA = os.environ.get("LINECODE_BENCH_SERVER", "").replace(";", "\n")
"""More ``[server]`` settings for every server of the run, ``;``-separated (``caller_share = 0.75``)."""
UNLOADED_S = 8.0
UNLOADED_MIX = (16, 64)
VERIFY_ALONE = 64
ALLOCATE_ALONE = 32
RESULTS: dict[int, list[str]] = {}


@contextmanager
def serving(tmp: Path, processes: int, admission: bool) -> Iterator[tuple[str, str]]:
    """A server and its /metrics URL."""
    config = tmp / "serve.toml"
    config.write_text(
        f"[server]\nadmission = {str(admission).lower()}\nprocesses = {processes}\n{SERVER_EXTRA}\n"
        '[metrics]\nlisten = "127.0.0.1:0"\n'
    )
    args = ("--data", str(tmp / "data"), "--listen", "127.0.0.1:0", "--config", str(config))
    with serve(*args) as announced:
        metrics = re.search(r"metrics on (http://\S+/metrics)", announced)
        assert metrics is not None, announced
        yield f"127.0.0.1:{announced_port(announced)}", metrics.group(1)


def one_run(
    tmp: Path,
    processes: int,
    admission: bool,
    in_flight: int,
    share: float = storm.ALLOCATE_SHARE,
    line: bool = True,
) -> dict[str, float]:
    with serving(tmp, processes, admission) as (target, metrics):
        batch = storm.prepare(target, "S-", str(tmp / "codes"))
        storm_out, line_out = storm.run(
            target,
            batch,
            str(tmp / "codes"),
            in_flight,
            UNLOADED_S if not line else SECONDS,
            metrics,
            share,
            line,
        )
    done = Counter(storm_out["outcomes"])
    result: dict[str, float] = {
        "codes_per_s": storm_out["codes"] / storm_out["seconds"],
        "verify_per_s": done["verify_ok"] / storm_out["seconds"],
        "storm_overloaded": done["overloaded"],
        "storm_timeouts": done["deadline_exceeded"],
    }
    for kind, calls in line_out.items():
        latencies = sorted(ms for ms, _ in calls)
        result[f"{kind}_ok_pct"] = 100 * sum(o == "ok" for _, o in calls) / max(1, len(calls))
        result[f"{kind}_p99_ms"] = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return result


@pytest.mark.parametrize("processes", PROCESSES, ids=lambda n: f"{n or 'per-core'}proc")
def test_storm_beside_a_line(benchmark, tmp_path_factory: pytest.TempPathFactory, processes: int) -> None:  # type: ignore[no-untyped-def]
    def run(
        admission: bool, in_flight: int, share: float = storm.ALLOCATE_SHARE, line: bool = True
    ) -> dict[str, float]:
        return one_run(tmp_path_factory.mktemp("storm"), processes, admission, in_flight, share, line)

    def sweep() -> list[str]:
        # The unloaded maximum of each kind of work alone, admission on or off, whichever is more.
        verify_max = max(run(a, VERIFY_ALONE, 0.0, False)["verify_per_s"] for a in (True, False))
        codes_max = max(run(a, ALLOCATE_ALONE, 1.0, False)["codes_per_s"] for a in (True, False))
        rows = [
            f"unloaded maximum: {verify_max:,.0f} Verify/s alone ({VERIFY_ALONE} in flight), "
            f"{codes_max:,.0f} codes/s alone ({ALLOCATE_ALONE} Allocate of 5,000 in flight)"
        ]

        def score(r: dict[str, float]) -> float:
            return r["verify_per_s"] / verify_max + r["codes_per_s"] / codes_max

        def work(r: dict[str, float]) -> str:
            return f"{r['codes_per_s']:7,.0f} codes/s, {r['verify_per_s']:5,.0f} Verify/s"

        mixes = [(a, n, run(a, n, line=False)) for n in UNLOADED_MIX for a in (True, False)]
        best = max(score(r) for a, _, r in mixes if a)
        for a, n, r in mixes:
            rows.append(
                f"mix alone, {n:>2} in flight, admission {'on ' if a else 'off'}: {work(r)} "
                f"= {100 * score(r) / best:5.1f} % of the unloaded maximum"
            )

        def site(r: dict[str, float]) -> str:
            return f"site {100 * score(r) / best:5.1f} % of unloaded ({work(r)})"

        for size in SIZES:
            for admission in (True, False):
                r = run(admission, size)
                rows.append(
                    f"{size:>6} in flight, admission {'on ' if admission else 'off'}: "
                    f"line Verify {r['verify_ok_pct']:5.1f} % ok p99 {r['verify_p99_ms']:7.1f} ms | "
                    f"health {r['health_ok_pct']:5.1f} % ok p99 {r['health_p99_ms']:7.1f} ms | "
                    f"/metrics {r['metrics_ok_pct']:5.1f} % ok p99 {r['metrics_p99_ms']:7.1f} ms | "
                    f"{site(r)} | "
                    f"storm refused {r['storm_overloaded']:,.0f}, timed out {r['storm_timeouts']:,.0f}"
                )
                print("\n" + rows[-1])
        return rows

    rows = benchmark.pedantic(sweep, rounds=1)
    RESULTS[processes] = rows
    benchmark.extra_info["rows"] = rows
    print(f"\n--- {processes or 'one per core'} process(es)\n" + "\n".join(rows))
