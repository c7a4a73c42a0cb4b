"""Atomic outputs: every stage writes under a temporary name and renames at the end.

`atomic_output_dir(url, overwrite)` refuses an existing output unless `overwrite`, checks
the parent is writable, yields a temporary sibling folder and moves it into place only if
the block succeeds, so an interrupted run never leaves a half-valid output. Paths are local
paths or fsspec URLs.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import fsspec

from lsf.core.errors import LsfError


def _is_local(fs) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def is_local(url: str) -> bool:
    """Whether `url` is on the local file system (a plain path or a `file://` URL)."""
    return _is_local(fsspec.core.url_to_fs(url)[0])


def local_path(url: str) -> str:
    """The local path of a local `url` (`file:///a/b` -> `/a/b`)."""
    return fsspec.core.url_to_fs(url)[1]


def zarr_location(url: str) -> str:
    """What to hand zarr: a plain path for local URLs (zarr's LocalStore creates folders;
    its fsspec store on `file://` does not), the URL itself for object stores."""
    return local_path(url) if is_local(url) else url


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


def _move_into_place(fs, tmp_path: str, path: str, token: str) -> None:
    if fs.exists(path):
        old_path = f"{path.rstrip('/')}.old-{token}"
        fs.mv(path, old_path, recursive=True)
        fs.mv(tmp_path, path, recursive=True)
        fs.rm(old_path, recursive=True)
    else:
        fs.mv(tmp_path, path, recursive=True)


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
    _move_into_place(fs, tmp_path, path, token)


@contextmanager
def staged_output_dir(url: str, overwrite: bool = False) -> Iterator[str]:
    """Like `atomic_output_dir`, but always yields a local folder, for writers that need
    one (PIL, matplotlib, torch.save): on an object store the folder is staged in a local
    temporary folder and uploaded when the block completes."""
    if is_local(url):
        with atomic_output_dir(url, overwrite) as tmp:
            yield local_path(tmp)
        return
    check_output(url, overwrite)
    fs, path = fsspec.core.url_to_fs(url)
    token = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="lsf-stage-") as staging:
        yield staging
        tmp_path = f"{path.rstrip('/')}.tmp-{token}"
        try:
            fs.put(staging.rstrip("/") + "/", tmp_path, recursive=True)
        except BaseException:
            if fs.exists(tmp_path):
                fs.rm(tmp_path, recursive=True)
            raise
        _move_into_place(fs, tmp_path, path, token)


@contextmanager
def local_copy(url: str) -> Iterator[str]:
    """A local path holding the file or folder `url`: the path itself when it is local,
    else a temporary download (for readers that need a local file)."""
    if is_local(url):
        yield local_path(url)
        return
    fs, path = fsspec.core.url_to_fs(url)
    with tempfile.TemporaryDirectory(prefix="lsf-copy-") as folder:
        target = os.path.join(folder, os.path.basename(path.rstrip("/")) or "copy")
        fs.get(path.rstrip("/"), target, recursive=fs.isdir(path))
        yield target


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
