"""bertq's import graph, read from the source: no import loop, no lower layer importing an upper one;
and the reader itself (imports in function bodies, relative imports, packages) on a made-up package."""

import textwrap
from pathlib import Path

import pytest

from bertq.pipeline.imports import code_hash, import_closure, import_graph, imports_of, modules

LOWER = {"kernels", "models", "quantization", "engine", "metrics", "data", "cost"}
UPPER = {"evaluation", "bench", "reports", "pipeline", "training"}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Every import loop, as a path that comes back to its start (depth-first search, colours)."""
    colour, stack, loops = {}, [], []

    def visit(node):
        colour[node] = "grey"
        stack.append(node)
        for dep in sorted(graph[node]):
            if colour.get(dep) == "grey":
                loops.append(stack[stack.index(dep) :] + [dep])
            elif dep not in colour:
                visit(dep)
        stack.pop()
        colour[node] = "black"

    for node in sorted(graph):
        if node not in colour:
            visit(node)
    return loops


def _without_packages(graph):
    """A module importing ``bertq.a.b`` also runs ``bertq.a``; a package's ``__init__`` importing its
    own submodule is then no loop, so package edges (to an ancestor package) are left out."""
    return {m: frozenset(d for d in deps if not m.startswith(d + ".")) for m, deps in graph.items()}


def test_bertq_has_no_import_loop():
    graph = _without_packages(import_graph())
    assert len(graph) > 50
    assert _cycles(graph) == []


def test_no_lower_layer_imports_an_upper_one():
    upward = sorted(
        (m, d) for m, deps in import_graph().items() for d in deps if _layer(m) in LOWER and _layer(d) in UPPER
    )
    assert upward == []


def test_the_loop_finder_finds_a_loop():
    assert _cycles({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"})}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": frozenset({"b"}), "b": frozenset()}) == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "bertq"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


FAKE = {
    "__init__.py": "",
    "low/__init__.py": "",
    "low/a.py": "import numpy\nfrom . import b\n",
    "low/b.py": "def f():\n    from .c import g  # a lazy import counts\n    return g\n",
    "low/c.py": "from bertq.low.d import thing\n",
    "low/d.py": "thing = 1\n",
    "low/e.py": "x = 2\n",
    "up/__init__.py": "from ..low import e\n",
    "up/job.py": "from ..low.a import b as _b\nimport bertq.low.e\n",
}


def test_imports_are_read_from_the_whole_source_relative_and_lazy_ones_included(tmp_path):
    root = _package(tmp_path, FAKE)
    assert set(modules(root)) == {
        "bertq",
        "bertq.low",
        "bertq.low.a",
        "bertq.low.b",
        "bertq.low.c",
        "bertq.low.d",
        "bertq.low.e",
        "bertq.up",
        "bertq.up.job",
    }
    assert imports_of("bertq.low.a", root) == {"bertq", "bertq.low", "bertq.low.b"}
    assert imports_of("bertq.low.b", root) == {"bertq", "bertq.low", "bertq.low.c"}
    assert imports_of("bertq.low.c", root) == {"bertq", "bertq.low", "bertq.low.d"}  # `thing` is no module
    assert imports_of("bertq.up", root) == {"bertq", "bertq.low", "bertq.low.e"}
    assert import_closure("bertq.low.b", root) == {"bertq", "bertq.low", "bertq.low.b", "bertq.low.c", "bertq.low.d"}
    # the job runs its package's __init__ too
    assert import_closure("bertq.up.job", root) == {
        "bertq",
        "bertq.low",
        "bertq.up",
        "bertq.up.job",
        "bertq.low.a",
        "bertq.low.b",
        "bertq.low.c",
        "bertq.low.d",
        "bertq.low.e",
    }
    with pytest.raises(KeyError, match="'bertq.nope' is not a module"):
        imports_of("bertq.nope", root)


def test_a_package_getattr_import_counts_only_for_importers_of_its_lazy_names(tmp_path):
    lazy = "def __getattr__(name):\n    from .low import d\n    return getattr(d, name)\n"
    root = _package(tmp_path, {**FAKE, "__init__.py": lazy, "low/f.py": "from bertq import thing\n"})
    assert import_closure("bertq.low.e", root) == {"bertq", "bertq.low", "bertq.low.e"}  # runs bertq, asks nothing
    assert imports_of("bertq.low.f", root) == {"bertq", "bertq.low", "bertq.low.d"}


def test_the_code_hash_changes_exactly_when_a_module_of_the_closure_does(tmp_path):
    before = {m: code_hash(m, root=_package(tmp_path / "1", FAKE)) for m in ("bertq.low.b", "bertq.low.e")}
    edited = _package(tmp_path / "2", {**FAKE, "low/d.py": "thing = 1  # edited\n"})
    after = {m: code_hash(m, root=edited) for m in ("bertq.low.b", "bertq.low.e")}
    assert after["bertq.low.b"] != before["bertq.low.b"]  # b imports c, c imports d
    assert after["bertq.low.e"] == before["bertq.low.e"]  # e imports nothing of d
    assert code_hash("bertq.low.b:f", root=edited) == after["bertq.low.b"]  # an entry point hashes its module
