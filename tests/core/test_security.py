"""Security basics, checked over the source: model files load with `weights_only=True`, YAML
with `safe_load`, NumPy files without pickle, and nothing unpickles, evals or shells out.
(The behaviour is tested too: a hostile model file in test_bad_input, YAML tags in test_fuzz,
relative config paths that leave the working directory in test_fuzz.)"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p for folder in ("lsf", "jobs", "benchmarks") for p in (ROOT / folder).rglob("*.py")
)
FORBIDDEN_CALLS = {
    "pickle.load",
    "pickle.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "marshal.loads",
    "yaml.load",
    "yaml.unsafe_load",
    "yaml.full_load",
    "eval",
    "exec",
    "os.system",
    "os.popen",
}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str):
    for keyword in call.keywords:
        if keyword.arg == name and isinstance(keyword.value, ast.Constant):
            return keyword.value.value
    return None


def findings(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name, where = _name(node.func), f"{filename}:{node.lineno}"
        if name in FORBIDDEN_CALLS:
            found.append(f"{where} calls {name}")
        if name == "torch.load" and _keyword(node, "weights_only") is not True:
            found.append(f"{where} torch.load without weights_only=True")
        if name in ("np.load", "numpy.load") and _keyword(node, "allow_pickle") is not False:
            found.append(f"{where} np.load without allow_pickle=False")
        if name.startswith("subprocess.") and _keyword(node, "shell") is True:
            found.append(f"{where} runs a shell")
    return found


def test_the_checker_catches_each_unsafe_pattern():
    unsafe = """
import pickle, yaml, torch, numpy as np, subprocess
pickle.loads(b"")
yaml.load("a: 1")
torch.load("m.pt")
torch.load("m.pt", weights_only=False)
np.load("x.npz")
eval("1")
subprocess.run("ls", shell=True)
"""
    assert len(findings(unsafe, "x.py")) == 7
    safe = 'yaml.safe_load("a")\ntorch.load("m", weights_only=True)\nnp.load(f, allow_pickle=False)'
    assert findings(safe, "y.py") == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_source_has_no_unsafe_loading(path):
    assert findings(path.read_text(), str(path.relative_to(ROOT))) == []
