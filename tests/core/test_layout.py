"""The package layout: every module imports alone in a fresh interpreter, no import cycles,
lsf.core imports nothing above it (nn, data, the statistics, the verbs), Dask graphs are
built and run only in `lsf.stats.graph` (and the store's reading edge), the statistics and
result types import neither Dask nor the graph module nor the passes, one module per CLI
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


GRAPH_MODULE = "lsf.stats.graph"
# Where else Dask graphs may be built, as (module, top-level function):
GRAPH_EDGES = {
    # the store's reading edge: lazy arrays of its chunks (lsf.core cannot import the graph
    # module, see the docstring of lsf.core.store)
    ("lsf.core.store", "open_latents"),
    ("lsf.core.store", "open_split"),
    # `lsf pca --method randomized`: Dask's svd_compressed over delayed row reads, not yet
    # moved behind the graph module (issue 27)
    ("lsf.pca", "fit_randomized"),
}
PASS_MODULES = {"lsf.stats.analysis", "lsf.stats.pair_analysis", "lsf.stats.regions_pass"}
GRAPH_ATTRIBUTES = {"delayed", "to_delayed", "from_delayed", "compute", "persist"}
OWN_REDUCTIONS = {"tree_reduce", "chain_reduce"}


def graph_code(source: str) -> set[tuple[str, str]]:
    """`(top-level function or "<module>", what)` for every piece of Dask graph code in a
    module's source: a Dask import, `delayed` / `to_delayed` / `from_delayed`, `dask.compute`
    or any `.compute(scheduler=...)` (a scheduler choice), a reduction of its own."""
    found = set()

    def visit(node, where):
        if isinstance(node, ast.Import):
            found.update((where, f"import {a.name}") for a in node.names if _is_dask(a.name))
        elif isinstance(node, ast.ImportFrom) and _is_dask(node.module or ""):
            found.add((where, f"from {node.module} import"))
        elif isinstance(node, ast.Attribute) and node.attr in GRAPH_ATTRIBUTES - {"compute"}:
            found.add((where, f".{node.attr}"))
        elif isinstance(node, ast.Attribute) and node.attr == "compute":
            if isinstance(node.value, ast.Name) and node.value.id == "dask":
                found.add((where, "dask.compute"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "compute" and any(k.arg == "scheduler" for k in node.keywords):
                found.add((where, ".compute(scheduler=...)"))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in OWN_REDUCTIONS:
            found.add((where, f"def {node.name}"))
        for child in ast.iter_child_nodes(node):
            top = where
            if where == "<module>" and isinstance(child, ast.FunctionDef | ast.ClassDef):
                top = child.name
            visit(child, top)

    visit(ast.parse(source), "<module>")
    return found


def _is_dask(module: str) -> bool:
    return module == "dask" or module.startswith("dask.")


def test_the_graph_code_finder_finds_planted_graph_code():
    source = (
        "import dask.array as da\n"
        "from dask import delayed\n"
        "def read(z):\n"
        "    blocks = z.to_delayed()\n"
        "    return da.from_delayed(dask.delayed(f)(blocks[0]), (1,), float)\n"
        "class Pass:\n"
        "    def run(self, g):\n"
        "        return dask.compute(g), g.compute(scheduler='sync'), g.compute()\n"
        "def tree_reduce(parts, combine):\n"
        "    return parts\n"
    )
    assert graph_code(source) == {
        ("<module>", "import dask.array"),
        ("<module>", "from dask import"),
        ("read", ".to_delayed"),
        ("read", ".from_delayed"),
        ("read", ".delayed"),
        ("Pass", "dask.compute"),
        ("Pass", ".compute(scheduler=...)"),
        ("tree_reduce", "def tree_reduce"),
    }
    uses = "from lsf.stats.graph import task, tree_reduce\nx = tree_reduce([task(f)], g)\n"
    assert graph_code(uses) == set()


def test_only_the_graph_module_builds_or_runs_dask_graphs():
    outside = {}
    for name in all_modules():
        if name == GRAPH_MODULE:
            continue
        found = graph_code(Path(importlib.util.find_spec(name).origin).read_text())
        found = {(where, what) for where, what in found if (name, where) not in GRAPH_EDGES}
        if found:
            outside[name] = sorted(found)
    assert not outside, outside


def below_the_graph(graph: dict[str, set[str]], name: str) -> set[str]:
    """The graph module and the passes among the lsf modules `name` imports, at any depth."""
    seen, todo = set(), [name]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen & (PASS_MODULES | {GRAPH_MODULE})


def statistics_modules() -> list[str]:
    """Every module of lsf.stats that holds math, result types or their files: all but the
    graph module and the passes that hand it their steps."""
    return [
        m
        for m in all_modules()
        if m.startswith("lsf.stats.") and m not in PASS_MODULES | {GRAPH_MODULE}
    ]


def test_the_statistics_list_holds_the_math_and_the_result_types():
    names = set(statistics_modules())
    pure = {"results", "moments", "fits", "pca", "quadratic", "chunk_steps", "histograms"}
    assert {f"lsf.stats.{m}" for m in pure} <= names
    assert not names & (PASS_MODULES | {GRAPH_MODULE})


def test_the_depth_search_finds_a_pass_imported_through_another_module():
    graph = {"lsf.stats.a": {"lsf.stats.b"}, "lsf.stats.b": {"lsf.stats.pair_analysis"}}
    assert below_the_graph(graph, "lsf.stats.a") == {"lsf.stats.pair_analysis"}


def test_the_statistics_and_result_types_import_no_dask_graph_or_pass():
    graph = import_graph()
    found = {}
    for name in statistics_modules():
        source = Path(importlib.util.find_spec(name).origin).read_text()
        dask_imports = {what for _, what in graph_code(source) if "import" in what}
        if bad := dask_imports | below_the_graph(graph, name):
            found[name] = sorted(bad)
    assert not found, found


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
