"""The original study's numeric claims, and how this run compares ("study vs this run").

Each `Claim` holds the study's value as the issue quotes it (a number or a `[low, high]`
range), a stated tolerance, the path of this run's value in `summary.json` and the test of
agreement. `study_comparison(summary)` gives one row per claim: `{"claim", "study",
"this_run", "tolerance", "agrees"}`; a value the summary lacks (an older analysis, a fact
that was not run) gives `this_run` None and `agrees` None, never an error. `lsf analyze`
stores the rows under `study_comparison` in summary.json; the report renders them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

# The study trimmed CelebA's ~170,000 training images (the official split has 162,770).
STUDY_IMAGES = 170_000
STUDY_SURVIVORS = {1.35: 122_000, 1.45: 138_000, 1.55: 149_000, 1.7: 159_500, 1.8: 164_000}
# "~170,000": with 162,770 images the same survivors are 4-5 points larger fractions.
SURVIVOR_TOLERANCE = 0.05
COMPONENTS_80 = 120
COMPONENTS_80_TOLERANCE = 20
OFF_DIAGONAL_MAX = 2e-7
DIAGONAL_ERROR_MAX = 1e-8
COVERAGE_3SIGMA_MIN = 0.97
COVERAGE_2SIGMA_RANGE = (0.70, 0.90)
DOMINANT = 20
DOMINANT_TOLERANCE = 10
# "aligned when 12-25 % of the points are omitted": facts keeping 75-88 % of the rows.
ALIGNED_FRACTION_RANGE = (0.75, 0.88)
ALIGNED_MAX_DEGREES = 10.0


@dataclass(frozen=True)
class Claim:
    claim: str
    study: float | list[float]
    tolerance: str
    read: Callable[[dict], object]  # summary -> this run's value (KeyError etc. when absent)
    agrees: Callable[[object], bool]


def _finite(value) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def survivor_fraction(summary: dict, fact: float) -> float:
    """Fraction of the analysed rows that survive `fact`: from `trimming`, else from
    `fact_sweep`."""
    trimming = summary.get("trimming") or {}
    for key, entry in trimming.items():
        if math.isclose(float(key), fact, abs_tol=1e-9):
            return _finite(entry["fraction"])
    sweep = summary["fact_sweep"]
    for value, fraction in zip(sweep["facts"], sweep["survivor_fraction"], strict=True):
        if math.isclose(float(value), fact, abs_tol=1e-9):
            return _finite(fraction)
    raise KeyError(f"fact {fact}")


def aligned_core_angle(summary: dict) -> float:
    """The largest median core-alignment angle (degrees, over the sweep pairs) among the facts
    that keep 75-88 % of the rows."""
    sweep = summary["fact_sweep"]
    low, high = ALIGNED_FRACTION_RANGE
    angles = [
        _finite(angle)
        for fraction, angle in zip(
            sweep["survivor_fraction"], sweep["core_alignment_median"], strict=True
        )
        if low <= float(fraction) <= high
    ]
    if not angles:
        raise KeyError("no fact keeps 75-88 % of the rows")
    return max(angles)


def _coverage(summary: dict, sigma: str) -> list[float]:
    """`[min, median, max]` over the PCA pairs of the share inside the sigma ellipses."""
    low, median, high = (_finite(v) for v in summary["pair_coverage"]["pca"][sigma])
    return [low, median, high]


def _survivor_claim(fact: float, survivors: int) -> Claim:
    return Claim(
        claim=f"survivors of fact {fact:g} (fraction of the training images)",
        study=round(survivors / STUDY_IMAGES, 4),
        tolerance=f"± {SURVIVOR_TOLERANCE:g} (the study's {survivors:,} of ~{STUDY_IMAGES:,})",
        read=lambda s: survivor_fraction(s, fact),
        agrees=lambda v: abs(v - survivors / STUDY_IMAGES) <= SURVIVOR_TOLERANCE,
    )


def _claims() -> list[Claim]:
    low2, high2 = COVERAGE_2SIGMA_RANGE
    claims = [_survivor_claim(fact, n) for fact, n in STUDY_SURVIVORS.items()]
    claims += [
        Claim(
            "PCA components for 80 % of the variance",
            COMPONENTS_80,
            f"± {COMPONENTS_80_TOLERANCE}",
            lambda s: int(s["pca"]["components_for"]["0.8"]),
            lambda v: abs(v - COMPONENTS_80) <= COMPONENTS_80_TOLERANCE,
        ),
        Claim(
            "diagonalised Pearson matrix: largest |off-diagonal|",
            OFF_DIAGONAL_MAX,
            "this run below the study's bound",
            lambda s: _finite(s["pca"]["max_abs_off_diagonal_correlation"]),
            lambda v: v < OFF_DIAGONAL_MAX,
        ),
        Claim(
            "diagonalised Pearson matrix: largest |diagonal - 1|",
            DIAGONAL_ERROR_MAX,
            "this run at or below the study's bound",
            lambda s: _finite(s["pca"]["max_abs_diagonal_minus_one"]),
            lambda v: v <= DIAGONAL_ERROR_MAX,
        ),
        Claim(
            "3σ ellipses of PCA pairs: share of points inside [min, median, max]",
            COVERAGE_3SIGMA_MIN,
            "every pair at or above the study's value",
            lambda s: _coverage(s, "3"),
            lambda v: v[0] >= COVERAGE_3SIGMA_MIN,
        ),
        Claim(
            "2σ ellipses of PCA pairs: share of points inside [min, median, max]",
            list(COVERAGE_2SIGMA_RANGE),
            "every pair inside the study's range",
            lambda s: _coverage(s, "2"),
            lambda v: low2 <= v[0] and v[2] <= high2,
        ),
        Claim(
            "dominant components (of 256 in the study)",
            DOMINANT,
            f"± {DOMINANT_TOLERANCE}",
            lambda s: len(s["fits"]["dominant_components"]),
            lambda v: abs(v - DOMINANT) <= DOMINANT_TOLERANCE,
        ),
        Claim(
            "core alignment angle (degrees) when 12-25 % of the points are omitted: largest "
            "median over the sweep pairs at facts keeping 75-88 %",
            0.0,
            f"at most {ALIGNED_MAX_DEGREES:g} degrees",
            aligned_core_angle,
            lambda v: v <= ALIGNED_MAX_DEGREES,
        ),
    ]
    return claims


CLAIMS = _claims()


def study_comparison(summary: dict) -> list[dict]:
    """One row per study claim: `claim`, `study`, `this_run` (None when the summary lacks
    it), `tolerance`, `agrees` (bool, or None without a value)."""
    rows = []
    for claim in CLAIMS:
        try:
            value = claim.read(summary)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            value = None
        agrees = None
        if value is not None:
            try:
                agrees = bool(claim.agrees(value))
            except (TypeError, ValueError, IndexError):
                value = None
        rows.append(
            {
                "claim": claim.claim,
                "study": claim.study,
                "this_run": value,
                "tolerance": claim.tolerance,
                "agrees": agrees,
            }
        )
    return rows
