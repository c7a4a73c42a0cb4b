"""The study's sections of `lsf report`: study vs this run, the row sets, the PCA figures of
the study (details and pair grid of the first ten components, the first nine against later
ones, the diagonalisation check, per-component shape), the coverage range over all pairs,
the fact sweep and the origin.

Each function takes the report's `Page` and the analysis (a `StoredAnalysis`, or the
numbers of summary.json it renders) and adds one section or table; one whose inputs an
older analysis lacks says "not in this analysis" instead of failing. Called by
`lsf.report.report`.
"""

from __future__ import annotations

import html

import numpy as np

from lsf.core.config import ReportConfig
from lsf.pages.numbers import claim
from lsf.pages.page import Page
from lsf.plots.densities import ANALYSIS, kde_on_grid, pair_density
from lsf.plots.distributions import histogram_details
from lsf.plots.ellipses import DESCRIPTIONS, ellipse_moments
from lsf.plots.study import alignment_heatmap, density_grid
from lsf.stats.analysis_store import (
    StoredAnalysis,
    StoredFactSweep,
    StoredPca,
    StoredTrimming,
    StudyClaim,
)
from lsf.stats.pca import PCA, project
from lsf.stats.quadratic import pair_covariance, projected_covariance

SKEW_FLAG = 0.1  # |skewness| above which a PCA component is flagged asymmetric
FLANK_FLAG = 0.25  # relative excess beyond mu +- 2 sigma above which flanks are heavy


def _yes_no(value) -> str:
    return "-" if value is None else ("yes" if value else "no")


def study_comparison(page: Page, rows: list[StudyClaim]) -> None:
    """The table of the study's numeric claims beside this run's (`study_comparison`)."""
    page.section(
        "study",
        "Study vs this run",
        "Each numeric claim of the original study, this run's value and whether it agrees "
        "within the stated tolerance.",
    )
    if not rows:
        page.missing("the study comparison")
        return
    page.table(
        ["claim", "study", "this run", "tolerance", "agrees"],
        [
            [r.claim, claim(r.study), claim(r.this_run), r.tolerance, _yes_no(r.agrees)]
            for r in rows
        ],
    )


def row_sets(page: Page, a: StoredAnalysis) -> None:
    """Which rows each number of the analysis used (`rows`, `row_sets`)."""
    page.section("rowsets", "Which rows each number used")
    sets, rows = a.row_sets, a.rows
    page.add(
        f"<p>Split <code>{html.escape(str(rows.split))}</code>: "
        f"{rows.selected} of {rows.total} store rows selected.</p>"
    )
    chosen = [[f"pairs_{k} (selection)", v] for k, v in a.pair_selection.items()]
    page.table(["numbers", "rows"], [[key, text] for key, text in sets.items()] + chosen)


def _diagonalisation(page: Page, pca_corr: np.ndarray) -> None:
    corr = np.asarray(pca_corr, dtype=np.float64)
    off = np.abs(corr - np.diag(np.diag(corr)))
    diagonal = float(np.nanmax(np.abs(np.diag(corr) - 1))) if len(corr) else 0.0
    page.table(
        ["diagonalisation check", "this run", "study"],
        [
            ["max |off-diagonal| correlation in PCA coordinates", float(np.nanmax(off)), "< 2e-7"],
            ["max |diagonal - 1|", diagonal, "< 1e-8"],
        ],
    )


def flagged_components(skewness, flank_excess, count: int) -> dict[str, list[int]]:
    """PCA components among the first `count` flagged asymmetric (|skewness| > SKEW_FLAG)
    or heavy-flanked (flank excess > FLANK_FLAG)."""
    skew = np.abs(np.nan_to_num(np.asarray(skewness, dtype=np.float64)[:count]))
    flank = np.nan_to_num(np.asarray(flank_excess, dtype=np.float64)[:count])
    return {
        "asymmetric": np.flatnonzero(skew > SKEW_FLAG).tolist(),
        "heavy flanks": np.flatnonzero(flank > FLANK_FLAG).tolist(),
    }


def _component_table(page: Page, pca: StoredPca, count: int) -> None:
    skew, flank = pca.skewness, pca.flank_excess
    flags = flagged_components(skew, flank, count)
    named = "; ".join(
        f"{what}: {', '.join(f'pc{k}' for k in ks) or 'none'}" for what, ks in flags.items()
    )
    page.add(
        f"<p>Flagged among the first {count} (|skewness| &gt; {SKEW_FLAG}, flank excess "
        f"&gt; {FLANK_FLAG}): {html.escape(named)}.</p>"
    )
    rows = []
    for k in range(count):
        marks = [w for w, ks in flags.items() if k in ks]
        rows.append(
            [
                f"pc{k}",
                float(pca.fits.mu[k]),
                float(pca.fits.sigma[k]),
                float(skew[k]),
                float(flank[k]),
                ", ".join(marks) or "-",
            ]
        )
    page.table(
        ["component", "fitted centre", "fitted sigma", "skewness", "flank excess", "flag"], rows
    )


def bandwidth_text(densities) -> str:
    """The KDE bandwidth of a grid's panels, in words (from its first analysis density)."""
    first = next((d for d in densities if d.source == ANALYSIS), densities[0])
    return (
        f"KDE bandwidth: kernel covariance = {first.factor:.3g}^2 x the pair's covariance "
        f"(Scott, n = {first.rows} counted rows)"
    )


def _grid_panels(a: StoredAnalysis, pairs, points, mean, cov) -> tuple[list[dict], str]:
    panels, densities = [], []
    stored, all_cov = a.pairs("pca"), a.all_rows("pca")[1]
    for i, j in pairs:
        density = pair_density(stored, i, j, points, all_cov)
        densities.append(density)
        title = f"pc{i}, pc{j}" + ("" if density.source == ANALYSIS else " (sampled)")
        panels.append(
            {
                "density": density.contour(),
                "mean2": mean[[i, j]],
                "cov2": pair_covariance(cov, i, j),
                "title": title,
            }
        )
    return panels, bandwidth_text(densities)


def pca_study(page: Page, a: StoredAnalysis, config: ReportConfig, rows: np.ndarray) -> None:
    """Detail histograms and the pair grid of the first components, the first nine against
    a spread of later ones, the diagonalisation check and the per-component shape table."""
    d, pca = a.latent_dim, a.pca
    k = min(config.study_components, d)
    page.section(
        "pcastudy",
        "The study's PCA figures",
        f"The first {k} PCA components as the study shows them; ellipses from "
        f"{html.escape(DESCRIPTIONS[config.ellipses])}.",
    )
    page.figure(
        "pca_details",
        histogram_details(pca.hist.edges, pca.hist.counts, pca.fits, range(k), "pc", 5),
        f"PCA components 0 to {k - 1}: histograms with Gaussian fits. Look for: centres near 0, "
        "flanks the red curve misses (heavy tails) and lopsided bars (asymmetry).",
    )
    _diagonalisation(page, pca.corr)
    _component_table(page, pca, k)
    points = project(rows, pca.model.mean, pca.model.components)
    mean, cov = ellipse_moments(a, "pca", config.ellipses)
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    panels, bandwidth = _grid_panels(a, pairs, points, mean, cov)
    page.figure(
        "pca_pair_grid",
        density_grid(panels, max(1, k - 1)),
        f"All {len(pairs)} pairs of PCA components 0 to {k - 1}: the analysis's binned KDE "
        "(blue) with contours (navy) at the highest-density regions holding the 1/2/3-sigma "
        f"normal masses, and the 1/2/3-sigma ellipses. {bandwidth}. Look for: contours "
        "off the ellipses' centre or tilted against the axes (critical components).",
    )
    first = range(min(9, k))
    spread = [c for c in config.spread_components if k <= c < d]
    if not spread:
        page.missing(f"components beyond {k - 1} (latent dimension {d})")
        return
    pairs = [(i, j) for i in first for j in spread]
    panels, bandwidth = _grid_panels(a, pairs, points, mean, cov)
    page.figure(
        "pca_spread_grid",
        density_grid(panels, len(spread)),
        f"PCA components 0 to {len(first) - 1} (rows) against components "
        f"{', '.join(map(str, spread))} (columns). {bandwidth}. Look for: round, axis-aligned "
        "contours: later components should be nearly independent normals.",
    )


def pair_coverage(page: Page, coverage: dict) -> None:
    """Range over all counted pairs of the fraction inside each pair's 1/2/3-sigma ellipse
    (`StoredAnalysis.pair_coverage`), beside the study's claim (3 sigma >= 97 %, 2 sigma
    70-90 %)."""
    if not coverage:
        page.missing("the coverage range over all pairs")
        return
    claims = {"1": "-", "2": "70 % to 90 %", "3": "at least 97 %"}
    page.table(
        ["pairs", "ellipse", "min", "median", "max", "study"],
        [
            [coordinates, f"{n} sigma", *values, claims.get(n, "-")]
            for coordinates, by_sigma in coverage.items()
            for n, values in by_sigma.items()
        ],
    )


def worst_pair(sweep_summary: dict, sweep_pairs: np.ndarray) -> int:
    """Index into `sweep_pairs` of the sweep's `worst_pair`, else of (2, 3), else 0."""
    for pair in (sweep_summary.get("worst_pair"), (2, 3)):
        if pair is not None:
            hits = np.flatnonzero((sweep_pairs[:, 0] == pair[0]) & (sweep_pairs[:, 1] == pair[1]))
            if len(hits):
                return int(hits[0])
    return 0


def fact_pair_panels(sweep: StoredFactSweep, trimming: StoredTrimming, pca: PCA, facts, p: int):
    """Per fact: the KDE of pair `p`'s counts of that fact's survivors (chosen-basis PCA
    coordinates) and the survivors' own mean and covariance there (their 1-sigma ellipse)."""
    i, j = (int(v) for v in sweep.pairs[p])
    components = np.asarray(pca.components, dtype=np.float64)[[i, j]]
    edges = sweep.pair_edges[p]
    panels = []
    for f, fact in enumerate(facts):
        counts = np.asarray(sweep.pair_counts[f, p])
        mean2 = components @ (trimming.mean[f] - pca.mean)
        cov2 = projected_covariance(trimming.cov[f], components)
        rows = max(int(np.asarray(counts).sum()), 2)
        bandwidth = cov2
        if not np.isfinite(cov2).all() or np.linalg.det(cov2) <= 0:  # too few survivors
            bandwidth = np.diag([np.diff(edges[0])[0] ** 2, np.diff(edges[1])[0] ** 2])
        density = kde_on_grid(counts, edges[0], edges[1], bandwidth, rows, "")
        title = f"fact {fact:g}: core angle {sweep.core_alignment[f, p]:.1f} deg"
        panels.append({"density": density.contour(), "mean2": mean2, "cov2": cov2, "title": title})
    return panels


def _sweep_table(page: Page, sweep: dict) -> None:
    keys = ("survivor_fraction", "axis_angle_max_first_k", "core_alignment_median")
    keys += ("core_alignment_max",)
    present = [k for k in keys if k in sweep]
    page.table(
        ["fact", *(k.replace("_", " ") for k in present)],
        [[fact, *(sweep[k][f] for k in present)] for f, fact in enumerate(sweep.get("facts", []))],
    )


def fact_sweep(page: Page, a: StoredAnalysis) -> None:
    """The worst pair (or (2, 3)) across the facts, and the core-alignment heatmap."""
    page.section(
        "factsweep",
        "The fact sweep",
        "How the inner core of each PCA pair turns as the trimming fact drops more outer "
        "points: the core alignment angle is the principal-axis angle of the points inside a "
        "pair's 1-sigma ellipse against the PCA axes (0 for a normal).",
    )
    sweep, trimming = a.fact_sweep, a.trimming
    facts = [float(f) for f in sweep.facts]
    p = worst_pair(sweep.summary, sweep.pairs)
    i, j = (int(v) for v in sweep.pairs[p])
    panels = fact_pair_panels(sweep, trimming, a.pca.model, facts, p)
    page.figure(
        "fact_sweep_pair",
        density_grid(panels, len(facts), sigmas=(1,)),
        f"PCA pair (pc{i}, pc{j}) for the survivors of each fact: binned KDE (Scott bandwidth "
        "of each fact's survivors and their covariance) with highest-density-region contours, "
        "and the 1-sigma ellipse of those survivors' own moments. Look for: the ellipse and "
        "the inner "
        "contours turning as the fact grows (outer points steering the core).",
    )
    labels = [f"({i},{j})" for i, j in sweep.pairs]
    page.figure(
        "core_alignment",
        alignment_heatmap(sweep.core_alignment, facts, labels, sweep.axis_angles),
        "Core alignment angle per PCA pair (rows) and fact (columns), and the angle between "
        "each fact's PCA axes and the chosen basis's. Look for: dark cells (aligned core); "
        "bright rows are pairs whose core stays tilted whatever is trimmed.",
    )
    if sweep.summary:
        _sweep_table(page, sweep.summary)


def origin(page: Page, measures: dict) -> None:
    """Where the origin of the latent space sits relative to the bulk."""
    page.section(
        "origin",
        "The origin",
        "The study found the origin at the border of the bulk, not at its centre.",
    )
    if not measures:
        page.missing("the origin's position")
        return
    names = {
        "d2": "squared Mahalanobis distance of the origin",
        "dof": "degrees of freedom",
        "chi2_quantile": "chi2 probability of that distance",
        "trim_radius": "trim radius max_j |mu_j| / FWHM_j",
        "fraction_closer": "fraction of latents closer to the centre than the origin",
        "fraction_closer_error": "error bound of that fraction (d2 grid)",
    }
    page.table(["quantity", "value"], [[names.get(k, k), v] for k, v in measures.items()])
