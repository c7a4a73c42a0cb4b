"""Isolation from other Ray on the machine: this session's Ray lives in its own temp folder,
and a local instance started by `init_ray` answers its own processes' state-API calls even
where Ray's default temp folder names another cluster (a `ray start` left running). A local
instance started from a thread outlives the thread. (`tests/foreign_ray.py` runs whole test
modules beside another user's live cluster.)"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)

# A local instance next to another cluster's address file; a task asks the state API where it
# is, as Ray Train's placement-group cleaner does (no address: Ray looks for "the" cluster).
PROBE = """\
import json, os, sys
from lsf.core.runtime import init_ray

init_ray(num_cpus=1)
import ray

@ray.remote(num_cpus=0)
def state_api():
    from ray.dashboard.utils import get_address_for_submission_client
    return get_address_for_submission_client(None)

node = ray._private.worker._global_node
report = {"own": "http://" + node.webui_url, "seen": ray.get(state_api.remote()),
          "gcs": node.gcs_address, "env": os.environ.get("RAY_API_SERVER_ADDRESS")}
print("PROBE " + json.dumps(report))
"""


def run_script(code: str, env: dict) -> tuple[str, str, str]:
    """Run `code` in a fresh interpreter (it must exit 0): its stdout, its stderr and, for
    assertion messages, the tail of both."""
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=240
    )
    output = (result.stdout + result.stderr)[-3000:]
    assert result.returncode == 0, output
    return result.stdout, result.stderr, output


def test_the_sessions_ray_keeps_its_files_in_a_folder_of_its_own(ray_local):
    import ray

    folder = Path(os.environ["RAY_TMPDIR"])
    assert folder.name.startswith("lsf-test-ray-") and folder.is_dir()
    session = Path(ray._private.worker._global_node.get_session_dir_path())
    assert session.is_relative_to(folder / "ray")
    # the address file that `ray.cluster_utils.Cluster` writes and deletes is this folder's
    from ray._common.utils import get_ray_address_file

    assert Path(get_ray_address_file(None)).parent == folder / "ray"


def test_a_local_instance_answers_its_own_state_api_beside_another_cluster():
    # Short: Ray's socket paths under it must stay below 108 characters.
    default = Path(tempfile.mkdtemp(prefix="i", dir=os.environ["RAY_TMPDIR"]))
    (default / "ray").mkdir()
    # Another cluster's address file, as `ray start --head` writes it (nothing listens there).
    (default / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")
    env = {**os.environ, "RAY_TMPDIR": str(default), "PYTHONPATH": str(ROOT)}
    stdout, _, _ = run_script(PROBE, env)
    (line,) = [line for line in stdout.splitlines() if line.startswith("PROBE ")]
    report = json.loads(line.removeprefix("PROBE "))
    assert report["seen"] == report["own"], report
    assert report["gcs"] != "127.0.0.1:9" and report["env"] is None  # the driver's env is as it was
    assert (default / "ray" / "ray_current_cluster").read_text() == "127.0.0.1:9"


# `init_ray` from a thread that then ends, as a test's `Background` job or a web handler does.
THREAD = """\
import threading, time
import ray
from lsf.core.runtime import init_ray

thread = threading.Thread(target=lambda: init_ray(num_cpus=1))
thread.start()
thread.join()
time.sleep(2)  # Ray's processes would be SIGKILLed now (tests/repro/ray_init_in_thread.py)
raylet = ray._private.worker._global_node.all_processes["raylet"][0].process
print("ANSWER", ray.get(ray.remote(lambda: 42).remote(), timeout=60), raylet.poll())
ray.shutdown()
deadline = time.time() + 30
while any(t.name == "lsf-ray-keeper" for t in threading.enumerate()) and time.time() < deadline:
    time.sleep(0.1)
print("KEEPERS", [t.name for t in threading.enumerate() if t.name == "lsf-ray-keeper"])
"""


def test_a_local_instance_started_from_a_thread_outlives_the_thread():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stdout, _, output = run_script(THREAD, env)
    assert "ANSWER 42 None" in stdout, output  # the raylet still runs
    assert "KEEPERS []" in stdout, output  # and its keeper ends with it


# Ray gives up on its raylet after a fixed 30 s. Here its clock jumps past that while the GCS
# does not yet answer for the new node, once: the first start times out as on a loaded machine.
TIMED_OUT_ONCE = """\
import time, types
import psutil, ray
import ray._private.node as node_module
import ray._private.services as services
from lsf.core.runtime import init_ray

real_get_node, attempts = services.get_node, []

def get_node(gcs_address, node_id):
    if len(attempts) == 1:
        raise RuntimeError("not registered yet")
    return real_get_node(gcs_address, node_id)

def monotonic():
    return time.monotonic() + 40 * len(attempts)

clock = types.SimpleNamespace(sleep=time.sleep, monotonic=monotonic)
real_init = ray._private.node.Node.__init__

def counting_init(self, *args, **kwargs):
    attempts.append(1)
    return real_init(self, *args, **kwargs)

services.get_node, node_module.time = get_node, clock
node_module.Node.__init__ = counting_init
init_ray(num_cpus=1)
gcs = [p for p in psutil.Process().children(recursive=True) if "gcs_server" in p.name()]
print("ATTEMPTS", len(attempts), "ANSWER", ray.get(ray.remote(lambda: 42).remote(), timeout=60),
      "GCS", len(gcs))
ray.shutdown()
"""


def test_a_local_start_that_timed_out_is_cleaned_up_and_tried_once_more():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stdout, stderr, output = run_script(TIMED_OUT_ONCE, env)
    # two starts, the second answers, and only its GCS is left (the first one's was killed)
    assert "ATTEMPTS 2 ANSWER 42 GCS 1" in stdout, output
    assert "[ray] start 1 of 3 failed" in stderr and "starting Ray again" in stderr, output


def test_only_a_start_that_timed_out_is_tried_again():
    from lsf.core.runtime import start_with_retries

    calls, shutdowns = [], []

    def fails_otherwise():
        calls.append(1)
        raise ValueError("bad address")

    with pytest.raises(ValueError, match="bad address"):
        start_with_retries(fails_otherwise, lambda: shutdowns.append(1))
    assert calls == [1] and shutdowns == []

    def always_times_out():
        calls.append(1)
        raise Exception("The current node timed out during startup. This could happen ...")

    calls.clear()
    with pytest.raises(RuntimeError, match="did not start in 3 attempts"):
        start_with_retries(always_times_out, lambda: shutdowns.append(1))
    assert calls == [1, 1, 1] and shutdowns == [1, 1]  # a bounded number of attempts


def test_the_reason_of_a_failed_start_is_the_raylets_fatal_line(tmp_path, monkeypatch):
    from lsf.core.runtime import raylet_failure

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    logs = tmp_path / "ray" / "session_latest" / "logs"
    assert raylet_failure() == "no raylet.err"
    logs.mkdir(parents=True)
    (logs / "raylet.err").write_text(
        "[2026-12-03 19:41:43,653 C 13041 13041] (raylet) node_manager.cc:3576:  An unexpected "
        "system state has occurred. Check failed: statussetor3576.has_value() Timed out waiting "
        "for file /tmp/s/metrics_agent_port_5188\n*** StackTrace Information ***\n"
        "/ray/raylet(+0xff770a) [0x55acd264870a] ray::operator<<()\n"
    )
    assert raylet_failure() == (
        "statussetor3576.has_value() Timed out waiting for file /tmp/s/metrics_agent_port_5188"
    )
    (logs / "raylet.err").write_text("first\n\nthe last line\n\n")
    assert raylet_failure() == "the last line"
