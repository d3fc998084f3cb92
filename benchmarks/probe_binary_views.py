"""Probe (stop 34): do test-time views help the binary motion-blur detector?

Not a speed benchmark: ``python -m blurlib evaluate ...`` run as is, with the binary model's
patch grid read in ``--views`` rotated and mirrored copies of each photo
(:mod:`blurlib.inference.views`: the photo cropped to whole 30×30 patches, turned,
``patch_probabilities``, the grid turned back) and P(blurred) averaged. Every argument after
``--views N`` goes to ``evaluate`` unchanged. It was judged on the five validation photos
(``models/README.md``, "Test-time views, tried"); the library's binary path has no views.
Binary models only: a blur-analysis model is scored through ``patch_analysis``, whose own
``views`` is ``evaluate --kinds --views``; this probe refuses one.

    python benchmarks/probe_binary_views.py --views 4 --train-photos models/photos_robust.txt \\
        --test-photos models/analysis/validation_photos.txt:all --max-side 1024 --robustness \\
        --real-blur models/photos_real_motion.txt --out runs/binary_views4
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from blurlib import PATCH
from blurlib.inference import views as iv


def viewed_patch_probabilities(plain, views: int):
    """``patch_probabilities`` averaged over ``views`` (same signature as ``plain``)."""

    def probabilities(model, image, patch: int = PATCH, *args, **kw):
        from blurlib.inference.windows import as_image

        img = iv.crop_to_windows(as_image(image, patch), patch, patch)
        grids = [
            iv.from_view(np.asarray(plain(model, iv.to_view(img, v), patch, *args, **kw)), v)
            for v in iv.view_specs(views)
        ]
        return np.mean(grids, axis=0, dtype=np.float64).astype(np.float32)

    return probabilities


def main(argv: list[str] | None = None) -> int:
    """Parse ``--views``, install the viewed predictor, run ``evaluate`` with the rest."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--views", type=int, choices=iv.VIEW_COUNTS, default=4)
    args, rest = ap.parse_known_args(argv)
    import blurlib.inference.windows as windows

    if "--kinds" in rest:
        ap.error("binary models only: for --kinds use `python -m blurlib evaluate --kinds --views`")
    model = rest[rest.index("--model") + 1] if "--model" in rest[:-1] else None
    if model is not None:
        from blurlib.nets.analysis import is_analysis_model
        from blurlib.nets.files import load_model

        if is_analysis_model(load_model(model)):
            ap.error(f"{model} is a blur-analysis model: use `evaluate --kinds --views` for it")

    if args.views > 1:  # evaluate imports patch_probabilities from this module when it runs
        windows.patch_probabilities = viewed_patch_probabilities(
            windows.patch_probabilities, args.views
        )
    from blurlib.cli import main as cli

    return cli(["evaluate", *rest])


if __name__ == "__main__":
    sys.exit(main())
