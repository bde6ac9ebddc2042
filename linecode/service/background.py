"""A thread of a site server that works after commits: the refiller and the shipper of a site of
a hub (``refill.py``, ``ship.py``) share how they are woken, started and stopped."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self


@dataclass(kw_only=True)
class CommitWoken:
    """A daemon thread running :meth:`_run`, woken by every commit of ``store`` (``_wake``) and told
    to end by :meth:`stop` (``_stop``)."""

    THREAD: ClassVar[str] = "linecode-background"
    store: Any
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start the thread; returns ``self``."""
        self.store.on_commit(self._committed)
        self._thread = threading.Thread(target=self._run, name=self.THREAD, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Tell the thread to end and wait for it (at most 10 s)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def _committed(self, _requests: int) -> None:
        self._wake.set()

    def _run(self) -> None:
        raise NotImplementedError
