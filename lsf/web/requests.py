"""Validation of what the page (or any HTTP client) sends to `lsf explore`.

Bodies are small JSON objects with known keys only (no file-system paths: the server's
inputs come from its command line); numbers must be finite, latents must have the model's
dimension, ids must exist, sizes are bounded. Every violation is a `RequestError` with a
message, answered with HTTP 422.
"""

from __future__ import annotations

import json
import math

import numpy as np

MAX_BODY_BYTES = 1 << 20  # a latent of 4096 components in JSON is about 100 kB


class RequestError(ValueError):
    """A request the server refuses (HTTP 422), with the reason."""


def _reject_constant(name: str):
    raise RequestError(f"non-finite number {name} in the request")


def parse_body(body: bytes) -> dict:
    """A JSON object from a request body of at most MAX_BODY_BYTES."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(f"request body over {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise RequestError("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError("the request body must be a JSON object")
    return data


def check_keys(data: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise RequestError(f"unknown field {unknown[0]!r} (allowed: {', '.join(allowed)})")


def latent(data: dict, key: str, dim: int) -> np.ndarray:
    """A finite float64 vector of exactly `dim` numbers."""
    value = data.get(key)
    if not isinstance(value, list):
        raise RequestError(f"{key} must be a list of {dim} numbers")
    if len(value) != dim:
        raise RequestError(f"{key} has {len(value)} components; the model's latent dim is {dim}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        raise RequestError(f"{key} must hold numbers only")
    try:
        z = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise RequestError(f"{key} holds a number too large for a float") from None
    if not np.isfinite(z).all():
        bad = int(np.flatnonzero(~np.isfinite(z))[0])
        raise RequestError(f"{key}[{bad}] is not a finite number")
    return z


def integer(data: dict, key: str, low: int, high: int, default: int | None = None) -> int:
    """An integer in [low, high] (`default` when absent and one is given)."""
    value = data.get(key, default)
    if value is None:
        raise RequestError(f"{key} is required")
    if isinstance(value, float) and value.is_integer() and math.isfinite(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{key} must be an integer, got {json.dumps(value)[:40]}")
    if not low <= value <= high:
        raise RequestError(f"{key} must be in {low}..{high}, got {value}")
    return value


def query_integer(params, key: str, low: int, high: int) -> int:
    text = params.get(key)
    if text is None:
        raise RequestError(f"query parameter {key} is required")
    try:
        value = int(text)
    except ValueError:
        raise RequestError(f"query parameter {key} must be an integer, got {text[:40]!r}") from None
    return integer({key: value}, key, low, high)


def choice(value, key: str, choices) -> str:
    if value not in choices:
        raise RequestError(f"{key} must be one of {', '.join(choices)}, got {str(value)[:40]!r}")
    return value


def image_id(data: dict, key: str, n: int | None) -> int:
    if n is None:
        raise RequestError(
            "no real images here: start lsf explore with --latents or --shards to use ids"
        )
    return integer(data, key, 0, n - 1)
