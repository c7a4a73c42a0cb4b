"""Numbers as the pages print them: significant digits, near-zero as 0, percentages,
study claims (lists, n/a) and the compare page's dash for a value it does not have."""

from __future__ import annotations

import math

import numpy as np

DASH = "–"  # the compare page's missing value (en dash)


def significant(value, digits: int = 4) -> str:
    """A table cell: a float (numpy's too) to `digits` significant digits, anything else
    (ints, text) as `str`."""
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}g}"
    return str(value)


def number(value: float, digits: int = 3) -> str:
    """A label under an image: `digits` significant digits; below 1e-6 (float32 noise of a
    point meant to sit on the centre) it prints 0."""
    return "0" if abs(value) < 1e-6 else f"{value:.{digits}g}"


def percent(value) -> str:
    """A fraction as a percentage with one decimal; `n/a` for None or non-finite."""
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.1f} %"


def claim(value) -> str:
    """A value of the study table: 4 significant digits, lists bracketed, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(claim(v) for v in value) + "]"
    return significant(value)


def measured(value) -> str:
    """A compare-page cell: `significant`, or a dash for None and non-finite floats."""
    if value is None or (isinstance(value, float | np.floating) and not math.isfinite(value)):
        return DASH
    return significant(value)


def mean_and_spread(mean, std) -> str:
    """`mean ± std` (the std to 2 significant digits); the mean alone without a std."""
    if mean is None:
        return DASH
    return measured(mean) if std is None else f"{measured(mean)} ± {std:.2g}"


def counted(n: int, noun: str) -> str:
    """`1 region`, `3 regions`."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
