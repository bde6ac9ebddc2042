"""``linecode inspect`` and ``linecode batch report``: read-only, in another process, beside a live writer."""

from __future__ import annotations

import json

from tests.factories import run_linecode
from tests.store.conftest import Line

_linecode = run_linecode


def test_inspect_and_batch_report_while_the_store_is_open_for_writing(line: Line) -> None:
    store = line.store
    (case,) = line.commissioned("case", 1)
    bundles = [line.bundle() for _ in range(4)]
    store.aggregate(case, [b for b, _ in bundles])
    unit = bundles[0][1][0]
    data = str(store.path)

    out = _linecode("inspect", unit, "--data", data, "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout.splitlines()[-1])
    assert info["level"] == 1 and info["state"] == "aggregated"
    assert info["parent"] == bundles[0][0] and info["path"] == [bundles[0][0], case]
    assert info["children"] == 0 and info["units"] == 1

    out = _linecode("inspect", case, "--data", data, "--json")
    info = json.loads(out.stdout)
    assert (info["children"], info["units"], info["path"], info["parent"]) == (4, 20, [], None)

    text = _linecode("inspect", case, "--data", data)
    assert "case" in text.stdout and "units     20" in text.stdout

    out = _linecode("batch", "report", "B1", "--data", data, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["levels"][0]["aggregated"] == 20 and report["levels"][2]["loose"] == 1
    assert not report["ok"]
    text = _linecode("batch", "report", "B1", "--data", data)
    assert "discrepancies" in text.stdout and "loose" in text.stdout
    assert "closed" not in text.stdout and "exported" not in text.stdout  # an open batch


def test_batch_report_says_how_a_batch_was_closed_and_where_it_went(line: Line) -> None:
    store = line.store
    line.bundle()
    line.commissioned("unit", 1)  # loose: the close needs an override
    closed = store.close_batch("B1", override_reason="卡车已出发 / truck left")
    store.mark_exported("B1", "NMPA 追溯平台")
    data = str(store.path)
    out = _linecode("batch", "report", "B1", "--data", data, "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["closed_event_seq"] == closed.closed_event_seq and report["closed_us"] == closed.closed_us
    assert report["override_reason"] == "卡车已出发 / truck left" and report["exported_to"] == "NMPA 追溯平台"
    text = _linecode("batch", "report", "B1", "--data", data).stdout
    assert f"(event {closed.closed_event_seq}, override: 卡车已出发 / truck left)" in text
    assert "to NMPA 追溯平台" in text and "exported 20" in text


def test_inspect_unknown_code_says_so(line: Line) -> None:
    out = _linecode("inspect", "86000019999999990000", "--data", str(line.store.path))
    assert out.returncode == 2 and "UNKNOWN_CODE" in out.stderr
    out = _linecode("batch", "report", "B1", "--data", str(line.store.path / "nowhere"))
    assert out.returncode == 2 and "NO_STORE" in out.stderr
