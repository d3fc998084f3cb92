"""Dataset generation speed: blurlib.dataset.generate vs. a plain per-patch loop.

Makes 100 VOC-sized (500×375) JPEG photos from the bundled samples, then generates the
report's dataset from them twice in the same run — once with ``blurlib.dataset.generate``
and once with a per-patch Python loop of the same recipe (the original code's shape:
blur, walk the 2-D list of patches, copy each chosen patch, save) — and prints photos/s
for each and the ratio. Both include reading the photos and writing JPEGs.

    python benchmarks/bench_data.py [--photos 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from blurlib.data import dataset
from blurlib.data.convolve import apply_kernel
from blurlib.data.images import load_image
from blurlib.data.kernels import report_kernel
from blurlib.data.photos import folder_images
from blurlib.data.samples import sample_images


def make_photos(folder: Path, count: int) -> None:
    """Write ``count`` 500×375 JPEGs cut from the bundled photos."""
    folder.mkdir(parents=True)
    samples = [img for _, img in sample_images()]
    for i in range(count):
        img = samples[i % len(samples)]
        img = cv2.resize(img, (500, 375), interpolation=cv2.INTER_AREA)
        if i >= len(samples):  # vary content a little
            img = np.roll(img, shift=(7 * i) % 375, axis=0)
        cv2.imwrite(str(folder / f"{i:04d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def loop_generate(photos: Path, out: Path, seed: int) -> None:
    """The same recipe with a Python loop over patches (the baseline)."""
    out.mkdir()
    (out / "sharp").mkdir()
    rng = np.random.default_rng(seed)
    kernel = report_kernel()
    labels = []
    for n, path in enumerate(folder_images(photos)):
        image = load_image(path)
        blurred = apply_kernel(image, kernel)
        rows, cols = image.shape[0] // 30, image.shape[1] // 30
        composite = image[: rows * 30, : cols * 30].copy()
        matrix = [[0] * cols for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                if rng.random() < 0.5:
                    matrix[i][j] = 1
                    sl = (slice(i * 30, (i + 1) * 30), slice(j * 30, (j + 1) * 30))
                    composite[sl] = blurred[sl]
        labels.append(matrix)
        cv2.imwrite(str(out / f"{n}.jpg"), cv2.cvtColor(composite, cv2.COLOR_RGB2BGR))
        sharp = cv2.cvtColor(image[: rows * 30, : cols * 30], cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(out / "sharp" / f"{n}.jpg"), sharp)
    np.savez(out / "labels.npz", *[np.array(m, np.uint8) for m in labels])


def main() -> None:
    """Run both generators side by side and print photos/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-data-"))
    try:
        photos = root / "photos"
        make_photos(photos, args.photos)
        best = {"blurlib": float("inf"), "per-patch loop": float("inf")}
        for r in range(args.repeat):  # interleave the two so machine noise hits both
            out = root / f"lib{r}"
            t0 = time.perf_counter()
            dataset.generate(out, source=str(photos), seed=r, kernel="report", progress=False)
            best["blurlib"] = min(best["blurlib"], time.perf_counter() - t0)
            out = root / f"loop{r}"
            t0 = time.perf_counter()
            loop_generate(photos, out, seed=r)
            best["per-patch loop"] = min(best["per-patch loop"], time.perf_counter() - t0)
        print(f"{args.photos} photos of 500×375, report kernel, JPEG out, {os.cpu_count()} cores")
        print(f"{'implementation':<16} {'best s':>8} {'photos/s':>9}")
        for name, sec in best.items():
            print(f"{name:<16} {sec:>8.3f} {args.photos / sec:>9.1f}")
        print(f"ratio blurlib / loop: {best['per-patch loop'] / best['blurlib']:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
