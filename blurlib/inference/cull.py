"""Acting on a ranking, safely: copy the keepers out, move the blurred photos aside, undo.

* :func:`plan_actions` says what would happen: ``copy`` each keeper (``best_in_burst``, a
  photo in no burst keeping itself) whose verdict is not "blurred" to ``copy_best``, and
  ``move`` each "blurred" photo to ``move_blurred``; both keep the photo's path relative to
  the analysed folder (its first folder's name in front when several were analysed, so
  nothing collides). It refuses a move target outside the analysed folder of the photo (the
  photos never leave the tree that was analysed), and plans nothing onto an existing file
  (those photos are listed as conflicts); photos already inside a target are left alone.
* :func:`apply_actions` acts, writing a journal first: one JSON line per action, flushed to
  disk *before* the file is touched, so after a crash the journal names everything that may
  have moved. Nothing is ever deleted or overwritten: a move is a hard link at the new name
  and then the old name's removal (the same file), or, across file systems, a copy to a
  temporary name, renamed into place, before the old name goes.
* :func:`undo_journal` moves every journalled move back (newest first) when the photo is at
  its new place and its old place is free; copies are left where they are (undo never
  deletes).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blurlib.errors import BlurlibError
from blurlib.fileio import temp_sibling

JOURNAL_VERSION = 1


@dataclass(frozen=True)
class Action:
    """One planned file operation: ``kind`` is "copy" or "move"."""

    kind: str
    src: Path
    dst: Path


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


def _root_of(path: Path, roots: Sequence[Path]) -> Path:
    """The deepest analysed folder holding ``path`` (its own folder if none does)."""
    holding = [r for r in roots if _inside(path, r)]
    return max(holding, key=lambda r: len(r.parts)) if holding else path.parent


def plan_actions(
    records: Sequence[Any],
    roots: Sequence[str | os.PathLike[str]],
    *,
    copy_best: str | os.PathLike[str] | None = None,
    move_blurred: str | os.PathLike[str] | None = None,
) -> tuple[list[Action], list[str]]:
    """Return ``(actions, conflicts)`` for ranking records (``path``, ``verdict``,
    ``best_in_burst``, ``error``) of photos under ``roots``; raises BlurlibError when the
    move target lies outside an analysed folder of a photo it would receive."""
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    several = len(real_roots) > 1
    copy_to = Path(os.path.realpath(copy_best)) if copy_best is not None else None
    move_to = Path(os.path.realpath(move_blurred)) if move_blurred is not None else None
    actions: list[Action] = []
    conflicts: list[str] = []
    taken: set[Path] = set()
    for rec in records:
        if getattr(rec, "error", ""):
            continue
        src = Path(os.path.realpath(rec.path))
        root = _root_of(src, real_roots)
        rel = src.relative_to(root)
        if several:
            rel = Path(root.name) / rel
        if copy_to is not None and rec.best_in_burst and rec.verdict != "blurred":
            target = copy_to
            kind = "copy"
        elif move_to is not None and rec.verdict == "blurred":
            if not _inside(move_to, root):
                raise BlurlibError(
                    f"--move-blurred {move_blurred}: outside the analysed folder {root}; photos "
                    f"are only moved within the tree that was analysed — give a folder inside "
                    f"it, e.g. {root / '_blurred'}"
                )
            target = move_to
            kind = "move"
            rel = src.relative_to(root)
        else:
            continue
        if _inside(src, target):
            continue  # already there (a previous run's move or copy)
        dst = target / rel
        if dst.exists() or dst.is_symlink() or dst in taken:
            conflicts.append(f"{kind} {src} -> {dst}: the target exists; left alone")
            continue
        taken.add(dst)
        actions.append(Action(kind, src, dst))
    return actions, conflicts


def _place(src: Path, dst: Path, keep_src: bool) -> None:
    """Give ``src``'s file the name ``dst`` (never replacing a file there), then drop the old
    name unless ``keep_src`` (a copy)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not keep_src:
        try:
            os.link(src, dst)  # atomic, and fails if dst exists
        except FileExistsError:
            raise
        except OSError:  # no hard links across file systems (or here at all)
            pass
        else:
            os.unlink(src)
            return
    tmp = temp_sibling(dst)
    try:
        shutil.copy2(src, tmp)
        try:
            os.link(tmp, dst)
        except FileExistsError:
            raise
        except OSError:
            if dst.exists() or dst.is_symlink():
                raise FileExistsError(dst) from None
            os.rename(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    if not keep_src:
        os.unlink(src)


def new_journal_path(folder: str | os.PathLike[str], suffix: str = "") -> Path:
    """Return an unused ``journal-YYYYmmdd-HHMMSS[suffix].jsonl`` name in ``folder``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(folder)
    n = 0
    while True:
        name = f"journal-{stamp}{suffix}{'' if n == 0 else f'-{n}'}.jsonl"
        if not (folder / name).exists():
            return folder / name
        n += 1


def _journal_line(fh: Any, item: dict[str, Any]) -> None:
    fh.write(json.dumps(item) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def apply_actions(
    actions: Sequence[Action],
    journal: str | os.PathLike[str] | None,
    *,
    dry_run: bool = True,
    say: Callable[[str], None] = print,
) -> tuple[int, list[str]]:
    """Carry out (or, with ``dry_run``, only describe) the actions, journalling each before it
    happens; return ``(done, failures)``."""
    verb = {"copy": "copy", "move": "move"}
    if dry_run or not actions:
        for a in actions:
            say(f"would {verb[a.kind]} {a.src} -> {a.dst}")
        return 0, []
    if journal is None:
        raise ValueError("a journal path is needed to apply actions")
    journal = Path(journal)
    journal.parent.mkdir(parents=True, exist_ok=True)
    done, failures = 0, []
    with open(journal, "x", encoding="utf-8") as fh:
        _journal_line(fh, {"journal": JOURNAL_VERSION, "created": time.time()})
        for a in actions:
            _journal_line(fh, {"op": a.kind, "src": str(a.src), "dst": str(a.dst)})
            try:
                _place(a.src, a.dst, keep_src=a.kind == "copy")
            except FileExistsError:
                failures.append(f"{a.kind} {a.src} -> {a.dst}: the target exists; left alone")
                continue
            except OSError as exc:
                failures.append(f"{a.kind} {a.src} -> {a.dst}: {exc.strerror or exc}")
                continue
            done += 1
            say(f"{'copied' if a.kind == 'copy' else 'moved'} {a.src} -> {a.dst}")
    return done, failures


def read_journal(journal: str | os.PathLike[str]) -> list[Action]:
    """Return the actions a journal records, in order (a torn last line is ignored); raises
    BlurlibError if it is not a blurlib journal."""
    path = Path(journal)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BlurlibError(
            f"--undo {path}: cannot read the journal ({exc}); check the path"
        ) from None
    items = []
    for line in lines:
        try:
            items.append(json.loads(line))
        except ValueError:
            continue
    if not items or not isinstance(items[0], dict) or items[0].get("journal") != JOURNAL_VERSION:
        raise BlurlibError(f"--undo {path}: not a blurlib rank journal")
    out = []
    for it in items[1:]:
        if isinstance(it, dict) and it.get("op") in ("copy", "move"):
            out.append(Action(it["op"], Path(it["src"]), Path(it["dst"])))
    return out


def undo_journal(
    journal: str | os.PathLike[str],
    *,
    dry_run: bool = True,
    say: Callable[[str], None] = print,
) -> tuple[int, list[str]]:
    """Move back (or, with ``dry_run``, say what would move back) every journalled move,
    newest first, journalling the undo beside the journal; return ``(done, problems)``."""
    journal = Path(journal)
    back: list[Action] = []
    problems: list[str] = []
    for a in reversed(read_journal(journal)):
        if a.kind == "copy":
            say(f"left in place: the copy {a.dst} (undo never deletes)")
            continue
        src_there, dst_there = a.src.exists(), a.dst.exists()
        if dst_there and src_there and os.path.samefile(a.src, a.dst):
            # interrupted between the link and the old name's removal: one file, two names
            if dry_run:
                say(f"would drop the second name {a.dst} of {a.src}")
            else:
                os.unlink(a.dst)
                say(f"dropped the second name {a.dst} of {a.src}")
        elif dst_there and not src_there:
            back.append(Action("move", a.dst, a.src))
        elif src_there:
            problems.append(f"{a.src} is already in its place; {a.dst} left alone")
        else:
            problems.append(f"{a.dst} is gone (moved or renamed since); cannot move it back")
    journal_back = None if dry_run else new_journal_path(journal.parent, "-undo")
    done, failures = apply_actions(back, journal_back, dry_run=dry_run, say=say)
    return done, problems + failures
