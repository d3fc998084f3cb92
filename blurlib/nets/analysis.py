"""The blur-analysis networks: what kind of blur, which way and how far, per 30×30 patch.

Two architectures (:data:`ANALYSIS_NAMES`, also reachable through
:func:`blurlib.nets.builders.build_model`):

``"sun2015"``
    Sun, Cao, Xu & Ponce (CVPR 2015), "Learning a convolutional neural network for non-uniform
    motion blur removal": the report's network (Conv 96@7×7 → pool → Conv 256@5×5 → pool →
    Dense 1024) with a 73-way softmax over motion kernels — no blur, plus 12 odd lengths 3–25 px
    × 6 angles 0–150° in 30° steps (:func:`blurlib.data.kinds.sun_class`). Output
    ``(batch, 73)``. A plain layer stack, so :func:`blurlib.nets.fully_conv.to_fully_convolutional`
    converts it as it is.

``"analysis"``
    The project's multi-head net. The compact net's trunk (Rescaling to [-1, 1], five 3×3
    convolutions with batch norm and two pools, a full-extent "head" convolution) and a shared
    Dense layer, then three heads: ``kind`` (softmax over sharp / motion / defocus),
    ``direction`` ((cos 2θ, sin 2θ): an undirected angle as a point on the circle, no jump at
    0/180°) and ``length`` (motion extent in px). Three named outputs. Training runs the same
    layers through :func:`training_view`, one 6-channel output for one masked loss
    (:func:`analysis_loss`: direction and length count on motion patches only).

Both take raw 0–255 pixels. :func:`analysis_fully_convolutional` turns the multi-head net into
one exact dense network: the trunk is rebuilt as a plain stack ending in a Dense layer holding
the three heads' kernels side by side (a linear map of the shared feature each), converted by
``to_fully_convolutional``; its 6 channels are the kind logits, cos 2θ, sin 2θ and length
(:func:`decode_heads` applies the softmax).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.data.kinds import N_SUN_CLASSES, angle_from_doubled
from blurlib.nets.builders import compact_features, compact_trunk, seeded_init

if TYPE_CHECKING:  # pragma: no cover
    import keras

ANALYSIS_NAMES = ("sun2015", "analysis")
HEADS = ("kind", "direction", "length")
N_RAW = 6  # kind logits (3), cos 2θ, sin 2θ, length
LENGTH_SCALE = 8.0  # length loss in units of 8 px (about the spread of the training lengths)
LENGTH_BIAS = 16.0  # initial length output: the middle of 7–25 px


def build_sun2015(patch: int = PATCH, seed: int | None = None, dropout: float = 0.2):
    """Return Sun et al.'s 73-class patch classifier ``(batch, P, P, 3) 0–255 → (batch, 73)``."""
    from blurlib.nets.builders import build_model

    base = build_model("report", patch, seed, dropout=dropout)
    import keras
    from keras import layers

    x = base.get_layer("fc1").output
    out = layers.Dense(
        N_SUN_CLASSES,
        activation="softmax",
        kernel_initializer=seeded_init(seed, 4),
        dtype="float32",
        name="output",
    )(x)
    return keras.Model(base.inputs[0], out, name="sun2015")


def build_analysis(
    patch: int = PATCH,
    seed: int | None = None,
    *,
    width: int = 32,
    dropout: float = 0.0,
    context: int = 0,
    context_width: int = 0,
):
    """Return the multi-head net: ``(batch, P, P, 3) 0–255 → {"kind": (batch, 3) softmax,
    "direction": (batch, 2) (cos 2θ, sin 2θ), "length": (batch, 1) px}``.

    ``context`` > 0 (experimental): the input is the patch with ``context`` px around it, a
    (P + 2·context)-pixel window (:attr:`blurlib.data.kinds.KindConfig.context`); a second
    trunk (``context_width`` wide, 0 = ``width``) reads the whole window at half resolution
    (average-pooled, centre-cropped to P) beside the first on the patch itself, and the shared
    layer sees both. Its dense form is two pieces (:func:`context_parts`)."""
    import keras
    from keras import layers

    if context:
        window = patch + 2 * context
        half = window // 2
        if window % 2 or half < patch or (half - patch) % 2:
            raise ValueError(
                f"context {context}: the half-resolution window ({window}/2) must hold the "
                f"{patch}-px patch with an even border (e.g. context {patch // 2})"
            )
        inp = keras.Input(shape=(window, window, 3), name="image")
        centre = layers.Cropping2D(context, name="patch_crop")(inp)
        around = layers.AveragePooling2D(2, name="context_pool")(inp)
        if half > patch:
            around = layers.Cropping2D((half - patch) // 2, name="context_crop")(around)
        near = compact_features(centre, patch, seed, width, "analysis")
        far_seed = None if seed is None else seed + 100
        far = compact_features(around, patch, far_seed, context_width or width, "analysis", "ctx_")
        x = layers.Concatenate(name="both")([near, far])
    else:
        inp, x = compact_trunk(patch, seed, width, "analysis")
    x = layers.Dense(
        4 * width, activation="relu", kernel_initializer=seeded_init(seed, 10), name="fc"
    )(x)
    if dropout:
        x = layers.Dropout(dropout, seed=None if seed is None else seed + 7, name="drop")(x)
    return keras.Model(inp, head_layers(x, seed), name="analysis")


def head_layers(x: Any, seed: int | None) -> dict[str, Any]:
    """The three heads on the shared feature ``x``: ``kind`` (softmax over sharp / motion /
    defocus), ``direction`` ((cos 2θ, sin 2θ)) and ``length`` (px), float32."""
    import keras
    from keras import layers

    kind = layers.Dense(
        3,
        activation="softmax",
        kernel_initializer=seeded_init(seed, 11),
        dtype="float32",
        name="kind",
    )(x)
    direction = layers.Dense(
        2, kernel_initializer=seeded_init(seed, 12), dtype="float32", name="direction"
    )(x)
    length = layers.Dense(
        1,
        kernel_initializer=seeded_init(seed, 13),
        bias_initializer=keras.initializers.Constant(LENGTH_BIAS),
        dtype="float32",
        name="length",
    )(x)
    return {"kind": kind, "direction": direction, "length": length}


def build_analysis_model(name: str, patch: int = PATCH, seed: int | None = None, **kw: Any):
    """Return the analysis net ``name`` (one of :data:`ANALYSIS_NAMES`), uncompiled."""
    if name == "sun2015":
        return build_sun2015(patch, seed, **kw)
    if name == "analysis":
        return build_analysis(patch, seed, **kw)
    raise ValueError(f"unknown analysis net {name!r}; valid: {', '.join(ANALYSIS_NAMES)}")


def is_analysis_model(model: Any) -> bool:
    """True when ``model`` has the three heads ``kind``, ``direction`` and ``length``."""
    try:
        names = set(model.output_names) if hasattr(model, "output_names") else set()
        names |= {t._keras_history[0].name for t in model.outputs}
    except (AttributeError, TypeError, ValueError, IndexError):
        return False
    return set(HEADS) <= names


def is_sun2015_model(model: Any) -> bool:
    """True for a 73-class Sun et al. classifier of 30×30 patches."""
    try:
        return (
            len(model.outputs) == 1
            and tuple(model.outputs[0].shape[1:]) == (N_SUN_CLASSES,)
            and tuple(model.inputs[0].shape[1:]) == (PATCH, PATCH, 3)
        )
    except (AttributeError, TypeError, ValueError, IndexError):
        return False


def training_view(model: keras.Model) -> keras.Model:
    """Return a model sharing ``model``'s layers whose one output is (batch, 6): the three
    heads concatenated, for :func:`analysis_loss`."""
    import keras

    by_name = {t._keras_history[0].name: t for t in model.outputs}
    cat = keras.layers.Concatenate(name="heads", dtype="float32")([by_name[h] for h in HEADS])
    return keras.Model(model.inputs[0], cat, name=f"{model.name}_train")


def analysis_targets(kind: Any, angle: Any, length: Any) -> np.ndarray:
    """Return (N, 4) float32 training targets ``[kind, cos 2θ, sin 2θ, length]`` (0 where not
    motion) for :func:`analysis_loss`."""
    from blurlib.data.kinds import doubled_angle

    kind = np.asarray(kind, np.float32)
    motion = kind == 1
    d = doubled_angle(np.where(motion, angle, np.nan))
    ln = np.where(motion, np.nan_to_num(np.asarray(length, np.float32)), 0.0)
    return np.concatenate([kind[:, None], d, ln[:, None]], axis=1).astype(np.float32)


def grid_targets(kind: Any, angle: Any, length: Any, keep: Any) -> np.ndarray:
    """Return (N, n, n, 5) float32 targets of label grids: :func:`analysis_targets` per cell and
    the cell's weight (1 = judgeable, 0 = context only)."""
    kind = np.asarray(kind)
    flat = analysis_targets(kind.ravel(), np.ravel(angle), np.ravel(length))
    weight = np.asarray(keep, np.float32).reshape(-1, 1)
    return np.concatenate([flat, weight], axis=1).reshape(*kind.shape, 5)


def analysis_loss(
    direction_weight: float = 1.0, length_weight: float = 1.0
) -> Any:  # a keras loss function
    """Return the loss of :func:`training_view`'s output against :func:`analysis_targets`:
    cross-entropy of the kind + (motion patches only) squared error of (cos 2θ, sin 2θ) and
    Huber error of the length in units of :data:`LENGTH_SCALE` px. Targets and outputs may
    carry leading grid axes ((batch, n, n, ·): :func:`blurlib.nets.neighbours.grid_view`); a
    5th target channel then weighs each cell (:func:`grid_targets`)."""
    from keras import ops

    def loss(y_true: Any, y_pred: Any) -> Any:
        kind = ops.cast(y_true[..., 0], "int32")
        p = ops.clip(y_pred[..., :3], 1e-7, 1.0)
        ce = -ops.sum(ops.one_hot(kind, 3) * ops.log(p), axis=-1)
        motion = ops.cast(ops.equal(kind, 1), "float32")
        d_err = ops.sum(ops.square(y_pred[..., 3:5] - y_true[..., 1:3]), axis=-1)
        e = ops.abs(y_pred[..., 5] - y_true[..., 3]) / LENGTH_SCALE
        huber = ops.where(e < 1.0, 0.5 * e * e, e - 0.5)
        out = ce + motion * (direction_weight * d_err + length_weight * huber)
        if y_true.shape[-1] == 5:  # grid targets: a 5th channel weighs each cell (0: context)
            out = out * y_true[..., 4]
        return out

    return loss


def _raw_chain(model: keras.Model) -> keras.Model:
    """A plain layer stack, same weights: the trunk and one Dense(6) of the heads side by side."""
    import keras

    from blurlib.nets.flops import walk_layers

    x = inp = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="image")
    for layer in walk_layers(model):
        if layer.name in HEADS:
            continue
        if type(layer).__name__ == "Concatenate":
            raise ValueError("pass the analysis model, not its training view")
        clone = type(layer).from_config(layer.get_config())
        x = clone(x)
        if layer.get_weights():
            clone.set_weights(layer.get_weights())
    heads = [model.get_layer(h) for h in HEADS]
    kernel = np.concatenate([h.get_weights()[0] for h in heads], axis=1)
    bias = np.concatenate([h.get_weights()[1] for h in heads])
    dense = keras.layers.Dense(N_RAW, dtype="float32", name="raw_heads")
    x = dense(x)
    dense.set_weights([kernel, bias])
    return keras.Model(inp, x, name=f"{model.name}_raw")


def analysis_fully_convolutional(model: keras.Model) -> keras.Model:
    """Return the exact dense form of the multi-head net: (batch, H, W, 3) 0–255 →
    (batch, rows, cols, 6) raw heads at the native stride (decode with :func:`decode_heads`)."""
    from blurlib.nets.fully_conv import to_fully_convolutional

    if not is_analysis_model(model):
        raise ValueError(f"model {model.name!r} has no kind/direction/length heads")
    if model_context(model):
        raise ValueError(
            f"model {model.name!r} reads {model_context(model)} px of context around each patch: "
            "it has no single dense form; its pieces have one each (context_parts, or "
            "neighbour_parts for the neighbour net), which "
            "blurlib.inference.analysis.dense_analysis combines"
        )
    return to_fully_convolutional(_raw_chain(model))


_TRUNK_LAYER = re.compile(r"(rescale|b\d+c\d+_(conv|bn|relu)|pool\d+|head_(conv|bn|relu))")


def trunk_chain(model: keras.Model, prefix: str, patch: int) -> keras.Model:
    """The trunk whose layer names carry ``prefix`` ("" = the patch's, "ctx_" = the context's)
    as a plain stack on ``patch``-pixel input, same weights, ending before its Flatten."""
    import keras

    from blurlib.nets.flops import walk_layers

    x = inp = keras.Input(shape=(patch, patch, 3), name="image")
    for layer in walk_layers(model):
        name = layer.name
        if not name.startswith(prefix) or not _TRUNK_LAYER.fullmatch(name[len(prefix) :]):
            continue
        clone = type(layer).from_config(layer.get_config())
        x = clone(x)
        if layer.get_weights():
            clone.set_weights(layer.get_weights())
    return keras.Model(inp, x, name=f"{model.name}_{prefix or 'patch_'}trunk")


def context_parts(model: keras.Model, patch: int = PATCH) -> dict[str, Any]:
    """Return the exact dense pieces of a context net (:func:`build_analysis` with
    ``context``): ``near`` and ``far``, the dense forms of the patch trunk (on the photo) and of
    the context trunk (on the photo average-pooled by 2), each (batch, H, W, 3) → (batch, rows,
    cols, F) at stride ``stride``; and ``head``, float32 ``(W1, b1, W2, b2)`` that map the two
    features side by side (near first) through the shared ReLU layer to the 6 raw heads."""
    from blurlib.nets.fully_conv import native_stride, to_fully_convolutional
    from blurlib.nets.neighbours import is_neighbour_model

    if not is_analysis_model(model) or not model_context(model, patch) or is_neighbour_model(model):
        raise ValueError(f"model {model.name!r} is not a blur-analysis net with a context trunk")
    near, far = (trunk_chain(model, prefix, patch) for prefix in ("", "ctx_"))
    return {
        "near": to_fully_convolutional(near),
        "far": to_fully_convolutional(far),
        "stride": native_stride(near),
        "context": model_context(model, patch),
        # the context trunk reads the centre of the pooled window: this many half-res px in
        "crop": ((patch + 2 * model_context(model, patch)) // 2 - patch) // 2,
        "head": head_weights(model),
    }


def head_weights(model: keras.Model) -> tuple[np.ndarray, ...]:
    """Return float32 ``(W1, b1, W2, b2)``: the shared layer ``fc`` (ReLU) and the three heads'
    kernels side by side (6 raw outputs: :func:`decode_heads`)."""
    fc = model.get_layer("fc").get_weights()
    heads = [model.get_layer(h).get_weights() for h in HEADS]
    w2 = np.concatenate([h[0] for h in heads], axis=1)
    b2 = np.concatenate([h[1] for h in heads])
    return tuple(np.asarray(a, np.float32) for a in (fc[0], fc[1], w2, b2))


def model_context(model: keras.Model, patch: int = PATCH) -> int:
    """Return the px of context around each patch that ``model`` reads (0: the patch only)."""
    side = int(model.inputs[0].shape[1])
    return max(0, (side - patch) // 2)


def decode_heads(raw: Any) -> dict[str, np.ndarray]:
    """Return ``p_kind`` (..., 3) float32 summing to 1, ``angle_deg`` in [0, 180) and
    ``length_px`` (...) float32 from raw head values (..., 6) of the dense form."""
    raw = np.asarray(raw, np.float32)
    logits = raw[..., :3] - raw[..., :3].max(axis=-1, keepdims=True)
    e = np.exp(logits)
    p = e / e.sum(axis=-1, keepdims=True)
    return {
        "p_kind": p.astype(np.float32),
        "angle_deg": angle_from_doubled(raw[..., 3], raw[..., 4]),
        "length_px": raw[..., 5].astype(np.float32),
    }


def decode_outputs(out: Any) -> dict[str, np.ndarray]:
    """Return the same dict as :func:`decode_heads` from the multi-head model's outputs."""
    d = np.asarray(out["direction"], np.float32)
    return {
        "p_kind": np.asarray(out["kind"], np.float32),
        "angle_deg": angle_from_doubled(d[..., 0], d[..., 1]),
        "length_px": np.asarray(out["length"], np.float32)[..., 0],
    }
