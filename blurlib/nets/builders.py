"""The patch classifiers: the two architectures, their compile settings and how to read
their output.

Every blurlib model takes a batch of 30×30×3 patches of raw 0–255 float pixel values (the
scaling lives inside the model) and returns ``(batch, 2)`` softmax probabilities;
P(blurred) = ``output[:, 1]`` (see :func:`blur_probability`). Training uses sparse
categorical cross-entropy with labels 0 = sharp, 1 = motion-blurred.

Two architectures (:data:`MODEL_NAMES`):

``"report"``
    The report's network, exactly: Rescaling(1/255) → Conv2D(96, 7×7, ReLU, valid) →
    MaxPool 2×2 → Dropout 0.2 → Conv2D(256, 5×5, ReLU, valid) → MaxPool 2×2 → Dropout 0.2 →
    Flatten → Dense(1024, ReLU) → Dense(2, softmax). 4 826 242 parameters and 103.3 MFLOP
    per patch (2 FLOPs per multiply-add). The report also mentions a "Dropout" near the
    dense layer; its position is unclear, so the two dropouts after the pools are kept and
    none after Dense(1024).

``"compact"``
    The project's network: Rescaling(1/127.5, offset=-1) → three 3×3 valid convolutions
    with 32 filters (each + batch norm + ReLU; 30 → 24) → MaxPool 2×2 (12) → two 3×3 valid
    convolutions with 64 filters (12 → 8) → MaxPool 2×2 (4) → a "head" convolution with 128
    filters whose 4×4 kernel covers the remaining extent (instead of global pooling, so the
    fully-convolutional form is exact) + batch norm + ReLU → Flatten → Dense(2, softmax).
    Every pool input has even size, so the receptive field is exactly the 30×30 patch.
    ~0.21 M parameters, ~33 MFLOP per patch (width 32) — but ~13× cheaper than the report
    net per window of a dense map, where the early convolutions are shared.

:data:`ANALYSIS_MODEL_NAMES` ("sun2015", "analysis") name the blur-analysis nets of
:mod:`blurlib.nets.analysis` (Sun et al.'s 73 kernel classes; the multi-head kind / direction /
length net); :func:`build_model` builds them too.

All convolutions are valid and every downsampling is a pool, so
:func:`blurlib.nets.fully_conv.to_fully_convolutional` turns either net into an exact
dense-map network whose outputs are the windows at stride
:func:`blurlib.nets.fully_conv.native_stride` (4 for both nets).

This module uses only backend-neutral Keras 3 (``keras.layers`` / ``keras.ops``): it runs
with ``KERAS_BACKEND`` = tensorflow, jax or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH

if TYPE_CHECKING:  # pragma: no cover
    import keras

MODEL_NAMES = ("report", "compact")
#: Blur-analysis nets (kind / direction / length), built by :mod:`blurlib.nets.analysis`.
ANALYSIS_MODEL_NAMES = ("sun2015", "analysis")


def seeded_init(seed: int | None, k: int) -> Any:
    """A Glorot-uniform initializer seeded per layer (None: unseeded)."""
    import keras

    return keras.initializers.GlorotUniform(seed=None if seed is None else seed * 1000 + k)


def _report(patch: int, seed: int | None, dropout: float) -> keras.Model:
    import keras
    from keras import layers

    if patch < 30 or (patch - 6) % 2 or ((patch - 6) // 2 - 4) % 2:
        raise ValueError(f"the report net needs patch >= 30 with even pool inputs, got {patch}")
    dseed = None if seed is None else seed + 7
    x = inp = keras.Input(shape=(patch, patch, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    x = layers.Conv2D(
        96, 7, activation="relu", kernel_initializer=seeded_init(seed, 1), name="conv1"
    )(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Dropout(dropout, seed=dseed, name="drop1")(x)
    x = layers.Conv2D(
        256, 5, activation="relu", kernel_initializer=seeded_init(seed, 2), name="conv2"
    )(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Dropout(dropout, seed=None if dseed is None else dseed + 1, name="drop2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", kernel_initializer=seeded_init(seed, 3), name="fc1")(
        x
    )
    out = layers.Dense(
        2,
        activation="softmax",
        kernel_initializer=seeded_init(seed, 4),
        dtype="float32",
        name="output",
    )(x)
    return keras.Model(inp, out, name="report")


def compact_trunk(patch: int, seed: int | None, width: int, what: str = "compact") -> tuple:
    """Return ``(input, features)``: the compact net up to its flattened head — 0–255 input
    rescaled, 3×3 conv + batch norm blocks of ``width`` and ``2 * width`` channels with a pool
    after each, and a full-extent head conv of ``4 * width``; ``what`` names the net in errors.
    The multi-head analysis net (:mod:`blurlib.nets.analysis`) grows its heads on the same trunk.
    """
    import keras

    inp = keras.Input(shape=(patch, patch, 3), name="image")
    return inp, compact_features(inp, patch, seed, width, what)


def compact_features(
    x: Any, patch: int, seed: int | None, width: int, what: str = "compact", prefix: str = ""
) -> Any:
    """Return the flattened features of :func:`compact_trunk` applied to the ``patch``-pixel
    0–255 tensor ``x``; layer names get ``prefix`` (and initial weights the seed offset of
    their position, so two trunks with different prefixes and seeds differ)."""
    from keras import layers

    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name=f"{prefix}rescale")(x)
    size, k = patch, 0
    for block, (filters, n_conv) in enumerate(((width, 3), (2 * width, 2)), start=1):
        for conv in range(1, n_conv + 1):
            k += 1
            name = f"{prefix}b{block}c{conv}"
            x = layers.Conv2D(
                filters,
                3,
                use_bias=False,
                kernel_initializer=seeded_init(seed, k),
                name=f"{name}_conv",
            )(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
            x = layers.ReLU(name=f"{name}_relu")(x)
            size -= 2
        if size % 2:
            raise ValueError(f"patch {patch}: the {what} net needs even pool inputs (try 30)")
        x = layers.MaxPooling2D(2, name=f"{prefix}pool{block}")(x)
        size //= 2
    if size < 1:
        raise ValueError(f"patch {patch} is too small for the {what} net (needs >= 22)")
    # The head covers the whole remaining extent (global pooling would break exactness of
    # the fully-convolutional form at the borders; a full-extent kernel keeps it exact).
    x = layers.Conv2D(
        4 * width,
        size,
        use_bias=False,
        kernel_initializer=seeded_init(seed, 9),
        name=f"{prefix}head_conv",
    )(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{prefix}head_bn")(x)
    x = layers.ReLU(name=f"{prefix}head_relu")(x)
    return layers.Flatten(name=f"{prefix}flatten")(x)


def _compact(
    patch: int, seed: int | None, dropout: float, width: int, classes: int = 2
) -> keras.Model:
    import keras
    from keras import layers

    inp, x = compact_trunk(patch, seed, width)
    if dropout:
        x = layers.Dropout(dropout, seed=None if seed is None else seed + 7, name="drop")(x)
    out = layers.Dense(
        classes,
        activation="softmax",
        kernel_initializer=seeded_init(seed, 10),
        dtype="float32",
        name="output",
    )(x)
    return keras.Model(inp, out, name="compact")


def build_model(
    name: str = "report",
    patch: int = PATCH,
    seed: int | None = None,
    *,
    dropout: float | None = None,
    width: int | None = None,
    classes: int = 2,
) -> keras.Model:
    """Return an uncompiled patch classifier ``(batch, patch, patch, 3) 0–255 → (batch, 2)``.

    ``dropout`` defaults to 0.2 for "report" and 0 for "compact"; ``width`` (compact only)
    is the first block's channel count (default 32; 8 makes a tiny test model); ``classes``
    (compact only) = 3 makes the sharp / motion / defocus classifier that training with a
    defocus class uses (:func:`motion_vs_rest` turns it back into a detector).
    """
    if classes != 2 and name != "compact":
        raise ValueError(f"classes={classes} applies to the 'compact' net only")
    if classes not in (2, 3):
        raise ValueError(f"classes must be 2 or 3, got {classes}")
    if name == "report":
        if width is not None:
            raise ValueError("width applies to the 'compact' net only; 'report' is fixed")
        return _report(patch, seed, 0.2 if dropout is None else dropout)
    if name == "compact":
        return _compact(patch, seed, 0.0 if dropout is None else dropout, width or 32, classes)
    if name in ANALYSIS_MODEL_NAMES:  # the blur-analysis nets: blurlib.nets.analysis
        from blurlib.nets.analysis import build_analysis_model

        kw: dict[str, Any] = {} if dropout is None else {"dropout": dropout}
        if width is not None:
            kw["width"] = width
        return build_analysis_model(name, patch, seed, **kw)
    valid = ", ".join(MODEL_NAMES + ANALYSIS_MODEL_NAMES)
    raise ValueError(f"unknown model name {name!r}; valid names: {valid}")


def compile_model(
    model: keras.Model,
    lr: float = 1e-3,
    optimizer: Any = "adam",
    jit_compile: bool | str = "auto",
) -> keras.Model:
    """Compile ``model`` in place (Adam by default, sparse categorical cross-entropy,
    accuracy) and return it. ``optimizer`` is "adam", "sgd", "rmsprop", "adamw" or an
    optimizer instance."""
    import keras

    if isinstance(optimizer, str):
        table = {
            "adam": keras.optimizers.Adam,
            "sgd": keras.optimizers.SGD,
            "rmsprop": keras.optimizers.RMSprop,
            "adamw": keras.optimizers.AdamW,
        }
        if optimizer.lower() not in table:
            raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(table)}")
        optimizer = table[optimizer.lower()](learning_rate=lr)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    return model


#: class order of a three-way patch classifier (``build_model(..., classes=3)``)
KIND_CLASSES = ("sharp", "motion", "defocus")


def motion_vs_rest(model: keras.Model) -> keras.Model:
    """Return ``model`` (a sharp / motion / defocus softmax, :data:`KIND_CLASSES`) with a fixed
    last layer that sums its classes into a detector's two: ``[P(sharp) + P(defocus),
    P(motion)]``, so P(blurred) = P(motion) and every reader of a binary model reads it.
    The layers are shared (same weights); the added layer is a bias-free 1×1 map of 0s and
    1s, so the fully-convolutional form stays exact."""
    import keras
    from keras import layers

    n = int(model.outputs[0].shape[-1])
    if n != len(KIND_CLASSES):
        raise ValueError(f"model {model.name!r} has {n} outputs; expected sharp/motion/defocus")
    merge = layers.Dense(2, use_bias=False, trainable=False, dtype="float32", name="motion_vs_rest")
    out = merge(model.outputs[0])
    merge.set_weights([np.array([[1, 0], [0, 1], [1, 0]], np.float32)])
    return keras.Model(model.inputs[0], out, name=model.name)


def blur_probability(output: Any) -> np.ndarray:
    """Return P(blurred) as float32 from model output: ``[..., 1]`` of a 2-way softmax,
    ``[..., 0]`` of a 1-unit sigmoid."""
    out = np.asarray(output, dtype=np.float32)
    return np.ascontiguousarray(out[..., 1] if out.shape[-1] == 2 else out[..., 0])
