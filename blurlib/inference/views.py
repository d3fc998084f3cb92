"""Test-time views: a patch classifier's answers averaged over rotated and mirrored copies
of the photo.

A net trained on motion blur at every angle should say the same thing about a photo turned by
90° or seen in a mirror, up to turning its answer back. It never does exactly; averaging the
answers of a few such *views* removes part of its error, at one network pass per view.

A view is ``(k, flip)``: the photo rotated counter-clockwise (as seen on screen) by ``k``×90°
(``np.rot90``), then, with ``flip``, mirrored left–right. A motion blur at angle θ (the
convention of :mod:`blurlib.data.kernels`: degrees in [0, 180), 0 = along x, counter-clockwise
on screen) appears in the view at ``θ + 90k``, mirrored to ``180 - (θ + 90k)``;
:func:`angle_from_view` turns a view's angle back.

:data:`VIEW_COUNTS` are the choices: 1 (the photo itself), 4 (itself, a quarter turn, the
mirror image and the mirrored quarter turn: every direction seen as itself, rotated 90° and
reflected) and 8 (all rotations and reflections of the square). Four was chosen on the
validation photos of the blur-analysis card (``models/analysis/README.md``, "Test-time
views"); eight added little there (0.1° of direction error) at twice the cost.

Windows keep their place under a view only when the window grid covers the photo exactly
(``30 + s·(n - 1)`` pixels a side at stride ``s``): :func:`crop_to_windows` trims the
remainder no window reads, so window ``(i, j)`` of a view is a window of the photo, turned.
A net that reads context around its window (``build_analysis(context=k)``, the neighbour net)
does read into that remainder: there, in every view, the windows within ``k`` px of the
bottom and right edges see the trimmed photo's mirrored border instead (raw heads move by
~1e-3; interior windows are exact).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from blurlib import PATCH

VIEW_COUNTS = (1, 4, 8)
View = tuple[int, bool]

_SPECS: dict[int, tuple[View, ...]] = {
    1: ((0, False),),
    4: ((0, False), (1, False), (0, True), (1, True)),
    8: tuple((k, f) for f in (False, True) for k in range(4)),
}


def check_views(views: int) -> int:
    """Return ``views`` if it is one of :data:`VIEW_COUNTS`, else raise ``ValueError``."""
    if isinstance(views, bool) or not isinstance(views, (int, np.integer)) or views not in _SPECS:
        raise ValueError(f"views must be one of {VIEW_COUNTS}, got {views!r}")
    return int(views)


def view_specs(views: int) -> tuple[View, ...]:
    """Return the ``(k, flip)`` views of a count in :data:`VIEW_COUNTS` (else ``ValueError``)."""
    return _SPECS[check_views(views)]


def to_view(a: np.ndarray, view: View, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Return ``a`` as seen in ``view``: rotated by ``k``×90° in the plane of ``axes``
    (rows, columns), then mirrored along the columns with ``flip``. Contiguous."""
    k, flip = view
    out = np.rot90(a, k, axes=axes)
    if flip:
        out = np.flip(out, axes[1])
    return np.ascontiguousarray(out)


def from_view(a: np.ndarray, view: View, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Undo :func:`to_view`: a grid computed on the view, put back in the photo's frame."""
    k, flip = view
    if flip:
        a = np.flip(a, axes[1])
    return np.ascontiguousarray(np.rot90(a, -k, axes=axes))


def angle_from_view(angle_deg: np.ndarray, view: View) -> np.ndarray:
    """Return the photo's angle (degrees, [0, 180)) of a direction seen at ``angle_deg`` in
    ``view`` (float32; NaN stays NaN)."""
    k, flip = view
    a = np.asarray(angle_deg, np.float64)
    if flip:
        a = 180.0 - a
    a = ((a - 90.0 * k) % 180.0).astype(np.float32)  # the cast may round up to 180
    return np.where(a >= 180.0, np.float32(0.0), a)


def crop_to_windows(image: np.ndarray, stride: int, patch: int = PATCH) -> np.ndarray:
    """Return ``image`` trimmed to the pixels its windows at ``stride`` cover (top-left
    kept): ``patch + stride·(n - 1)`` a side, so a view's window grid is the photo's, turned."""
    h, w = image.shape[:2]
    hh = patch + stride * ((h - patch) // stride)
    ww = patch + stride * ((w - patch) // stride)
    return image[:hh, :ww]


def mean_heads(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Combine decoded heads (``p_kind`` (..., 3), ``angle_deg``, ``length_px``), each already
    in the photo's frame: kind probabilities and lengths averaged, directions by the circular
    mean of the doubled angles (an undirected axis: 179° and 1° average to 0°). Every view
    weighs the same (the rule chosen on validation; a view that sees little motion still
    votes on its direction)."""
    from blurlib.data.kinds import angle_from_doubled, doubled_angle

    p = np.mean([d["p_kind"] for d in parts], axis=0, dtype=np.float64)
    cs = np.mean([doubled_angle(d["angle_deg"]) for d in parts], axis=0, dtype=np.float64)
    length = np.mean([d["length_px"] for d in parts], axis=0, dtype=np.float64)
    return {
        "p_kind": p.astype(np.float32),
        "angle_deg": angle_from_doubled(cs[..., 0], cs[..., 1]),
        "length_px": length.astype(np.float32),
    }


def viewed_heads(
    heads: Callable[[np.ndarray], dict[str, np.ndarray]],
    x: np.ndarray,
    views: int,
    axes: tuple[int, int] = (0, 1),
) -> dict[str, np.ndarray]:
    """Return ``heads(x)`` averaged over ``views`` (:func:`mean_heads`): ``heads`` maps an
    array (a photo, or a batch of patches with ``axes=(1, 2)``) to decoded heads on a grid
    that turns with it — the photo's window grid (crop it first, :func:`crop_to_windows`) or
    the batch axis (``axes=(1, 2)``: nothing to turn back)."""
    specs = view_specs(views)
    if tuple(axes) not in ((0, 1), (1, 2)):
        raise ValueError(f"axes must be (0, 1) (a photo) or (1, 2) (a batch), got {axes!r}")
    if len(specs) == 1:
        return heads(x)
    grid = tuple(axes) == (0, 1)
    parts = []
    for view in specs:
        d = heads(to_view(x, view, axes))
        if grid:  # a photo's window grid turns with the photo: turn it back
            d = {k: from_view(v, view) for k, v in d.items()}
        parts.append({**d, "angle_deg": angle_from_view(d["angle_deg"], view)})
    return mean_heads(parts)
