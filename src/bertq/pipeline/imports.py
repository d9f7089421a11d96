"""The import graph of bertq, read from the source with :mod:`ast`, and a job's code version.

A module imports every bertq module named by an ``import`` anywhere in it (function bodies
included: a lazy import runs too), relative imports resolved; importing ``bertq.a.b`` also runs
the packages ``bertq`` and ``bertq.a`` (but not what a package's ``__getattr__`` imports on demand,
unless the importer asks the package for an attribute); a package that lists its own modules to import them
(``pkgutil.iter_modules(__path__)``) imports every one. A job's ``code`` param is the hash of the transitive
closure of its entry point's module, so editing a module reruns exactly the jobs whose entry
points import it. Everything is cached: one DAG build reads each file once.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "bertq"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


@functools.cache
def modules(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package under ``root``: dotted name -> source file."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _packages(name: str) -> list[str]:
    """``name`` and the packages that importing it runs first (``bertq.a.b`` -> ``bertq``, ``bertq.a``)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _walk(tree: ast.AST, skip: ast.AST | None):
    """Every node of ``tree`` except those of ``skip``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if node is not skip:
            yield node
            todo.extend(ast.iter_child_nodes(node))


def _lazy_getattr(tree: ast.Module) -> ast.FunctionDef | None:
    """A module's ``__getattr__`` (PEP 562): what it imports runs only when an importer asks the
    module for one of its lazy names (``from bertq import quantize``), not on ``import bertq.x``."""
    return next((node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"), None)


def _imported_names(name: str, path: Path, tree: ast.AST, skip: ast.AST | None = None) -> set[str]:
    """The dotted names an import statement anywhere in ``tree`` (but ``skip``) may load (modules or
    attributes)."""
    names = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in _walk(tree, skip):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if node.level - 1 > len(package) - 1:
                    raise ImportError(f"{path}: relative import beyond the top-level package")
                prefix = package[: len(package) - (node.level - 1)]
                base = ".".join(prefix + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


@functools.cache
def imports_of(name: str, root: Path = PACKAGE_DIR) -> frozenset[str]:
    """The bertq modules ``name`` imports directly (with the packages those imports run)."""
    mods = modules(root)
    if name not in mods:
        raise KeyError(f"{name!r} is not a module of {root}")
    path = mods[name]
    tree = _parse(path)
    found = set()
    for dotted in _imported_names(name, path, tree, skip=_lazy_getattr(tree)):
        if dotted.split(".")[0] != PACKAGE:
            continue
        attribute = dotted not in mods
        while dotted not in mods and "." in dotted:  # an attribute (a function, a class): its module
            dotted = dotted.rsplit(".", 1)[0]
        found.update(p for p in _packages(dotted) if p in mods)
        if attribute and dotted != name:
            found |= lazy_imports(dotted, root)
    if path.name == "__init__.py" and _lists_own_modules(tree):  # e.g. bertq.reports.catalog
        found.update(m for m in mods if m.rsplit(".", 1)[0] == name)
    found.discard(name)
    return frozenset(found)


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_bytes(), filename=str(path))


@functools.cache
def lazy_imports(name: str, root: Path = PACKAGE_DIR) -> frozenset[str]:
    """The bertq modules ``name``'s ``__getattr__`` imports (those an importer of one of its
    attributes runs), with their packages."""
    path = modules(root)[name]
    lazy = _lazy_getattr(_parse(path))
    if lazy is None:
        return frozenset()
    found = set()
    for dotted in _imported_names(name, path, lazy):
        if dotted.split(".")[0] == PACKAGE:
            while dotted not in modules(root) and "." in dotted:
                dotted = dotted.rsplit(".", 1)[0]
            found.update(p for p in _packages(dotted) if p in modules(root))
    found.discard(name)
    return frozenset(found)


def _lists_own_modules(tree: ast.AST) -> bool:
    """Whether a package imports its modules by listing them (``pkgutil.iter_modules(__path__)``)."""
    return any(
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "iter_modules"
        and any(isinstance(a, ast.Name) and a.id == "__path__" for a in node.args)
        for node in ast.walk(tree)
    )


@functools.cache
def import_closure(name: str, root: Path = PACKAGE_DIR) -> frozenset[str]:
    """``name``, its packages, and every bertq module they import, transitively."""
    mods = modules(root)
    seen, todo = set(), [p for p in _packages(name) if p in mods]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(imports_of(current, root) - seen)
    return frozenset(seen)


@functools.cache
def code_hash(*entries: str, root: Path = PACKAGE_DIR) -> str:
    """SHA-256 (shortened) of the source of every module in the import closure of ``entries``
    (module names, or ``module:function`` entry points)."""
    closure = set()
    for entry in entries:
        closure |= import_closure(entry.split(":")[0], root)
    mods, h = modules(root), hashlib.sha256()
    for name in sorted(closure):
        h.update(name.encode() + b"\0")
        h.update(mods[name].read_bytes())
    return h.hexdigest()[:16]


def import_graph(root: Path = PACKAGE_DIR) -> dict[str, frozenset[str]]:
    """Every module's direct bertq imports."""
    return {name: imports_of(name, root) for name in modules(root)}
