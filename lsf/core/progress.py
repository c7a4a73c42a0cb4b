"""The one reporting hook every stage takes: stage lines and progress bars.

Stages call `progress.log(line)` and `with progress.bar(total, "encode", "img") as bar`;
`Progress.quiet()` (the CLI's `--quiet`) silences both, `Progress(sink=lines.append)`
collects the lines (tests). Only this hook prints a stage's progress. On a terminal a bar
is a tqdm bar (rate and ETA); when stderr is not a terminal (a log file, `ray job logs`) it
is a plain line every 10 % with the same numbers, never a carriage return or colour code.
`with_eta(progress)` adds elapsed time and an ETA to `pass k/N` stage lines.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass


def clock(seconds: float) -> str:
    """`seconds` as h:mm:ss (or m:ss under an hour)."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LineBar:
    """A progress bar for a non-terminal stream: one plain line per `step` of the total."""

    def __init__(self, total: int | None, desc: str, unit: str, sink, step: float = 0.1):
        self.total, self.desc, self.unit, self.sink = total, desc, unit, sink
        self.n = self.shown = 0
        self.step = max(1, int((total or 0) * step))
        self.next_line = self.step
        self.started = time.monotonic()

    def __enter__(self) -> LineBar:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None and self.n != self.shown:
            self._line()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n >= self.next_line:
            self._line()
            self.next_line = (self.n // self.step + 1) * self.step

    def _line(self) -> None:
        self.shown = self.n
        elapsed = time.monotonic() - self.started
        rate = self.n / elapsed if elapsed > 0 else 0.0
        text = f"{self.desc}: {self.n}"
        if self.total:
            text += f"/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)"
            eta = (self.total - self.n) / rate if rate > 0 else 0.0
            text += f", {rate:.0f} {self.unit}/s, elapsed {clock(elapsed)}, ETA {clock(eta)}"
        else:
            text += f" {self.unit}, {rate:.0f} {self.unit}/s, elapsed {clock(elapsed)}"
        self.sink(text)


def _print_err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Progress:
    sink: Callable[[str], None] | None = functools.partial(print, flush=True)  # None: no lines
    bars: bool = True

    @classmethod
    def quiet(cls) -> Progress:
        return cls(sink=None, bars=False)

    @property
    def is_quiet(self) -> bool:
        return self.sink is None and not self.bars

    def log(self, message: str) -> None:
        if self.sink is not None:
            self.sink(message)

    def bar(self, total: int | None, desc: str, unit: str = "it"):
        """A tqdm bar with rate and ETA on a terminal, plain lines (`LineBar`) otherwise; a
        context manager with `update(n)`, disabled when bars are off."""
        from tqdm import tqdm

        if self.bars and not sys.stderr.isatty():
            return LineBar(total, desc, unit, _print_err)
        return tqdm(total=total, desc=desc, unit=unit, disable=not self.bars, dynamic_ncols=True)


PASS = re.compile(r"pass (\d+)/(\d+)")


def with_eta(progress: Progress) -> Progress:
    """`progress` whose `pass k/N` lines carry the stage's elapsed time and a rough ETA
    (the mean pass time so far times the passes left)."""
    if progress.sink is None:
        return progress
    started = time.monotonic()
    sink = progress.sink

    def timed(line: str) -> None:
        found = PASS.search(line)
        if found:
            done, total = int(found.group(1)) - 1, int(found.group(2))
            elapsed = time.monotonic() - started
            eta = f", ETA ~{clock(elapsed / done * (total - done))}" if done else ""
            line = f"{line} (elapsed {clock(elapsed)}{eta})"
        sink(line)

    return Progress(sink=timed, bars=progress.bars)


QUIET = Progress.quiet()
TERMINAL = Progress()  # the default: stage lines and bars on the terminal
