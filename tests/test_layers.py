"""The package's layers, visible in its tree, and imports that only point down.

1. ``multidrizzle.kernels``: numba functions on arrays; imports nothing of the
   package but ``multidrizzle.errors``.
2. ``multidrizzle.model`` and ``multidrizzle.io``: the data model and files.
3. ``multidrizzle.steps`` (and ``multidrizzle.demo``, which may use them): never
   the session, its parameters or traitlets.
4. ``multidrizzle.session``: the only place that knows traitlets.

``multidrizzle.errors`` and ``multidrizzle.progress`` import nothing of the
package and may be used everywhere.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "multidrizzle"

#: Layer of each subpackage (top-level modules: see SHARED).
LAYERS = {"kernels": 1, "model": 2, "io": 2, "steps": 3, "demo": 3, "session": 4}
#: Modules any layer may import.
SHARED = {"multidrizzle.errors", "multidrizzle.progress"}
#: Third-party packages only some layers may import.
ONLY_IN = {"traitlets": {"session"}, "numba": {"kernels", "session"}}  # session: num_cores


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code, absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "multidrizzle" or module in SHARED or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])


def test_every_module_is_in_a_layer_or_shared():
    loose = [_module_name(path) for path in _modules()
             if _module_name(path) not in SHARED | {"multidrizzle", "multidrizzle.__main__"}
             and _layer_of(_module_name(path)) is None]
    assert loose == []


@pytest.mark.parametrize("path", _modules(), ids=lambda path: _module_name(path))
def test_imports_point_down(path):
    module = _module_name(path)
    own = _layer_of(module)
    imported = _imports(path)
    if module in SHARED:
        assert not [name for name in imported if name.startswith("multidrizzle")], module
        return
    if own is None:
        return
    upward = sorted(name for name in imported
                    if (_layer_of(name) or 0) > own
                    and not (own == 3 and _layer_of(name) == 3))
    assert upward == [], f"{module} (layer {own}) imports a higher layer"
    subpackage = module.split(".")[1]
    if subpackage == "steps":
        assert not [name for name in imported if name.startswith("multidrizzle.demo")]
    for third_party, allowed in ONLY_IN.items():
        if subpackage not in allowed:
            assert not [name for name in imported if name.split(".")[0] == third_party], \
                f"{module} imports {third_party}"


def test_kernels_import_nothing_of_the_package_but_errors():
    for path in (PACKAGE / "kernels").rglob("*.py"):
        ours = {name for name in _imports(path) if name.startswith("multidrizzle")}
        allowed = {name for name in ours if name.startswith(("multidrizzle.kernels",
                                                             "multidrizzle.errors"))}
        assert ours == allowed, path.name


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    source = tmp_path / "multidrizzle" / "steps" / "example.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    from multidrizzle.session import pipeline\n"
                      "from ..session.parameters import X\n", encoding="utf-8")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "multidrizzle"
    try:
        names = _imports(source)
    finally:
        PACKAGE = saved
    assert "multidrizzle.session.pipeline" in names
    assert "multidrizzle.session.parameters" in names
    assert _layer_of("multidrizzle.session.pipeline") == 4 > LAYERS["steps"]
