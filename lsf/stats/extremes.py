"""The typical rows of the outlier gallery: `nearest(candidates, target, k)` picks the `k`
rows whose d^2 is closest to `target` (the median d^2 of the grid) from the bounded
candidate list that the projection read keeps (the `4k` rows nearest the row sample's
median d^2). Pure NumPy; the extreme rows themselves are `lsf.stats.selection.top_k`.
"""

from __future__ import annotations

import numpy as np


def nearest(candidates: dict, target: float, k: int) -> dict:
    """The `k` candidates (`rows`, d^2 in `payload`) closest to `target`; ties: smaller row."""
    d2, rows = candidates["payload"], candidates["rows"]
    order = np.lexsort((rows, np.abs(d2 - target)))[:k]
    return {"rows": rows[order], "d2": d2[order]}
