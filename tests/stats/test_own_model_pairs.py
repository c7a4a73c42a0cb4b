"""Pair selection adapting to the latent dimension (`pairs: auto`): all pairs while their
grids fit `pair_budget_mb`, beyond it the most correlated pairs (original coordinates) and
every pair of the first PCA components, and the analysis preflight that follows from it."""

import numpy as np
import pytest

from lsf.core.config import AnalyzeConfig
from lsf.core.preflight import analyze_estimate
from lsf.stats.pair_analysis import pair_grid_count
from lsf.stats.pair_counts import select_pairs
from lsf.stats.selection import choose_pairs


@pytest.mark.parametrize("d", [12, 256])
def test_auto_keeps_every_pair_while_the_grids_fit(d):
    for system in ("original", "pca"):
        choice = choose_pairs("auto", d, system, budget_mb=256, bins=32)
        assert choice.chosen == "all" and "fit pair_budget_mb 256" in choice.reason


@pytest.mark.parametrize("d, budget", [(1024, 256), (2048, 256), (2048, 8), (300, 1)])
def test_auto_beyond_the_budget_fills_it_with_top_pairs_and_first_components(d, budget):
    bins = 32
    fit = budget * 2**20 // (bins * bins * 4)
    original = choose_pairs("auto", d, "original", budget, bins)
    assert original.chosen == f"top:{fit}" and "most correlated" in original.reason
    k = max(k for k in range(2, d + 1) if k * (k - 1) // 2 <= fit)  # brute force oracle
    pca = choose_pairs("auto", d, "pca", budget, bins)
    assert pca.chosen == f"first:{k}" and f"first {k} PCA components" in pca.reason
    rng = np.random.default_rng(d)
    corr = np.corrcoef(rng.standard_normal((d, 3 * d)))
    pairs = select_pairs(original.chosen, corr)
    i, j = np.triu_indices(d, 1)
    strongest = np.sort(np.abs(corr[i, j]))[::-1][:fit]
    np.testing.assert_array_equal(np.sort(np.abs(corr[pairs[:, 0], pairs[:, 1]]))[::-1], strongest)


def test_explicit_specs_pass_unchanged():
    assert choose_pairs("first:10", 2048, "pca", 1, 32).chosen == "first:10"
    assert choose_pairs("0,1;2,3", 2048, "original", 1, 32).reason == "as set"


def test_preflight_of_20000_x_2048_with_defaults_plans_grids_within_the_budget():
    config = AnalyzeConfig()
    estimate = analyze_estimate(20_000, 2048, config, pair_grid_count(config, 2048))
    fit = config.pair_budget_mb * 2**20 // (config.pair_bins**2 * 4)
    k = max(k for k in range(2, 2049) if k * (k - 1) // 2 <= fit)
    assert f"{fit + k * (k - 1) // 2} pair grids" in estimate.detail
    every = AnalyzeConfig(pairs="all", pca_pairs="all")
    pairs = pair_grid_count(every, 2048)
    assert analyze_estimate(20_000, 2048, every, pairs).disk > 30e9 > 4 * estimate.disk


@pytest.mark.parametrize(
    ("pairs", "pca_pairs"),
    [("first:10", "first:10"), ("top:7", "first:3"), ("all", "2,0;1,5"), ("auto", "auto")],
)
def test_the_preflight_counts_the_pair_grids_the_analysis_selects(tmp_path, pairs, pca_pairs):
    from lsf.preflight_stages import analyze_for
    from tests.helpers import write_latent_store

    z = np.random.default_rng(0).standard_normal((60, 12)).astype(np.float32)
    store = write_latent_store(tmp_path / "l.zarr", z, 30)
    config = AnalyzeConfig(pairs=pairs, pca_pairs=pca_pairs, pair_budget_mb=1, pair_bins=64)
    corr = np.corrcoef(z, rowvar=False)
    selected = sum(
        len(select_pairs(choose_pairs(spec, 12, system, 1, 64).chosen, corr))
        for spec, system in ((pairs, "original"), (pca_pairs, "pca"))
    )
    assert pair_grid_count(config, 12) == selected
    assert f"{selected} pair grids" in analyze_for(config, store).detail
