"""The one exception type for input a user can fix.

Library code raises `LsfError` with a message that says what is wrong and how to fix it;
the CLI and job entry points print it as one line and exit with code 2.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager


class LsfError(Exception):
    """Bad input or a refused operation, explained in one line."""


def from_worker(error: BaseException, action: str) -> LsfError:
    """One line for an error raised in a Ray task, actor or Train worker (which Ray wraps in
    its own exceptions with the remote traceback): the innermost `Name: message` line."""
    if isinstance(error, LsfError):
        return error
    text = str(error)
    pattern = r"^\s*((?:[\w]+\.)*(\w*(?:Error|Exception|Invalid))): (.+)$"
    found = [(q, n, m) for q, n, m in re.findall(pattern, text, re.M) if not q.startswith("ray.")]
    for _, name, message in reversed(found):
        if name == "LsfError":
            return LsfError(message.strip())
    if found:
        _, name, message = found[-1]
        return LsfError(f"{action} failed: {name}: {message.strip()}")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return LsfError(f"{action} failed: {first}")


@contextmanager
def worker_errors(action: str) -> Iterator[None]:
    """Errors of Ray tasks and actors inside the block become one-line `LsfError`s."""
    try:
        yield
    except LsfError:
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "ray":
            raise
        raise from_worker(exc, action) from None
