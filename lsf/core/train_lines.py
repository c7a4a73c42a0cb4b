"""Training progress lines from Ray Train workers to the driver's terminal.

Rank 0 of `lsf train` puts `("epoch", metrics, epochs)` (and `("resumed", epoch, epochs)`)
on a Ray queue; `EpochLines` (a context manager around `trainer.fit()`) runs a driver
thread that turns each into one line with the loss, images/s, the run's elapsed time and
an ETA, and hands it to the stage's `Progress`. Worker output itself stays in Ray's log
files, so the terminal (and `ray job logs`, which shows the driver) carries lsf's lines only.
"""

from __future__ import annotations

import queue as std_queue
import threading
import time

from lsf.core.progress import Progress, clock


def epoch_line(metrics: dict, epochs: int, elapsed: float, done_this_run: int) -> str:
    """One epoch's line; the ETA is the mean time per epoch of this run times those left."""
    left = epochs - metrics["epoch"]
    eta = elapsed / max(done_this_run, 1) * left
    return (
        f"[train] epoch {metrics['epoch']}/{epochs}: train {metrics['train_loss']:.5f} "
        f"val {metrics['val_loss']:.5f}, {metrics['images_per_second']:.0f} img/s, "
        f"elapsed {clock(elapsed)}, ETA {clock(eta)}"
    )


class EpochLines:
    """`with EpochLines(progress) as lines:` gives `lines.queue` (None when the progress
    shows no lines) to pass to the workers; lines are shown while the block runs."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.queue = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._first_epoch: int | None = None

    def __enter__(self) -> EpochLines:
        if self.progress.sink is None:
            return self
        from ray.util.queue import Queue

        self.queue = Queue(actor_options={"num_cpus": 0})
        self._thread = threading.Thread(target=self._pump, name="lsf-epoch-lines", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.queue is None:
            return
        self._stop.set()
        self._thread.join(timeout=10)
        if exc[0] is None:
            self._drain()
        self.queue.shutdown(force=True)

    def _pump(self) -> None:
        from ray.util.queue import Empty

        while not self._stop.is_set():
            try:
                self._show(self.queue.get(timeout=0.5))
            except (Empty, std_queue.Empty):
                continue
            except Exception:  # the queue actor is gone (shutdown, Ctrl-C): stop quietly
                return

    def _drain(self) -> None:
        try:
            for item in self.queue.get_nowait_batch(self.queue.qsize()):
                self._show(item)
        except Exception:
            return

    def _show(self, item: tuple) -> None:
        kind, value, epochs = item
        if kind == "resumed":
            self._first_epoch = value + 1
            self.progress.log(f"[train] resuming from the checkpoint of epoch {value}/{epochs}")
            return
        if self._first_epoch is None:
            self._first_epoch = value["epoch"]
        elapsed = time.monotonic() - self._started
        done = value["epoch"] - self._first_epoch + 1
        self.progress.log(epoch_line(value, epochs, elapsed, done))
