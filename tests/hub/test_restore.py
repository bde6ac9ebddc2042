"""``linecode restore --from-hub``: a site's store made again from the events its hub holds equals
the store that shipped them, code by code; ``linecode check`` passes on it, and it ships on."""

from __future__ import annotations

from pathlib import Path

from linecode.hub.authority import Authority
from linecode.serials import MasterKey
from linecode.service.hub import HubServer
from linecode.store import EventKind, Store
from linecode.store.replay import stored
from tests.factories import LEVELS, make_product, run_linecode
from tests.hub.shipping import hub_codes, pack_batch, serve_site, site_codes, wait_leased, wait_shipped


def _same(a: Store, b: Store) -> None:
    """``b`` is ``a`` rebuilt: the same codes, records and events, and then the events that gave up
    the ranges ``a`` held unused (nothing else of the pools differs)."""
    given_up = list(b.events())[len(list(a.events())) :]
    assert list(b.events())[: (len(given_up) and -len(given_up)) or None] == list(a.events())
    assert {e.kind for e in given_up} <= {EventKind.LEASE_EXPORTED}
    assert stored(a) == stored(b)
    assert a.counts() == b.counts() and a.batches() == b.batches() and a.products() == b.products()
    for batch in a.batches():
        for level in range(1, len(LEVELS) + 1):
            codes = list(a.codes(batch.batch_id, level))
            assert codes == list(b.codes(batch.batch_id, level))
            assert [a.record(c) for c in codes] == [b.record(c) for c in codes]  # untouched ones too
    assert {n: {**p, "free": [], "used": None} for n, p in a.pools().items()} == {
        n: {**p, "used": None} for n, p in b.pools().items()
    }


def test_a_site_restored_from_the_hub_is_the_site_and_ships_on(
    tmp_path: Path, authority: Authority, dsn: str
) -> None:
    for level in LEVELS:
        authority.add_pool(level, ["S1"])
    hub = HubServer(authority, "127.0.0.1:0")
    try:
        store, running = serve_site(tmp_path / "S1", "S1", hub.port)
        make_product(store)
        wait_leased(store)
        pack_batch(store, "B1")
        pack_batch(store, "B2", close=False)
        store.allocate("B2", "unit", 7)  # allocated, never printed: known to the site's ranges only
        wait_shipped(store)
        running.stop(0)
        shipped = store.last_event_seq()
        store.backup(tmp_path / "as-shipped")  # the store as the hub has it, to compare with
        lost = set(store.allocate("B2", "unit", 5).codes)  # the disk dies before this ships

        done = run_linecode(
            "restore", "--from-hub", f"127.0.0.1:{hub.port}", "--site", "S1", "--data", str(tmp_path / "new")
        )
        assert done.returncode == 0, done.stderr
        assert "restored site S1" in done.stdout
        checked = run_linecode("check", "--data", str(tmp_path / "new"))
        assert checked.returncode == 0, checked.stdout + checked.stderr

        restored = Store.open(tmp_path / "new", master_key=MasterKey(bytes(range(32))), sync=False)
        original = Store.open(tmp_path / "as-shipped", master_key=MasterKey(bytes(range(32))), sync=False)
        _same(original, restored)
        assert restored.shipped() == shipped == original.last_event_seq()
        store.close()
        original.close()
        restored.close()

        again, running = serve_site(tmp_path / "new", "S1", hub.port)  # the restored site works on
        wait_leased(again)
        assert not lost & set(again.allocate("B2", "unit", 100).codes)  # no lost code issued again
        pack_batch(again, "B3")
        wait_shipped(again)
        assert hub_codes(dsn, "S1") == site_codes(again)
        running.stop(0)
        again.close()

        taken = run_linecode(
            "restore", "--from-hub", f"127.0.0.1:{hub.port}", "--site", "S1", "--data", str(tmp_path / "new")
        )
        assert taken.returncode == 2 and ("not empty" in taken.stderr or "exists" in taken.stderr), (
            taken.stderr
        )
        unknown = run_linecode(
            "restore", "--from-hub", f"127.0.0.1:{hub.port}", "--site", "S9", "--data", str(tmp_path / "s9")
        )
        assert unknown.returncode == 2 and "S9" in unknown.stderr and not (tmp_path / "s9").exists()
    finally:
        hub.stop(0)
