"""Benchmark plumbing: print each group's timings as ratios to linecode's own entry.

Name the benchmark of our implementation ``test_linecode...`` (or mark it with
``benchmark.extra_info["ours"] = True``); every other entry in the same group is an alternative a
user could pick, and the summary prints how many times slower it is (median over median).
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
        for b in sorted(benches, key=lambda b: b.stats.median):
            ratio = b.stats.median / base
            line = f"{group!s:<32} {b.name:<48} {b.stats.median * 1e3:10.2f} ms  x{ratio:6.2f}"
            terminalreporter.write_line(line)
