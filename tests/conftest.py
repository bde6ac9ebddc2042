"""Shared fixtures: a fixed master key for repeatable codes."""

from __future__ import annotations

import pytest

from linecode.serials import MasterKey


@pytest.fixture
def master() -> MasterKey:
    return MasterKey(bytes(range(32)))
