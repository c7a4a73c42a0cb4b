"""Output locks: one writer per output, refusals name the holder, no stale locks."""

import os
import signal
import subprocess
import sys

import pytest

from lsf.cli import main
from lsf.core.errors import LsfError
from lsf.core.locks import lock_path_of, output_lock

HOLD = """
import sys, time
from lsf.core.locks import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(url: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_refuses_a_second_writer_in_another_process(tmp_path):
    out = str(tmp_path / "analysis")
    holder = _holder(out)
    try:
        with pytest.raises(LsfError, match=f"{out} is being written by .*pid {holder.pid}"):
            with output_lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    # SIGKILL of the holder released the lock: the next writer gets it, and cleans up.
    with output_lock(out):
        assert os.path.exists(lock_path_of(out))
    assert not os.path.exists(lock_path_of(out))


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    out = str(tmp_path / "samples")
    with output_lock(out), pytest.raises(LsfError, match="is being written by"):
        with output_lock(out):
            pass


def test_lsf_run_refuses_a_work_folder_another_run_is_using(tmp_path, capsys):
    workdir = tmp_path / "work"
    holder = _holder(str(workdir / ".lsf-run"))
    try:
        assert main(["run", "--config", "tiny", "--workdir", str(workdir), "--quiet"]) == 2
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lsf run: error: work folder {workdir} is being written by")
    assert not (workdir / "shards").exists()


def test_object_store_outputs_are_not_locked():
    assert lock_path_of("memory://bucket/out") is None
    with output_lock("memory://bucket/out"), output_lock("memory://bucket/out"):
        pass
