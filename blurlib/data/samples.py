"""The bundled sample photos: photographs that ship inside the scikit-image wheel.

They are read straight from the installed package (found without importing scikit-image),
never downloaded: :data:`SAMPLE_PHOTOS` are the sharp photos used for training and the
course notebooks, :data:`REAL_BLUR_PHOTOS` the real motion-blurred ones kept for testing.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from blurlib.data.images import PhotoRef, load_image
from blurlib.errors import DatasetError

__all__ = [
    "REAL_BLUR_PHOTOS",
    "SAMPLE_PHOTOS",
    "SamplePhoto",
    "real_blur_samples",
    "sample_images",
    "sample_photos_markdown",
]


@dataclass(frozen=True)
class SamplePhoto:
    """A photo shipped in the scikit-image wheel, with its provenance."""

    name: str
    file: str
    description: str
    licence: str


#: Photographs from the scikit-image wheel used as sharp training photos, in a fixed order.
#: Licences and sources as stated in the ``skimage.data`` docstrings.
#:
#: Left out on purpose: ``clock_motion.png`` (real motion blur — see
#: :func:`real_blur_samples`), drawings and synthetic images (``horse``, ``logo``,
#: ``color``, ``phantom``, ``chessboard_*``), scans and text (``page``, ``text``),
#: microscopy and medical images (``ihc``, ``cell``, ``retina``, ``microaneurysms``),
#: ``hubble_deep_field`` (almost all black sky), ``moon`` (very low contrast, no licence
#: stated) and ``motorcycle_right`` (nearly the same picture as ``motorcycle_left``).
SAMPLE_PHOTOS: tuple[SamplePhoto, ...] = (
    SamplePhoto(
        "astronaut",
        "astronaut.png",
        "Portrait of astronaut Eileen Collins (NASA), colour, 512×512",
        "Public domain (NASA Great Images, https://flic.kr/p/r9qvLn)",
    ),
    SamplePhoto(
        "brick",
        "brick.png",
        "Section of a brick wall, grayscale texture, 512×512",
        "CC0 (CC0Textures 'Bricks25'; perspective-corrected and rescaled by scikit-image)",
    ),
    SamplePhoto(
        "camera",
        "camera.png",
        "Man with a camera on a tripod in a field, grayscale, 512×512",
        "CC0, photographer Lav Varshney",
    ),
    SamplePhoto(
        "chelsea",
        "chelsea.png",
        "Chelsea the cat, colour, 451×300",
        "CC0, photographer Stefan van der Walt",
    ),
    SamplePhoto(
        "coffee",
        "coffee.png",
        "Cup of coffee on a wooden table (Pikolo Espresso Bar), colour, 600×400",
        "CC0, photographer Rachel Michetti",
    ),
    SamplePhoto(
        "coins",
        "coins.png",
        "Greek coins from Pompeii, grayscale, 384×303",
        "No known copyright restrictions (Brooklyn Museum collection)",
    ),
    SamplePhoto(
        "grass",
        "grass.png",
        "Grass, grayscale texture, 512×512",
        "CC0 (DeviantArt 'Grass-01' by linolafett; cropped, grayscale)",
    ),
    SamplePhoto(
        "gravel",
        "gravel.png",
        "Gravel, grayscale texture, 512×512",
        "CC0 (CC0Textures 'Gravel04'; rescaled, cropped, grayscale)",
    ),
    SamplePhoto(
        "motorcycle",
        "motorcycle_left.png",
        "Red motorcycle in a workshop (left view of a stereo pair), colour, 741×500",
        "Middlebury 2014 stereo dataset (Scharstein et al., GCPR 2014); no licence stated "
        "in scikit-image — cite the paper",
    ),
    SamplePhoto(
        "rocket",
        "rocket.jpg",
        "Falcon 9 with DSCOVR on the launch pad at dusk (SpaceX), colour, 640×427",
        "Public domain (SpaceX photos)",
    ),
)

#: Real motion-blurred photos in the scikit-image wheel (never used as sharp photos).
REAL_BLUR_PHOTOS: tuple[SamplePhoto, ...] = (
    SamplePhoto(
        "clock",
        "clock_motion.png",
        "Wall clock photographed while the camera moved horizontally, grayscale, 400×300",
        "Public domain, photographer Stefan van der Walt",
    ),
)


def _skimage_data_dir() -> Path:
    """The ``skimage/data`` folder of the installed scikit-image, found without importing it."""
    spec = find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the bundled sample photos come with scikit-image, which is not installed — "
            "pip install scikit-image"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _load_bundled(photos: tuple[SamplePhoto, ...]) -> list[tuple[str, np.ndarray]]:
    data_dir = _skimage_data_dir()
    out = []
    for photo in photos:
        path = data_dir / photo.file
        if not path.is_file():
            raise DatasetError(
                f"scikit-image's bundled photo {path} is missing — reinstall it: "
                "pip install --force-reinstall scikit-image"
            )
        out.append((photo.name, load_image(path)))
    return out


def sample_images() -> list[tuple[str, np.ndarray]]:
    """The bundled sharp sample photos as (name, RGB uint8 image), in SAMPLE_PHOTOS order."""
    return _load_bundled(SAMPLE_PHOTOS)


def real_blur_samples() -> list[tuple[str, np.ndarray]]:
    """Real motion-blurred bundled photos as (name, RGB uint8 image): ("clock", ...)."""
    return _load_bundled(REAL_BLUR_PHOTOS)


def sample_photos_markdown() -> str:
    """A markdown table (name, file, what it is, licence) of SAMPLE_PHOTOS, for the README."""
    lines = ["| name | file | what it is (width×height) | licence / source |", "|---|---|---|---|"]
    lines += [f"| `{p.name}` | `{p.file}` | {p.description} | {p.licence} |" for p in SAMPLE_PHOTOS]
    return "\n".join(lines)


def _sample_subset(source: str) -> list[PhotoRef]:
    """``"sample:camera,coins"`` → those bundled photos, in the order named."""
    wanted = [n.strip() for n in source[len("sample:") :].split(",") if n.strip()]
    by_name = {s.name: s for s in SAMPLE_PHOTOS}
    unknown = [n for n in wanted if n not in by_name]
    if not wanted or unknown:
        what = f"unknown sample photo(s) {', '.join(unknown)}" if unknown else "no names"
        raise DatasetError(
            f"{what} in source {source!r}; the bundled photos are: {', '.join(by_name)}"
        )
    if len(set(wanted)) != len(wanted):
        raise DatasetError(f"source {source!r} names a sample photo twice")
    data_dir = _skimage_data_dir()
    return [PhotoRef(n, data_dir / by_name[n].file) for n in wanted]
