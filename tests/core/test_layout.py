"""The package layout: every module imports alone in a fresh interpreter, no import cycles,
lsf.core imports nothing above it (nn, data, the statistics, the verbs), one module per CLI
verb and `jobs/` entry point, and each stage says when it is complete."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import lsf

ROOT = Path(__file__).resolve().parents[2]
VERBS = (
    "prepare",
    "train",
    "encode",
    "analyze",
    "generate",
    "report",
    "run",
    "explore",
    "compare",
    "import",
    "pca",
)
STAGES = VERBS[:6]  # the verbs `lsf run` chains; each says when its output is complete
MODULES = {"import": "import_latents"}  # `import` is a Python keyword


def all_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(lsf.__path__, prefix="lsf."))


def test_every_module_imports_in_a_fresh_interpreter():
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    result = subprocess.run(
        [sys.executable, "-c", code, *all_modules()], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def lsf_imports(path: Path) -> set[str]:
    """The lsf modules a file imports, at any depth of its code (lazy imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("lsf")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lsf"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if _is_module(candidate) else node.module)
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for name in all_modules():
        spec = importlib.util.find_spec(name)
        graph[name] = {m for m in lsf_imports(Path(spec.origin)) if m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the directed graph as a list of nodes, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles_between_lsf_modules():
    assert find_cycle(import_graph()) is None


def imports_above_core(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Each lsf.core module's imports from above it: lsf.core is the bottom layer, so it
    imports only lsf.core modules (and the `lsf` package's version), never lsf.nn, lsf.data,
    the statistics or a verb module."""
    return {
        name: {
            m for m in imports if m != "lsf" and m != "lsf.core" and not m.startswith("lsf.core.")
        }
        for name, imports in graph.items()
        if name == "lsf.core" or name.startswith("lsf.core.")
    }


def test_the_layer_check_finds_planted_upward_imports():
    graph = {
        "lsf.core.preflight_stages": {"lsf.core.preflight", "lsf.nn.model", "lsf.prepare"},
        "lsf.core.config": {"lsf", "lsf.core.errors"},
        "lsf.stats.pca": {"lsf.core.errors"},
    }
    above = imports_above_core(graph)
    assert above == {
        "lsf.core.preflight_stages": {"lsf.nn.model", "lsf.prepare"},
        "lsf.core.config": set(),
    }


def test_core_imports_nothing_above_it():
    above = {name: found for name, found in imports_above_core(import_graph()).items() if found}
    assert not above, above


def test_the_graph_module_imports_no_statistics():
    graph = import_graph()
    assert not {m for m in graph["lsf.stats.graph"] if m.startswith("lsf.stats.")}


def test_the_verb_list_is_the_cli_s():
    import argparse

    from lsf.cli import build_parser

    (verbs,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(verbs.choices) == sorted(VERBS)


@pytest.mark.parametrize("verb", VERBS)
def test_each_verb_has_its_module_and_job_entry_point(verb):
    module = importlib.import_module(f"lsf.{MODULES.get(verb, verb)}")
    assert module.__doc__ and f"lsf {verb}" in module.__doc__
    assert (ROOT / "jobs" / f"{verb}.py").is_file()
    if verb in STAGES:
        assert callable(module.is_complete)
        assert module.is_complete(str(ROOT / "no-such-output")) is False
