"""Progress bars for long work: tqdm on stderr, silent when stderr is not a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    def update(self, n: int) -> object: ...


@contextmanager
def progress_bar(total: int, desc: str, unit: str = "code") -> Iterator[Progress]:
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=None, leave=False) as bar:
        yield bar
