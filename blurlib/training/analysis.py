"""Training the blur-analysis nets (kind / direction / length, and Sun et al.'s 73 classes).

The recipe, top to bottom (:func:`train_analysis`):

1. photos: a photo list (``models/photos_robust.txt``: lines before ``# [test]`` are
   training photos, after it held-out test photos, never touched here), shrunk so the longer
   side is ``max_side``, split by photo into train / validation
   (:func:`blurlib.training.split.split_by_source`), plus ``deadleaves`` sharp dead-leaves
   scenes on the training side (and ``strand_scenes`` more whose leaves carry strands half the
   time: one-directional texture that is sharp, :func:`blurlib.data.leaf_looks.strand_tile`);
   ``sharp_sigma`` is the largest lens softness (Gaussian σ of the base stage,
   :data:`blurlib.data.kinds.BASE`) a crop may get and still be labelled sharp;
2. each epoch draws ``per_epoch`` fresh labelled patches (:func:`blurlib.data.kinds.kind_patches`,
   seed ``[seed, epoch]``), so no patch is seen twice — drawn on worker processes while the
   previous epoch fits (:class:`blurlib.data.kind_stream.KindPatchStream`, the same bytes as
   drawing in turn); the validation patches are drawn once;
3. Adam with a cosine-decayed learning rate over the planned epochs; after every epoch the
   line goes to ``log.csv`` and the resume state (weights, optimizer, dropout generators) to
   ``backup/`` (:mod:`blurlib.training.backup`: one verified folder per epoch, so a run killed
   at any instant resumes from its last complete epoch, ``resume=True``, exactly);
4. a fixed budget: ``epochs`` is the plan; ``max_minutes`` stops before an epoch that would end
   past it (mean epoch time so far; the log records how many epochs ran), so a shared CPU never
   overruns its slot.

``preset="analysis"`` trains the multi-head net on sharp / motion / defocus (``neighbours``:
the neighbour net of :mod:`blurlib.nets.neighbours`, fit fully convolutionally on whole crops
with label grids, :func:`blurlib.data.kind_grids.kind_grids`, drawn between epochs; with
``windows`` on the 90-px windows of ``kind_patches`` instead);
``preset="sun2015"`` trains Sun et al.'s 73-class net on their setup (sharp and straight motion
3–25 px, :data:`blurlib.data.kinds.SUN2015`).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from blurlib import PATCH, seeds
from blurlib.data.kind_grids import KindGrids, kind_grids
from blurlib.data.kind_stream import KindPatchStream, default_workers
from blurlib.data.kinds import BASE, SUN2015, KindConfig, kind_patches, sun_class
from blurlib.fileio import atomic_path, write_text
from blurlib.training.backup import latest_backup, prune, write_backup
from blurlib.training.callbacks import restore, seed_generators
from blurlib.training.runs import truncate_log

PRESETS = ("analysis", "sun2015")


@dataclass(frozen=True)
class AnalysisTrainConfig:
    """Every number of a blur-analysis training run."""

    preset: str = "analysis"
    seed: int = 0
    epochs: int = 12
    per_epoch: int = 16000  # fresh patches per epoch
    val_patches: int = 4000
    batch_size: int = 64
    lr: float = 1e-3
    width: int = 32  # analysis net only
    max_side: int = 1024  # photos shrunk to this longer side
    deadleaves: int = 24  # sharp dead-leaves scenes added to the training photos
    deadleaves_side: int = 384
    strand_scenes: int = 0  # more dead-leaves scenes, half their leaves carrying strands
    val_share: float = 0.15  # of the training-list photos, by photo
    max_minutes: float | None = None  # wall budget: no epoch starts that would end past it
    length_weight: float = 1.0  # weight of the length term of analysis_loss (analysis net only)
    context: int = 0  # px around each patch the analysis net reads (experimental; 0 = none)
    mix_share: float = 0.0  # share of crops split patch by patch between two kinds
    mix_shape: str = "grid"  # "grid" (each patch) or "region" (a straight line on the grid)
    context_width: int = 0  # width of the context trunk (0 = width)
    neighbours: bool = False  # the neighbour net, trained on whole crops (nets/neighbours.py)
    windows: bool = False  # the neighbour net on 90-px windows instead (9 trunk passes each)
    grid_cells: int = 6  # whole crops of grid_cells² labelled cells (+ one ring of context)
    sharp_sigma: float = BASE.gaussian_sigma[1]  # largest lens softness (Gaussian σ) labelled sharp

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {PRESETS}")
        if min(self.epochs, self.per_epoch, self.val_patches, self.batch_size) < 1:
            raise ValueError("epochs, per_epoch, val_patches and batch_size must be >= 1")
        if min(self.deadleaves, self.strand_scenes) < 0:
            raise ValueError("deadleaves and strand_scenes must be >= 0")
        if not self.length_weight > 0:
            raise ValueError(f"length_weight must be > 0, got {self.length_weight}")
        mixed = self.mix_share or self.mix_shape != "grid"
        extra = self.context or mixed or self.context_width or self.neighbours
        if extra and self.preset != "analysis":
            raise ValueError(
                "context, context_width, mix_share, mix_shape and neighbours are for the "
                "analysis net only"
            )
        if self.windows and not self.neighbours:
            raise ValueError("windows is a way to train the neighbour net: set neighbours too")
        if self.grid_cells < 1:
            raise ValueError(f"grid_cells must be >= 1, got {self.grid_cells}")
        if not BASE.gaussian_sigma[0] < self.sharp_sigma <= 3.0:
            raise ValueError(
                f"sharp_sigma must be in ({BASE.gaussian_sigma[0]}, 3] px, got {self.sharp_sigma}"
            )
        if self.preset == "sun2015" and self.sharp_sigma != BASE.gaussian_sigma[1]:
            raise ValueError(
                "sharp_sigma is not part of the sun2015 setup: leave it at its default"
            )
        if self.neighbours and (self.context or self.context_width):
            raise ValueError(
                "the neighbour net reads its neighbours' own features: no context trunk "
                "(leave context and context_width at 0)"
            )
        self.kind_config()  # KindConfig checks its own settings (mix_shape, mix_share, context)

    @property
    def whole_crops(self) -> bool:
        """Whether training draws whole crops with label grids (the neighbour net's default)."""
        return self.neighbours and not self.windows

    def kind_config(self) -> KindConfig:
        """The patch generator's settings for this preset."""
        if self.preset == "sun2015":
            return SUN2015
        # the base stage's Gaussian (lens softness, label sharp) up to sharp_sigma
        base = replace(BASE, gaussian_sigma=(BASE.gaussian_sigma[0], self.sharp_sigma))
        common = {"mix_share": self.mix_share, "mix_shape": self.mix_shape, "base": base}
        if self.neighbours and self.windows:  # each patch with one cell of context around it
            return KindConfig(context=PATCH, **common)
        if self.neighbours:  # whole crops: n×n labelled cells with one cell of context around
            return KindConfig(context=PATCH, crop_patches=self.grid_cells, **common)
        return KindConfig(context=self.context, **common)


def load_split_photos(
    photo_list: str | os.PathLike[str],
    config: AnalysisTrainConfig,
    extra: Sequence[str] = (),
) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Return ``{"train": [(name, image)], "val": [...]}`` from the list's training section
    (test photos are never loaded), split by photo, dead-leaves scenes added to "train".

    ``extra``: more photo sources (``photo_refs``'s, e.g. ``"models/photos_ordinary.txt:all"``)
    that go to "train" only, after the split, so the list's validation photos stay the same;
    one of the list's test photos, or a name already taken, is refused."""
    from blurlib.data.deadleaves import dead_leaves
    from blurlib.data.leaf_looks import palette_from_photos
    from blurlib.data.photos import list_file_refs, load_ref, photo_refs
    from blurlib.errors import DatasetError
    from blurlib.training.split import split_by_source

    refs = list_file_refs(photo_list, "train")
    files: dict[Any, str] = {}  # a photo listed twice (whole and cropped, or two crops) could
    for r in refs:  # land on both sides of the split: refused
        first = files.setdefault(r.path.resolve(), r.name)
        if first != r.name:
            raise DatasetError(
                f"{photo_list} lists {r.path} twice ({first!r} and {r.name!r}): its parts "
                "could land in both training and validation — list each photo once"
            )
    names = [r.name for r in refs]
    split = split_by_source(names, (1.0 - config.val_share, config.val_share, 0.0), config.seed)
    loaded = [(r.name, load_ref(r, config.max_side)) for r in refs]
    out = {side: [loaded[i] for i in split[side]] for side in ("train", "val")}
    if extra:
        held: set[Any] = set()
        with contextlib.suppress(DatasetError):  # test photos absent here cannot be extras
            held = {r.path.resolve() for r in list_file_refs(photo_list, "test")}
        for ref in photo_refs(list(extra)):
            where = ref.path.resolve()
            if where in held:
                raise DatasetError(
                    f"extra training photo {ref.path} is a held-out test photo of {photo_list}: "
                    "remove it from the extra photos"
                )
            if where in files:
                raise DatasetError(
                    f"extra training photo {ref.path} is also a photo of {photo_list} or "
                    "another extra source (whole or cropped): list each photo once"
                )
            if ref.name in files.values():  # the names taken so far, one per photo
                raise DatasetError(
                    f"extra training photo {ref.path} is named {ref.name!r} like a photo of "
                    f"{photo_list} or another extra photo: list each photo once"
                )
            files[where] = ref.name
            out["train"].append((ref.name, load_ref(ref, config.max_side)))
    if config.deadleaves or config.strand_scenes:
        palette = palette_from_photos([im for _, im in out["train"]], n=8192, seed=config.seed)
        side = config.deadleaves_side
        for i in range(config.deadleaves):
            rng = seeds.rng(config.seed, "kind_leaves", i)
            out["train"].append(
                (f"deadleaves-{i:04d}", dead_leaves(rng, (side, side), palette=palette))
            )
        for i in range(config.strand_scenes):  # sharp one-directional texture, label 0
            rng = seeds.rng(config.seed, "kind_strands", i)
            scene = dead_leaves(rng, (side, side), palette=palette, strand_prob=0.5)
            out["train"].append((f"deadleaves-strands-{i:04d}", scene))
    return out


def targets(preset: str, patches: Any) -> np.ndarray:
    """Training targets of :class:`blurlib.data.kinds.KindPatches` (or, for the neighbour net,
    :class:`blurlib.data.kind_grids.KindGrids`) for ``preset``."""
    if isinstance(patches, KindGrids):  # whole crops with label grids
        from blurlib.nets.analysis import grid_targets

        return grid_targets(patches.kind, patches.angle, patches.length, patches.keep)
    if preset == "sun2015":
        return sun_class(patches.kind, patches.angle, patches.length).astype(np.int32)
    from blurlib.nets.analysis import analysis_targets

    return analysis_targets(patches.kind, patches.angle, patches.length)


def build_and_compile(config: AnalysisTrainConfig, steps: int) -> tuple[Any, Any]:
    """Return ``(model, trainable)``: the net and the view that is fit (compiled)."""
    import keras

    from blurlib.nets.analysis import analysis_loss, build_analysis, build_sun2015, training_view

    schedule = keras.optimizers.schedules.CosineDecay(config.lr, max(1, steps), alpha=0.05)
    opt = keras.optimizers.Adam(learning_rate=schedule)
    if config.preset == "sun2015":
        model = build_sun2015(seed=config.seed)
        model.compile(
            optimizer=opt,
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        return model, model
    if config.neighbours:
        from blurlib.nets.neighbours import build_neighbour_analysis, grid_view

        model = build_neighbour_analysis(seed=config.seed, width=config.width)
        view = training_view(model) if config.windows else grid_view(model, config.grid_cells + 2)
    else:
        model = build_analysis(
            seed=config.seed,
            width=config.width,
            context=config.context,
            context_width=config.context_width,
        )
        view = training_view(model)
    view.compile(optimizer=opt, loss=analysis_loss(length_weight=config.length_weight))
    return model, view


def train_analysis(
    photo_list: str | os.PathLike[str],
    out: str | os.PathLike[str],
    config: AnalysisTrainConfig | None = None,
    *,
    resume: bool = False,
    verbose: int = 2,
    workers: int | None = None,
    extra_photos: Sequence[str] = (),
) -> dict[str, Any]:
    """Train per ``config``; write ``out/model.keras``, ``backup/`` (the resume state),
    ``log.csv`` and ``train.json``; return the summary written to ``train.json``.

    ``extra_photos``: photo sources added to the training side only
    (:func:`load_split_photos`), recorded in ``train.json``.

    ``workers``: processes that draw the next epoch's patches while this one fits
    (:class:`blurlib.data.kind_stream.KindPatchStream`; None = one fewer than the CPU cores, at
    most 8; 0 = draw in this process between epochs). The patches, and so the model, are the
    same for any number."""
    import keras

    from blurlib.nets.files import save_model

    config = config or AnalysisTrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    photos = load_split_photos(photo_list, config, extra_photos)
    kc = config.kind_config()
    train_imgs = [im for _, im in photos["train"]]
    val_imgs = [im for _, im in photos["val"]]
    if config.whole_crops:
        val = kind_grids(val_imgs, config.val_patches, config.seed + 1, kc)
    else:
        val = kind_patches(val_imgs, config.val_patches, config.seed + 1, kc)
    val_xy = (val.x.astype(np.float32), targets(config.preset, val))
    batch = _batch_size(config, val)
    per_batch = val.labelled / len(val) * batch if config.whole_crops else config.batch_size
    steps = config.epochs * int(config.per_epoch / per_batch)
    log = out / "log.csv"
    model, view = build_and_compile(config, steps)
    resumed = latest_backup(out) if resume and log.is_file() else None
    prune(out, keep=resumed.path if resumed is not None else None)  # verified once
    start = resumed.epoch if resumed is not None else 0
    done_s = float(resumed.state.get("seconds", 0.0)) if resumed is not None else 0.0
    if resumed is not None:  # weights, optimizer, dropout generators of the finished epochs
        restore(view, resumed)
        truncate_log(log, start + 1)  # rows of epochs past the resume state are redone
    else:
        write_text(log, "epoch,loss,val_loss,seconds,patches_seen\n")
    if workers is None:
        workers = default_workers()
    t0 = time.time()
    if config.whole_crops:  # drawn in this process between epochs
        stream: Any = contextlib.nullcontext(_GridDraw(train_imgs, kc))
        workers = 0
    else:
        stream = KindPatchStream(train_imgs, kc, workers=workers)
    with stream as draw:
        _fit_epochs(config, out, view, draw, val_xy, start, done_s, t0, verbose, batch)
    save_model(model, out / "model.keras")
    with open(log, newline="") as fh:
        rows = list(csv.DictReader(fh))
    summary = {
        "config": asdict(config),
        "epochs_run": len(rows),
        "patches_seen": len(rows) * config.per_epoch,
        "seconds": float(rows[-1]["seconds"]) if rows else 0.0,
        "photo_list": str(photo_list),
        "extra_photos": list(extra_photos),
        "train_photos": [n for n, _ in photos["train"]],
        "val_photos": [n for n, _ in photos["val"]],
        "kind_config": {k: str(v) for k, v in asdict(kc).items()},
        "workers": workers,  # drawing processes: they change no byte, only the speed
    }
    with atomic_path(out / "train.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    return summary


def _batch_size(config: AnalysisTrainConfig, val: Any) -> int:
    """Examples per step: ``batch_size`` patches, or for whole crops the crops that hold about
    ``batch_size`` judgeable patches (measured on the validation crops; at least one)."""
    if not config.whole_crops:
        return config.batch_size
    return max(1, round(config.batch_size * len(val) / max(val.labelled, 1)))


class _GridDraw:
    """The whole crops of each epoch (:func:`blurlib.data.kind_grids.kind_grids`), drawn when
    asked for (the interface of :class:`blurlib.data.kind_stream.KindPatchStream`)."""

    def __init__(self, photos: list[np.ndarray], kc: KindConfig) -> None:
        self.photos, self.kc = photos, kc

    def request(self, n: int, seed: int) -> Any:
        return _Later(lambda: kind_grids(self.photos, n, seed, self.kc))


class _Later:
    def __init__(self, make: Any) -> None:
        self._make, self._done = make, None

    def result(self) -> Any:
        if self._done is None:
            self._done = self._make()
        return self._done


def _epoch_seed(config: AnalysisTrainConfig, epoch: int) -> int:
    return config.seed * 1000 + 100 + epoch


def _fit_epochs(
    config: AnalysisTrainConfig,
    out: Path,
    view: Any,
    stream: Any,  # KindPatchStream or _GridDraw
    val_xy: tuple[np.ndarray, np.ndarray],
    start: int,
    done_s: float,
    t0: float,
    verbose: int,
    batch: int,
) -> None:
    """Epochs ``start`` … of the plan: each fits the fresh patches drawn for it (the next
    epoch's are drawn meanwhile), then appends its ``log.csv`` row and writes its backup; stops
    early where ``max_minutes`` says."""
    log = out / "log.csv"
    pending = stream.request(config.per_epoch, _epoch_seed(config, start))
    for epoch in range(start, config.epochs):
        data = pending.result()
        if epoch + 1 < config.epochs:
            pending = stream.request(config.per_epoch, _epoch_seed(config, epoch + 1))
        hist = view.fit(
            data.x.astype(np.float32),
            targets(config.preset, data),
            batch_size=batch,
            epochs=1,
            shuffle=False,  # iid crops in drawn order: no global random state, exact resume
            validation_data=val_xy,
            verbose=verbose,
        )
        h, seconds = hist.history, done_s + time.time() - t0
        with open(log, "a") as fh:  # a row the resume state does not cover is dropped on resume
            seen = (epoch + 1) * config.per_epoch
            fh.write(
                f"{epoch + 1},{h['loss'][-1]:.5f},{h['val_loss'][-1]:.5f},{seconds:.1f},{seen}\n"
            )
        write_backup(
            out,
            epoch + 1,
            lambda path: view.save_weights(str(path)),
            {str(k): np.asarray(g.state) for k, g in enumerate(seed_generators(view))},
            {"seconds": seconds},
        )
        if config.max_minutes is not None:  # stop before an epoch that would overrun
            per_epoch = (time.time() - t0) / (epoch + 1 - start)
            if time.time() - t0 + per_epoch > 60 * config.max_minutes:
                break


def main(argv: list[str] | None = None) -> int:
    """``python -m blurlib.training.analysis --preset analysis --out runs/analysis ...``"""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", default="models/photos_robust.txt")
    p.add_argument(
        "--extra-photos",
        action="append",
        default=[],
        metavar="SOURCE",
        help="more training photos (a photo list such as models/photos_ordinary.txt:all, a "
        "folder); training side only, the --photos list's validation split unchanged; repeatable",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true")
    for f in (
        "preset",
        "seed",
        "epochs",
        "per_epoch",
        "val_patches",
        "batch_size",
        "lr",
        "width",
        "max_side",
        "deadleaves",
        "strand_scenes",
        "max_minutes",
        "length_weight",
        "context",
        "mix_share",
        "mix_shape",
        "context_width",
        "grid_cells",
        "sharp_sigma",
    ):
        default = getattr(AnalysisTrainConfig, f)
        kind = type(default) if default is not None else float
        p.add_argument("--" + f.replace("_", "-"), dest=f, type=kind, default=default)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes drawing the next epoch's patches (default: CPU cores - 1, at most 8; "
        "0 = in this process); the same model for any number",
    )
    p.add_argument(
        "--neighbours",
        action="store_true",
        help="the neighbour net: each patch also reads its 8 neighbours' trunk features "
        "(trained on whole crops of 6x6 patches)",
    )
    p.add_argument(
        "--windows",
        action="store_true",
        help="with --neighbours: train on 90-px windows (9 trunk passes per patch) instead of "
        "whole crops",
    )
    a = vars(p.parse_args(argv))
    photos, out, resume, workers = a.pop("photos"), a.pop("out"), a.pop("resume"), a.pop("workers")
    extra = a.pop("extra_photos")
    try:
        config = AnalysisTrainConfig(**a)
    except ValueError as exc:  # a bad setting: one line naming it, no traceback
        p.error(str(exc))
    from blurlib.errors import guarded

    def run() -> int:
        summary = train_analysis(
            photos, out, config, resume=resume, workers=workers, extra_photos=extra
        )
        print(json.dumps({k: summary[k] for k in ("epochs_run", "patches_seen", "seconds")}))
        return 0

    # a bad photo list, photo or folder, an interruption: one line, no traceback (the CLI's)
    return guarded(run, on_interrupt="; add --resume to go on from the last finished epoch")


if __name__ == "__main__":
    raise SystemExit(main())
