"""The suite beside another user's Ray cluster: a `ray start --head` cluster with its own temp
folder and ports, a detached actor and a long task of its own, advertised as a user's cluster
is (RAY_ADDRESS and RAY_API_SERVER_ADDRESS exported, its address file in the default temp
folder). Tests run beside it; afterwards the cluster must be as it was: the same head
processes, its actor and task the same processes and still beating, a new task runs, and no
driver but its own user's ever joined it. The exit status is non-zero when the tests failed
or the cluster was touched.

    python tests/foreign_ray.py -- tests/pipeline/test_faults.py -x   # one pytest beside it
    python tests/foreign_ray.py --default-ports -- ...       # on Ray's default ports
    python tests/run_suite.py --beside-foreign-ray            # `make test`'s lanes beside it

By default the cluster takes free ports; `--default-ports` gives it the ports of a plain
`ray start --head` (6379, dashboard 8265, client server 10001, dashboard agent 52365), where
those are free, as a user's cluster holds them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent

# The foreign user's driver: a detached actor and a task that beats to it every 0.5 s, then
# it waits on the task (forever; the harness ends it). The task is its job's own, so it
# lives as long as this driver; the actor outlives it.
USER = """\
import os, sys, time
import ray

ray.init(address=sys.argv[1], namespace="foreign", log_to_driver=False)

@ray.remote(num_cpus=0, lifetime="detached", name="keeper")
class Keeper:
    def __init__(self):
        self.starts, self.beats, self.last = [], 0, 0.0
    def started(self, pid):
        self.starts.append(pid)
    def beat(self):
        self.beats, self.last = self.beats + 1, time.time()
    def status(self):
        return {"actor_pid": os.getpid(), "task_pids": self.starts, "beats": self.beats,
                "last_beat_age_s": time.time() - self.last}

@ray.remote(num_cpus=0.5, max_retries=0)
def heartbeat(keeper):
    ray.get(keeper.started.remote(os.getpid()))
    while True:
        ray.get(keeper.beat.remote())
        time.sleep(0.5)

keeper = Keeper.remote()
task = heartbeat.remote(keeper)
print("USER READY", flush=True)
ray.get(task)
"""

# A short look at the cluster from a driver of the same user; prints one JSON line.
CHECK = """\
import json, os, sys
import ray
from ray.util.state import list_jobs

ray.init(address=sys.argv[1], namespace="foreign", log_to_driver=False)
status = ray.get(ray.get_actor("keeper").status.remote())

@ray.remote(num_cpus=0.5)
def answer():
    return 42

nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
jobs = list_jobs(address=sys.argv[2], limit=1000, raise_on_missing_output=False)
drivers = sorted({int(j.driver_info.pid) for j in jobs if j.driver_info})
report = {**status, "nodes": nodes, "answer": ray.get(answer.remote(), timeout=60),
          "driver_pids": drivers, "checker_pid": os.getpid()}
print("CHECK " + json.dumps(report), flush=True)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class ForeignCluster:
    """Another user's single-node cluster under `root` (that user's default temp folder)."""

    root: Path
    port: int = field(default_factory=_free_port)
    dashboard: int = field(default_factory=_free_port)
    client_server: int = field(default_factory=_free_port)
    agent: int = field(default_factory=_free_port)
    user: subprocess.Popen | None = None
    own_drivers: set[int] = field(default_factory=set)  # the pids of that user's drivers
    problems: list[str] = field(default_factory=list)  # what the tests changed on it

    @property
    def gcs(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.dashboard}"

    @property
    def temp_dir(self) -> Path:
        return self.root / "ray"  # its session folders and ray_current_cluster

    def env(self) -> dict[str, str]:
        """The environment of that user's shell (and of tests run beside the cluster): Ray's
        default temp folder ($TMPDIR/ray here, /tmp/ray on most machines) holds its address
        file, and its addresses are exported."""
        bin_dir = Path(sys.executable).parent
        env = {k: v for k, v in os.environ.items() if k != "RAY_TMPDIR"}
        return {
            **env,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "TMPDIR": str(self.root),
            "RAY_ADDRESS": self.gcs,
            "RAY_API_SERVER_ADDRESS": self.api,
            "RAY_AUTH_MODE": "disabled",  # anyone on the machine could join it
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }

    def start(self) -> None:
        command = [
            "ray",
            "start",
            "--head",
            f"--temp-dir={self.temp_dir}",
            "--node-ip-address=127.0.0.1",
            f"--port={self.port}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={self.dashboard}",
            f"--ray-client-server-port={self.client_server}",
            f"--dashboard-agent-listen-port={self.agent}",
            "--num-cpus=1",
            "--disable-usage-stats",
        ]
        started = subprocess.run(command, env=self.env(), capture_output=True, text=True)
        if started.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{started.stdout}{started.stderr}")
        log = self.root / "user.log"
        with log.open("w") as out:
            self.user = subprocess.Popen(
                [sys.executable, "-c", USER, self.gcs], env=self.env(), stdout=out, stderr=out
            )
        self.own_drivers.add(self.user.pid)
        deadline = time.monotonic() + 120
        while "USER READY" not in log.read_text():
            if self.user.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the foreign user's driver did not start:\n{log.read_text()}")
            time.sleep(0.2)

    def head_processes(self) -> dict[int, str]:
        """pid -> name of the cluster's daemons: their command lines name its temp folder or
        (the client server) its GCS address; a worker's names the folder too while it starts,
        until it renames itself `ray::...`."""
        mark, gcs_port = f"{self.temp_dir}/", f":{self.port}"
        found = {}
        for proc in psutil.process_iter(["pid", "name", "cmdline"]):
            args = proc.info["cmdline"] or []
            # python daemons by their script or module: dashboard.py, ray.util.client.server
            script = next((a for a in args[1:3] if a.endswith(".py") or a.startswith("ray.")), "")
            named = any(mark in a for a in args)
            joined = any(a.startswith("--address=") and a.endswith(gcs_port) for a in args)
            if (named or joined) and not script.endswith("_worker.py"):
                label = Path(script).stem if script.endswith(".py") else script
                found[proc.info["pid"]] = label or proc.info["name"]
        return found

    def check(self) -> dict:
        """The state of the cluster, its actor and task, seen by a driver of its user."""
        for _ in range(20):  # the actor's first beats may still be on their way
            result = subprocess.run(
                [sys.executable, "-c", CHECK, self.gcs, self.api],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=180,
            )
            lines = [x for x in result.stdout.splitlines() if x.startswith("CHECK ")]
            if result.returncode != 0 or not lines:
                raise RuntimeError(f"checking the foreign cluster failed:\n{result.stderr[-3000:]}")
            report = json.loads(lines[0].removeprefix("CHECK "))
            self.own_drivers.add(report["checker_pid"])
            if report["beats"] > 0:
                break
            time.sleep(0.5)
        report["head_processes"] = self.head_processes()
        report["user_alive"] = self.user is not None and self.user.poll() is None
        report["task_alive"] = all(_running(pid) for pid in report["task_pids"])
        return report

    def stop(self) -> None:
        """End this cluster's processes only (`ray stop` would end every Ray on the machine):
        the user's driver, then the daemons under its temp folder and their descendants."""
        if self.user is not None and self.user.poll() is None:
            self.user.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.user.wait(10)
            if self.user.poll() is None:
                self.user.kill()
                self.user.wait()
        procs = []
        for pid in self.head_processes():
            with contextlib.suppress(psutil.Error):
                head = psutil.Process(pid)
                procs += [head, *head.children(recursive=True)]
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=5)
        for proc in alive:  # gcs_server may not exit on SIGTERM
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def untouched(before: dict, after: dict, own_drivers: set[int]) -> list[str]:
    """What changed on the foreign cluster between two checks (empty: nothing)."""
    problems = []
    if after["head_processes"] != before["head_processes"]:
        problems.append(
            f"its head processes changed: {before['head_processes']} -> {after['head_processes']}"
        )
    if after["nodes"] != before["nodes"]:
        problems.append(f"its nodes changed: {before['nodes']} -> {after['nodes']}")
    if after["actor_pid"] != before["actor_pid"]:
        problems.append(
            f"its actor was restarted: pid {before['actor_pid']} -> {after['actor_pid']}"
        )
    if after["task_pids"] != before["task_pids"] or len(after["task_pids"]) != 1:
        problems.append(f"its task was restarted: {before['task_pids']} -> {after['task_pids']}")
    if not after["task_alive"]:
        problems.append(f"its task's process {after['task_pids']} was killed")
    if not (after["beats"] > before["beats"] and after["last_beat_age_s"] < 10):
        problems.append(
            f"its task stopped beating: {after['beats']} beats, the last "
            f"{after['last_beat_age_s']:.0f} s ago"
        )
    if not after["user_alive"]:
        problems.append("its user's driver ended")
    if after["answer"] != 42:
        problems.append("a new task did not run")
    strangers = sorted(set(after["driver_pids"]) - own_drivers)
    if strangers:
        problems.append(f"drivers of other processes joined it: pids {strangers}")
    return problems


@contextlib.contextmanager
def foreign_cluster(default_ports: bool = False):
    """Start a foreign cluster, yield it (run tests with `cluster.env()`), and check at the
    end that it was left as it was; the outcome is in `cluster.problems`."""
    ports = {}
    if default_ports:  # those that are free (another Ray on the machine may hold some)
        defaults = {"port": 6379, "dashboard": 8265, "client_server": 10001, "agent": 52365}
        ports = {name: port for name, port in defaults.items() if _port_is_free(port)}
        taken = sorted(defaults.keys() - ports.keys())
        print(f"[foreign] on Ray's default ports, but for {taken or 'none'} (taken here)")
    cluster = ForeignCluster(Path(tempfile.mkdtemp(prefix="lsf-foreign-", dir="/tmp")), **ports)
    try:
        cluster.start()
        before = cluster.check()
        print(f"[foreign] cluster at {cluster.gcs} ({cluster.temp_dir}): {describe(before)}")
        yield cluster
        after = cluster.check()
        print(f"[foreign] after the tests: {describe(after)}")
        cluster.problems = untouched(before, after, cluster.own_drivers)
        for problem in cluster.problems:
            print(f"[foreign] TOUCHED: {problem}")
        if not cluster.problems:
            print("[foreign] untouched: same head processes, actor and task; a new task ran")
    finally:
        cluster.stop()


def describe(report: dict) -> str:
    heads = ", ".join(f"{name} {pid}" for pid, name in sorted(report["head_processes"].items()))
    return (
        f"actor pid {report['actor_pid']}, task pid {report['task_pids']}, "
        f"{report['beats']} beats; head processes: {heads}"
    )


def main(argv: list[str]) -> int:
    default_ports = argv[:1] == ["--default-ports"]
    argv = argv[1:] if default_ports else argv
    if argv[:1] == ["--"]:
        argv = argv[1:]
    with foreign_cluster(default_ports) as cluster:
        command = [sys.executable, "-m", "pytest", *argv]
        print(f"[foreign] {' '.join(command[1:])}", flush=True)
        tests = subprocess.run(command, cwd=ROOT, env=cluster.env()).returncode
    return 0 if tests == 0 and not cluster.problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
