"""The neighbour net: blur analysis of a 30×30 patch that also reads its eight neighbours' own
features.

Each 30×30 cell goes through the compact trunk of :mod:`blurlib.nets.analysis` once; a 3×3
convolution over the grid of trunk features (the patch and the patches at ±30 px, the report's
own patch grid) takes the place of the plain net's shared Dense layer, and the three heads
(``kind``, ``direction``, ``length``) read its output. The context is the neighbours' trunk
features, which a patch-grid map computes anyway: no second trunk, so on the patch grid it
costs about what the plain net does.

* The **model** (:func:`build_neighbour_analysis`) takes a 90×90 window (the patch and one
  patch of context on each side, ``model_context`` = 30) and returns the heads of the centre
  patch, like every analysis net: ``{"kind": (batch, 3), "direction": (batch, 2), "length":
  (batch, 1)}``. Windows of :func:`blurlib.data.kinds.kind_patches` with ``context`` = 30 fit it.
* The **grid view** (:func:`grid_view`) runs the same layers on an (n + 2)·30-px crop and returns
  ``(batch, n, n, 6)`` raw heads for its inner n×n cells: training on whole crops
  (:func:`blurlib.data.kind_grids.kind_grids`) costs one trunk pass per cell, not nine.
* :func:`neighbour_parts` gives the pieces :mod:`blurlib.inference.neighbours` needs for maps:
  the trunk's dense form and the head's weights.

Two small layers, ``cells`` (a window → its 30×30 cells, as a batch) and ``grid`` (the cells'
features → their grid), are registered with Keras (:func:`register`) so saved models load.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from blurlib import PATCH

if TYPE_CHECKING:  # pragma: no cover
    import keras

CELLS = 3  # the model's window: the patch and its eight neighbours


@lru_cache(maxsize=1)
def register() -> tuple[type, type]:
    """Define and register (once) the two Keras layers of the neighbour net; returns them."""
    import keras
    from keras import ops

    class _OnCells(keras.layers.Layer):
        """A layer that knows the cell side ``patch`` (saved in its config)."""

        def __init__(self, patch: int = PATCH, **kw: Any) -> None:
            super().__init__(**kw)
            self.patch = patch

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "patch": self.patch}

    @keras.saving.register_keras_serializable(package="blurlib")
    class PatchCells(_OnCells):
        """(batch, r·P, c·P, C) → (batch·r·c, P, P, C): the cells, row by row."""

        def call(self, x: Any) -> Any:
            p, r, c, ch = self.patch, x.shape[1] // self.patch, x.shape[2] // self.patch, x.shape[3]
            x = ops.reshape(x[:, : r * p, : c * p], (-1, r, p, c, p, ch))
            return ops.reshape(ops.transpose(x, (0, 1, 3, 2, 4, 5)), (-1, p, p, ch))

        def compute_output_shape(self, shape: tuple) -> tuple:
            return (None, self.patch, self.patch, shape[3])

    @keras.saving.register_keras_serializable(package="blurlib")
    class CellGrid(_OnCells):
        """([batch·r·c, F], the window (batch, r·P, c·P, C)) → (batch, r, c, F)."""

        def call(self, inputs: Any) -> Any:
            feat, image = inputs
            r, c = image.shape[1] // self.patch, image.shape[2] // self.patch
            return ops.reshape(feat, (-1, r, c, feat.shape[-1]))

        def compute_output_shape(self, shapes: Any) -> tuple:
            feat, image = shapes
            return (None, image[1] // self.patch, image[2] // self.patch, feat[-1])

    return PatchCells, CellGrid


def build_neighbour_analysis(patch: int = PATCH, seed: int | None = None, *, width: int = 32):
    """Return the neighbour net: ``(batch, 3P, 3P, 3) 0–255 → {"kind": (batch, 3) softmax,
    "direction": (batch, 2) (cos 2θ, sin 2θ), "length": (batch, 1) px}`` of the centre patch."""
    import keras
    from keras import layers

    from blurlib.nets.analysis import head_layers
    from blurlib.nets.builders import compact_features, seeded_init

    cells_layer, grid_layer = register()
    inp = keras.Input(shape=(CELLS * patch, CELLS * patch, 3), name="image")
    x = cells_layer(patch, name="cells")(inp)
    x = compact_features(x, patch, seed, width, "analysis")
    x = grid_layer(patch, name="grid")([x, inp])
    x = layers.Conv2D(
        4 * width, 3, activation="relu", kernel_initializer=seeded_init(seed, 10), name="fc"
    )(x)
    x = layers.Reshape((4 * width,), name="centre")(x)
    return keras.Model(inp, head_layers(x, seed), name="analysis_neighbours")


def is_neighbour_model(model: Any) -> bool:
    """True for a net of :func:`build_neighbour_analysis` (it has the ``cells`` layer)."""
    try:
        model.get_layer("cells")
    except (AttributeError, ValueError):
        return False
    return True


def grid_view(model: keras.Model, cells: int, patch: int = PATCH) -> keras.Model:
    """Return a model sharing ``model``'s layers: ``(batch, cells·P, cells·P, 3)`` → ``(batch,
    cells - 2, cells - 2, 6)``: the kind probabilities, (cos 2θ, sin 2θ) and length of every
    inner cell, for :func:`blurlib.nets.analysis.analysis_loss`."""
    import keras

    from blurlib.nets.analysis import HEADS

    if cells < CELLS:
        raise ValueError(f"a crop needs at least {CELLS}×{CELLS} cells, got {cells}")
    inp = keras.Input(shape=(cells * patch, cells * patch, 3), name="crop")
    x, outs = inp, {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or layer.name == "centre":
            continue
        if layer.name == "grid":
            x = layer([x, inp])
        elif layer.name in HEADS:
            outs[layer.name] = layer(x)
        else:
            x = layer(x)
    cat = keras.layers.Concatenate(name="heads", dtype="float32")([outs[h] for h in HEADS])
    return keras.Model(inp, cat, name=f"{model.name}_grid")


def neighbour_parts(model: keras.Model, patch: int = PATCH) -> dict[str, Any]:
    """Return the exact pieces of a neighbour net for maps: ``trunk``, the dense form of the
    patch trunk ((batch, H, W, 3) → (batch, rows, cols, F) at ``stride``), and ``head``, float32
    ``(K (3, 3, F, H), b, W2 (H, 6), b2)``: the 3×3 layer over the cells' features (ReLU), then
    the three heads side by side."""
    from blurlib.nets.analysis import head_weights, trunk_chain
    from blurlib.nets.fully_conv import native_stride, to_fully_convolutional

    if not is_neighbour_model(model):
        raise ValueError(f"model {model.name!r} is not a neighbour net")
    trunk = trunk_chain(model, "", patch)
    return {
        "trunk": to_fully_convolutional(trunk),
        "stride": native_stride(trunk),
        "head": head_weights(model),  # fc: the 3×3 layer's kernel (3, 3, F, H)
    }
