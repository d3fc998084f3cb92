"""Window probabilities in bfloat16 on CPUs that compute it natively (Intel AMX / AVX-512
BF16), for ranking many photos fast.

:func:`bf16_window_probabilities` runs a bfloat16 twin of the cached fully-convolutional
network (:func:`blurlib.inference.windows.fully_convolutional`: the same layers and weights,
Keras' ``mixed_bfloat16`` policy: weights kept in float32, convolutions computed in
bfloat16) over the photo in one pass, with exactly the input geometry of
:func:`blurlib.inference.windows.window_probabilities` (same corner grid, same zero padding).
Only the arithmetic differs: bfloat16 keeps 8 bits of mantissa, so probabilities move by
~2e-4 on average (at most ~0.08), and 0–0.02 % of windows change side of 0.5 on the bundled
photos at 1280 px (0.16 % on ``camera`` at 640 px; shipped model) — a photo's blurred share
moves by ~0.001. On this project's 2-core Xeon with AMX it runs 4–7× faster than float32, on
an AMD EPYC with AVX-512 BF16 and no AMX ~2.3×.

A stride that is a multiple k of the native stride runs a twin whose head is strided by k
(:func:`bf16_twin` with ``head_stride``): the same windows, the head doing 1/k² of its work
(stride 8, rank's default: the network 8–20 % faster than at stride 4).

Sparse windows (a stride near the window size, e.g. 30: the patch grid) are cropped and
classified one by one by the twin, as :func:`window_probabilities` does in float32
(:func:`blurlib.inference.windows.cropping_pays`). Where bfloat16 would not pay or not
apply — no native bfloat16 (:func:`bf16_native`), a backend other than TensorFlow, another
stride that is not a multiple of the native stride, a photo larger than one tile — it
returns :func:`window_probabilities` (float32) itself.
"""

from __future__ import annotations

import weakref
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.inference.windows import (
    DEFAULT_STRIDE,
    DEFAULT_TILE,
    as_image,
    classify_crops,
    cropping_pays,
    fully_convolutional,
    one_tile_input,
    window_grid_shape,
    window_probabilities,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

_TWINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@lru_cache(maxsize=1)
def bf16_native() -> bool:
    """Whether this machine computes bfloat16 natively (Linux CPU flags ``amx_bf16`` or
    ``avx512_bf16``) and Keras runs on TensorFlow, whose oneDNN kernels use it."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    from blurlib.runtime import cpu_flags

    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


def bf16_twin(model: keras.Model, head_stride: int = 1) -> tuple[Any, int]:
    """Return the bfloat16 twin of ``model``'s fully-convolutional network and its native stride,
    made once per converted network (a retrained model converts, and twins, anew).

    With ``head_stride`` k > 1 the twin computes only every k-th window of each row and
    column, its head strided by k (:func:`blurlib.nets.fully_conv.strided_head`: the windows
    at stride k × native, exactly, the head doing 1/k² of its work); None in its place where
    the network does not allow that."""
    import keras

    from blurlib.nets.fully_conv import strided_head

    fcn, stride, _ = fully_convolutional(model)
    hit = _TWINS.get(model)
    if hit is None or hit[0] is not fcn:

        def clone(layer: Any) -> Any:
            cfg = layer.get_config()
            if not isinstance(layer, keras.layers.InputLayer):
                cfg["dtype"] = "mixed_bfloat16"
            return layer.__class__.from_config(cfg)

        twin = keras.models.clone_model(fcn, clone_function=clone)
        twin.set_weights(fcn.get_weights())
        twin.compile(jit_compile=False)
        hit = _TWINS[model] = (fcn, {1: twin})
    nets = hit[1]
    if head_stride not in nets:
        net = strided_head(nets[1], head_stride)
        if net is not None:
            net.compile(jit_compile=False)
        nets[head_stride] = net
    return nets[head_stride], stride


def bf16_window_probabilities(
    model: keras.Model,
    image: Any,
    stride: int = DEFAULT_STRIDE,
    *,
    tile: int | None = DEFAULT_TILE,
) -> np.ndarray:
    """Return ``(rows, cols)`` float32 P(blurred) of the windows at ``stride``, as
    :func:`blurlib.inference.windows.window_probabilities`, computed in bfloat16 where that
    applies (see the module docstring), else in float32."""
    from blurlib.nets.builders import blur_probability

    if not bf16_native():
        return window_probabilities(model, image, stride, tile=tile)
    twin, s = bf16_twin(model)
    image = as_image(image, PATCH)
    h, w = image.shape[:2]
    if cropping_pays(twin, s, PATCH, h, w, stride):  # sparse windows, e.g. the 30-px grid
        return classify_crops(twin, image, stride, PATCH)
    buf = one_tile_input(image, s, tile) if stride % s == 0 else None
    if buf is None:
        return window_probabilities(model, image, stride, tile=tile)
    rows, cols = window_grid_shape(h, w, s, PATCH)
    k = stride // s
    strided = bf16_twin(model, k)[0] if k > 1 else None
    if strided is not None:  # only every k-th window computed: the same windows as [::k, ::k]
        out = blur_probability(strided.predict_on_batch(buf))[0]
        probs = out[: -(-rows // k), : -(-cols // k)]
    else:
        probs = blur_probability(twin.predict_on_batch(buf))[0, :rows:k, :cols:k]
    return np.ascontiguousarray(probs, dtype=np.float32)


def bf16_prepare(model: keras.Model, stride: int = DEFAULT_STRIDE) -> None:
    """Convert ``model`` now into the network(s) :func:`bf16_window_probabilities` runs at
    ``stride`` (cached), so that later calls, e.g. from several threads, find them ready."""
    _, s = bf16_twin(model)
    if stride % s == 0 and stride > s:
        bf16_twin(model, stride // s)
