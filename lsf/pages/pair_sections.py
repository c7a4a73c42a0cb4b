"""The "Pairs of components" section of `lsf report`: your pairs, the most correlated and the
least elliptic, in original and in PCA coordinates. Each panel: a scatter of sampled rows,
the analysis's binned KDE of its stored pair counts (`lsf.plots.densities`; a KDE of the
sampled rows for a pair the analysis did not count) and the 1/2/3-sigma ellipses, whose
coverage a table beside the bivariate normal's gives. Called by `lsf.report.report`.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from lsf.core.config import ReportConfig
from lsf.pages.page import Page
from lsf.plots.densities import ANALYSIS, PairDensity, pair_density
from lsf.plots.ellipses import DESCRIPTIONS, counts_coverage, ellipse_moments
from lsf.plots.pairs import pair_panels
from lsf.stats.analysis_store import StoredAnalysis, StoredPairs
from lsf.stats.pair_counts import select_pairs
from lsf.stats.pairs import SIGMAS, coverage_2d, expected_coverage
from lsf.stats.pca import project
from lsf.stats.quadratic import pair_covariance


def _pairs(flat: list[int], d: int) -> list[tuple[int, int]]:
    pairs = [(flat[k], flat[k + 1]) for k in range(0, len(flat) - 1, 2)]
    return [(i, j) for i, j in pairs if i < d and j < d and i != j]


def top_correlated_pairs(corr: np.ndarray, count: int) -> list[tuple[int, int]]:
    """The `count` pairs of largest |correlation| (`select_pairs("top:K")`)."""
    return [(int(i), int(j)) for i, j in select_pairs(f"top:{count}", corr)]


def _extend(chosen: list, more) -> list:
    return chosen + [p for p in more if p not in chosen]


def _least_elliptic(a: StoredAnalysis, system: str) -> dict[tuple[int, int], float]:
    return {(p.i, p.j): p.score for p in a.least_elliptic(system)}


def _panel(density: PairDensity, points, mean2, cov2, names, title: str) -> dict:
    if density.source != ANALYSIS:
        title += f"\n(not in the analysis: KDE of {density.rows} sampled rows)"
    return {
        "points": points,
        "mean2": mean2,
        "cov2": cov2,
        "density": density.contour(),
        "names": names,
        "title": title,
    }


PAIRS_TEXT = (
    "Grey: a scatter of real latents. Navy: contours of the analysis's binned Gaussian KDE "
    "(the density it scores pairs with) at the highest-density regions that hold the mass of "
    "the 1, 2 and 3 sigma ellipses of a bivariate normal (39.3 %, 86.5 %, 98.9 %). Red, "
    "orange, yellow: the 1/2/3-sigma confidence ellipses (their source is chosen with "
    "<code>report.ellipses</code> and named in each coverage table). Shown: your pairs, "
    "the most correlated pairs and the pairs with the highest non-ellipticity score "
    "(<code>pairs.parquet</code> ranks every pair)."
)


def _reference(densities: list[PairDensity]) -> PairDensity:
    """The density whose bandwidth the figure states: an analysis one when there is one."""
    return next((d for d in densities if d.source == ANALYSIS), densities[0])


def _pairs_caption(densities: list[PairDensity], names: list[str], where: str) -> str:
    first = _reference(densities)
    text = (
        f"Pairs in {where}. KDE bandwidth: kernel covariance = (n^(-1/6))^2 x the pair's "
        f"covariance (Scott), n = {first.rows} counted rows, factor {first.factor:.3g}. "
        "Look for: navy contours that sit on the ellipses of the same colour order; "
        "off-centre peaks, bananas or several islands mean the pair is not normal."
    )
    missing = [n for n, dens in zip(names, densities, strict=True) if dens.source != ANALYSIS]
    if missing:
        text += (
            f" Not in the analysis's pair set: {', '.join(missing)}; their contours are the "
            f"same KDE of {densities[names.index(missing[0])].rows} sampled rows on a robust grid."
        )
    return text


@dataclass
class _Plane:
    """One coordinate system of the pair figures."""

    pairs: StoredPairs | None  # the analysis's pair grids in these coordinates
    label: str  # "z" or "pc"
    where: str  # words for the captions
    points: np.ndarray  # sampled rows in these coordinates
    mean: np.ndarray  # centre of the ellipses
    cov: np.ndarray  # covariance of the ellipses
    scores: dict  # (i, j) -> non-ellipticity score of the least elliptic pairs
    source: str  # where the ellipses come from: fits, trimmed or moments
    all_cov: np.ndarray  # covariance of every analysed row here (KDE of sampled rows)


def ellipse_coverage(pairs: StoredPairs | None, i: int, j: int, mean2, cov2, points) -> list:
    """`[(observed fractions inside the 1/2/3-sigma ellipses, what they were counted
    from)]`: from the stored pair counts when the analysis counted the pair (every counted
    row, binned: a bin the ellipse cuts counts in part), then from the sampled rows (exact
    point tests on a subset)."""
    found = []
    stored = None if pairs is None else pairs.grid(i, j)
    if stored is not None:
        bins = len(stored[1]) - 1
        found.append((counts_coverage(*stored, mean2, cov2), f"stored pair counts ({bins} bins)"))
    found.append((coverage_2d(points, mean2, cov2), f"{len(points)} sampled rows (exact)"))
    return found


def _coverage_table(page: Page, rows: list[list], source: str) -> None:
    page.add(
        f"<p>Coverage of the drawn ellipses: {html.escape(DESCRIPTIONS[source])} "
        f"(<code>report.ellipses: {source}</code>).</p>"
    )
    normal = ["bivariate normal", "-", *(expected_coverage(n) for n in SIGMAS), "closed form"]
    page.table(
        ["pair", "ellipses", *(f"inside {n} sigma" for n in SIGMAS), "counted from"],
        [*rows, normal],
    )


def _pair_figure(page: Page, name: str, plane: _Plane, chosen, describe, config):
    panels, densities, labels, coverage = [], [], [], []
    for i, j in chosen:
        density = pair_density(plane.pairs, i, j, plane.points, plane.all_cov)
        title = describe(i, j)
        if (i, j) in plane.scores:
            title += f", score {plane.scores[(i, j)]:.2f}"
        names = (f"{plane.label}{i}", f"{plane.label}{j}")
        scatter = plane.points[: config.scatter_points][:, [i, j]]
        mean2, cov2 = plane.mean[[i, j]], pair_covariance(plane.cov, i, j)
        panels.append(_panel(density, scatter, mean2, cov2, names, title))
        densities.append(density)
        labels.append(f"({names[0]}, {names[1]})")
        for observed, counted in ellipse_coverage(
            plane.pairs, i, j, mean2, cov2, plane.points[:, [i, j]]
        ):
            coverage.append([labels[-1], plane.source, *observed, counted])
    if not panels:
        return
    first = _reference(densities)
    title = (
        f"{plane.where}: binned Gaussian KDE, kernel covariance = {first.factor:.3g}^2 x pair "
        f"covariance (Scott, n = {first.rows})"
    )
    caption = _pairs_caption(densities, labels, plane.where)
    page.figure(name, pair_panels(panels, title=title), caption)
    _coverage_table(page, coverage, plane.source)


def _original_pairs(page: Page, a: StoredAnalysis, config: ReportConfig, rows) -> None:
    d, corr = a.latent_dim, a.moments.corr
    scores = _least_elliptic(a, "original")
    chosen = _extend(_pairs(config.pairs, d), top_correlated_pairs(corr, config.top_pairs))
    chosen = _extend(chosen, list(scores)[: config.top_pairs])
    mean, cov = ellipse_moments(a, "original", config.ellipses)
    plane = _Plane(
        a.pairs("original"),
        "z",
        "original coordinates",
        rows,
        mean,
        cov,
        scores,
        config.ellipses,
        a.all_rows("original")[1],
    )
    _pair_figure(
        page,
        "pairs_original",
        plane,
        chosen,
        lambda i, j: f"z{i}, z{j}: r = {corr[i, j]:.2f}",
        config,
    )


def _pca_pairs(page: Page, a: StoredAnalysis, config: ReportConfig, rows) -> None:
    scores = _least_elliptic(a, "pca")
    chosen = _extend(_pairs(config.pca_pairs, a.latent_dim), list(scores)[: config.top_pairs])
    points = project(rows, a.pca.model.mean, a.pca.model.components)
    mean, cov = ellipse_moments(a, "pca", config.ellipses)
    plane = _Plane(
        a.pairs("pca"),
        "pc",
        "PCA coordinates",
        points,
        mean,
        cov,
        scores,
        config.ellipses,
        a.all_rows("pca")[1],
    )
    _pair_figure(page, "pairs_pca", plane, chosen, lambda i, j: f"PCA components {i}, {j}", config)


def pair_sections(page: Page, a: StoredAnalysis, config: ReportConfig, rows) -> None:
    """The pairs section: the chosen pairs in original and in PCA coordinates, with the
    coverage of their ellipses; `rows`: the sampled store rows."""
    page.section("pairs", "Pairs of components", PAIRS_TEXT)
    _original_pairs(page, a, config, rows)
    _pca_pairs(page, a, config, rows)
