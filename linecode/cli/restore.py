"""``linecode restore --from-hub ADDRESS --site ID --data DIR``: a site's store made again from the
events its hub holds (disaster recovery, SPEC §7).

The hub keeps every event the site shipped (``HubService.SiteEvents``); :func:`linecode.store.rebuild.rebuild`
runs them again through the store's own rules into a new store — codes, the packaging tree, counters,
the pools with the leases they still hold — and checks each event re-runs to itself. The new store
knows the hub has all of it (its acknowledged position is the hub's), so a server started on it ships
on from there. What the log does not hold is said by ``rebuild``'s docstring (idempotency answers,
the store's id). Events the site committed but never shipped are lost with its disk (the hub's
``linecode hub status`` shows how far behind a site was) — among them, perhaps, allocations from the
ranges it held: so the restored store gives up every unused index it holds (a LEASE_EXPORTED event
each pool, shipped to the hub) and takes new ranges, and no code of the lost store is issued again.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from linecode.reasons import Reason


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser("restore", help="make a site's store again from the events its hub holds")
    cmd.add_argument("--from-hub", required=True, metavar="HOST:PORT", help="the hub's address")
    cmd.add_argument("--site", required=True, help="the site's id at the hub")
    cmd.add_argument("--data", type=Path, required=True, help="a new (or empty) directory for the store")
    cmd.add_argument(
        "--key-file",
        type=Path,
        help="the sites' master key file, copied into the new data dir (else LINECODE_MASTER_KEY)",
    )
    cmd.add_argument("--ca", type=Path, help="TLS: the hub's CA certificate")
    cmd.add_argument("--cert", type=Path, help="TLS: this site's (or an admin's) client certificate")
    cmd.add_argument("--key", type=Path, help="TLS: its private key")
    cmd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import grpc

    from linecode.cli.backup import place_key
    from linecode.errors import ConfigError
    from linecode.serials import MasterKey
    from linecode.serials.keys import ENV_VAR
    from linecode.service.config import ServeConfig
    from linecode.service.ship import give_up_held_ranges, site_log
    from linecode.store import Store
    from linecode.store.rebuild import rebuild

    if args.key_file is not None:
        master = MasterKey.load(args.key_file, create=False)
    elif os.environ.get(ENV_VAR):
        master = MasterKey.from_hex(os.environ[ENV_VAR])
    else:
        raise ConfigError(
            f"no master key: give --key-file or set {ENV_VAR}; expected the key the site's codes were "
            "made with",
            reason=Reason.NO_MASTER_KEY,
        )
    config = ServeConfig(
        hub_address=args.from_hub, hub_site_id=args.site, hub_ca=args.ca, hub_cert=args.cert, hub_key=args.key
    )
    try:
        with site_log(config) as (position, events):
            count = rebuild(events, args.data, master, pools_from_hub=True, last_seq=position)
    except grpc.RpcError as exc:
        raise ConfigError(
            f"the hub at {args.from_hub} did not give the events of site {args.site!r}: "
            f"{exc.code().name} {exc.details()}",  # type: ignore[attr-defined]
            reason=Reason.NO_HUB,
            hint="check the address, the site id and this caller's certificate (a site's or admin's)",
        ) from None
    with Store.open(args.data, master_key=master) as store:
        store.set_shipped(position)
        given_up = give_up_held_ranges(store)
        codes = sum(r.count for r in store.counts())
    if args.key_file is not None:
        place_key(args.key_file, args.data)
    print(
        f"restored site {args.site} from the hub at {args.from_hub} into {args.data}: {count:,} events, "
        f"{codes:,} codes; the hub holds all of it (acknowledged to event {position:,}); "
        f"{given_up:,} unused indices it held given up (the lost store may have issued from them): "
        "its server takes new ranges from the hub"
    )
    return 0
