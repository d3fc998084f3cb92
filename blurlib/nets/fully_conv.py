"""The fully-convolutional form of a patch classifier: one network that classifies every
30×30 window of a photo in a single pass.

All convolutions of the blurlib nets are valid and every downsampling is a pool, so
:func:`to_fully_convolutional` turns either net into an exact dense-map network whose
outputs are the windows at stride :func:`native_stride` (4 for both nets);
:func:`strided_head` makes a copy that computes every k-th of those windows only, its head
doing 1/k² of the work.

Backend-neutral Keras 3: runs with ``KERAS_BACKEND`` = tensorflow, jax or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from blurlib.nets.flops import walk_layers

if TYPE_CHECKING:  # pragma: no cover
    import keras


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


def native_stride(model: keras.Model) -> int:
    """Return the product of the strides of the model's convolutions and pools: the window
    stride of its fully-convolutional form."""
    stride = 1
    for layer in walk_layers(model):
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
    for layer in walk_layers(model):
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


# Layers that act on each position alone (no spatial extent): after the strided layer of
# :func:`strided_head` they see its subsampled grid and compute the same numbers there.
_POINTWISE = {"Activation", "ReLU", "Softmax", "LeakyReLU", "ELU", "PReLU", "Rescaling"}


def strided_head(fcn: keras.Model, k: int) -> keras.Model | None:
    """Return a copy of the fully-convolutional network ``fcn`` (same weights, same dtype
    policy) that computes only every ``k``-th window of each row and column: output
    ``(i, j)`` is ``fcn``'s output ``(k*i, k*j)``, exactly.

    Its last layer with a spatial extent — a stride-1 convolution with a kernel larger than
    1×1 (the compact net's 4×4 head, the report net's Dense(1024) as a 4×4 convolution) —
    gets stride ``k``; every layer after it must act on each position alone (1×1
    convolutions, activations), so it sees the subsampled grid and computes the same
    numbers there. That layer and the ones after it then do 1/k² of their work; the layers
    before it are unchanged. None when ``fcn`` does not end that way (e.g. a pool as the
    last spatial layer) or ``k`` < 2."""
    import keras

    if k < 2 or not _is_chain(fcn):
        return None
    target = None
    for layer in reversed(fcn.layers[1:]):
        kind = type(layer).__name__
        if kind == "Conv2D" and tuple(layer.kernel_size) == (1, 1):
            if tuple(layer.strides) != (1, 1):
                return None
            continue
        if kind in _POINTWISE:
            continue
        if (
            kind == "Conv2D"
            and tuple(layer.strides) == (1, 1)
            and tuple(layer.dilation_rate) == (1, 1)
            and layer.padding == "valid"
        ):
            target = layer.name
        break
    if target is None:
        return None

    def clone(layer: Any) -> Any:
        cfg = layer.get_config()
        if layer.name == target:
            cfg["strides"] = (k, k)
        return layer.__class__.from_config(cfg)

    net = keras.models.clone_model(fcn, clone_function=clone)
    net.set_weights(fcn.get_weights())
    return net
