"""Ray's local instance dies with the thread that started it, not with the process.

`ray.init()` forks the GCS, raylet and their helpers with PR_SET_PDEATHSIG=SIGKILL
(`ray._private.utils.set_kill_on_parent_death_linux`, fate sharing, ray-project/ray#7150).
Linux sends that signal when the *thread* that forked the child ends (prctl(2): "the
'parent' in this case is considered to be the thread that created this process"). So a local
instance started by `ray.init()` in a short-lived thread is SIGKILLed, without a log line,
when that thread returns, while the driver still believes it is connected; its next call
ends the process ("The connection to the plasma store is failed. Terminate the process").
This is what took down the compare tests' Ray (`lsf.core.runtime.init_ray` now starts such an
instance from a keeper thread that outlives it):

    RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled python tests/repro/ray_init_in_thread.py
"""

import os
import shutil
import tempfile
import threading
import time

import psutil
import ray


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed child stays in the process table until reaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def main() -> None:
    folder = tempfile.mkdtemp(prefix="repro-ray-")  # this instance's files, not /tmp/ray's
    os.environ["RAY_TMPDIR"] = folder
    thread = threading.Thread(target=lambda: ray.init(address="local", num_cpus=1))
    thread.start()
    thread.join()  # the thread that forked Ray's processes has ended
    node = ray._private.worker._global_node
    pids = {name: infos[0].process.pid for name, infos in node.all_processes.items()}
    time.sleep(2)
    alive = {name: _running(pid) for name, pid in pids.items()}
    print("ray.is_initialized():", ray.is_initialized())
    print("Ray's processes alive after the starting thread ended:", alive)
    print("REPRODUCED" if not any(alive.values()) else "not reproduced")
    shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)  # ray.shutdown() would talk to the dead instance


if __name__ == "__main__":
    main()
