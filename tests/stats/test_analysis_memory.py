"""Bounded memory of `lsf analyze`: streamed d^2 quantiles against `np.quantile` within the
stated bin-width bound, pair blocks sized by `task_memory_mb` and streamed to the sink as
they finish, and peak RSS of `lsf analyze` (subprocess) that does not grow with the number
of rows."""

import json
import os
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
from scipy import stats

from lsf.core.config import AnalyzeConfig
from lsf.core.progress import QUIET
from lsf.stats.analysis import analyze_latents
from lsf.stats.normality import (
    D2_BINS,
    chunk_d2_histogram,
    combine_d2_histograms,
    coverage_radii,
    histogram_quantiles,
)
from lsf.stats.pair_analysis import MemorySink, pair_plan
from lsf.stats.quadratic import squared_mahalanobis
from tests.helpers import assert_close_to_scale, correlated_latents, latent_like, write_latent_store


def test_streamed_d2_quantiles_are_within_one_bin_of_np_quantile():
    rng = np.random.default_rng(1)
    x = rng.standard_t(4, size=(30000, 5)).astype(np.float32)
    mean, white = np.zeros(5), np.eye(5) / 1.3
    top = 60.0
    radii = coverage_radii(5)
    parts = [chunk_d2_histogram(x[s : s + 7000], mean, white, top, radii) for s in (0, 7000)]
    parts.append(chunk_d2_histogram(x[14000:], mean, white, top, radii))
    combined = combine_d2_histograms(combine_d2_histograms(parts[0], parts[1]), parts[2])
    d2 = squared_mahalanobis(x, mean, white)
    assert combined["n"] == len(d2) and combined["counts"][-1] == (d2 >= top).sum() > 0
    np.testing.assert_array_equal(combined["inside"], [(d2 <= r).sum() for r in radii])
    probabilities = (np.arange(200) + 0.5) / 200
    expected = np.quantile(d2, probabilities)
    got = histogram_quantiles(combined["counts"], top, combined["max"], probabilities)
    inside = expected < top
    assert inside.sum() > 190
    assert np.abs(got[inside] - expected[inside]).max() <= top / D2_BINS
    assert got[-1] == pytest.approx(np.quantile(d2, probabilities[-1]), abs=top / D2_BINS) or (
        got[-1] == d2.max()
    )


def test_the_analysis_qq_table_is_within_the_bound_of_the_all_rows_quantiles():
    x = latent_like(5000)
    result = analyze_latents(
        da.from_array(x, chunks=(900, x.shape[1])), AnalyzeConfig(pca_rows="all"), progress=QUIET
    )
    pca = result.pca.model
    white = pca.components[: pca.rank].T / np.sqrt(pca.explained_variance[: pca.rank])
    d2 = squared_mahalanobis(x, pca.mean, white)
    chi2_q, observed = result.normality.qq
    probabilities = (np.arange(200) + 0.5) / 200
    assert_close_to_scale(chi2_q, stats.chi2.ppf(probabilities, pca.rank), rtol=1e-7)
    bound = 4 * d2.max() * 1.0001 / D2_BINS  # the grid spans <= 4x the sample's largest d^2
    assert np.abs(observed - np.quantile(d2, probabilities)).max() <= max(bound, 1e-9) * 4
    radii = stats.chi2.ppf(result.normality.coverage.levels, pca.rank)
    assert_close_to_scale(
        result.normality.coverage.observed, [(d2 <= r).mean() for r in radii], rtol=1e-7
    )


def test_pair_blocks_follow_the_task_memory_budget():
    small = AnalyzeConfig(pair_bins=32, task_memory_mb=16, pair_block=100000)
    block, wave = pair_plan(small, 32640, 64, workers=2)
    assert block * 6 * 32**2 <= 16 * 2**20 < (block + 1) * 6 * 32**2
    assert wave >= 1
    big = AnalyzeConfig(pair_bins=32, task_memory_mb=4096)
    assert pair_plan(big, 32640, 64, workers=2)[0] == big.pair_block  # capped by pair_block
    assert pair_plan(big, 10, 64, workers=2)[0] == 10


class RecordingSink(MemorySink):
    def __init__(self):
        super().__init__()
        self.writes = []

    def write(self, coordinates, start, counts):
        self.writes.append((coordinates, start, len(counts)))
        super().write(coordinates, start, counts)


def test_pair_counts_reach_the_sink_block_by_block():
    x = latent_like(2000)
    config = AnalyzeConfig(pair_bins=8, pair_block=10)
    sink = RecordingSink()
    result = analyze_latents(da.from_array(x, chunks=(500, 12)), config, progress=QUIET, sink=sink)
    original = [w for w in sink.writes if w[0] == "original"]
    assert [w[1] for w in original] == list(range(0, 66, 10))
    assert sum(w[2] for w in original) == 66
    reference = analyze_latents(
        da.from_array(x, chunks=(500, 12)), AnalyzeConfig(pair_bins=8), progress=QUIET
    )
    for mine, theirs in zip(result.pairs, reference.pairs, strict=True):
        np.testing.assert_array_equal(mine.counts, theirs.counts)
        assert mine.table == theirs.table


MEMORY_SCRIPT = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _peak_rss_mb(store, out, config) -> float:
    """Peak RSS (MiB) of `lsf analyze` with `config`, in a fresh wrapper process."""
    command = [sys.executable, "-m", "lsf.cli", "analyze", "--latents", store, "--out", out]
    command += ["--config", config]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, *command, "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(done.stdout.split()[-1]) / 1024


ROWS = (16_000, 128_000)
DIM = 96
TOLERANCE_MB = 60


@pytest.mark.timeout(900)
def test_peak_memory_of_analyze_does_not_grow_with_the_rows(tmp_path):
    """8x the rows must not cost more than `TOLERANCE_MB` of peak RSS, with the same row
    sample (8,000 rows) and 2 x 1,128 pairs at both sizes (memory per pair is
    `test_pair_blocks_follow_the_task_memory_budget`'s business).

    One run's peak varies by up to ~40 MiB here with the same input, so the sizes run three
    times, interleaved, and each keeps its lowest peak. The tree reductions hold
    log2(chunks) partial sums (`pair_plan` counts them): 3 more levels at 8x the chunks, at
    most 3 x 2 systems x 1,128 pairs x 4 KiB = 26 MiB of pair counts here. Measured on the
    2-core machine: +17 MiB (490 -> 507). The code before streaming (every pair block's
    partials in one computation, every row's d^2 on the driver) went 718 -> 834 MiB (+116)
    with all pairs, and with these pairs it would hold 125 chunks x 2 x 2.3 MiB of partial
    counts."""
    config = tmp_path / "config.yaml"
    pairs = "first:48"
    config.write_text(
        json.dumps({"analyze": {"sample_rows": 8000, "pairs": pairs, "pca_pairs": pairs}})
    )
    stores = [
        write_latent_store(tmp_path / f"{n}.zarr", correlated_latents(n, DIM), 1024) for n in ROWS
    ]
    peaks = {n: [] for n in ROWS}
    for attempt in range(3):
        for n, store in zip(ROWS, stores, strict=True):
            out = str(tmp_path / f"a{n}-{attempt}")
            peaks[n].append(_peak_rss_mb(store, out, str(config)))
    small, large = (min(peaks[n]) for n in ROWS)
    assert large - small <= TOLERANCE_MB, f"peak RSS {small:.0f} -> {large:.0f} MiB ({peaks})"


def test_the_sample_is_projected_and_ranged_in_blocks_exactly_as_whole(monkeypatch):
    """`projected_span` works a block of components and rows at a time (no float64 scores of
    the whole row sample); numpy on the whole sample is the oracle, for a rank below D too."""
    from lsf.stats import analysis, histograms
    from lsf.stats.chunk_steps import squared_distances
    from lsf.stats.pca import pca_from_covariance, project

    monkeypatch.setattr(analysis, "PROJECT_ROWS", 70)
    monkeypatch.setattr(analysis, "PROJECT_COMPONENTS", 5)
    monkeypatch.setattr(histograms, "QUANTILE_COLUMNS", 3)
    x = latent_like(1000)
    x[:, -2:] = x[:, :2] @ np.array([[1.0, 2.0], [-1.0, 0.5]], dtype=np.float32)  # rank D - 2
    pca = pca_from_covariance(x.mean(axis=0), np.cov(x.T.astype(np.float64)))
    assert pca.rank < x.shape[1]
    rows = np.flatnonzero(np.random.default_rng(0).random(len(x)) < 0.7)
    (lo, hi), d2 = analysis.projected_span(x, pca, rows)
    whole = project(x, pca.mean, pca.components)
    assert_close_to_scale(d2, squared_distances(whole, pca), rtol=1e-12)
    chosen = whole[rows]
    q_lo, q_hi = np.quantile(chosen, [0.001, 0.999], axis=0)
    span = np.where(q_hi > q_lo, q_hi - q_lo, 1.0)
    assert_close_to_scale(lo, q_lo - 0.1 * span, rtol=1e-12)
    assert_close_to_scale(hi, q_hi + 0.1 * span, rtol=1e-12)
    assert len(lo) == x.shape[1] > 5
