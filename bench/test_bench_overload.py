"""Overload (issue 14): a retry storm beside a well-behaved line, admission control on and off.

Each run starts a fresh ``linecode serve`` (its own data dir), then ``bench/storm.py``'s two client
processes: the storm (``nice 10``; N calls in flight back to back, a tenth ``Allocate`` of 5,000
codes, 5 s deadlines) and the line (10 calls a second, ``Verify`` and health in turn, 1 s deadline).
For every storm size the server runs with admission on and off in turn (alternating pairs). The
*unloaded maximum* is the best throughput of the same mix at 16 and 64 calls in flight, admission
on or off; throughput counts work units (a Verify 1, an Allocate of 5,000 codes 21), completed calls
only (codes allocated and Verify calls answered are shown too).

Run with ``--processes 1`` too (``LINECODE_BENCH_OVERLOAD_PROCESSES=1,0``): with one process the line
always shares the storm's worker, the worst case; with one per core (0, the default) the kernel puts
the two connections on the same worker or not, by chance.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench import storm
from linecode.service.server import announced_port

SIZES = [int(n) for n in os.environ.get("LINECODE_BENCH_STORM", "300,1000,3000,10000").split(",")]
PROCESSES = [int(n) for n in os.environ.get("LINECODE_BENCH_OVERLOAD_PROCESSES", "1,0").split(",")]
SECONDS = float(os.environ.get("LINECODE_BENCH_STORM_S", "15"))
UNLOADED = (16, 64)
ALLOCATE_UNITS = 21  # 1 + 5,000 / 250: linecode.service.admission.cost
RESULTS: dict[int, list[str]] = {}


@contextmanager
def serving(tmp: Path, processes: int, admission: bool) -> Iterator[str]:
    config = tmp / "serve.toml"
    config.write_text(f"[server]\nadmission = {str(admission).lower()}\nprocesses = {processes}\n")
    args = ("--data", str(tmp / "data"), "--listen", "127.0.0.1:0", "--config", str(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "linecode", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "LINECODE_MASTER_KEY": "22" * 32},
    )
    assert proc.stdout is not None
    try:
        yield f"127.0.0.1:{announced_port(proc.stdout.readline())}"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def work_per_second(outcome: dict) -> float:  # type: ignore[type-arg]
    done = Counter(outcome["outcomes"])
    return (done["verify_ok"] + ALLOCATE_UNITS * done["allocate_ok"]) / outcome["seconds"]


def one_run(tmp: Path, processes: int, admission: bool, in_flight: int) -> dict[str, float]:
    with serving(tmp, processes, admission) as target:
        batch = storm.prepare(target, "S-", str(tmp / "codes"))
        storm_out, line_out = storm.run(target, batch, str(tmp / "codes"), in_flight, SECONDS)
    done = Counter(storm_out["outcomes"])
    result: dict[str, float] = {
        "work_per_s": work_per_second(storm_out),
        "codes_per_s": storm_out["codes"] / storm_out["seconds"],
        "verify_per_s": done["verify_ok"] / storm_out["seconds"],
    }
    for kind, calls in line_out.items():
        latencies = sorted(ms for ms, _ in calls)
        result[f"{kind}_ok_pct"] = 100 * sum(o == "ok" for _, o in calls) / max(1, len(calls))
        result[f"{kind}_p99_ms"] = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    result["storm_overloaded"] = storm_out["outcomes"].get("overloaded", 0)
    result["storm_timeouts"] = storm_out["outcomes"].get("deadline_exceeded", 0)
    return result


@pytest.mark.parametrize("processes", PROCESSES, ids=lambda n: f"{n or 'per-core'}proc")
def test_storm_beside_a_line(benchmark, tmp_path_factory: pytest.TempPathFactory, processes: int) -> None:  # type: ignore[no-untyped-def]
    def run(admission: bool, in_flight: int) -> dict[str, float]:
        return one_run(tmp_path_factory.mktemp("storm"), processes, admission, in_flight)

    def sweep() -> list[str]:
        alone = [(admission, n, run(admission, n)) for n in UNLOADED for admission in (True, False)]
        rows = [
            f"unloaded, {n:>3} in flight, admission {'on ' if admission else 'off'}: "
            f"{r['work_per_s']:6,.0f} units/s "
            f"({r['codes_per_s']:8,.0f} codes/s, {r['verify_per_s']:6,.0f} Verify/s)"
            for admission, n, r in alone
        ]
        unloaded = max(r["work_per_s"] for *_, r in alone)
        for size in SIZES:
            for admission in (True, False):
                r = run(admission, size)
                rows.append(
                    f"{size:>6} in flight, admission {'on ' if admission else 'off'}: "
                    f"line Verify {r['verify_ok_pct']:5.1f} % ok p99 {r['verify_p99_ms']:7.1f} ms | "
                    f"health {r['health_ok_pct']:5.1f} % ok p99 {r['health_p99_ms']:7.1f} ms | "
                    f"site {r['work_per_s']:8,.0f} units/s = "
                    f"{100 * r['work_per_s'] / unloaded:5.1f} % of unloaded "
                    f"({r['codes_per_s']:7,.0f} codes/s, "
                    f"{r['verify_per_s']:5,.0f} Verify/s) | "
                    f"storm refused {r['storm_overloaded']:,.0f}, timed out {r['storm_timeouts']:,.0f}"
                )
                print("\n" + rows[-1])
        return rows

    rows = benchmark.pedantic(sweep, rounds=1)
    RESULTS[processes] = rows
    benchmark.extra_info["rows"] = rows
    print(f"\n--- {processes or 'one per core'} process(es)\n" + "\n".join(rows))
