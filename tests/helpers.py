"""Synthetic test data shared by several test modules: photo-like images and a tiny dataset.

Plain functions, imported as ``from helpers import ...`` (pytest puts ``tests/`` on the path:
``pythonpath`` in pyproject.toml). Fixtures built on them live in ``conftest.py``. Every
maker is a pure function of its arguments: the same seed gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PATCH = 30


def blocky_photo(h: int, w: int, seed: int, block: int = 4, noise: float = 15.0) -> np.ndarray:
    """An H×W×3 uint8 image of random ``block``-px colour squares plus Gaussian noise:
    every 30-px patch is textured."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // block + 1, w // block + 1, 3)).astype(np.float32)
    img = np.kron(base, np.ones((block, block, 1), np.float32))[:h, :w]
    img = img + rng.normal(0, noise, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def smooth_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """An H×W×3 uint8 image: smooth shapes (upsampled 8-px noise) plus fine texture."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.uniform(0, 255, (h // 8 + 2, w // 8 + 2, 3)), (w, h))
    return np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)


def noise_texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """An H×W×3 uint8 image of Gaussian-smoothed noise: a busy, natural-ish texture."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 255, (h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 1.0) * 2 - 127, 0, 255).astype(np.uint8)


def box_blur_rows(image: np.ndarray, length: int) -> np.ndarray:
    """Horizontal box blur (edge-replicated) of an H×W×3 uint8 image."""
    pad = length // 2
    padded = np.pad(image.astype(np.float32), ((0, 0), (pad, pad), (0, 0)), mode="edge")
    csum = np.cumsum(np.pad(padded, ((0, 0), (1, 0), (0, 0))), axis=1)
    out = (csum[:, length:] - csum[:, :-length]) / length
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def perturb_bn(model, seed: int = 1) -> None:
    """Give every batch norm non-trivial statistics, so folding them is really tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            g, b, m, v = layer.get_weights()
            layer.set_weights(
                [
                    g * rng.uniform(0.5, 1.5, g.shape),
                    rng.normal(0, 0.1, b.shape),
                    rng.normal(0, 0.1, m.shape),
                    rng.uniform(0.5, 2, v.shape),
                ]
            )


def make_dataset_folder(
    root: Path, n_sources: int = 12, per_source: int = 2, size: int = 150, seed: int = 0
) -> Path:
    """Write a tiny dataset folder (PNG, the documented layout) and return it: sharp 2-px
    random textures, a random half of the patches horizontally box-blurred (9 px)."""
    rng = np.random.default_rng(seed)
    (root / "sharp").mkdir(parents=True)
    entries, labels = [], {}
    for i in range(n_sources * per_source):
        small = rng.integers(0, 256, (size // 2, size // 2, 3), dtype=np.uint8)
        sharp = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)  # 2-px texture
        sharp = (sharp // 2 + rng.integers(40, 100, 3).astype(np.uint8)).astype(np.uint8)
        blurred = box_blur_rows(sharp, 9)
        lab = (rng.random((size // PATCH, size // PATCH)) < 0.5).astype(np.uint8)
        mask = np.kron(lab, np.ones((PATCH, PATCH), np.uint8)).astype(bool)[:, :, None]
        _save_png(np.where(mask, blurred, sharp), root / f"{i}.png")
        _save_png(sharp, root / "sharp" / f"{i}.png")
        labels[str(i)] = lab
        entries.append(
            {
                "file": f"{i}.png",
                "sharp": f"sharp/{i}.png",
                "source": f"photo{i // per_source:02d}",
                "height": size,
                "width": size,
                "kernel": {"type": "box", "length": 9, "angle": 0},
            }
        )
    np.savez(root / "labels.npz", **labels)
    meta = {"format_version": 1, "patch": PATCH, "seed": seed, "kernel": "box", "fmt": "png"}
    (root / "metadata.json").write_text(json.dumps({**meta, "images": entries}))
    return root


def _save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(image).save(path)
