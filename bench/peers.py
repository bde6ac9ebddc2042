"""The servers a user would pick instead of linecode's, started for a benchmark: SerialBox (Django,
SQLite, random flavor pack) from a venv of its own, pinned to the CPUs asked for."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).parent / "serialbox"
VENV = Path(os.environ.get("LINECODE_PEERS_VENV", Path(__file__).parents[1] / ".venv-peers"))


def peers_python() -> Path:
    """The peers' venv's python, made and filled from ``serialbox/requirements.txt`` if missing
    (about a minute, once; pip from the package registry)."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements"
    wanted = (HERE / "requirements.txt").read_text()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(HERE / "requirements.txt")], check=True
        )
        stamp.write_text(wanted)
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serialbox(db_dir: Path, cpus: str) -> Iterator[str]:
    """A SerialBox on a fresh SQLite database in ``db_dir``, Django's own server (one process) pinned
    to ``cpus`` (``taskset -c``); its base URL. Allocate with ``GET /allocate/bench/<n>/?format=json``."""
    python = peers_python()
    env = {**os.environ, "SERIALBOX_DB": str(db_dir / "serialbox.sqlite3"), "PYTHONPATH": str(HERE)}
    env["DJANGO_SETTINGS_MODULE"] = "settings"
    django = [str(python), "-m", "django"]
    subprocess.run([*django, "migrate", "-v", "0"], check=True, env=env, cwd=HERE, capture_output=True)
    subprocess.run([str(python), "prepare.py"], check=True, env=env, cwd=HERE)
    port = free_port()
    proc = subprocess.Popen(
        ["taskset", "-c", cpus, *django, "runserver", f"127.0.0.1:{port}", "--noreload"],
        env=env,
        cwd=HERE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/allocate/bench/1/?format=json", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
