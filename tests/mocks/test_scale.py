"""A million-citizen world: high indexes resolve, and looking them up costs no memory."""

from __future__ import annotations

import gc
import tracemalloc

from hub.mocks._world import MAX_CITIZENS, World


def test_the_last_citizens_of_a_million_resolve_both_ways():
    """Citizen 999,999 and its neighbours have numbers that find them again."""
    world = World(seed=1, citizens=MAX_CITIZENS)
    for index in (0, 500_000, 999_998, 999_999):
        citizen = world.citizen(index)
        assert world.index_of(citizen.national_id) == index
        if citizen.legacy_id is not None:
            assert world.find_by_legacy_id(citizen.legacy_id).index == index
    keys = world.sample("enterprise", 3) + world.sample("licence", 3)
    assert world.enterprise(keys[0]).code == keys[0]
    assert world.licence(keys[-1]).number == keys[-1]


def test_a_million_citizens_cost_no_memory():
    """Building the world and looking up high indexes leaves memory flat."""
    World(seed=2, citizens=10)  # the shared unit tables load once, outside the measure
    gc.collect()
    tracemalloc.start()
    try:
        world = World(seed=2, citizens=MAX_CITIZENS)
        built, _ = tracemalloc.get_traced_memory()
        assert built < 2_000_000
        # Walking 5,000 citizens fills the world's bounded caches.
        world.sample("citizen", 5_000)

        def look_up(start: int) -> int:
            for index in range(start, start + 400):
                assert world.index_of(world.citizen(index).national_id) == index
            gc.collect()
            return tracemalloc.get_traced_memory()[0]

        after_first = look_up(990_000)
        after_second = look_up(999_000)
        assert after_first < 12_000_000
        assert after_second - after_first < 200_000
    finally:
        tracemalloc.stop()
