"""Crashes while a site ships: the site, the hub and PostgreSQL killed (SIGKILL, an immediate
shutdown) at random moments, many times; afterwards the hub holds every event of the site exactly
once, in order, the same events, and its code states are the site's."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool

from linecode.hub import schema
from linecode.hub.authority import Authority, Limits
from linecode.hub.cluster import Cluster
from linecode.hub.ingest import EVENT_COLUMNS, event_of
from linecode.serials import MasterKey
from linecode.store import Store
from tests.factories import LEVELS, hub_process
from tests.hub.shipping import hub_codes, site_codes, wait_shipped

ROUNDS = 6


def _site(data: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.hub.site_worker", str(data), str(port), "S1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "packing"
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def test_killed_sites_hubs_and_databases_lose_and_double_no_event(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("LINECODE_CRASH_SEED", "18")))
    with Cluster() as pg:
        with psycopg.connect(pg.dsn) as conn:
            schema.init(conn)
        with ConnectionPool(pg.dsn, min_size=1, max_size=2, open=True) as pool:
            authority = Authority(pool, Limits(min_size=10, max_size=100_000, default_size=1_000))
            for level in LEVELS:
                authority.add_pool(level, ["S1"])
        hub, port, _ = hub_process(pg.dsn)
        data = tmp_path / "S1"
        site = _site(data, port)
        try:
            for round_ in range(ROUNDS):
                time.sleep(rng.uniform(0.3, 1.5))
                victim = ("site", "hub", "postgres")[round_ % 3]
                if victim == "site":
                    _kill(site)
                    site = _site(data, port)
                elif victim == "hub":
                    _kill(hub)
                    hub, port, _ = hub_process(pg.dsn, f"127.0.0.1:{port}")
                else:
                    pg.stop("immediate")  # the hub's transactions in flight die with it
                    time.sleep(rng.uniform(0.1, 0.5))
                    pg.start()
            _kill(site)  # the last events it wrote must reach the hub from its next start
            site = _site(data, port)
            time.sleep(0.5)
            _kill(site)
            with Store.open(data, master_key=MasterKey(bytes(range(32)))) as store:
                from linecode.service.config import ServeConfig
                from linecode.service.server import start

                running, _ = start(
                    store,
                    ServeConfig(listen="127.0.0.1:0", hub_address=f"127.0.0.1:{port}", hub_site_id="S1"),
                )
                try:
                    wait_shipped(store, timeout=120)
                finally:
                    running.stop(0)
                with psycopg.connect(pg.dsn) as conn:
                    rows = conn.execute(
                        f"SELECT {EVENT_COLUMNS} FROM events WHERE site_id = 'S1' ORDER BY seq"
                    ).fetchall()
                assert [event_of(r) for r in rows] == list(store.events())
                assert hub_codes(pg.dsn, "S1") == site_codes(store)
                assert len(rows) > 100
        finally:
            for proc in (site, hub):
                if proc.poll() is None:
                    _kill(proc)
