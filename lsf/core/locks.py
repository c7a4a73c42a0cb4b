"""One writer per output: `output_lock(url)` refuses a second run writing the same output.

The lock is `OUTPUT.lock`, a small file beside the output held with an exclusive
`fcntl.flock` for the whole run. The kernel drops the lock when its holder exits, however it
exits, so a killed run never leaves a stale lock behind; the file records who holds it
(pid, host, command, start time) for the refusal message. Every stage takes the lock on its
output before it writes anything; `lsf run` also locks its work folder
(`WORKDIR/.lsf-run.lock`).
Locks work on local and shared POSIX file systems. Object stores (`s3://`, `gs://`) have no
atomic lock, so there the lock is skipped: give concurrent runs different outputs.
"""

from __future__ import annotations

import fcntl
import functools
import inspect
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lsf.core.errors import LsfError
from lsf.core.outputs import is_local, local_path, make_local_folder

LOCK_SUFFIX = ".lock"


def lock_path_of(url: str) -> str | None:
    """The lock file of the output `url`, or None where the file system cannot lock."""
    if not is_local(url):
        return None
    return os.path.abspath(local_path(url).rstrip("/")) + LOCK_SUFFIX


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another lsf run"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    where = f"pid {info.get('pid')} on {info.get('host')}, since {started}"
    return f"`{info.get('command', 'lsf')}` ({where})"


@contextmanager
def output_lock(url: str, what: str | None = None) -> Iterator[None]:
    """Hold the lock of output `url` for the block; refuse (LsfError) if another run holds it
    (`what` names the output in that message; default: `url`)."""
    path = lock_path_of(url)
    if path is None:
        yield
        return
    make_local_folder(os.path.dirname(path))
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LsfError(f"cannot create the lock {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise LsfError(
                f"{what or url} is being written by {holder}; wait for it to finish or "
                "choose another output"
            ) from None
        # The file may have been unlinked by a holder that finished between our open and
        # flock; then we hold a lock nobody else can see, so start again.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(["lsf", *sys.argv[1:]])[:300],
            "started": time.time(),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        os.close(fd)


def locks_output(parameter: str) -> Callable:
    """Decorator: run the stage function while holding the lock of its output `parameter`."""

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args, **kwargs):
            url = signature.bind(*args, **kwargs).arguments[parameter]
            with output_lock(str(url)):
                return function(*args, **kwargs)

        return locked

    return decorate
