"""The one reporting hook every stage takes: stage lines and progress bars.

Stages call `progress.log(line)` and `with progress.bar(total, "encode", "img") as bar`;
`Progress.quiet()` (the CLI's `--quiet`) silences both, `Progress(sink=lines.append)`
collects the lines (tests). Only this hook prints a stage's progress.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass


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
        """A tqdm bar (a context manager with `update(n)`), disabled when bars are off."""
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, disable=not self.bars, dynamic_ncols=True)


QUIET = Progress.quiet()
TERMINAL = Progress()  # the default: stage lines and bars on the terminal
