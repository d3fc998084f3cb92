"""The import picture of blurlib flows one way (docs: DESIGN.md, "Data flow").

Every module is parsed with ``ast`` (nothing is imported), and every import it makes is
checked, the lazy ones inside functions included:

- subpackages in data-flow order: data → nets → training → inference → evaluation → viz →
  commands; a module imports only from its own subpackage or those to its left, except that
  ``viz`` may import anything but ``commands``;
- shared ground (``errors``, ``fileio``, ``paths``, ``seeds``, ``runtime``) is importable
  from anywhere and itself imports only shared ground;
- the stable facades (``sources``, ``kernels``, ``patches``, ``dataset``, ``model``,
  ``predict``) and the entry points (``notebook_setup``, ``cli``, ``__main__``) may import
  anything, but no module inside blurlib imports a facade;
- ``blurlib/__init__.py`` runs before every other module, so it imports only shared ground.

And every module is readable in one sitting: at most 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "blurlib"
ORDER = ("data", "nets", "training", "inference", "evaluation", "viz", "commands")
SHARED = frozenset({"errors", "fileio", "paths", "seeds", "runtime"})
FACADES = frozenset({"sources", "kernels", "patches", "dataset", "model", "predict"})
ENTRY_POINTS = frozenset({"notebook_setup", "cli", "__main__"})
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    """Dotted name → file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, dotted target) for every blurlib import in a module, wherever it sits."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]  # the module's package
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                # `from blurlib import sources` imports the module blurlib.sources
                candidate = f"{module}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else module))
        elif isinstance(node, ast.Call) and _is_import_module(node.func) and node.args:
            target = _string_prefix(node.args[0])
            if target is not None:
                found.append((node.lineno, target.rstrip(".")))
    return [(line, t) for line, t in found if t == "blurlib" or t.startswith("blurlib.")]


def _is_import_module(func: ast.expr) -> bool:
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}
    )


def _string_prefix(arg: ast.expr) -> str | None:
    """The constant text of a string, or the constant start of an f-string."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        return str(arg.values[0].value)
    return None


def _layer(dotted: str) -> tuple[str, str]:
    """(kind, name) of the blurlib part a dotted module name belongs to."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return "root", "blurlib"
    top = parts[1]
    if top in ORDER:
        return "subpackage", top
    if top in SHARED:
        return "shared", top
    if top in FACADES:
        return "facade", top
    if top in ENTRY_POINTS:
        return "entry", top
    return "unknown", top


def _violation(source: str, target: str) -> str | None:
    """Why ``source`` may not import ``target``, or None when it may."""
    kind, name = _layer(source)
    t_kind, t_name = _layer(target)
    if t_kind == "unknown":
        return f"{t_name} is not in the layering map (add it to a layer in test_layering.py)"
    if kind == "unknown":
        return f"{name} is not in the layering map (add it to a layer in test_layering.py)"
    if t_kind == "facade" and kind != "entry" and source != target:
        return "imports a stable facade; import from the module that defines the name"
    if kind in ("facade", "entry"):
        return None
    if kind == "root":
        return None if t_kind == "shared" else "blurlib/__init__.py imports only shared ground"
    if t_kind == "shared":
        return None
    if kind == "shared":
        return "shared ground imports only shared ground"
    if t_kind == "entry":
        return f"imports the entry point {t_name}"
    if t_kind == "root":
        return None  # the package itself: only shared ground, checked above
    if name == "viz":
        return "viz imports commands" if t_name == "commands" else None
    if ORDER.index(t_name) > ORDER.index(name):
        return f"{name} imports {t_name}, which comes after it in the data flow"
    return None


def _all_violations() -> list[str]:
    out = []
    for name, path in MODULES.items():
        rel = path.relative_to(PACKAGE.parent)
        for line, target in _imports(name, path):
            why = _violation(name, target)
            if why:
                out.append(f"{rel}:{line}: imports {target}: {why}")
    return out


def test_the_map_covers_every_module():
    kinds = {name: _layer(name)[0] for name in MODULES}
    assert "unknown" not in kinds.values(), [n for n, k in kinds.items() if k == "unknown"]
    assert {_layer(n)[1] for n, k in kinds.items() if k == "subpackage"} == set(ORDER)
    assert {_layer(n)[1] for n, k in kinds.items() if k == "facade"} == FACADES


def test_imports_flow_one_way():
    violations = _all_violations()
    assert not violations, "\n".join(violations)


def test_module_size():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            long[str(path.relative_to(PACKAGE.parent))] = n
    assert not long, long


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("blurlib.nets.builders", "blurlib.data.kernels", True),
        ("blurlib.data.kernels", "blurlib.nets.builders", False),
        ("blurlib.training.fit", "blurlib.training.runs", True),
        ("blurlib.evaluation.runner", "blurlib.inference.windows", True),
        ("blurlib.inference.windows", "blurlib.evaluation.metrics", False),
        ("blurlib.viz.maps", "blurlib.evaluation.metrics", True),
        ("blurlib.viz.maps", "blurlib.commands.predict", False),
        ("blurlib.evaluation.runner", "blurlib.viz.maps", False),
        ("blurlib.commands.train", "blurlib.viz.curves", True),
        ("blurlib.data.images", "blurlib.errors", True),
        ("blurlib.errors", "blurlib.data.images", False),
        ("blurlib.inference.maps", "blurlib.predict", False),
        ("blurlib.commands.predict", "blurlib.sources", False),
        ("blurlib.predict", "blurlib.inference.maps", True),
        ("blurlib.cli", "blurlib.commands.train", True),
        ("blurlib.data.images", "blurlib.cli", False),
        ("blurlib", "blurlib.errors", True),
        ("blurlib", "blurlib.data.images", False),
    ],
)
def test_rules(source, target, allowed):
    assert (_violation(source, target) is None) == allowed


def test_finds_lazy_relative_and_dynamic_imports(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text(
        "import importlib\n"
        "from . import images\n"
        "from ..nets import builders as b\n"
        "def later():\n"
        "    from blurlib import model\n"
        "    import blurlib.viz.maps\n"
        "    return importlib.import_module(f'blurlib.commands.{b}')\n"
    )
    found = [t for _, t in _imports("blurlib.data.mod", path)]
    assert found == [
        "blurlib.data.images",
        "blurlib.nets.builders",
        "blurlib.model",
        "blurlib.viz.maps",
        "blurlib.commands",
    ]


@pytest.mark.parametrize(
    "package", sorted({p.parent.name for p in PACKAGE.glob("*/__init__.py")} - {"commands"})
)
def test_every_module_is_named_in_its_package_docstring(package):
    """Each subpackage's docstring is its table of contents: no module left out (commands/
    are listed by blurlib.cli.COMMANDS instead)."""
    init = PACKAGE / package / "__init__.py"
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    modules = sorted(p.stem for p in init.parent.glob("*.py") if p.stem != "__init__")
    missing = [m for m in modules if f"blurlib.{package}.{m}`" not in doc]
    assert not missing, f"{init} does not name {missing}"
