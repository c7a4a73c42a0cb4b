"""Connection to Ray (local or a cluster) and the Dask scheduler that goes with it.

`init_ray(address)` starts a local Ray instance (address None), joins a running cluster
("auto", or `RAY_ADDRESS` inside `ray job submit`), or a Ray Client address ("ray://...");
it is a no-op when Ray is already initialised (tests share one instance).
"""

from __future__ import annotations

import logging
import os
import signal
import threading

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Ray Train: worker prints go to the driver once, without structured-log duplicates.
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_WORKER_STRUCTURED_LOGGING", "0")


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to Ray once per process, quietly; Ray Data progress bars stay off (lsf draws
    its own)."""
    import ray
    from ray.data import DataContext

    if not ray.is_initialized():
        # ray.init replaces the SIGTERM handler with sys.exit; keep the caller's (the CLI
        # turns SIGTERM into the same clean stop as Ctrl-C).
        main_thread = threading.current_thread() is threading.main_thread()
        sigterm = signal.getsignal(signal.SIGTERM) if main_thread else None
        ray.init(
            address=address,
            num_cpus=num_cpus if address is None else None,
            logging_level=logging.WARNING,
            log_to_driver=True,
        )
        if main_thread and sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)
    data_logger = logging.getLogger("ray.data")
    data_logger.setLevel(logging.ERROR)  # setting the flag below logs a warning
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # Ray Data logs a failed task as an ERROR with a stack trace; lsf reports it in one line.
    data_logger.setLevel(logging.CRITICAL)


def uses_gpus(gpus: float) -> bool:
    """Whether to ask for GPUs: only when configured and the cluster has some."""
    import ray

    return gpus > 0 and ray.cluster_resources().get("GPU", 0) > 0
