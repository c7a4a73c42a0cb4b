"""The study's sections of `lsf report`: study vs this run, the row sets, the PCA figures of
the study (details and pair grid of the first ten components, the first nine against later
ones, the diagonalisation check, per-component shape), the fact sweep, the origin, and from
SAMPLES the origin/centre faces, the outlier gallery and the study's plane paths.

Each function takes the report's page and the analysis (a `StoredAnalysis`, or the numbers
of summary.json it renders) and adds one section; a section whose inputs an older samples
folder lacks says "not in this analysis" instead of failing. Called by `lsf.report.report`.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PIL import Image

from lsf.core.config import ReportConfig
from lsf.plots.densities import ANALYSIS, kde_on_grid, pair_density
from lsf.plots.distributions import histogram_details
from lsf.plots.ellipses import DESCRIPTIONS, ellipse_moments
from lsf.plots.study import (
    alignment_heatmap,
    density_grid,
    labelled_rows,
    path_planes,
    plane_lines,
    split_strip,
)
from lsf.sampling.study import STUDY_PATHS
from lsf.stats.analysis_store import (
    StoredAnalysis,
    StoredFactSweep,
    StoredPca,
    StoredTrimming,
    StudyClaim,
)
from lsf.stats.moments import Moments
from lsf.stats.pca import PCA, project
from lsf.stats.quadratic import pair_covariance, projected_covariance

MISSING = "not in this analysis"
SKEW_FLAG = 0.1  # |skewness| above which a PCA component is flagged asymmetric
FLANK_FLAG = 0.25  # relative excess beyond mu +- 2 sigma above which flanks are heavy


def number(value: float, digits: int = 3) -> str:
    """A label under an image: `digits` significant digits; below 1e-6 (float32 noise of a
    point meant to sit on the centre) it prints 0."""
    return "0" if abs(value) < 1e-6 else f"{value:.{digits}g}"


def _missing(page, what: str) -> None:
    page.parts.append(f"<p><em>{html.escape(what)}: {MISSING}.</em></p>")


def claim_value(value) -> str:
    """A value of the study table: 4 significant digits, lists bracketed, None as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(claim_value(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _yes_no(value) -> str:
    return "-" if value is None else ("yes" if value else "no")


def study_comparison(page, rows: list[StudyClaim]) -> None:
    """The table of the study's numeric claims beside this run's (`study_comparison`)."""
    page.section(
        "study",
        "Study vs this run",
        "Each numeric claim of the original study, this run's value and whether it agrees "
        "within the stated tolerance.",
    )
    if not rows:
        _missing(page, "the study comparison")
        return
    page.table(
        ["claim", "study", "this run", "tolerance", "agrees"],
        [
            [r.claim, claim_value(r.study), claim_value(r.this_run), r.tolerance, _yes_no(r.agrees)]
            for r in rows
        ],
    )


def row_sets(page, a: StoredAnalysis) -> None:
    """Which rows each number of the analysis used (`rows`, `row_sets`)."""
    page.section("rowsets", "Which rows each number used")
    sets, rows = a.row_sets, a.rows
    page.parts.append(
        f"<p>Split <code>{html.escape(str(rows.split))}</code>: "
        f"{rows.selected} of {rows.total} store rows selected.</p>"
    )
    chosen = [[f"pairs_{k} (selection)", v] for k, v in a.pair_selection.items()]
    page.table(["numbers", "rows"], [[key, text] for key, text in sets.items()] + chosen)


def _diagonalisation(page, pca_corr: np.ndarray) -> None:
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


def _component_table(page, pca: StoredPca, count: int) -> None:
    skew, flank = pca.skewness, pca.flank_excess
    flags = flagged_components(skew, flank, count)
    named = "; ".join(
        f"{what}: {', '.join(f'pc{k}' for k in ks) or 'none'}" for what, ks in flags.items()
    )
    page.parts.append(
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


def pca_study(page, a: StoredAnalysis, config: ReportConfig, rows: np.ndarray) -> None:
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
        _missing(page, f"components beyond {k - 1} (latent dimension {d})")
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


def pair_coverage(page, coverage: dict) -> None:
    """Range over all counted pairs of the fraction inside each pair's 1/2/3-sigma ellipse
    (`StoredAnalysis.pair_coverage`), beside the study's claim (3 sigma >= 97 %, 2 sigma
    70-90 %)."""
    if not coverage:
        _missing(page, "the coverage range over all pairs")
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


def _sweep_table(page, sweep: dict) -> None:
    keys = ("survivor_fraction", "axis_angle_max_first_k", "core_alignment_median")
    keys += ("core_alignment_max",)
    present = [k for k in keys if k in sweep]
    page.table(
        ["fact", *(k.replace("_", " ") for k in present)],
        [[fact, *(sweep[k][f] for k in present)] for f, fact in enumerate(sweep.get("facts", []))],
    )


def fact_sweep(page, a: StoredAnalysis) -> None:
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


def origin(page, measures: dict) -> None:
    """Where the origin of the latent space sits relative to the bulk."""
    page.section(
        "origin",
        "The origin",
        "The study found the origin at the border of the bulk, not at its centre.",
    )
    if not measures:
        _missing(page, "the origin's position")
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


def _strip(samples: Path, png: str, count: int) -> list[np.ndarray]:
    return split_strip(np.asarray(Image.open(samples / png).convert("RGB")), count)


def faces(page, samples: Path, metrics: dict) -> None:
    """The decoded origin beside the decoded centre, each with its d2."""
    page.section(
        "faces",
        "Origin and centre",
        "The decoder's image of the zero vector and of the centre (mean) of the latents.",
    )
    entry = metrics.get("faces")
    if not entry:
        _missing(page, "the origin and centre faces (samples from an older lsf generate)")
        return
    d2 = entry["squared_mahalanobis"]
    labels = [f"{n}: d2 {number(v, 4)}" for n, v in zip(entry["names"], d2, strict=True)]
    page.figure(
        "faces",
        labelled_rows([("origin and centre", _strip(samples, entry["png"], 2), labels)]),
        f"Left the origin, right the centre, with their squared Mahalanobis distance "
        f"(chi2 with {entry['dof']} degrees of freedom). Look for: a face at the centre and "
        "none at the origin, which lies at the border of the bulk.",
    )


def gallery(page, samples: Path, metrics: dict) -> None:
    """Source images of the most extreme latents beside typical ones."""
    page.section(
        "gallery",
        "Outlier gallery",
        "Source images of the latents furthest out by squared Mahalanobis distance (d2) and "
        "by trim radius, beside typical ones (d2 nearest the median).",
    )
    entry = metrics.get("gallery")
    if entry and entry.get("off"):
        page.parts.append("<p><em>Outlier gallery switched off (generate.gallery: false).</em></p>")
        return
    if not entry or "missing" in entry:
        _missing(page, f"the outlier gallery ({(entry or {}).get('missing', 'no entry')})")
        return
    rows = []
    for name, row in entry.items():
        if row["png"] is None:
            continue
        images = _strip(samples, row["png"], len(row["ids"]))
        labels = [f"id {i}\n{v:.3g}" for i, v in zip(row["ids"], row["values"], strict=True)]
        rows.append((f"{name.replace('_', ' ')}: {row['measure']}", images, labels))
    if not rows:
        _missing(page, "gallery images (no id found in the shards)")
        return
    page.figure(
        "gallery",
        labelled_rows(rows),
        "One row per set, each image with its source id and value. Look for: what the outer "
        "points have in common (the study saw strong background variation) against the "
        "typical row.",
    )


def _origin_path(page, samples: Path, metrics: dict, cloud: np.ndarray, planes) -> None:
    path = next((p for p in metrics.get("paths", []) if p["kind"] == "origin_to_centre"), None)
    if path is None:
        return
    points = np.load(samples / "paths" / path["npy"], allow_pickle=False).astype(np.float64)
    labels = [f"d2 {number(v, 4)}" for v in path["squared_mahalanobis"]]
    steps = path["steps"]
    rows = [("origin to centre", _strip(samples, "paths/" + path["png"], steps), labels)]
    page.figure(
        "study_origin_strip",
        labelled_rows(rows),
        "Decoded steps from the origin (left) to the centre (right), the squared Mahalanobis "
        "distance under each. Look for: where a face appears along the way.",
    )
    page.figure(
        "study_origin_planes",
        path_planes(points, cloud, [tuple(p) for p in planes]),
        "The origin-to-centre path projected onto planes of dominant components: origin "
        "yellow, centre orange. Look for: the origin at the edge of the cloud, not inside it.",
    )


def _plane_figures(page, samples: Path, rows, cloud, mean, cov) -> None:
    i, j = rows[0]["components"]
    beyond = any(r["beyond_core"] for r in rows)
    lines = [
        np.load(samples / STUDY_PATHS / r["npy"], allow_pickle=False)[:, [i, j]].astype(np.float64)
        for r in rows
    ]
    where = "runs beyond the core" if beyond else "stays inside the core"
    angles = ", ".join(f"{r['angle_deg']:g}" for r in rows)
    page.figure(
        f"study_plane_{i}_{j}",
        plane_lines(
            lines,
            [r["angle_deg"] for r in rows],
            cloud[:, [i, j]],
            mean[[i, j]],
            pair_covariance(cov, i, j),
            (f"z{i}", f"z{j}"),
        ),
        f"Lines through the centre in the plane of z{i}, z{j}, {rows[0]['sigmas']:g} sigma "
        f"each way, at {angles} degrees; this plane "
        f"{where} (the 3-sigma ellipse of the pair). Look for: lines leaving the cloud.",
    )
    strips = [
        (
            f"{r['angle_deg']:g} deg" + (" (beyond the core)" if r["beyond_core"] else ""),
            _strip(samples, f"{STUDY_PATHS}/{r['png']}", r["steps"]),
            [number(v) for v in r["squared_mahalanobis"]],
        )
        for r in rows
    ]
    page.figure(
        f"study_strips_{i}_{j}",
        labelled_rows(strips),
        f"Decoded steps of each line in the plane of z{i}, z{j}, the squared Mahalanobis "
        "distance under each face. Look for: faces degrading where d2 grows past the bulk.",
    )


def study_paths(page, samples: Path, metrics: dict, moments: Moments, cloud: np.ndarray) -> None:
    """Origin to centre over several planes, and the rotated lines of each study plane."""
    page.section(
        "studypaths",
        "Paths as in the study",
        "Straight paths decoded step by step: origin to centre, and lines through the centre "
        "in planes of the widest dominant components, each rotated through several angles.",
    )
    paths, planes = metrics.get("study_paths"), metrics.get("study_planes")
    if paths == []:
        page.parts.append("<p><em>Study paths switched off (generate.study_planes: 0).</em></p>")
        return
    if not paths or not planes:
        _missing(page, "the study paths (samples from an older lsf generate)")
        return
    _origin_path(page, samples, metrics, cloud, planes)
    beyond = sorted({tuple(p["components"]) for p in paths if p["beyond_core"]})
    page.parts.append(
        "<p>Planes running beyond the core: "
        f"{html.escape(', '.join(f'(z{i}, z{j})' for i, j in beyond) or 'none')}.</p>"
    )
    mean, cov = np.asarray(moments.mean), np.asarray(moments.cov)
    for plane in planes:
        rows = [p for p in paths if p["components"] == list(plane)]
        if rows:
            _plane_figures(page, samples, rows, cloud, mean, cov)


def decoder_note(page, model: dict) -> None:
    """Without samples: which parts of the study need a decoder, and which model made the
    latents (`model`: the store's model record; kind `none` for latents from `lsf import`)."""
    kind = model.get("kind") or "lsf"
    made = "imported latents, no model recorded" if kind == "none" else f"a {kind} model"
    page.section("decoder", "What needs a decoder")
    page.parts.append(
        f"<p>The latents come from {html.escape(made)}. Everything above reads only the "
        "latents. Sampler grids and their quality metrics, latent paths, the origin and "
        "centre faces and the outlier gallery need a decoder: run <code>lsf generate "
        "--model MODEL</code> (lsf's model.pt or a model YAML of your own) and pass "
        "<code>--samples</code>.</p>"
    )
