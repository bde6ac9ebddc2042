"""A site server that packs batch after batch while it ships to its hub, as a process of its own
for the crash tests: ``python -m tests.hub.site_worker DATA HUB_PORT SITE``. It prints ``packing``
once its first leases came, and packs until it is killed."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.factories import make_product
from tests.hub.shipping import pack_batch, serve_site, wait_leased


def main(data: str, hub_port: str, site_id: str) -> None:
    store, _running = serve_site(Path(data), site_id, int(hub_port), sync=True)
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
