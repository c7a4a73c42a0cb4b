"""Atomic outputs: every stage writes under a temporary name and renames at the end.

`atomic_output_dir(url, overwrite)` refuses an existing output unless `overwrite`, checks
the parent is writable, yields a temporary sibling folder and moves it into place only if
the block succeeds, so an interrupted run never leaves a half-valid output. Paths are local
paths or fsspec URLs.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import fsspec

from lsf.errors import LsfError


def _is_local(fs) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def check_output(url: str, overwrite: bool) -> None:
    """Refuse an existing output (unless `overwrite`) or a parent folder we cannot write."""
    fs, path = fsspec.core.url_to_fs(url)
    if fs.exists(path) and not overwrite:
        raise LsfError(f"output {url} already exists; pass --overwrite to replace it")
    if _is_local(fs):
        parent = make_local_folder(os.path.dirname(os.path.abspath(path)) or ".")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise LsfError(f"output folder {parent} is not writable")


def make_local_folder(folder: str) -> str:
    """Create a local folder (and its parents), or explain in one line why it cannot be."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        blocker = folder
        while blocker and not os.path.exists(blocker):
            blocker = os.path.dirname(blocker)
        reason = (
            f"{blocker} is a file, not a folder"
            if blocker and not os.path.isdir(blocker)
            else exc.strerror
        )
        raise LsfError(f"cannot create output folder {folder}: {reason}") from None
    return folder


@contextmanager
def atomic_output_dir(url: str, overwrite: bool = False) -> Iterator[str]:
    """Yield a temporary folder URL that becomes `url` when the block completes."""
    check_output(url, overwrite)
    fs, path = fsspec.core.url_to_fs(url)
    token = uuid.uuid4().hex[:8]
    tmp_path = f"{path.rstrip('/')}.tmp-{token}"
    fs.makedirs(tmp_path, exist_ok=True)
    tmp_url = url.rstrip("/") + f".tmp-{token}"
    try:
        yield tmp_url
    except BaseException:
        fs.rm(tmp_path, recursive=True)
        raise
    if fs.exists(path):
        old_path = f"{path.rstrip('/')}.old-{token}"
        fs.mv(path, old_path, recursive=True)
        fs.mv(tmp_path, path, recursive=True)
        fs.rm(old_path, recursive=True)
    else:
        fs.mv(tmp_path, path, recursive=True)


def write_json_atomic(url: str, data) -> None:
    """Write JSON to `url` through a temporary file and a rename."""
    fs, path = fsspec.core.url_to_fs(url)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
    fs.mv(tmp, path)


def read_json(url: str) -> dict:
    fs, path = fsspec.core.url_to_fs(url)
    with fs.open(path, "r") as f:
        return json.load(f)


def exists(url: str) -> bool:
    fs, path = fsspec.core.url_to_fs(url)
    return fs.exists(path)


def makedirs(url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(path, exist_ok=True)


def join(url: str, *parts: str) -> str:
    return "/".join([url.rstrip("/"), *parts])
