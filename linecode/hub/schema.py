"""The hub's tables in PostgreSQL, created and moved forward by numbered migrations.

``linecode hub init --dsn …`` applies what is missing, each migration in its own transaction with
the version it brings; a hub refuses a database whose schema is newer than it knows (a newer hub
wrote it), and one whose schema is older than it needs (run ``hub init``).

Distribution (SPEC §7, ``docs/scale.md``): ``pools`` and ``site_pools`` are small reference
tables; ``grants``, ``events``, ``products``, ``batches`` and ``allocations`` are keyed by site first
and would be distributed by ``site_id`` (a shipment is one site's: one shard); ``codes`` is keyed by
code first and distributed by ``code`` (a scan names a code, never its site). A grant touches one
pool row (the consumed index, row-locked by its ``UPDATE``) and inserts one grant row; a shipment
locks its site's row (``sites.shipped_seq``), so one site's shipments are stored one after the other
even when they reach several hub processes.
"""

from __future__ import annotations

import psycopg

from linecode.errors import ConfigError
from linecode.reasons import Reason

MIGRATIONS: tuple[str, ...] = (
    # 1: pools with their consumed index, sites and what they may lease, grants
    """
    CREATE TABLE pools (
        name text PRIMARY KEY,
        rule jsonb NOT NULL,
        size numeric(20, 0) NOT NULL CHECK (size > 0),
        consumed numeric(20, 0) NOT NULL DEFAULT 0 CHECK (consumed >= 0 AND consumed <= size),
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE sites (
        site_id text PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_contact timestamptz
    );
    CREATE TABLE site_pools (
        site_id text NOT NULL REFERENCES sites,
        pool text NOT NULL REFERENCES pools,
        PRIMARY KEY (site_id, pool)
    );
    CREATE TABLE grants (
        site_id text NOT NULL REFERENCES sites,
        idempotency_key text NOT NULL,
        pool text NOT NULL REFERENCES pools,
        start_index numeric(20, 0) NOT NULL,
        end_index numeric(20, 0) NOT NULL CHECK (end_index > start_index),
        request text NOT NULL,
        granted_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site_id, idempotency_key)
    );
    CREATE INDEX grants_by_pool ON grants (pool, start_index);
    """,
    # 2: every event of every site, and what they made of each code, batch and product
    """
    ALTER TABLE sites
        ADD COLUMN shipped_seq bigint NOT NULL DEFAULT 0,
        ADD COLUMN head_seq bigint NOT NULL DEFAULT 0,
        ADD COLUMN shipped_at timestamptz;
    CREATE TABLE events (
        site_id text NOT NULL,
        seq bigint NOT NULL CHECK (seq > 0),
        time_us bigint NOT NULL,
        kind smallint NOT NULL,
        batch_id text,
        actor text NOT NULL,
        line text NOT NULL,
        parent text,
        detail text NOT NULL,
        codes text NOT NULL,
        n_codes integer NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (site_id, seq)
    );
    CREATE INDEX events_by_batch ON events (site_id, batch_id, seq);
    CREATE TABLE products (
        site_id text NOT NULL,
        product_id text NOT NULL,
        detail text NOT NULL,
        PRIMARY KEY (site_id, product_id)
    );
    CREATE TABLE batches (
        site_id text NOT NULL,
        batch_id text NOT NULL,
        product_id text NOT NULL,
        detail text NOT NULL,
        state smallint NOT NULL,
        status smallint NOT NULL,
        lock smallint NOT NULL,
        last_event_us bigint NOT NULL,
        closed_seq bigint NOT NULL DEFAULT 0,
        exported_seq bigint NOT NULL DEFAULT 0,
        last_seq bigint NOT NULL,
        PRIMARY KEY (site_id, batch_id)
    );
    CREATE TABLE allocations (
        site_id text NOT NULL,
        pool text NOT NULL,
        start_index numeric(20, 0) NOT NULL,
        end_index numeric(20, 0) NOT NULL CHECK (end_index > start_index),
        batch_id text NOT NULL,
        level smallint NOT NULL,
        seq bigint NOT NULL,
        PRIMARY KEY (site_id, pool, start_index)
    );
    CREATE TABLE codes (
        code text NOT NULL,
        site_id text NOT NULL,
        batch_id text NOT NULL,
        level smallint NOT NULL,
        state smallint NOT NULL,
        status smallint NOT NULL,
        lock smallint NOT NULL,
        parent text,
        children integer NOT NULL,
        partial boolean NOT NULL,
        last_event_us bigint NOT NULL,
        PRIMARY KEY (code, site_id)
    ) WITH (fillfactor = 80);  -- room for HOT updates: a code's state changes in place
    CREATE INDEX codes_by_parent ON codes (parent) WHERE parent IS NOT NULL;
    CREATE INDEX codes_by_batch ON codes (site_id, batch_id, level);
    """,
)
"""Migration ``n`` (1-based) is ``MIGRATIONS[n - 1]``; never edit one that has shipped, add the next."""
VERSION = len(MIGRATIONS)

_MIGRATION_LOCK = 0x6C696E65636F6465  # "linecode": the advisory lock migrations take
_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS linecode_schema (version integer NOT NULL)"


def version(conn: psycopg.Connection) -> int:
    """The schema version of the database (0: never initialised)."""
    exists = conn.execute("SELECT to_regclass('linecode_schema') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT max(version) FROM linecode_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def init(conn: psycopg.Connection) -> tuple[int, int]:
    """Apply the migrations the database lacks: (version before, version after)."""
    before = version(conn)
    _not_newer(before)
    for n in range(before + 1, VERSION + 1):
        with conn.transaction():
            # one hub at a time migrates: the others wait here, then find the work done
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(_VERSION_TABLE)
            if version(conn) >= n:
                continue
            conn.execute(MIGRATIONS[n - 1])
            conn.execute("INSERT INTO linecode_schema (version) VALUES (%s)", (n,))
    return before, max(before, VERSION)


def require_current(conn: psycopg.Connection) -> None:
    """Raise :class:`ConfigError` unless the database's schema is the one this hub knows."""
    found = version(conn)
    _not_newer(found)
    if found < VERSION:
        raise ConfigError(
            f"the hub database is at schema version {found}; this hub needs {VERSION}",
            reason=Reason.HUB_SCHEMA,
            hint="run `linecode hub init --dsn …` (it applies the missing migrations)",
        )


def _not_newer(found: int) -> None:
    if found > VERSION:
        raise ConfigError(
            f"the hub database is at schema version {found}, newer than this hub knows ({VERSION}); "
            "nothing was changed",
            reason=Reason.HUB_SCHEMA,
            hint="run the linecode hub that wrote it, or a newer one",
        )
