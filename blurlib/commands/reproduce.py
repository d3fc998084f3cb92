"""``python -m blurlib reproduce``: run the course notebooks 01 → 04 headlessly with papermill.

The executed notebooks go to ``<out>/notebooks/``, the data set to ``<out>/data``, the
models and every recorded number to ``<out>/run``, the figures to ``<out>/figures`` — the
committed ``figures/`` are refreshed only when asked (``--figures figures/``), so a run leaves
the checkout clean. Each notebook is executed into a temporary file and
renamed into place only when it finished, so an interrupted or failed run leaves the
previous outputs as they were (a failed notebook is kept as ``<name>.failed.ipynb``, with
the error in it). Each notebook gets only the parameters its ``parameters`` cell declares.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from blurlib.errors import BlurlibError
from blurlib.paths import work_root

NOTEBOOK_DIR = work_root() / "notebooks"
NOTEBOOKS = (
    "01_generate_data.ipynb",
    "02_train_cnn.ipynb",
    "03_visualize_predictions.ipynb",
    "04_evaluate.ipynb",
    "05_blur_kind_and_motion.ipynb",
)
DEFAULT_OUT = Path("runs") / "reproduce"
KERNEL = "python3"


def parse_value(text: str) -> Any:
    """Return ``text`` as a Python literal (number, bool, None, list …), else as the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """Return ``{"name": value}`` from ``["name=value", ...]`` (values via :func:`parse_value`)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise BlurlibError(f"--set expects NAME=VALUE (e.g. --set n_images=1000), got {item!r}")
        out[name.strip()] = parse_value(value.strip())
    return out


def course_parameters(
    out: str | os.PathLike[str],
    *,
    quick: bool = False,
    seed: int = 0,
    data_source: str = "sample",
    voc_root: str | os.PathLike[str] | None = None,
    epochs: int | None = None,
    figures: str | os.PathLike[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the papermill parameters of a course run into ``out`` (absolute folder paths).

    Raises BlurlibError for settings that cannot work, before any kernel starts.
    """
    if data_source not in ("sample", "voc2010") and not Path(data_source).exists():
        raise BlurlibError(
            f"--data-source {data_source!r}: not 'sample', not 'voc2010' and no such folder"
        )
    if data_source == "voc2010":
        if voc_root is None:
            raise BlurlibError(
                "--data-source voc2010 needs --voc-root: the VOCdevkit folder, its VOC2010 "
                "folder or VOCtrainval_03-May-2010.tar"
            )
        if not Path(voc_root).exists():
            raise BlurlibError(f"--voc-root {voc_root}: no such file or folder")
    if epochs is not None and epochs < 1:
        raise BlurlibError(f"--epochs must be at least 1, got {epochs}")
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise BlurlibError(f"--out {out} is a file; give a folder")
    if figures is None:
        figures = out / "figures"
    params: dict[str, Any] = {
        "seed": int(seed),
        "quick": bool(quick),
        "data_source": str(Path(data_source).resolve())
        if data_source not in ("sample", "voc2010")
        else data_source,
        "voc_root": str(Path(voc_root).expanduser().resolve()) if voc_root is not None else None,
        "data_dir": str(out / "data"),
        "run_dir": str(out / "run"),
        "figures_dir": str(Path(figures).expanduser().resolve()),
    }
    if epochs is not None:
        params["epochs"] = int(epochs)
    params.update(extra or {})
    return params


def _declared(path: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(path)))


def _execute(
    source: Path, target: Path, parameters: dict[str, Any], kernel: str, progress: bool
) -> None:
    """Execute ``source`` into ``target`` via a temporary file; keep a failed run as .failed."""
    import papermill

    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.partial-{os.getpid()}.ipynb")
    failed = target.with_name(f"{target.stem}.failed.ipynb")
    try:
        papermill.execute_notebook(
            str(source),
            str(partial),
            parameters=parameters,
            kernel_name=kernel,
            cwd=str(source.parent),
            progress_bar=progress,
            # the kernel's own log at ERROR: its "running over TCP without encryption" notice
            # (a local kernel on loopback) is not something a reader should act on
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except papermill.PapermillExecutionError as exc:
        if partial.exists():
            os.replace(partial, failed)
        message = str(exc.evalue).splitlines()[0] if exc.evalue else ""
        raise BlurlibError(
            f"{source.name} failed in cell [{exc.exec_count}]: {exc.ename}: {message} "
            f"(the executed notebook is {failed}; the previous outputs are untouched)"
        ) from exc
    except BaseException as exc:  # interrupted, or the kernel could not run at all
        partial.unlink(missing_ok=True)
        if type(exc).__name__ == "NoSuchKernel":
            raise BlurlibError(
                f"no Jupyter kernel named {kernel!r}: install one with "
                "`python -m ipykernel install --user` (pip install ipykernel)"
            ) from exc
        if isinstance(exc, Exception) and not isinstance(exc, (BlurlibError, OSError)):
            raise BlurlibError(f"{source.name} could not run: {type(exc).__name__}: {exc}") from exc
        raise
    os.replace(partial, target)
    failed.unlink(missing_ok=True)


def reproduce(
    out: str | os.PathLike[str] = DEFAULT_OUT,
    parameters: Mapping[str, Any] | None = None,
    *,
    notebooks: Sequence[str] = NOTEBOOKS,
    notebook_dir: str | os.PathLike[str] = NOTEBOOK_DIR,
    kernel: str = KERNEL,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Run the notebooks in order into ``<out>/notebooks``; return ``{name: executed path}``.

    ``parameters`` (see :func:`course_parameters`) are passed to each notebook as far as its
    ``parameters`` cell declares them; a name no notebook declares is an error.
    """
    out = Path(out).expanduser().resolve()
    notebook_dir = Path(notebook_dir)
    params = dict(parameters if parameters is not None else course_parameters(out))
    sources = [notebook_dir / name for name in notebooks]
    for src in sources:
        if not src.is_file():
            raise BlurlibError(f"notebook {src} is missing; run from a blurlib checkout")
    declared = {src.name: _declared(src) for src in sources}
    unknown = sorted(set(params) - set().union(*declared.values()))
    if unknown:
        raise BlurlibError(
            f"no notebook has a parameter named {', '.join(unknown)}; the parameters are: "
            f"{', '.join(sorted(set().union(*declared.values())))}"
        )
    done: dict[str, Path] = {}
    for src in sources:
        t0 = time.perf_counter()
        log(f"running {src.name} …")
        mine = {k: v for k, v in params.items() if k in declared[src.name]}
        target = out / "notebooks" / src.name
        _execute(src, target, mine, kernel, progress)
        log(f"  done in {time.perf_counter() - t0:.0f} s → {target}")
        done[src.name] = target
    return done


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``reproduce`` subcommand."""
    p = subparsers.add_parser(
        "reproduce",
        help="run the course notebooks 01 → 04 headlessly (papermill) and say where all went",
        description=(
            "Execute notebooks/01…04 in order with papermill: the data set, the trained models "
            "the recorded numbers and the figures go under --out. Without options "
            "this is the default run on the bundled photos (minutes on a laptop CPU)."
        ),
    )
    p.add_argument("--out", default=str(DEFAULT_OUT), help="output folder (default: %(default)s)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a tiny smoke run (about 20 s per notebook on 2 CPU cores)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    p.add_argument(
        "--data-source",
        default="sample",
        help="'sample' (bundled photos, default), 'voc2010' (with --voc-root) or a folder",
    )
    p.add_argument("--voc-root", help="VOCdevkit folder, its VOC2010 folder, or the VOC tar")
    p.add_argument("--epochs", type=int, help="epochs of the compact net (default: the notebook's)")
    p.add_argument(
        "--figures",
        help="folder for the figures (default: OUT/figures; --figures figures/ refreshes the "
        "committed ones)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other notebook parameter, e.g. --set n_images=1000 --set report_epochs=100",
    )
    p.add_argument("--kernel", default=KERNEL, help="Jupyter kernel name (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the course and print where everything is."""
    t0 = time.perf_counter()
    params = course_parameters(
        args.out,
        quick=args.quick,
        seed=args.seed,
        data_source=args.data_source,
        voc_root=args.voc_root,
        epochs=args.epochs,
        figures=args.figures,
        extra=parse_assignments(args.set),
    )
    out = Path(args.out).expanduser().resolve()
    done = reproduce(out, params, kernel=args.kernel, progress=sys.stderr.isatty())
    run_dir = Path(params["run_dir"])
    figures = Path(params["figures_dir"])
    minutes, seconds = divmod(round(time.perf_counter() - t0), 60)
    print(f"\nfinished in {minutes} min {seconds:02d} s. Everything is here:")
    print(f"  executed notebooks  {out / 'notebooks'}  ({', '.join(done)})")
    print(f"  data set            {params['data_dir']}")
    print(f"  models              {run_dir / 'motionblur.keras'}  (and motionblur.h5)")
    print(f"  numbers             {run_dir}/metrics.json, predictions.json, evaluation.json")
    print(f"  figures             {figures}  ({len(list(figures.glob('*.png')))} PNG files)")
    print(f"open the notebooks:   jupyter lab {out / 'notebooks'}")
    return 0
