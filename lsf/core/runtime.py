"""Connection to Ray (local or a cluster) and the Dask scheduler that goes with it.

`init_ray(address)` starts a local Ray instance (address None), joins a running cluster
("auto", or `RAY_ADDRESS` inside `ray job submit`), or a Ray Client address ("ray://...");
it is a no-op when Ray is already initialised (tests share one instance). A local instance
never joins nor disturbs another Ray on the machine: its dashboard (the state API) is on a
free port, and its own processes are told that address, not the one of the last `ray start`
cluster that Ray would find in /tmp/ray (Ray Train's placement-group cleaner asks the state
API whether the run's controller is alive).

The terminal shows lsf's own lines only: Ray's log lines, worker and actor output and the
C++ core's warnings go to Ray's log files (under /tmp/ray/session_latest/logs), not to the
terminal (`divert_native_stderr` sends the C++ core's stderr of the `lsf` process to
$TMPDIR/lsf/native-stderr-PID.log). `--verbose` or `LSF_VERBOSE=1` (`verbose()`) brings
them back. Lines that lsf's stages want shown from inside Ray workers travel to the
driver through a queue (`lsf.core.train_lines`), so they also reach `ray job logs`.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import warnings

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Ray Train: worker prints go to the driver once, without structured-log duplicates.
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING", "0")

VERBOSE_ENV = "LSF_VERBOSE"


def verbose() -> bool:
    """Whether Ray's own messages are wanted on the terminal (`--verbose`, LSF_VERBOSE=1)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def set_verbose(on: bool) -> None:
    """Turn Ray's messages on for this process and the workers it starts."""
    if on:
        os.environ[VERBOSE_ENV] = "1"


def quiet_ray() -> None:
    """Settings that keep Ray's messages off the terminal; they must be in place before Ray
    starts (the C++ core reads its log level from the environment of each process)."""
    if verbose():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_TRAIN_ENABLE_CONTROLLER_STRUCTURED_LOGGING", "0")
    from ray.util.annotations import RayDeprecationWarning

    warnings.filterwarnings("ignore", category=RayDeprecationWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray(\.|$)")
    # ray's Python loggers (the token-authentication notice, Ray Train and Ray Data info
    # lines) stay in the log files.
    for name in ("ray", "ray.data", "ray.train", "ray.tune"):
        logging.getLogger(name).setLevel(logging.ERROR)
    divert_driver_errors()


def divert_driver_errors() -> None:
    """Errors that Ray publishes to every driver ("(raylet) The autoscaler failed ...", worker
    deaths) are printed by a driver thread even with `log_to_driver=False`; they go to
    $TMPDIR/lsf/ray-errors-PID.log instead (Ctrl-C reaches Ray's local processes too, and
    their dying messages would otherwise land on the terminal). Idempotent."""
    import ray._private.worker as ray_worker

    if getattr(ray_worker.print_to_stdstream, "lsf_diverted", False):
        return
    shown = ray_worker.print_to_stdstream

    def to_log(data, ignore_prefix):
        if data.get("pid") != "raylet":
            return shown(data, ignore_prefix)
        try:
            with open(ray_errors_log(), "a", encoding="utf-8") as log:
                log.writelines(f"{line}\n" for line in data.get("lines", []))
        except OSError:
            pass

    to_log.lsf_diverted = True
    ray_worker.print_to_stdstream = to_log


def ray_errors_log() -> str:
    """Where `divert_driver_errors` writes Ray's published errors for this process."""
    import tempfile

    folder = os.path.join(tempfile.gettempdir(), "lsf")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"ray-errors-{os.getpid()}.log")


def in_ray_job() -> bool:
    """Whether this process is the entry point of a `ray job submit` job."""
    return "RAY_JOB_CONFIG_JSON_ENV_VAR" in os.environ


def divert_native_stderr() -> str | None:
    """Send what Ray's C++ core writes to file descriptor 2 (`core_worker.cc` warnings and
    the like) to a log file, while Python's `sys.stderr` (lsf's errors, progress lines)
    keeps the terminal. For the `lsf` program only (not for library callers or tests); a
    no-op when `verbose()`. Returns the log file's path."""
    import tempfile

    if verbose():
        return None
    folder = os.path.join(tempfile.gettempdir(), "lsf")
    try:
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"native-stderr-{os.getpid()}.log")
        log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError:
        return None
    sys.stderr.flush()
    terminal = os.dup(2)
    os.dup2(log, 2)
    os.close(log)
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=sys.stderr.encoding)
    atexit.register(_remove_if_empty, path)
    return path


def _remove_if_empty(path: str) -> None:
    try:
        if os.path.getsize(path) == 0:
            os.remove(path)
    except OSError:
        pass


RAY_API_SERVER_ADDRESS_ENV = "RAY_API_SERVER_ADDRESS"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _environment(name: str, value: str | None):
    """`os.environ[name] = value` inside the block (unchanged when `value` is None)."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to Ray once per process, quietly unless `verbose()`; Ray Data progress bars
    stay off (lsf draws its own)."""
    import ray
    from ray.data import DataContext

    loud = verbose()
    quiet_ray()
    if not ray.is_initialized():
        # ray.init replaces the SIGTERM handler with sys.exit; keep the caller's (the CLI
        # turns SIGTERM into the same clean stop as Ctrl-C).
        main_thread = threading.current_thread() is threading.main_thread()
        sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
        level = logging.INFO if loud else logging.ERROR
        # A fresh local instance, even where `ray start` left a cluster running (Ray would
        # join it); `--address auto` joins one on purpose.
        local = address is None and not os.environ.get("RAY_ADDRESS")

        def start() -> None:
            port = free_port() if local else None
            # Ray's processes inherit the environment at start: name this instance's state
            # API to them, and only to them.
            api = f"http://127.0.0.1:{port}" if local else None
            with _environment(RAY_API_SERVER_ADDRESS_ENV, api):
                ray.init(
                    address="local" if local else address,
                    num_cpus=num_cpus if local else None,
                    dashboard_port=port,
                    logging_level=level,
                    log_to_driver=loud,
                    logging_config=ray.LoggingConfig(log_level="INFO" if loud else "ERROR"),
                )

        if local:
            start_local = functools.partial(start_with_retries, start, ray.shutdown)
            if main_thread:
                start_local()
            else:
                _start_in_keeper_thread(start_local)
        else:
            start()
        if main_thread and sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)
    data_logger = logging.getLogger("ray.data")
    data_logger.setLevel(logging.ERROR)  # setting the flag below logs a warning
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # Ray Data logs a failed task as an ERROR with a stack trace; lsf reports it in one line.
    data_logger.setLevel(logging.INFO if loud else logging.CRITICAL)


STARTUP_TIMED_OUT = "timed out during startup"
STARTUP_ATTEMPTS = 3


def start_with_retries(start, shutdown, attempts: int = STARTUP_ATTEMPTS) -> None:
    """`start()` (a `ray.init` that starts a local instance), again if Ray gave up on its new
    raylet, at most `attempts` times. The raylet waits a fixed 15 s for Ray's dashboard agent
    (a Python process) to write its ports and aborts past that; on a loaded machine (two cores,
    other processes starting Ray and importing torch) the agent's start-up can take longer,
    and every later Ray call of the process failed with it. Each failed attempt's processes
    (GCS, raylet, agents: Ray leaves them running) are killed and its reason goes to stderr
    before the next attempt starts on fresh ports."""
    import psutil

    for attempt in range(1, attempts + 1):
        before = {child.pid for child in psutil.Process().children(recursive=True)}
        try:
            start()
            return
        except Exception as exc:
            if STARTUP_TIMED_OUT not in str(exc):
                raise
            leftovers = [
                c for c in psutil.Process().children(recursive=True) if c.pid not in before
            ]
            reason = raylet_failure(_session_dir(leftovers))
            for process in leftovers:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            psutil.wait_procs(leftovers, timeout=10)
            if attempt == attempts:
                raise RuntimeError(
                    f"Ray did not start in {attempts} attempts; the last raylet said: {reason}"
                ) from exc
        shutdown()
        print(
            f"[ray] start {attempt} of {attempts} failed (raylet: {reason}); starting Ray again",
            file=sys.stderr,
            flush=True,
        )


def _session_dir(processes) -> str | None:
    """The session folder a failed start's processes were given (`--session-dir`), so its
    reason is read from its own logs, not from whichever session `session_latest` names."""
    import psutil

    for process in processes:
        with contextlib.suppress(psutil.Error):
            for arg in process.cmdline():
                for flag in ("--session-dir=", "--session_dir="):
                    if arg.startswith(flag):
                        return arg[len(flag) :]
    return None


def raylet_failure(session_dir: str | None = None) -> str:
    """Why a local session's raylet stopped (the newest session's when `session_dir` is None):
    its fatal line (`Check failed: ...`), or the last line of raylet.err."""
    from ray._common.utils import get_default_ray_temp_dir

    folder = session_dir or os.path.join(get_default_ray_temp_dir(), "session_latest")
    path = os.path.join(folder, "logs", "raylet.err")
    try:
        with open(path, errors="replace") as log:
            lines = [line.strip() for line in log if line.strip()]
    except OSError:
        return "no raylet.err"
    fatal = [line for line in lines if "Check failed:" in line]
    if fatal:
        return fatal[-1].split("Check failed:", 1)[1].strip()
    return lines[-1] if lines else "raylet.err is empty"


def _start_in_keeper_thread(start) -> None:
    """Run `start` (a `ray.init` that starts a local instance) in a thread that lives as long
    as the instance's processes. Ray forks them with PR_SET_PDEATHSIG=SIGKILL, and Linux sends
    that signal when the *thread* that forked them ends, not the process: a local instance
    started from a worker thread (a background job, a web handler) was killed, without a log
    line, the moment that thread returned, while the driver still believed it was connected
    (tests/repro/ray_init_in_thread.py). The keeper ends once `ray.shutdown` has stopped them."""
    import ray

    started = threading.Event()
    failure: list[BaseException] = []

    def keep() -> None:
        try:
            start()
            node = ray._private.worker._global_node  # the processes this thread forked
            forked = [info.process for infos in node.all_processes.values() for info in infos]
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
            return
        finally:
            started.set()
        for process in forked:
            process.wait()  # until ray.shutdown ends it (SIGKILL after 1 s)

    threading.Thread(target=keep, name="lsf-ray-keeper", daemon=True).start()
    started.wait()
    if failure:
        raise failure[0]


def uses_gpus(gpus: float) -> bool:
    """Whether to ask for GPUs: only when configured and the cluster has some."""
    import ray

    return gpus > 0 and ray.cluster_resources().get("GPU", 0) > 0
