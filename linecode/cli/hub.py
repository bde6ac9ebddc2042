"""``linecode hub``: the lease authority of many sites over PostgreSQL (SPEC §7).

``hub init --dsn DSN`` creates or moves forward the hub's schema; ``hub pool add`` registers a
pool (a level's code rule) and the sites that may lease it; ``hub serve`` runs the HubService;
``hub status`` shows pools, their consumed index, and per site its grants, last contact and shipping
lag (events the hub holds, events behind the site's last, seconds behind); ``hub export`` writes a
batch of every site, or the events after a cursor (``linecode.hub.exports``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from linecode.reasons import Reason


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hub = sub.add_parser("hub", help="the lease authority of many sites, over PostgreSQL")
    cmds = hub.add_subparsers(dest="hub_command", required=True, metavar="COMMAND")
    init = cmds.add_parser("init", help="create or move forward the hub's schema in the database")
    init.add_argument("--dsn", required=True, help="libpq connection string of the hub's database")
    init.set_defaults(handler=run_init)

    serve = cmds.add_parser("serve", help="serve HubService (several processes, stateless over one database)")
    serve.add_argument("--dsn", help="libpq connection string (else [hub] dsn of --config)")
    serve.add_argument("--listen", help="HOST:PORT (port 0: a free one); default 127.0.0.1:50061")
    serve.add_argument("--config", type=Path, help="TOML: [hub], [tls], [auth] (see linecode/hub/config.py)")
    serve.add_argument("--processes", type=int, help="hub processes sharing the port (default 1)")
    serve.set_defaults(handler=run_serve)

    status = cmds.add_parser(
        "status", help="pools, consumed indices; grants, last contact and shipping lag per site"
    )
    status.add_argument("--dsn", required=True)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=run_status)

    pg = cmds.add_parser(
        "postgres", help="a PostgreSQL of its own in DIR to try a hub on one machine (not for production)"
    )
    pg.add_argument("action", choices=("start", "stop"))
    pg.add_argument(
        "--dir", type=Path, required=True, help="where the cluster lives (made on the first start)"
    )
    pg.set_defaults(handler=run_postgres)

    pool = cmds.add_parser("pool", help="register a pool and the sites that may lease it")
    pools = pool.add_subparsers(dest="pool_command", required=True, metavar="COMMAND")
    add = pools.add_parser("add", help="register a level's pool (if new) and allow sites to lease it")
    add.add_argument("--dsn", required=True)
    add.add_argument("--rule", choices=("nmpa20", "gs1", "sscc"))
    add.add_argument("--identifier", help="nmpa20 identifier, GTIN-14, or SSCC extension + prefix")
    add.add_argument("--serial-alphabet", default="0123456789", help="gs1 only")
    add.add_argument("--serial-length", type=int, default=12, help="gs1 only")
    add.add_argument("--sites", required=True, help="comma-separated site ids")
    add.add_argument(
        "--demo-product",
        action="store_true",
        help="every pool of `linecode demo`'s product instead of --rule",
    )
    add.set_defaults(handler=run_pool_add)

    export = cmds.add_parser(
        "export",
        help="a batch of every site as EPCIS or NMPA report, or every site's events after a cursor (EPCIS)",
        description="With --after, the next cursor is printed alone on standard error once the document "
        "is written whole; keep it with the document and pull with it next (docs/exports.md).",
    )
    export.add_argument("--dsn", required=True)
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--batch", help="batch id (of every site that holds one, unless --site)")
    which.add_argument("--after", metavar="CURSOR", help='the events after CURSOR ("": from the first)')
    export.add_argument("--site", default="", help="with --batch: that site's batch only")
    export.add_argument("--max", type=int, default=1000, help="with --after: events at most (default 1000)")
    export.add_argument("--format", choices=("epcis", "nmpa-json", "nmpa-xml"), default="epcis")
    export.add_argument(
        "--utc-offset", default="Z", help="EPCIS eventTimeZoneOffset, e.g. +08:00 (default Z)"
    )
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    export.set_defaults(handler=run_export)


def _connect(dsn: str):  # type: ignore[no-untyped-def]
    """A connection to the hub's database, or a clear error instead of the driver's traceback."""
    import psycopg

    from linecode.errors import ConfigError

    try:
        return psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        raise ConfigError(
            f"cannot reach the hub's database: {str(exc).strip()}",
            reason=Reason.BAD_CONFIG,
            hint='check --dsn, e.g. "host=/var/run/postgresql dbname=linecode_hub"',
        ) from None


def _authority(dsn: str):  # type: ignore[no-untyped-def]
    from psycopg_pool import ConnectionPool

    from linecode.hub import schema
    from linecode.hub.authority import Authority

    _connect(dsn).close()  # a bad DSN is told at once, not after the pool's timeout
    pool = ConnectionPool(dsn, min_size=1, max_size=2, open=True, timeout=30)
    with pool.connection() as conn:
        schema.require_current(conn)
    return pool, Authority(pool)


def run_init(args: argparse.Namespace) -> int:
    from linecode.hub import schema

    with _connect(args.dsn) as conn:
        before, after = schema.init(conn)
    print(
        f"hub schema at version {after}" + (f" (was {before})" if before != after else " (nothing to do)"),
    )
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from linecode.hub.config import HubConfig
    from linecode.logs import setup_logging
    from linecode.service.config import Address
    from linecode.service.hub import serve_hub, serve_hub_processes

    config = HubConfig.load(args.config).override(dsn=args.dsn, listen=args.listen, processes=args.processes)
    setup_logging()

    def announce(port: int) -> None:
        host = Address.parse(config.listen).host
        extras = " with TLS" if config.tls_cert else ""
        extras += " and client certificates" if config.tls_client_ca else ""
        extras += f", {config.processes} processes" if config.processes > 1 else ""
        print(f"linecode hub serving on {host}:{port}{extras} (SIGTERM or Ctrl-C to stop)", flush=True)

    if config.processes > 1:
        return serve_hub_processes(config, announce)
    serve_hub(config, announce)
    return 0


def run_status(args: argparse.Namespace) -> int:
    pool, authority = _authority(args.dsn)
    with pool:
        status = authority.status()
    if args.json:
        print(json.dumps(status, sort_keys=True))
        return 0
    print("pools:")
    for p in status["pools"]:
        print(f"  {p['pool']}: {p['consumed']:,} of {p['size']:,} indices granted")
    print("sites:")
    for s in status["sites"]:
        last = s["last_contact"] or "never"
        print(
            f"  {s['site']}: {s['grants']:,} grants, {s['indices']:,} indices, last contact {last}; "
            f"{s['events']:,} events held, {s['lag_events']:,} behind ({s['lag_seconds']:.1f} s)"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    import contextlib
    import os
    import sys

    from linecode.cli.export import parse_offset
    from linecode.errors import InvalidArgument
    from linecode.hub.exports import HubExports

    if args.after is not None and (args.format != "epcis" or args.site):
        raise InvalidArgument(
            "--after pulls EPCIS of every site: expected no --site and --format epcis",
            reason=Reason.BAD_EXPORT_FORMAT,
        )
    offset = parse_offset(args.utc_offset)
    partial = args.out.with_name(f".{args.out.name}.partial") if args.out else None  # no half document
    pool, _ = _authority(args.dsn)
    try:
        with pool, partial.open("wb") if partial else contextlib.nullcontext(sys.stdout.buffer) as out:
            exports = HubExports(pool)
            if args.batch is not None:
                exports.write_batch(
                    args.batch, out, export_format=args.format, site_id=args.site, utc_offset=offset
                )
            else:
                pulled = exports.pull(args.after, out, max_events=args.max, utc_offset=offset)
        if partial:
            os.replace(partial, args.out)
    finally:
        if partial:
            partial.unlink(missing_ok=True)
    if args.after is not None:
        print(pulled.cursor, file=sys.stderr)
    return 0


def run_pool_add(args: argparse.Namespace) -> int:
    from linecode.errors import InvalidArgument
    from linecode.sim import DEMO_LEVELS
    from linecode.store import CodeRule, Level

    if args.demo_product:
        levels = [Level(lv.name, CodeRule(lv.rule), lv.identifier, 1) for lv in DEMO_LEVELS]
    elif args.rule and args.identifier:
        levels = [
            Level(
                "pool",
                CodeRule(args.rule),
                args.identifier,
                1,
                serial_alphabet=args.serial_alphabet,
                serial_length=args.serial_length,
            )
        ]
    else:
        raise InvalidArgument(
            "which pool? expected --rule and --identifier, or --demo-product", reason=Reason.INVALID_ARGUMENT
        )
    sites = [s.strip() for s in args.sites.split(",") if s.strip()]
    pool, authority = _authority(args.dsn)
    with pool:
        for level in levels:
            name = authority.add_pool(level, sites)
            print(f"pool {name}: sites {', '.join(sites)} may lease it")
    return 0


def run_postgres(args: argparse.Namespace) -> int:
    from linecode.errors import ConfigError
    from linecode.hub.cluster import Cluster

    if args.action == "stop" and not (args.dir / "data").exists():
        raise ConfigError(f"no PostgreSQL of linecode's in {args.dir}", reason=Reason.NO_POSTGRES)
    cluster = Cluster(root=args.dir)
    if args.action == "start":
        if not cluster.running:
            cluster.start()
        print(cluster.dsn)
    else:
        cluster.stop()
        print(f"stopped the PostgreSQL in {args.dir}")
    return 0
