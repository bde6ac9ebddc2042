"""Benchmark plumbing: print each group's timings as ratios to linecode's own entry.

Name the benchmark of our implementation ``test_linecode...`` (or mark it with
``benchmark.extra_info["ours"] = True``); every other entry in the same group is an alternative a
user could pick, and the summary prints how many times slower it is (median over median).
An alternative timed inside our entry's own rounds (to share their minutes on a noisy VM) is given
as ``benchmark.extra_info["alternatives"] = {name: median seconds}`` and printed the same way.
"""

from __future__ import annotations

from collections import defaultdict

import pytest


def _is_ours(bench) -> bool:  # type: ignore[no-untyped-def]
    return bool(bench.extra_info.get("ours")) or bench.name.startswith("test_linecode")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = defaultdict(list)
    for bench in session.benchmarks:
        groups[bench.group].append(bench)
    terminalreporter.section("ratios (alternative median / linecode median; higher = linecode faster)")
    for group, benches in sorted(groups.items(), key=lambda kv: str(kv[0])):
        ours = [b for b in benches if _is_ours(b)]
        if not ours:
            continue
        base = min(b.stats.median for b in ours)
        entries = [(b.name, b.stats.median) for b in benches]
        for b in ours:
            entries += list(b.extra_info.get("alternatives", {}).items())
        for name, median in sorted(entries, key=lambda e: e[1]):
            line = f"{group!s:<32} {name:<48} {median * 1e3:10.2f} ms  x{median / base:6.2f}"
            terminalreporter.write_line(line)
