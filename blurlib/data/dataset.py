"""The report's training data: partially motion-blurred photos with their label matrices.

Recipe (report §1.1): blur a whole copy of a photo with a motion kernel, cut both copies
into 30×30 patches, take each patch from the blurred copy with probability ``fraction``
(label 1) or from the sharp photo (label 0), and save the composite as ``n.jpg`` with its
matrix at ``labels[n]``.

A dataset folder holds::

    0.jpg … (n-1).jpg     the partially blurred composites (``.png`` with ``fmt="png"``)
    sharp/0.jpg …         the sharp photo, cropped to the same grid (same format)
    labels.npz            ``np.load(f)[str(n)]`` is the uint8 label matrix of ``n.jpg``
    metadata.json         one entry per image: file, sharp, source photo, size, kernel spec

The folder is built under a temporary name beside ``out`` and renamed into place at the
end, so an interrupted run leaves nothing half-made. The same arguments and seed give a
byte-identical folder.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from blurlib import PATCH, seeds
from blurlib.data.convolve import apply_kernel
from blurlib.data.degrade import (
    NONE,
    DegradeConfig,
    degrade_base,
    finish,
    get_degrade_config,
    isotropic_spread,
)
from blurlib.data.images import PhotoRef, load_image
from blurlib.data.kernels import (
    KERNEL_KINDS,
    check_length_range,
    kernel_from_spec,
    lengthen_to_spread,
    random_kernel,
    report_kernel,
)
from blurlib.data.patches import crop_to_grid, grid_shape
from blurlib.data.photos import load_ref, photo_refs, warn_skip
from blurlib.errors import DatasetError, ImageError
from blurlib.fileio import atomic_path, exclusive

__all__ = [
    "FORMATS",
    "FORMAT_VERSION",
    "DatasetImages",
    "Example",
    "generate",
    "load_dataset",
    "load_labels",
    "load_metadata",
    "open_dataset",
    "partially_blur",
]

FORMAT_VERSION = 1
MARKER = ".blurlib-dataset"  # written into every generated folder: --overwrite removes only these
_MARKER_TEXT = "made by `python -m blurlib generate`; --overwrite may replace this folder\n"
FORMATS = ("jpg", "png")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamp: same seed, same bytes


def partially_blur(
    image: np.ndarray,
    rng: np.random.Generator,
    kernel: np.ndarray | None = None,
    fraction: float = 0.5,
    patch: int = PATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(composite, labels)``: the photo with a random half of its patches blurred.

    The whole photo is blurred once (so blur near a patch border sees real neighbours,
    not a border rule), then the photo is cropped to whole patches from the top-left and
    each patch is taken from the blurred copy with probability ``fraction`` (label 1) or
    kept sharp (label 0). ``kernel`` defaults to the report's 15-px horizontal kernel.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    if kernel is None:
        kernel = report_kernel()
    blurred = crop_to_grid(apply_kernel(image, kernel), patch)
    sharp = crop_to_grid(image, patch)
    rows, cols = grid_shape(sharp.shape[0], sharp.shape[1], patch)
    labels = (rng.random((rows, cols)) < fraction).astype(np.uint8)
    # Paste through (rows, P, cols, P, C) views: no per-pixel mask is ever built.
    channels = sharp.shape[2] if sharp.ndim == 3 else 1
    composite = sharp.copy()
    view = (rows, patch, cols, patch, channels)
    np.copyto(
        composite.reshape(view),
        blurred.reshape(view),
        where=labels.astype(bool)[:, None, :, None, None],
    )
    return composite, labels


@dataclass
class Example:
    """One dataset image: composite, sharp photo, label matrix and where it came from."""

    index: int
    file: str
    image: np.ndarray
    sharp: np.ndarray | None
    labels: np.ndarray
    source: str
    kernel: dict[str, Any] = field(default_factory=dict)
    degrade: dict[str, Any] = field(default_factory=dict)  # the label-0 specs drawn, if any


def _encode(image: np.ndarray, fmt: str, jpeg_quality: int) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    if fmt == "jpg":
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
    else:
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 failure on a valid uint8 array
        raise DatasetError(f"could not encode an image as {fmt}")
    return buf.tobytes()


def _write_labels(path: Path, labels: Sequence[np.ndarray]) -> None:
    """Write ``labels.npz`` with a fixed zip timestamp, readable by ``np.load``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, lab in enumerate(labels):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(lab, dtype=np.uint8))
            info = zipfile.ZipInfo(f"{i}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def _resize_to_grid(image: np.ndarray, grid: tuple[int, int], patch: int) -> np.ndarray:
    rows, cols = grid
    size = (cols * patch, rows * patch)
    interp = cv2.INTER_AREA if image.shape[1] >= size[0] else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interp)


def _source_label(source: str | Sequence[str]) -> str:
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    return "+".join(str(s) if s in ("sample", "voc2010") else Path(s).name for s in items)


def _photo_order(count: int, rng: np.random.Generator) -> Iterator[int]:
    """Seeded order in which photos are used: round after round, each a fresh permutation of
    all photos, for as long as images are wanted (unreadable photos are replaced by the next
    ones, so ``n`` is honoured while one photo can be read)."""
    while True:
        yield from (int(i) for i in rng.permutation(count))


def generate(
    out: str | os.PathLike[str],
    source: str | Sequence[str] = "sample",
    n: int | None = None,
    seed: int = 0,
    kernel: str = "linear",
    fmt: str = "jpg",
    *,
    fraction: float = 0.5,
    patch: int = PATCH,
    grid: tuple[int, int] | None = None,
    length_range: tuple[float, float] = (7.0, 25.0),
    degrade: str | DegradeConfig = "none",
    voc_root: str | os.PathLike[str] | None = None,
    voc_split: str = "trainval",
    max_side: int | None = None,
    jpeg_quality: int = 95,
    overwrite: bool = False,
    progress: bool = True,
    on_skip: Callable[[str], None] | None = None,
) -> Path:
    """Write a dataset folder (see the module docstring) and return its path.

    ``source`` is ``"sample"`` (the bundled photos), ``"voc2010"`` (with ``voc_root``), a
    folder of images, a ``.txt`` list of photo paths, or a list of these. ``n`` images are
    made (default: one per photo); when ``n`` exceeds the number of photos, photos are
    reused with new blur. ``kernel`` is ``report`` (the
    report's fixed 15-px horizontal kernel), ``linear`` (length drawn from
    ``length_range``, any angle), ``shake`` (camera shake) or ``mixed`` (linear or shake).
    ``grid=(30, 30)`` resizes every photo to exactly that many patches (the report's
    30×30 list); by default each photo keeps its size, cropped to a multiple of ``patch``.
    ``max_side`` shrinks larger photos (area interpolation) so their longer side is at most
    that many pixels — wallpapers of 5000 px become photo-like 1280 px images.
    Photos are read, blurred and encoded on a small thread pool; the output does not depend
    on the number of threads.
    ``degrade`` (``"none"``, ``"realistic"`` or a :class:`~blurlib.data.degrade.DegradeConfig`)
    gives each photo label-0 degradations — lens softness, resampling, defocus (whole or a
    region), haze — before the motion blur is composited, and camera finishing (sensor noise,
    JPEG) after it; every draw is recorded in ``metadata.json``. With ``"none"`` the output
    is byte-identical to the report's recipe. The saved ``sharp/`` photo is the degraded photo
    before motion blur and finishing.
    Unreadable photos, and links that lead out of a scanned folder, are skipped and named to
    ``on_skip(message)`` (default None: a Python warning; the CLI prints them on stderr).
    """
    from tqdm.auto import tqdm

    if kernel not in KERNEL_KINDS:
        raise DatasetError(f"unknown kernel {kernel!r}; choose one of {', '.join(KERNEL_KINDS)}")
    if fmt not in FORMATS:
        raise DatasetError(f"unknown format {fmt!r}; choose jpg or png")
    if n is not None and n < 1:
        raise DatasetError(f"-n must be at least 1, got {n}")
    _check_numbers(seed, fraction, length_range)
    out = Path(out)
    if out.exists() and not overwrite:
        raise DatasetError(f"{out} already exists; choose another --out or delete it first")
    refs = photo_refs(source, voc_root=voc_root, voc_split=voc_split, on_skip=on_skip)
    tell_unreadable = on_skip or warn_skip
    if not refs:
        raise DatasetError(f"no photos found in source {source!r}")
    if out.exists():
        _check_replaceable(out, refs)
    n = len(refs) if n is None else int(n)
    try:
        degrade_config = (
            degrade if isinstance(degrade, DegradeConfig) else get_degrade_config(degrade)
        )
    except ValueError as exc:
        raise DatasetError(str(exc)) from None
    degrading = degrade_config != NONE

    lock = out.with_name(f".{out.name}.lock")
    with exclusive(lock, f"--out {out}"), atomic_path(out) as tmp:
        if out.exists() and not overwrite:  # made by another run since the check above
            raise DatasetError(f"{out} appeared while this run started; choose another --out")
        (tmp / "sharp").mkdir(parents=True)
        (tmp / MARKER).write_text(_MARKER_TEXT)
        order_rng = np.random.default_rng([seed, 0])
        order = _photo_order(len(refs), order_rng)
        labels_list: list[np.ndarray] = []
        workers = max(1, min(4, os.cpu_count() or 1))

        def load(ref: PhotoRef) -> np.ndarray:
            if grid is not None:
                photo = _resize_to_grid(ref.load(), grid, patch)
            else:  # a list's crop= region is cut at the photo's shrunk scale
                photo = load_ref(ref, max_side)
            crop_to_grid(photo, patch)  # raises ImageError for a photo smaller than a patch
            return photo

        def make(i: int, photo: np.ndarray, source_name: str) -> tuple[np.ndarray, dict[str, Any]]:
            rng = np.random.default_rng([seed, 1, i])
            kern, spec = random_kernel(kernel, rng, length_range=length_range)
            drawn: dict[str, Any] = {}
            if degrading:  # its own stream: without degradation the bytes stay the report's
                drng = seeds.rng(seed, "degrade", i)
                photo, drawn["base"] = degrade_base(photo, drng, degrade_config)
                if degrade_config.motion_dominance > 0:  # motion must stand out of softness
                    spread = degrade_config.motion_dominance * isotropic_spread(drawn["base"])
                    spec = lengthen_to_spread(spec, spread, length_range[1])
                    kern = kernel_from_spec(spec)
            composite, labels = partially_blur(photo, rng, kern, fraction, patch)
            if degrading:
                composite, drawn["finish"] = finish(composite, drng, degrade_config)
            name = f"{i}.{fmt}"
            (tmp / name).write_bytes(_encode(composite, fmt, jpeg_quality))
            (tmp / "sharp" / name).write_bytes(
                _encode(crop_to_grid(photo, patch), fmt, jpeg_quality)
            )
            entry = {
                "file": name,
                "sharp": f"sharp/{name}",
                "source": source_name,
                "height": int(composite.shape[0]),
                "width": int(composite.shape[1]),
                "blurred_fraction": round(float(labels.mean()), 6),
                "kernel": spec,
            }
            if degrading:
                entry["degrade"] = drawn
            return labels, entry

        entries: list[dict[str, Any]] = []
        bad: set[int] = set()
        with tqdm(total=n, desc="generate", unit="photo", disable=not progress) as bar:
            results: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
            with ThreadPoolExecutor(max_workers=workers) as pool:
                loads: deque[tuple[int, Future[np.ndarray]]] = deque()
                makes: deque[Future[tuple[np.ndarray, dict[str, Any]]]] = deque()
                candidates = order
                made = 0

                def submit_loads() -> None:
                    while len(loads) < 2 * workers and len(bad) < len(refs):
                        ref_index = next(candidates)
                        if ref_index not in bad:
                            loads.append((ref_index, pool.submit(load, refs[ref_index])))

                submit_loads()
                while made < n and loads:
                    ref_index, fut = loads.popleft()
                    if ref_index in bad:
                        fut.cancel()
                        submit_loads()
                        continue
                    try:
                        photo = fut.result()
                    except ImageError as exc:
                        bad.add(ref_index)
                        tell_unreadable(str(exc))
                        if len(bad) == len(refs):
                            raise DatasetError(f"no readable photo in source {source!r}") from exc
                        submit_loads()
                        continue
                    makes.append(pool.submit(make, made, photo, refs[ref_index].name))
                    made += 1
                    submit_loads()
                    while makes and (makes[0].done() or len(makes) > 2 * workers):
                        lab, entry = makes.popleft().result()
                        results[len(results)] = (lab, entry)
                        bar.update(1)
                for f in loads:
                    f[1].cancel()
                while makes:
                    lab, entry = makes.popleft().result()
                    results[len(results)] = (lab, entry)
                    bar.update(1)
            for i in range(len(results)):
                labels_list.append(results[i][0])
                entries.append(results[i][1])
        _write_labels(tmp / "labels.npz", labels_list)
        meta = {
            "format_version": FORMAT_VERSION,
            "patch": patch,
            "seed": seed,
            "source": _source_label(source),
            "kernel": kernel,
            "fmt": fmt,
            "fraction": fraction,
            "grid": list(grid) if grid is not None else None,
            "max_side": max_side,
            "length_range": list(length_range),
            "degrade": degrade if isinstance(degrade, str) else asdict(degrade_config),
            "images": entries,
        }
        (tmp / "metadata.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return out


def _check_numbers(seed: int, fraction: float, length_range: tuple[float, float]) -> None:
    """Raise DatasetError for settings that cannot work, before anything is read or written."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"--seed must be a whole number >= 0, got {seed}")
    if not 0.0 <= fraction <= 1.0:
        raise DatasetError(f"--fraction is a probability in [0, 1], got {fraction}")
    try:
        check_length_range(length_range)
    except ValueError:
        lo, hi = length_range
        raise DatasetError(
            f"motion lengths must satisfy 1 <= --length-min <= --length-max, got {lo:g} and {hi:g}"
        ) from None


def _check_replaceable(out: Path, refs: Sequence[PhotoRef]) -> None:
    """Raise DatasetError unless ``out`` is a folder blurlib generated that holds no source."""
    where = out.resolve()
    here = Path.cwd().resolve()
    if where == here or where in here.parents:
        raise DatasetError(
            f"--out {out} is the working folder or one above it; --overwrite never removes "
            "that — choose a new folder"
        )
    for ref in refs:
        if not isinstance(ref.path, Path) or not ref.path.exists():
            continue
        path = ref.path.resolve()
        if path == where or where in path.parents:
            raise DatasetError(
                f"--out {out} holds the photo source {ref.location}; --overwrite never removes "
                "a folder of source photos — choose another --out"
            )
    if not out.is_dir() or not (out / MARKER).is_file():
        raise DatasetError(
            f"--out {out} was not made by `blurlib generate` (no {MARKER} file in it); "
            "--overwrite only replaces such folders — choose another --out or remove it yourself"
        )


def _check_folder(folder: str | os.PathLike[str]) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(
            f"dataset folder {folder} does not exist; make one with `python -m blurlib generate`"
        )
    if not (folder / "metadata.json").is_file() or not (folder / "labels.npz").is_file():
        raise DatasetError(
            f"{folder} is not a blurlib dataset (no metadata.json/labels.npz); "
            "make one with `python -m blurlib generate`"
        )
    return folder


def load_metadata(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the parsed ``metadata.json`` of a dataset folder."""
    folder = _check_folder(folder)
    try:
        meta = json.loads((folder / "metadata.json").read_text())
        if not isinstance(meta["images"], list):
            raise TypeError("images is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"{folder / 'metadata.json'} is corrupt; regenerate the dataset"
        ) from exc
    return meta


def load_labels(folder: str | os.PathLike[str]) -> list[np.ndarray]:
    """Return the label matrices of a dataset folder: ``labels[n]`` belongs to ``n.jpg``."""
    folder = _check_folder(folder)
    path = folder / "labels.npz"
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = sorted(npz.files, key=lambda k: int(k))
            return [npz[k] for k in keys]
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path} is corrupt; regenerate the dataset") from exc


class DatasetImages(Sequence[Example]):
    """A dataset folder's images as a sequence of :class:`Example`, each read (and checked
    against its labels) when indexed, never kept: training holds only its patches (3,600
    composites and sharp copies are ~11 GB at 1280 px). ``sources``: no image read."""

    def __init__(self, folder: str | os.PathLike[str], with_sharp: bool = True) -> None:
        meta = load_metadata(folder)
        labels = load_labels(folder)
        self.folder = Path(folder)
        if len(labels) != len(meta["images"]):
            raise DatasetError(
                f"{self.folder}: {len(labels)} label matrices for {len(meta['images'])} "
                "images; regenerate the dataset"
            )
        self.with_sharp = with_sharp
        self._patch = int(meta["patch"])
        self._entries: list[dict[str, Any]] = meta["images"]
        self._labels = labels
        self.sources: list[str] = [entry["source"] for entry in self._entries]

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i: int) -> Example:  # type: ignore[override]
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"dataset images are indexed by an integer, got {type(i).__name__}")
        i = range(len(self))[i]  # IndexError beyond either end
        entry = self._entries[i]
        image = load_image(self.folder / entry["file"])
        sharp = load_image(self.folder / entry["sharp"]) if self.with_sharp else None
        lab = self._labels[i]
        if (image.shape[0] // self._patch, image.shape[1] // self._patch) != lab.shape[:2]:
            raise DatasetError(f"{self.folder / entry['file']} does not match labels[{i}]")
        return Example(
            index=i,
            file=entry["file"],
            image=image,
            sharp=sharp,
            labels=lab,
            source=entry["source"],
            kernel=entry.get("kernel", {}),
            degrade=entry.get("degrade", {}),
        )


def open_dataset(folder: str | os.PathLike[str], with_sharp: bool = True) -> DatasetImages:
    """The images of a dataset folder, read on demand (:func:`load_dataset`: all at once)."""
    return DatasetImages(folder, with_sharp=with_sharp)


def load_dataset(
    folder: str | os.PathLike[str], with_sharp: bool = True, progress: bool = False
) -> list[Example]:
    """Return every image of a dataset folder as an :class:`Example`, in index order."""
    from tqdm.auto import tqdm

    images = open_dataset(folder, with_sharp=with_sharp)
    return [images[i] for i in tqdm(range(len(images)), desc="load", disable=not progress)]
