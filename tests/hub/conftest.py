"""A real PostgreSQL for the hub's tests: one throwaway cluster per test session (``initdb`` and
``pg_ctl`` in a temp dir, ``linecode.hub.cluster``), a new database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from linecode.hub import schema
from linecode.hub.authority import Authority, Limits
from linecode.hub.cluster import Cluster

_NAMES = itertools.count()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    with Cluster() as pg:
        yield pg


@pytest.fixture
def dsn(cluster: Cluster) -> Iterator[str]:
    """A new, empty database of the session's cluster."""
    name = f"hub_{next(_NAMES)}"
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield cluster.dsn.replace("dbname=postgres", f"dbname={name}")


@pytest.fixture
def authority(dsn: str) -> Iterator[Authority]:
    """An initialised hub database behind a small connection pool, with small lease limits."""
    with psycopg.connect(dsn) as conn:
        schema.init(conn)
    with ConnectionPool(dsn, min_size=1, max_size=16, open=True) as pool:
        yield Authority(pool, Limits(min_size=10, max_size=100_000, default_size=1_000))
