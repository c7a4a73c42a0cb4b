"""`ray job submit` end to end: a real local head started with `ray start --head`, the tiny
pipeline submitted as `jobs/run.py`, waited for until SUCCEEDED, outputs checked."""

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(600)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ray_job_submit_runs_the_pipeline_on_a_started_head(tmp_path):
    import ray

    ray.shutdown()  # this test owns every Ray process while it runs
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "RAY_AUTH_MODE": "disabled",  # a loopback-only test cluster
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    ray_cli = str(bin_dir / "ray")
    port, dashboard = _free_port(), _free_port()
    address = f"http://127.0.0.1:{dashboard}"
    workdir = tmp_path / "work"
    job_id = f"lsf-test-{uuid.uuid4().hex[:8]}"
    start = [
        ray_cli,
        "start",
        "--head",
        f"--port={port}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        "--num-cpus=2",
        "--disable-usage-stats",
    ]
    subprocess.run(start, env=env, check=True, capture_output=True, timeout=120)
    try:
        submit = [
            ray_cli,
            "job",
            "submit",
            "--address",
            address,
            "--no-wait",
            "--submission-id",
            job_id,
            "--working-dir",
            str(ROOT),
            "--",
            "python",
            "jobs/run.py",
            "--config",
            "tiny",
            "--workdir",
            str(workdir),
            "--quiet",
        ]
        subprocess.run(submit, env=env, check=True, capture_output=True, timeout=180)

        def job_command(verb: str) -> subprocess.CompletedProcess:
            command = [ray_cli, "job", verb, "--address", address, job_id]
            return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

        status = ""
        deadline = time.time() + 420
        while time.time() < deadline:
            result = job_command("status")
            # The CLI logs e.g. "Job 'lsf-test-1' succeeded" to stderr.
            status = (result.stdout + result.stderr).lower()
            if any(word in status for word in ("succeeded", "failed", "stopped")):
                break
            time.sleep(3)
        logs = job_command("logs").stdout
        assert "succeeded" in status, f"{status}\n{logs[-3000:]}"
        assert "report: " in logs
        summary = json.loads((workdir / "analysis" / "summary.json").read_text())
        assert summary["n_samples"] == 400
        assert (workdir / "report" / "index.html").is_file()
        assert (workdir / "samples" / "metrics.json").is_file()
    finally:
        subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
