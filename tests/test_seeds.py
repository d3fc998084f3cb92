"""blurlib.seeds: named random streams that never coincide."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from blurlib import seeds


def _state(key: list[int]) -> bytes:
    return np.random.SeedSequence(key).generate_state(8).tobytes()


def test_stream_ids_are_distinct_and_clear_of_small_salts():
    ids = [stream_id for stream_id, _ in seeds.STREAMS.values()]
    assert len(set(ids)) == len(ids)
    assert min(ids) >= 1000  # never [seed, 0], [seed, 1, i] (dataset) or [seed, epoch]


def test_streams_are_distinct_generators():
    """Every stream, for a few seeds and indices, draws its own numbers; none equals the
    dataset's [seed, 0] / [seed, 1, i] streams or a bare [seed, k]."""
    keys, others = [], []
    for seed in (0, 1, 3):
        for name, (_, index_names) in seeds.STREAMS.items():
            for idx in itertools.product(range(4), repeat=len(index_names)):
                keys.append(seeds.spawn_key(seed, name, *idx))
        others += [[seed, 1, i] for i in range(4)] + [[seed, k] for k in range(8)]
    states = [_state(k) for k in keys]
    assert len(set(states)) == len(states)
    assert not set(states) & {_state(k) for k in others}
    # epoch 3's order is not the old `[seed, 3]` subsample stream any more
    a = seeds.rng(0, "epoch_order", 3).permutation(50)
    b = seeds.rng(0, "subsample").permutation(50)
    assert not np.array_equal(a, b)


def test_same_seed_same_numbers_and_tf_keys():
    a = seeds.rng(7, "augment", 2, 5).integers(0, 1 << 30, 4)
    np.testing.assert_array_equal(a, seeds.rng(7, "augment", 2, 5).integers(0, 1 << 30, 4))
    key = seeds.tf_key(7, "epoch_order", 1)
    assert key.dtype == np.int64 and key.shape == (2,) and (key >= 0).all()
    np.testing.assert_array_equal(key, seeds.tf_key(7, "epoch_order", 1))
    assert not np.array_equal(key, seeds.tf_key(7, "epoch_order", 2))


def test_unknown_stream_and_wrong_indices_are_refused():
    with pytest.raises(KeyError, match="unknown random stream"):
        seeds.rng(0, "nope")
    with pytest.raises(TypeError, match="epoch"):
        seeds.rng(0, "augment", 1)  # needs (epoch, batch): [s, id, 1] == [s, id, 1, 0]
