"""Resumable analysis: the reduced result of every finished pass, kept until the end.

`PassCheckpoints(url, key)` keeps each pass's reduced partial sums (nested dicts, lists and
NumPy arrays) as `.npz` files, without pickle, in a folder beside the analysis output
(`ANALYSIS.partial`). A rerun after an interruption loads the finished passes instead of
reading the store again. `key` names the store and the configuration, and a folder written
under another key is discarded. `clear()` removes the folder once the analysis is written.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable

import fsspec
import numpy as np

KEY_FILE = "key.json"


def flatten(value, arrays: dict[str, np.ndarray], prefix: str = "v"):
    """A JSON-able description of `value`, with its arrays moved into `arrays`."""
    if isinstance(value, dict):
        return {"dict": {k: flatten(v, arrays, f"{prefix}.{k}") for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"list": [flatten(v, arrays, f"{prefix}.{i}") for i, v in enumerate(value)]}
    if isinstance(value, np.generic):
        arrays[prefix] = np.asarray(value)
        return {"numpy_scalar": prefix}
    if isinstance(value, np.ndarray):
        arrays[prefix] = value
        return {"array": prefix}
    if value is None or isinstance(value, bool | int | float | str):
        return {"scalar": value}
    raise TypeError(f"cannot checkpoint a {type(value).__name__}")


def unflatten(spec, arrays) -> object:
    """The value `flatten` described."""
    if "dict" in spec:
        return {k: unflatten(v, arrays) for k, v in spec["dict"].items()}
    if "list" in spec:
        return [unflatten(v, arrays) for v in spec["list"]]
    if "array" in spec:
        return arrays[spec["array"]]
    if "numpy_scalar" in spec:
        return arrays[spec["numpy_scalar"]][()]
    return spec["scalar"]


class PassCheckpoints:
    """The finished passes of one analysis (`url`: the checkpoint folder)."""

    def __init__(self, url: str, key: dict):
        self.fs, self.path = fsspec.core.url_to_fs(url)
        self.path = self.path.rstrip("/")
        self.key = key
        key_file = f"{self.path}/{KEY_FILE}"
        if self.fs.exists(key_file):
            try:
                with self.fs.open(key_file, "r") as f:
                    same = json.load(f) == key
            except (OSError, ValueError):
                same = False
            if same:
                return
        if self.fs.exists(self.path):
            self.fs.rm(self.path, recursive=True)
        self.fs.makedirs(self.path, exist_ok=True)
        self._write(KEY_FILE, json.dumps(key).encode())

    def _write(self, name: str, data: bytes) -> None:
        tmp = f"{self.path}/.{name}.tmp-{uuid.uuid4().hex[:8]}"
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
        self.fs.mv(tmp, f"{self.path}/{name}")

    def save(self, name: str, value) -> None:
        arrays: dict[str, np.ndarray] = {}
        spec = flatten(value, arrays)
        buffer = io.BytesIO()
        np.savez(buffer, __spec__=np.array(json.dumps(spec)), **arrays)
        self._write(f"{name}.npz", buffer.getvalue())

    def load(self, name: str):
        """The saved value of pass `name`, or None if it has not finished."""
        url = f"{self.path}/{name}.npz"
        if not self.fs.exists(url):
            return None
        try:
            with self.fs.open(url, "rb") as f, np.load(f, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            return unflatten(json.loads(str(arrays.pop("__spec__"))), arrays)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None

    def run(self, name: str, compute: Callable[[], object], log=print, label: str = ""):
        """`compute()` once: a finished pass is loaded instead of recomputed."""
        saved = self.load(name)
        if saved is not None:
            log(f"{label} (resumed: finished by an earlier run)")
            return saved
        log(label)
        value = compute()
        self.save(name, value)
        return value

    def clear(self) -> None:
        if self.fs.exists(self.path):
            self.fs.rm(self.path, recursive=True)


def run_pass(checkpoints: PassCheckpoints | None, name: str, compute, log=print, label=""):
    """`checkpoints.run(...)`, or just `compute()` with the log line when not checkpointing."""
    if checkpoints is None:
        log(label)
        return compute()
    return checkpoints.run(name, compute, log=log, label=label)
