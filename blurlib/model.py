"""The patch classifiers: builders, compile settings, saving/loading, FLOP counts and the
conversion to a fully-convolutional network.

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

All convolutions are valid and every downsampling is a pool, so
:func:`to_fully_convolutional` turns either net into an exact dense-map network whose
outputs are the windows at stride :func:`native_stride` (4 for both nets).

This module uses only backend-neutral Keras 3 (``keras.layers`` / ``keras.ops``): it runs
with ``KERAS_BACKEND`` = tensorflow, jax or torch.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib import PATCH
from blurlib.errors import ModelFileError
from blurlib.fileio import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import keras

MODEL_NAMES = ("report", "compact")
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "models" / "default.keras"
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_FIX = "retrain with `python -m blurlib train` or pass --model PATH to a .keras/.h5 blurlib model"

# Layers that are the identity at inference time: dropped by the fully-convolutional conversion.
_INFERENCE_IDENTITY = {
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianDropout",
    "GaussianNoise",
    "AlphaDropout",
    "ActivityRegularization",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "RandomContrast",
    "RandomBrightness",
    "RandomCrop",
}


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def _init(seed: int | None, k: int) -> Any:
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
    x = layers.Conv2D(96, 7, activation="relu", kernel_initializer=_init(seed, 1), name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Dropout(dropout, seed=dseed, name="drop1")(x)
    x = layers.Conv2D(256, 5, activation="relu", kernel_initializer=_init(seed, 2), name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Dropout(dropout, seed=None if dseed is None else dseed + 1, name="drop2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", kernel_initializer=_init(seed, 3), name="fc1")(x)
    out = layers.Dense(
        2, activation="softmax", kernel_initializer=_init(seed, 4), dtype="float32", name="output"
    )(x)
    return keras.Model(inp, out, name="report")


def _compact(patch: int, seed: int | None, dropout: float, width: int) -> keras.Model:
    import keras
    from keras import layers

    x = inp = keras.Input(shape=(patch, patch, 3), name="image")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x)
    size, k = patch, 0
    for block, (filters, n_conv) in enumerate(((width, 3), (2 * width, 2)), start=1):
        for conv in range(1, n_conv + 1):
            k += 1
            name = f"b{block}c{conv}"
            x = layers.Conv2D(
                filters, 3, use_bias=False, kernel_initializer=_init(seed, k), name=f"{name}_conv"
            )(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
            x = layers.ReLU(name=f"{name}_relu")(x)
            size -= 2
        if size % 2:
            raise ValueError(f"patch {patch}: the compact net needs even pool inputs (try 30)")
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
        size //= 2
    if size < 1:
        raise ValueError(f"patch {patch} is too small for the compact net (needs >= 22)")
    # The head covers the whole remaining extent (global pooling would break exactness of
    # the fully-convolutional form at the borders; a full-extent kernel keeps it exact).
    x = layers.Conv2D(
        4 * width, size, use_bias=False, kernel_initializer=_init(seed, 9), name="head_conv"
    )(x)
    x = layers.BatchNormalization(momentum=0.9, name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.Flatten(name="flatten")(x)
    if dropout:
        x = layers.Dropout(dropout, seed=None if seed is None else seed + 7, name="drop")(x)
    out = layers.Dense(
        2, activation="softmax", kernel_initializer=_init(seed, 10), dtype="float32", name="output"
    )(x)
    return keras.Model(inp, out, name="compact")


def build_model(
    name: str = "report",
    patch: int = PATCH,
    seed: int | None = None,
    *,
    dropout: float | None = None,
    width: int | None = None,
) -> keras.Model:
    """Return an uncompiled patch classifier ``(batch, patch, patch, 3) 0–255 → (batch, 2)``.

    ``dropout`` defaults to 0.2 for "report" and 0 for "compact"; ``width`` (compact only)
    is the first block's channel count (default 32; 8 makes a tiny test model).
    """
    if name == "report":
        if width is not None:
            raise ValueError("width applies to the 'compact' net only; 'report' is fixed")
        return _report(patch, seed, 0.2 if dropout is None else dropout)
    if name == "compact":
        return _compact(patch, seed, 0.0 if dropout is None else dropout, width or 32)
    raise ValueError(f"unknown model name {name!r}; valid names: {', '.join(MODEL_NAMES)}")


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


def blur_probability(output: Any) -> np.ndarray:
    """Return P(blurred) as float32 from model output: ``[..., 1]`` of a 2-way softmax,
    ``[..., 0]`` of a 1-unit sigmoid."""
    out = np.asarray(output, dtype=np.float32)
    return np.ascontiguousarray(out[..., 1] if out.shape[-1] == 2 else out[..., 0])


# --------------------------------------------------------------------------------------------
# counting
# --------------------------------------------------------------------------------------------


def count_params(model: keras.Model) -> int:
    """Return the total number of parameters (trainable and not, e.g. batch-norm stats)."""
    return int(model.count_params())


def _walk(model: keras.Model) -> list[Any]:
    """The model's layers in order, nested models expanded, input layers dropped."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(_walk(layer))
        elif type(layer).__name__ != "InputLayer":
            out.append(layer)
    return out


def _is_chain(model: keras.Model) -> bool:
    """True when each layer feeds only the next one (a plain sequential stack)."""
    import keras

    if not isinstance(model, keras.Sequential):
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            return False
        prev = None
        for layer in model.layers:
            if prev is not None:
                try:
                    src = layer.input
                except (AttributeError, ValueError):
                    return False
                hist = getattr(src, "_keras_history", None)
                if hist is None or hist[0] is not prev:
                    return False
            prev = layer
        if model.outputs[0]._keras_history[0] is not prev:
            return False
    return all(_is_chain(la) for la in model.layers if isinstance(la, keras.Model))


def _layer_flops(layer: Any, in_shape: tuple, out_shape: tuple) -> int:
    kind = type(layer).__name__
    if kind in ("Conv2D", "Conv1D", "Conv3D"):
        kernel = int(np.prod(layer.kernel_size))
        cin = int(in_shape[-1]) // int(getattr(layer, "groups", 1) or 1)
        return 2 * int(np.prod(out_shape[1:])) * kernel * cin
    if kind == "DepthwiseConv2D":
        return 2 * int(np.prod(out_shape[1:])) * int(np.prod(layer.kernel_size))
    if kind == "Dense":
        return 2 * int(np.prod(out_shape[1:])) * int(in_shape[-1])
    return 0


def count_flops(model: keras.Model, input_shape: tuple[int, int] | None = None) -> int:
    """Return forward FLOPs for one input (2 per multiply-add of Conv/Dense layers; biases,
    activations, pooling and batch norm not counted). ``input_shape`` = (H, W) for a
    fully-convolutional model; default: the model's own input shape (one patch)."""
    shape = tuple(model.inputs[0].shape)
    if input_shape is not None:
        shape = (1, int(input_shape[0]), int(input_shape[1]), *shape[3:])
    shape = (1, *shape[1:])
    if any(d is None for d in shape):
        raise ValueError("the model's input size is not fixed: pass input_shape=(H, W)")
    total = 0
    for layer in _walk(model):
        out = tuple(layer.compute_output_shape(shape))
        total += _layer_flops(layer, shape, out)
        shape = out
    return int(total)


def summary_line(model: keras.Model) -> str:
    """Return e.g. ``'report: 4,826,242 parameters, 103.3 MFLOP per 30×30 patch'``."""
    shape = tuple(model.inputs[0].shape)
    return (
        f"{model.name}: {count_params(model):,} parameters, "
        f"{count_flops(model) / 1e6:.1f} MFLOP per {shape[1]}×{shape[2]} patch"
    )


# --------------------------------------------------------------------------------------------
# saving and loading
# --------------------------------------------------------------------------------------------


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Write ``model`` to ``path`` (.keras native or legacy .h5) atomically; return the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: model files must end in .keras or .h5 (got {suffix!r})")
    with atomic_path(path) as tmp:
        if suffix == ".keras":
            model.save(tmp)
        else:
            import warnings

            import keras

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                keras.saving.save_model(model, tmp)  # legacy HDF5 ("motionblur.h5")
    return path


def _looks_like(path: Path) -> str:
    """'keras', 'h5' or '' from the file's first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "keras"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "h5"
    return ""


def check_model(model: keras.Model, path: str | os.PathLike | None = None) -> keras.Model:
    """Return ``model`` if it maps (batch, 30, 30, 3) to (batch, 2) (or (batch, 1)
    sigmoid); raise ModelFileError otherwise."""
    where = f"{path}: " if path is not None else ""
    try:
        in_shape = tuple(model.inputs[0].shape)
        out_shape = tuple(model.outputs[0].shape)
        n_in, n_out = len(model.inputs), len(model.outputs)
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}not a blurlib patch classifier ({exc}); {_FIX}") from exc
    if (
        n_in != 1
        or n_out != 1
        or in_shape[1:] != (PATCH, PATCH, 3)
        or out_shape[1:]
        not in (
            (2,),
            (1,),
        )
    ):
        raise ModelFileError(
            f"{where}not a blurlib patch classifier: it maps {in_shape} to {out_shape}, "
            f"expected (None, {PATCH}, {PATCH}, 3) to (None, 2); {_FIX}"
        )
    return model


def load_model(path: str | os.PathLike | None = None, *, compile: bool = False) -> keras.Model:
    """Return the model stored at ``path`` (.keras or .h5); ``None`` loads the shipped
    default ``models/default.keras``. Raises ModelFileError for missing/corrupt/foreign files."""
    if path is None:
        path = DEFAULT_MODEL_PATH
        if not path.is_file():
            raise ModelFileError(
                f"{path}: the shipped default model does not exist yet; train one with "
                "`python -m blurlib train` (it is saved there) or pass --model PATH"
            )
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found; {_FIX}")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not a model file; {_FIX}")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelFileError(f"{path}: model files end in .keras or .h5; {_FIX}")
    kind = _looks_like(path)
    want = "keras" if suffix == ".keras" else "h5"
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: the file is empty; {_FIX}")
    if kind != want:
        raise ModelFileError(
            f"{path}: not a {suffix} model file (its contents are not a Keras "
            f"{'zip archive' if want == 'keras' else 'HDF5 file'}); {_FIX}"
        )
    if want == "keras" and not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: the .keras archive is truncated or corrupt; {_FIX}")
    import warnings

    import keras

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # keras raises many kinds for broken files
        msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: cannot load the model ({msg}); {_FIX}") from exc
    return check_model(model, path)


# --------------------------------------------------------------------------------------------
# fully-convolutional conversion
# --------------------------------------------------------------------------------------------


def native_stride(model: keras.Model) -> int:
    """Return the product of the strides of the model's convolutions and pools: the window
    stride of its fully-convolutional form."""
    stride = 1
    for layer in _walk(model):
        kind = type(layer).__name__
        if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D"):
            s = layer.strides
        elif kind == "AveragePooling2D":
            s = layer.strides
        else:
            continue
        if s[0] != s[1]:
            raise ValueError(f"layer {layer.name}: unequal strides {s} are not supported")
        stride *= int(s[0])
    return stride


def _is_plain_relu(layer: Any) -> bool:
    """True for ReLU() / Activation("relu") without slope, cap or threshold."""
    cfg = layer.get_config()
    if type(layer).__name__ == "Activation":
        return cfg["activation"] == "relu"
    if type(layer).__name__ == "ReLU":
        return (
            cfg.get("max_value") is None
            and not cfg.get("negative_slope")
            and not cfg.get("threshold")
        )
    return False


def _weights(layer: Any) -> list[np.ndarray]:
    return [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]


def _bn_affine(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """Scale and shift (float64) of an inference-mode BatchNormalization layer."""
    cfg = layer.get_config()
    ws = layer.get_weights()
    i = 0
    gamma = beta = None
    if cfg.get("scale", True):
        gamma = np.asarray(ws[i], np.float64)
        i += 1
    if cfg.get("center", True):
        beta = np.asarray(ws[i], np.float64)
        i += 1
    mean, var = np.asarray(ws[i], np.float64), np.asarray(ws[i + 1], np.float64)
    scale = 1.0 / np.sqrt(var + float(cfg["epsilon"]))
    if gamma is not None:
        scale = scale * gamma
    shift = -mean * scale + (beta if beta is not None else 0.0)
    return scale, shift


def to_fully_convolutional(model: keras.Model) -> keras.Model:
    """Return a float32 network with the same weights that maps (batch, H, W, C) of any
    H, W >= the patch size to (batch, rows, cols, n_out): entry (r, c) is the classifier's
    output for the window with top-left corner (s*r, s*c), s = :func:`native_stride`.

    Convolutions and pools are kept (they must be valid-padded), Flatten + Dense becomes a
    valid convolution with the dense kernel reshaped in Flatten's channels-last order, later
    Dense layers become 1×1 convolutions (softmax over the channel axis), global pools become
    full-extent pools, Dropout/noise/random-augmentation layers are dropped, and batch norm
    (inference statistics) is folded into the preceding convolution when that one has no
    activation, else kept as a layer.
    """
    import keras
    from keras import layers

    if not _is_chain(model):
        raise ValueError(f"model {model.name!r} is not a plain layer stack; cannot convert")
    in_shape = tuple(model.inputs[0].shape)
    if len(in_shape) != 4:
        raise ValueError(f"model {model.name!r} does not take images (input {in_shape})")

    # 1. a list of (kind, config, weights) in float64, with BN folded where possible
    ops: list[list[Any]] = []
    shape = (1, *in_shape[1:])
    flat = False  # whether the patch model's tensor is already flattened to (batch, features)
    pending_flatten: tuple | None = None
    for layer in _walk(model):
        kind = type(layer).__name__
        out_shape = tuple(layer.compute_output_shape(shape))
        cfg = layer.get_config()
        if cfg.get("data_format", "channels_last") == "channels_first":
            raise ValueError(f"layer {layer.name}: channels_first is not supported")
        if kind in _INFERENCE_IDENTITY:
            pass
        elif kind == "Flatten":
            if flat:
                pass
            else:
                pending_flatten = tuple(shape[1:])
                flat = True
        elif kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
            if not flat:
                pool = "avg" if "Average" in kind else "max"
                ops.append(["gpool", {"pool": pool, "size": tuple(shape[1:3])}, []])
                flat = not cfg.get("keepdims", False)
        elif kind == "Dense":
            w = _weights(layer)
            kernel, bias = w[0], (w[1] if len(w) > 1 else np.zeros(w[0].shape[1]))
            if pending_flatten is not None:
                kernel = kernel.reshape(*pending_flatten, kernel.shape[1])
                pending_flatten = None
            else:
                kernel = kernel.reshape(1, 1, *kernel.shape)
            ops.append(["conv", {"strides": 1, "activation": cfg["activation"]}, [kernel, bias]])
        elif kind == "Conv2D":
            if pending_flatten is not None or flat:
                raise ValueError(f"layer {layer.name}: Conv2D after Flatten is not supported")
            ks = tuple(layer.kernel_size)
            if cfg["padding"] != "valid" and ks != (1, 1):
                raise ValueError(f"layer {layer.name}: only valid padding converts exactly")
            if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1) or cfg.get("groups", 1) != 1:
                raise ValueError(f"layer {layer.name}: dilated/grouped convs are not supported")
            w = _weights(layer)
            bias = w[1] if len(w) > 1 else np.zeros(w[0].shape[-1])
            ops.append(
                [
                    "conv",
                    {"strides": tuple(cfg["strides"]), "activation": cfg["activation"]},
                    [w[0], bias],
                ]
            )
        elif kind == "BatchNormalization":
            axis = cfg["axis"]
            axis = axis[0] if isinstance(axis, (list, tuple)) else axis
            if axis not in (-1, len(shape) - 1):
                raise ValueError(f"layer {layer.name}: batch norm must act on the last axis")
            scale, shift = _bn_affine(layer)
            if pending_flatten is not None:
                raise ValueError(f"layer {layer.name}: batch norm between Flatten and Dense")
            if ops and ops[-1][0] == "conv" and ops[-1][1]["activation"] == "linear":
                kernel, bias = ops[-1][2]
                ops[-1][2] = [kernel * scale, bias * scale + shift]
            else:
                ops.append(["affine", {}, [scale, shift]])
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            if cfg["padding"] != "valid":
                raise ValueError(f"layer {layer.name}: only valid pooling converts exactly")
            ops.append(
                [
                    "pool",
                    {
                        "pool": "max" if kind.startswith("Max") else "avg",
                        "size": tuple(cfg["pool_size"]),
                        "strides": tuple(cfg["strides"]),
                    },
                    [],
                ]
            )
        elif kind in ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Rescaling"):
            if kind == "Softmax" and cfg.get("axis", -1) not in (-1, [-1]):
                raise ValueError(f"layer {layer.name}: softmax must act on the last axis")
            if (
                _is_plain_relu(layer)
                and ops
                and ops[-1][0] == "conv"
                and (ops[-1][1]["activation"] == "linear")
            ):
                ops[-1][1]["activation"] = "relu"  # fuse into the convolution
            else:
                ops.append(["clone", layer, []])  # elementwise or channel-wise: order-free
        elif kind == "Normalization":
            ops.append(["clone", layer, layer.get_weights()])
        else:
            raise ValueError(f"layer {layer.name} ({kind}) cannot be converted")
        shape = out_shape
    if pending_flatten is not None:
        raise ValueError("the model ends with Flatten; nothing to convert it into")

    # 2. fold a scalar Rescaling into the convolution that follows it (saves a full-size pass)
    folded: list[list[Any]] = []
    for op in ops:
        prev = folded[-1] if folded else None
        if (
            op[0] == "conv"
            and prev is not None
            and prev[0] == "clone"
            and type(prev[1]).__name__ == "Rescaling"
            and np.ndim(prev[1].get_config()["scale"]) == 0
            and np.ndim(prev[1].get_config().get("offset", 0.0)) == 0
        ):
            rcfg = prev[1].get_config()
            a, b = float(rcfg["scale"]), float(rcfg.get("offset", 0.0))
            kernel, bias = op[2]
            op[2] = [kernel * a, bias + b * kernel.sum(axis=(0, 1, 2))]
            folded[-1] = op
        else:
            folded.append(op)
    ops = folded

    # 3. build the float32 network
    x = inp = keras.Input(shape=(None, None, in_shape[-1]), name="image")
    n_conv = 0
    for kind, cfg, w in ops:
        if kind == "conv":
            n_conv += 1
            kernel, bias = w
            act = cfg["activation"]
            conv = layers.Conv2D(
                kernel.shape[-1],
                kernel.shape[:2],
                strides=cfg["strides"],
                padding="valid",
                activation=act,
                dtype="float32",
                name=f"fcn_conv{n_conv}",
            )
            x = conv(x)
            conv.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
        elif kind == "pool":
            cls = layers.MaxPooling2D if cfg["pool"] == "max" else layers.AveragePooling2D
            x = cls(cfg["size"], strides=cfg["strides"], padding="valid", dtype="float32")(x)
        elif kind == "gpool":
            cls = layers.MaxPooling2D if cfg["pool"] == "max" else layers.AveragePooling2D
            x = cls(cfg["size"], strides=1, padding="valid", dtype="float32")(x)
        elif kind == "affine":
            scale, shift = w
            dw = layers.Conv2D(
                len(scale), 1, dtype="float32", name=f"fcn_affine{len(x.shape)}_{n_conv}"
            )
            # a diagonal 1×1 convolution applies a per-channel affine exactly
            x = dw(x)
            dw.set_weights([np.diag(scale)[None, None].astype(np.float32), shift.astype("f4")])
        elif kind == "clone":
            layer = cfg
            conf = dict(layer.get_config())
            conf["dtype"] = "float32"
            conf.pop("name", None)
            new = type(layer).from_config(conf)
            x = new(x)
            if w:
                new.set_weights(w)
    fcn = keras.Model(inp, x, name=f"{model.name}_fcn")
    return fcn
