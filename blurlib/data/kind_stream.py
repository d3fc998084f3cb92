"""Labelled blur-kind patches drawn on worker processes, ahead of time.

:class:`KindPatchStream` returns exactly the bytes of :func:`blurlib.data.kinds.kind_patches`
(every crop is a pure function of the photos, the seed, its number and the config:
:func:`blurlib.data.kinds.crop_result`), but draws the crops on ``workers`` processes, in
blocks of consecutive crops, while the caller does something else: a trainer asks for epoch
e + 1's patches before it fits epoch e, so drawing and fitting overlap, and a machine with many
cores draws on all of them. The blocks are put back together in crop order
(:func:`blurlib.data.kinds.assemble`), so the number of workers and the block size never
change a byte.

Workers are started with ``spawn``: fresh interpreters that import numpy and OpenCV, never
TensorFlow, and never inherit a running TensorFlow's threads or locks. Each receives the photos
once. ``workers=0`` draws in the calling process, when the result is asked for.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from blurlib import PATCH
from blurlib.data.kinds import (
    KindConfig,
    KindPatches,
    assemble,
    crop_result,
    default_max_crops,
    kind_patches,
)

_STATE: dict[str, Any] = {}  # a worker's photos, config and patch size


def default_workers() -> int:
    """Drawing processes by default: one fewer than the CPU cores (at least 1, at most 8)."""
    return min(8, max(1, (os.cpu_count() or 2) - 1))


def _init_worker(photos: Sequence[np.ndarray], config: KindConfig, patch: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # one core per worker: the trainer owns the others
    _STATE.update(photos=photos, config=config, patch=patch)


def _block(seed: int, start: int, stop: int) -> list[Any]:
    photos, config, patch = _STATE["photos"], _STATE["config"], _STATE["patch"]
    return [crop_result(photos, seed, i, config, patch) for i in range(start, stop)]


class PendingPatches:
    """A request of :meth:`KindPatchStream.request`; :meth:`result` waits for its patches."""

    def __init__(self, stream: KindPatchStream, n: int, seed: int, max_crops: int) -> None:
        self._stream, self.n, self.seed, self._max = stream, n, seed, max_crops
        self._futures: list[Future] = []
        self._next = 0  # first crop not yet submitted
        self._done: KindPatches | None = None
        if stream.pool is not None:
            self._submit(math.ceil(1.1 * n / stream.patches_per_crop))

    def _submit(self, crops: int) -> None:
        stop = min(self._max, self._next + max(crops, 1))
        size = self._stream.block
        while self._next < stop:
            end = min(stop, self._next + size)
            self._futures.append(self._stream.pool.submit(_block, self.seed, self._next, end))
            self._next = end

    def _crops(self) -> Iterator[Any]:
        i = 0
        while True:
            if i == len(self._futures):
                if self._next >= self._max:
                    return
                self._submit(math.ceil(0.25 * self.n / self._stream.patches_per_crop))
            yield from self._futures[i].result()
            i += 1

    def result(self) -> KindPatches:
        """The ``n`` patches: :func:`blurlib.data.kinds.kind_patches`' bytes."""
        if self._done is None:
            s = self._stream
            if s.pool is None:
                self._done = kind_patches(s.photos, self.n, self.seed, s.config, s.patch, self._max)
            else:
                try:
                    self._done = assemble(self._crops(), self.n)
                finally:
                    for f in self._futures:  # blocks past the n-th patch are not needed
                        f.cancel()
                    self._futures = []
                s.patches_per_crop = max(1.0, len(self._done) / max(self._done.crops, 1))
        return self._done


class KindPatchStream:
    """Draws :func:`blurlib.data.kinds.kind_patches` requests on ``workers`` processes (see
    the module docstring); use it as a context manager, or :meth:`close` it."""

    def __init__(
        self,
        photos: Sequence[np.ndarray],
        config: KindConfig | None = None,
        patch: int = PATCH,
        *,
        workers: int = 1,
        block: int = 16,
    ) -> None:
        if not photos:
            raise ValueError("KindPatchStream needs at least one photo")
        if workers < 0 or block < 1:
            raise ValueError(f"workers must be >= 0 and block >= 1, got {workers} and {block}")
        self.photos, self.config, self.patch = list(photos), config or KindConfig(), patch
        self.block = block
        self.patches_per_crop = 8.0  # a first guess, then measured on each request
        self.pool: ProcessPoolExecutor | None = None
        if workers:
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=mp.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.photos, self.config, patch),
            )

    def request(self, n: int, seed: int, max_crops: int | None = None) -> PendingPatches:
        """Start drawing ``kind_patches(photos, n, seed, config, patch, max_crops)``."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return PendingPatches(self, n, seed, max_crops or default_max_crops(n))

    def close(self) -> None:
        """Stop the workers (drawing still queued is dropped)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __enter__(self) -> KindPatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
