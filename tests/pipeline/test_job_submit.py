"""`ray job submit` end to end on a fresh multi-node cluster of this machine, started by
`cluster/local-cluster.sh` (a head and a worker node, each with its own temp folder):

1. the tiny pipeline is the cluster's first job, shipped with `jobs/runtime_env.yaml`
   (this checkout as working_dir, with its excludes), and its outputs are checked;
2. jobs that each bring a new working_dir are, on every node, the first job for that
   package (Ray keys the unpacked folder by content): each runs a task on every node and
   checks that its own unpacked working_dir is still the one it started in;
3. the cause of the first-job failure of issue 18, shown: a node that shares the head's temp
   folder re-unpacks the job's working_dir on top of the running driver's, and the driver's
   `os.getcwd()` fails as numba's did.
The tests share one cluster and run in file order (3 adds the sharing node, so it is last).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "cluster" / "local-cluster.sh"
WORKERS = 1  # a head and one worker node: the fewest that share (or not) a temp folder
pytestmark = pytest.mark.timeout(600)

# Runs a zero-CPU task on every node (each node sets up the job's runtime env), then checks
# that the driver's working_dir, unpacked on the head, survived that.
PROBE = """\
import json, os, sys
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

start = os.getcwd()
inode = os.stat(start).st_ino
ray.init()
nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
assert len(nodes) == int(sys.argv[1]), f"{len(nodes)} nodes alive, expected {sys.argv[1]}"

@ray.remote(num_cpus=0)
def where():
    api = os.environ.get("RAY_API_SERVER_ADDRESS")
    return ray.get_runtime_context().get_node_id(), (os.getcwd(), api)

pinned = [NodeAffinitySchedulingStrategy(node, soft=False) for node in nodes]
seen = dict(ray.get([where.options(scheduling_strategy=p).remote() for p in pinned]))
now = os.getcwd()  # FileNotFoundError when the folder was removed under the driver
print("PROBE " + json.dumps({"start": start, "now": now, "same": os.stat(now).st_ino == inode,
                             "seen": seen}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalCluster:
    """A `cluster/local-cluster.sh` cluster on free ports, under its own temp root."""

    def __init__(self):
        bin_dir = Path(sys.executable).parent
        # A short root: Ray's socket paths under it must stay below 108 characters.
        self.root = Path(tempfile.mkdtemp(prefix="lsf-rc-", dir="/tmp"))
        self.port, dashboard = _free_port(), _free_port()
        self.address = f"http://127.0.0.1:{dashboard}"
        self.env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "RAY_AUTH_MODE": "disabled",  # a loopback-only test cluster
            "RAY_USAGE_STATS_ENABLED": "0",
            "LSF_RAY_TEMP": str(self.root),
            "LSF_RAY_PORT": str(self.port),
            "LSF_DASHBOARD_PORT": str(dashboard),
        }

    def script(self, *args: str) -> subprocess.CompletedProcess:
        command = ["bash", str(SCRIPT), *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=300)

    def submit(self, entrypoint: list[str], *runtime_env: str) -> subprocess.CompletedProcess:
        """Submit and wait (the CLI tails the logs until the job ends; exit 1 if it failed)."""
        command = [
            "ray",
            "job",
            "submit",
            "--address",
            self.address,
            "--submission-id",
            f"lsf-test-{uuid.uuid4().hex[:8]}",
            *runtime_env,
            "--",
            *entrypoint,
        ]
        try:
            return subprocess.run(
                command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=480
            )
        except subprocess.TimeoutExpired as timeout:
            output = timeout.stdout or b""
            output = output.decode() if isinstance(output, bytes) else output
            pytest.fail(f"job still running after 480 s; its output so far:\n{output[-4000:]}")

    def probe(self, tmp_path: Path, nodes: int) -> subprocess.CompletedProcess:
        """The probe job with a working_dir of new content (a new package to every node)."""
        working_dir = tmp_path / f"probe-{uuid.uuid4().hex[:8]}"
        working_dir.mkdir()
        (working_dir / "probe.py").write_text(PROBE)
        (working_dir / "nonce.txt").write_text(working_dir.name)
        return self.submit(["python", "probe.py", str(nodes)], "--working-dir", str(working_dir))


@pytest.fixture(scope="module")
def local_cluster():
    import ray

    ray.shutdown()  # the session's local instance; later tests start a new one
    cluster = LocalCluster()
    try:
        started = cluster.script("start", str(WORKERS))
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-3000:]
        yield cluster
    finally:
        stopped = cluster.script("stop")
        shutil.rmtree(cluster.root, ignore_errors=True)
        assert stopped.returncode == 0, stopped.stderr


def _probe_report(result: subprocess.CompletedProcess) -> dict:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    (line,) = [line for line in output.splitlines() if line.startswith("PROBE ")]
    return json.loads(line.removeprefix("PROBE "))


def test_pipeline_is_the_first_job_of_a_fresh_multi_node_cluster(local_cluster, tmp_path):
    workdir = tmp_path / "work"
    result = local_cluster.submit(
        ["python", "jobs/run.py", "--config", "tiny", "--workdir", str(workdir), "--quiet"],
        "--runtime-env",
        "jobs/runtime_env.yaml",
    )
    logs = result.stdout + result.stderr
    assert result.returncode == 0 and "succeeded" in logs, logs[-4000:]
    assert f"report: {workdir}/report/index.html" in logs
    assert "Traceback" not in logs, logs[-4000:]  # nothing failed on the side either
    summary = json.loads((workdir / "analysis" / "summary.json").read_text())
    assert summary["n_samples"] == 400
    assert (workdir / "samples" / "metrics.json").is_file()
    assert (workdir / "report" / "index.html").is_file()


def test_each_new_working_dir_survives_its_setup_on_every_node(local_cluster, tmp_path):
    for _ in range(2):
        report = _probe_report(local_cluster.probe(tmp_path, nodes=WORKERS + 1))
        assert report["now"] == report["start"] and report["same"]
        assert len(report["seen"]) == WORKERS + 1
        folders = {Path(cwd).name for cwd, _ in report["seen"].values()}
        assert folders == {Path(report["start"]).name}  # the same package on every node...
        depth = len(local_cluster.root.parts) + 1  # ROOT/node-K
        node_folders = {Path(cwd).parts[:depth] for cwd, _ in report["seen"].values()}
        assert len(node_folders) == WORKERS + 1  # ...unpacked in each node's own folder
        # every worker finds this cluster's state API (not /tmp/ray's latest cluster)
        assert {api for _, api in report["seen"].values()} == {local_cluster.address}


def test_a_node_sharing_the_heads_temp_folder_removes_the_drivers_working_dir(
    local_cluster, tmp_path
):
    """The failure mode local-cluster.sh avoids (and Ray's default on one machine): the
    extra node's runtime-env setup deletes and re-unpacks the folder the driver runs in."""
    shared = [
        "ray",
        "start",
        f"--address=127.0.0.1:{local_cluster.port}",
        "--node-ip-address=127.0.0.1",
        "--num-cpus=1",
        f"--temp-dir={local_cluster.root / 'node-0'}",
        "--dashboard-agent-listen-port=0",
        "--disable-usage-stats",
    ]
    started = subprocess.run(
        shared, env=local_cluster.env, capture_output=True, text=True, timeout=300
    )
    assert started.returncode == 0, started.stderr[-3000:]
    result = local_cluster.probe(tmp_path, nodes=WORKERS + 2)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-4000:]
    assert "FileNotFoundError" in output, output[-4000:]
