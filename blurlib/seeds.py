"""Named random streams: one seed, many independent generators, none by accident equal.

Every stream is ``numpy.random.default_rng([seed, STREAM_ID, *indices])``. The ids are
distinct and ≥ 1000, and each stream takes a fixed number of indices, so no two streams
share an entropy list (numpy pads short lists with zeros: ``[s, 7, 3]`` and ``[s, 7, 3, 0]``
would be the same generator) and none meets the ``[seed, 0]`` / ``[seed, 1, i]`` streams of
``blurlib.data.dataset`` or a bare ``[seed, epoch]``.

=================  ====  ===============  ==============================================
name               id    indices          draws
=================  ====  ===============  ==============================================
``split``          1001  —                the photo permutation of the train/val/test split
``subsample``      1002  —                the training patches kept by ``max_train_patches``
``epoch_order``    1003  epoch            the order of the training patches in an epoch
``augment``        1004  epoch, batch     the flip/rotation of each patch (numpy batches)
``augment_epoch``  1005  epoch            tf.data augmentation key; the batch is its 2nd word
``degrade``        1006  image            the label-0 degradations of a generated image
``kind_crops``     2101  crop             one labelled crop of :func:`.data.kinds.kind_patches`
``kind_leaves``    2102  scene            a dead-leaves scene of the blur-analysis training
``kind_strands``   2103  scene            a dead-leaves scene with strands (same training)
=================  ====  ===============  ==============================================
"""

from __future__ import annotations

import numpy as np

#: name → (stream id, names of its indices)
STREAMS: dict[str, tuple[int, tuple[str, ...]]] = {
    "split": (1001, ()),
    "subsample": (1002, ()),
    "epoch_order": (1003, ("epoch",)),
    "augment": (1004, ("epoch", "batch")),
    "augment_epoch": (1005, ("epoch",)),
    "degrade": (1006, ("image",)),
    "kind_crops": (2101, ("crop",)),
    "kind_leaves": (2102, ("scene",)),
    "kind_strands": (2103, ("scene",)),
}


def spawn_key(seed: int, name: str, *indices: int) -> list[int]:
    """Return the entropy list ``[seed, STREAM_ID, *indices]`` of the stream ``name``."""
    if name not in STREAMS:
        raise KeyError(f"unknown random stream {name!r}; known: {', '.join(STREAMS)}")
    stream_id, wanted = STREAMS[name]
    if len(indices) != len(wanted):
        raise TypeError(f"stream {name!r} takes indices {wanted}, got {indices}")
    return [int(seed), stream_id, *(int(i) for i in indices)]


def rng(seed: int, name: str, *indices: int) -> np.random.Generator:
    """Return the generator of the stream ``name`` for ``seed`` and ``indices``."""
    return np.random.default_rng(spawn_key(seed, name, *indices))


def tf_key(seed: int, name: str, *indices: int) -> np.ndarray:
    """Return the stream as an ``int64 (2,)`` key for TensorFlow's stateless random ops."""
    state = np.random.SeedSequence(spawn_key(seed, name, *indices)).generate_state(2, np.uint64)
    return (state >> np.uint64(1)).astype(np.int64)
