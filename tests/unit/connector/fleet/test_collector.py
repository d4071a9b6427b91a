"""The garbage collector's young generation sized to a fleet, and given back after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from patchpilot.connector.fleet.collector import YOUNG_PER_SERVER, young_generation_for


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, ...]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_a_large_fleet_gets_a_young_generation_in_proportion_then_the_old_one_back() -> None:
    with young_generation_for(10_000):
        assert gc.get_threshold() == (YOUNG_PER_SERVER * 10_000, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_small_fleet_keeps_the_interpreters_thresholds() -> None:
    with young_generation_for(50):
        assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_the_thresholds_come_back_when_the_fleet_fails() -> None:
    with pytest.raises(RuntimeError), young_generation_for(5_000):
        raise RuntimeError("a server's run failed")
    assert gc.get_threshold() == (700, 10, 10)
