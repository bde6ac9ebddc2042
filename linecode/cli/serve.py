"""``linecode serve``: the line's gRPC server."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from linecode.reasons import Reason


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = sub.add_parser("serve", help="run the gRPC server of a packaging line")
    serve.add_argument("--data", type=Path, help="data dir (LMDB and master.key); or [server] data")
    serve.add_argument("--listen", help="HOST:PORT to listen on (default 127.0.0.1:50051)")
    serve.add_argument("--config", type=Path, help="TOML config file (see linecode.service.config)")
    serve.add_argument(
        "--workers", type=int, help="work one process runs at once, in cost units (default 64)"
    )
    serve.add_argument(
        "--processes",
        type=int,
        help="server processes sharing the port and the store (default 0: one per core; 1: a "
        "single process). With several, many lines' calls no longer queue for one Python process",
    )
    serve.add_argument("--metrics", dest="metrics_listen", help="HOST:PORT of the Prometheus endpoint")
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from linecode.errors import ConfigError
    from linecode.logs import setup_logging
    from linecode.service import processes
    from linecode.service.config import Address, ServeConfig
    from linecode.service.server import announcement, start, stop_on_signals, wait_for_signal
    from linecode.store import Store

    config = ServeConfig.load(args.config).override(
        data=args.data,
        listen=args.listen,
        workers=args.workers,
        processes=args.processes,
        metrics_listen=args.metrics_listen,
    )
    if config.data is None:
        raise ConfigError(
            "no data dir: pass --data DIR or set [server] data in --config", reason=Reason.NO_DATA_DIR
        )
    setup_logging(json_lines=config.log_json, level=config.log_level)
    count = config.process_count

    def announce(port: int, metrics_port: int | None) -> None:
        host = Address.parse(config.listen).host
        extras = " with TLS" if config.tls else ""
        extras += " and client certificates" if config.tls_client_ca else ""
        if metrics_port and config.metrics_listen:
            metrics_host = Address.parse(config.metrics_listen, "metrics listen").host
            extras += f", metrics on http://{metrics_host}:{metrics_port}/metrics"
        if count > 1:
            extras += f", {count} processes"
        print(announcement(config.data, f"{host}:{port}", extras), flush=True)

    if count > 1:
        processes.run(config, count, announce)
    else:
        store = Store.open(
            config.data,
            map_size=config.map_size_mb << 20,
            max_map_size=config.max_map_size_mb << 20,
            max_readers=processes.reader_slots(config, 1),
        )
        try:
            with stop_on_signals() as stop:  # taken before the server starts: no signal is lost
                running, _ = start(store, config)
                announce(running.port, running.metrics_port)
                wait_for_signal(running, config.grace_s, stop)
        finally:
            store.close()
    logging.getLogger("linecode").info("stopped")
    return 0
