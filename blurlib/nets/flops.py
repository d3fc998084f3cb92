"""Counting a patch classifier: parameters, forward FLOPs (for one patch or, for a
fully-convolutional network, one photo size) and the one-line summary, walking the
model's layers in order.

Backend-neutral Keras 3: runs with ``KERAS_BACKEND`` = tensorflow, jax or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import keras


def count_params(model: keras.Model) -> int:
    """Return the total number of parameters (trainable and not, e.g. batch-norm stats)."""
    return int(model.count_params())


def walk_layers(model: keras.Model) -> list[Any]:
    """Return the model's layers in order, nested models expanded, input layers dropped."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(walk_layers(layer))
        elif type(layer).__name__ != "InputLayer":
            out.append(layer)
    return out


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
    for layer in walk_layers(model):
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
