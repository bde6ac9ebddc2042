"""A site server that packs batch after batch while it ships to its hub, as a process of its own
for the crash tests: ``python -m tests.hub.site_worker DATA HUB_PORT SITE``. It prints ``packing``
once its first leases came, and packs until it is killed."""

from __future__ import annotations

import sys
from pathlib import Path

from linecode.serials import MasterKey
from linecode.service.config import ServeConfig
from linecode.service.server import start
from linecode.store import Store
from tests.factories import make_product
from tests.hub.shipping import pack_batch, wait_leased


def main(data: str, hub_port: str, site_id: str) -> None:
    store = Store.open(Path(data), master_key=MasterKey(bytes(range(32))))
    config = ServeConfig(
        listen="127.0.0.1:0",
        hub_address=f"127.0.0.1:{hub_port}",
        hub_site_id=site_id,
        hub_low_water=500,
        hub_lease_size=1000,
    )
    start(store, config)
    if not store.products():
        make_product(store)
    wait_leased(store, timeout=120)
    print("packing", flush=True)
    n = len(store.batches())
    while True:
        n += 1
        pack_batch(store, f"B{n}", close=n % 2 == 0)


if __name__ == "__main__":
    main(*sys.argv[1:4])
