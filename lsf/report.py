"""`lsf report`: the whole study on one static HTML page (figures as PNG beside it).

Reads ANALYSIS (and SAMPLES, and the training run the analysis points to), draws every
figure with `lsf.plots`, and writes REPORT/index.html atomically, one function per section
and a table of contents linking them. Pair contours are the analysis's binned KDE of its
stored pair counts (`lsf.plots.densities`); scatter points are seeded store rows read with
`lsf.core.store.sample_rows`; what each latent path is comes from SAMPLES/metrics.json. The
page needs no server: open it from the file system.
Run: `lsf report --analysis work/analysis --samples work/samples --out work/report`.
"""

from __future__ import annotations

import csv
import html
import posixpath
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
from PIL import Image

from lsf import __version__
from lsf.core.config import AnalyzeConfig, ReportConfig
from lsf.core.errors import LsfError
from lsf.core.locks import locks_output
from lsf.core.outputs import exists, join, local_copy, read_json, staged_output_dir
from lsf.core.progress import TERMINAL, Progress
from lsf.core.store import sample_rows
from lsf.plots import fragmentation_sections as fragmentation
from lsf.plots import sampler_sections
from lsf.plots import study_sections as study
from lsf.plots.densities import ANALYSIS, PairDensity, pair_density
from lsf.plots.distributions import (
    histogram_details,
    histograms_overview,
    mahalanobis_qq,
    training_curves,
    trimming_curve,
)
from lsf.plots.ellipses import DESCRIPTIONS, counts_coverage, ellipse_moments
from lsf.plots.matrices import (
    correlation_heatmap,
    explained_variance,
    log_off_diagonal,
    off_diagonal_heatmap,
)
from lsf.plots.pairs import pair_panels, path_projection
from lsf.stats.analysis_store import StoredAnalysis, StoredPairs, read
from lsf.stats.pair_counts import select_pairs
from lsf.stats.pairs import SIGMAS, coverage_2d, expected_coverage
from lsf.stats.pca import PCA, project
from lsf.stats.quadratic import pair_covariance


@dataclass
class ReportSummary:
    out: str
    figures: int
    seconds: float

    def __str__(self) -> str:
        return f"report with {self.figures} figures at {self.out}/index.html ({self.seconds:.1f} s)"


def _pairs(flat: list[int], d: int) -> list[tuple[int, int]]:
    pairs = [(flat[k], flat[k + 1]) for k in range(0, len(flat) - 1, 2)]
    return [(i, j) for i, j in pairs if i < d and j < d and i != j]


def top_correlated_pairs(corr: np.ndarray, count: int) -> list[tuple[int, int]]:
    """The `count` pairs of largest |correlation| (`select_pairs("top:K")`)."""
    return [(int(i), int(j)) for i, j in select_pairs(f"top:{count}", corr)]


def _extend(chosen: list, more) -> list:
    return chosen + [p for p in more if p not in chosen]


class _Page:
    """Collects figures (saved as PNG), HTML sections and the table of contents."""

    def __init__(self, folder: Path):
        self.folder, self.parts, self.figures, self.toc = folder, [], 0, []

    def section(self, anchor: str, title: str, text: str = "") -> None:
        self.toc.append((anchor, title))
        self.parts.append(f'<h2 id="{anchor}">{html.escape(title)}</h2>')
        if text:
            self.parts.append(f"<p>{text}</p>")

    def figure(self, name: str, figure, caption: str) -> None:
        figure.savefig(self.folder / f"{name}.png", dpi=110)
        self.image(f"{name}.png", caption)

    def image(self, file: str, caption: str, css: str = "") -> None:
        """A PNG already in the folder; `css="grid"` scales a small image grid up, pixelated."""
        self.figures += 1
        kind = f' class="{css}"' if css else ""
        self.parts.append(
            f'<figure><img{kind} src="{html.escape(file)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def table(self, header: list[str], rows: list[list]) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        self.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def contents(self) -> str:
        items = "".join(
            f'<li><a href="#{anchor}">{html.escape(title)}</a></li>' for anchor, title in self.toc
        )
        return f'<nav id="contents"><h2>Contents</h2><ol>{items}</ol></nav>'


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222}img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{color:#444;
font-size:.92em;max-width:60em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px
solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}h2{border-bottom:2px solid
#eee;margin-top:2em}nav ol{columns:2;line-height:1.6}nav h2{margin-top:1em}img.grid{
width:min(100%,560px);image-rendering:pixelated}"""


def _headline(page: _Page, a: StoredAnalysis) -> None:
    h = a.headline
    page.section("headline", "Headline numbers")
    page.table(
        ["quantity", "value"],
        [
            ["latents", a.n_samples],
            ["latent dimension", a.latent_dim],
            ["non-finite rows (excluded)", h.non_finite_rows],
            ["components fitted", h.fitted],
            ["dominant components", len(h.dominant_components)],
            ["max |correlation| between components", h.max_abs_correlation],
            ["PCA basis", f"{a.pca.basis} ({a.pca.rows} rows)"],
            *[[f"PCA components for {k} of the variance", v] for k, v in h.components_for.items()],
            [
                "max |off-diagonal| correlation in PCA coordinates",
                h.max_abs_off_diagonal_correlation,
            ],
        ],
    )


def _training(page: _Page, run: str) -> None:
    page.section("training", "Training", f"Run folder <code>{html.escape(run)}</code>.")
    fs, folder = fsspec.core.url_to_fs(run)
    metrics, reconstructions = join(folder, "metrics.csv"), join(folder, "reconstructions.png")
    if fs.isfile(metrics):
        with fs.open(metrics, "r") as f:
            rows = list(csv.DictReader(f))
        epochs = [int(r["epoch"]) for r in rows]
        page.figure(
            "training_curves",
            training_curves(
                epochs, [float(r["train_loss"]) for r in rows], [float(r["val_loss"]) for r in rows]
            ),
            "Reconstruction loss per epoch (log scale). Look for: both curves falling and "
            "flattening together; validation far above train means overfitting.",
        )
    if fs.isfile(reconstructions):
        fs.get_file(reconstructions, str(page.folder / "reconstructions.png"))
        page.image(
            "reconstructions.png",
            "Validation images (top) and their reconstructions (bottom). Look for: faces "
            "that keep pose, colour and layout; blur is the autoencoder's limit.",
            css="grid",
        )


def dominant_rule_text(analyze_config: AnalyzeConfig) -> str:
    """The analysis's dominant rule in words (the settings it ran with)."""
    if analyze_config.dominant_rule == "study":
        return (
            f"|mu| > {analyze_config.dominant_min_abs_mu:g} and half width "
            f"FWHM/2 > {analyze_config.dominant_min_half_width:g}, the study's rule"
        )
    return "|mu| > 2 median sigma or FWHM > 2 median FWHM"


def _histograms(page: _Page, a: StoredAnalysis, config: ReportConfig) -> None:
    d = a.latent_dim
    fits = a.fits.gaussians
    dominant = np.flatnonzero(a.fits.dominant)
    detail = list(dominant[: config.detail_components]) or list(range(min(d, 4)))
    rule = dominant_rule_text(a.config)
    page.section(
        "histograms",
        "Component histograms",
        "Each latent component with its Gaussian fit (FWHM = 2.355 sigma). Dominant "
        f"components ({html.escape(rule)}) are detailed.",
    )
    edges, counts = a.fits.hist.edges, a.fits.hist.counts
    page.figure(
        "histograms",
        histograms_overview(edges, counts, fits),
        "All components. Look for: bars that follow the red Gaussian; skewed, flat-topped "
        "or two-peaked bars are components that are not normal.",
    )
    page.figure(
        "histogram_details",
        histogram_details(edges, counts, fits, detail, columns=5),
        "Detail of the dominant (or first) components. Look for: the fitted mu and sigma in "
        "the titles, and tails the Gaussian misses.",
    )
    page.figure(
        "correlation",
        correlation_heatmap(a.moments.corr),
        "Pearson correlation between latent components. Look for: strong off-diagonal "
        "colour, i.e. components that encode the same factor (PCA below removes it).",
    )


def _trimming(page: _Page, a: StoredAnalysis) -> None:
    page.section("trimming", "Trimming")
    page.figure(
        "trimming",
        trimming_curve(a.trimming.facts, a.trimming.survivors, a.moments.count),
        "Fraction of latents kept for each fact. Look for: the fact where the curve reaches "
        "its plateau; a slow climb means long tails in some component.",
    )


def _pca(page: _Page, a: StoredAnalysis) -> None:
    pca, d = a.pca, a.latent_dim
    page.section("pca", "PCA", f"Eigen-decomposition of the covariance of the {pca.basis} set.")
    page.figure(
        "explained_variance",
        explained_variance(pca.model.explained_variance_ratio, pca.model.cumulative_ratio),
        "Explained variance ratio (first 40) and cumulative ratio (first 120). Look for: "
        "where the cumulative curve crosses the 0.8/0.9/0.95 lines (components needed).",
    )
    shown = min(d, 32)
    pca_fits = pca.fits.first(shown)
    page.figure(
        "pca_histograms",
        histograms_overview(
            pca.hist.edges[:shown],
            pca.hist.counts[:shown],
            pca_fits,
            label="pc",
        ),
        f"The first {shown} PCA components with Gaussian fits. Look for: the same as above, "
        "now on uncorrelated axes.",
    )
    _, largest, (i, j) = log_off_diagonal(pca.corr)
    page.figure(
        "pca_correlation",
        off_diagonal_heatmap(pca.corr, "Correlation in PCA coordinates"),
        f"log10 |off-diagonal correlation| in PCA coordinates (diagonal blank); the largest "
        f"is {largest:.2g} (pc{i}, pc{j}). Look for: everything dark, far below 0.01: PCA "
        "diagonalised the covariance; bright cells would be the diagonalisation error.",
    )


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


def _coverage_table(page: _Page, rows: list[list], source: str) -> None:
    page.parts.append(
        f"<p>Coverage of the drawn ellipses: {html.escape(DESCRIPTIONS[source])} "
        f"(<code>report.ellipses: {source}</code>).</p>"
    )
    normal = ["bivariate normal", "-", *(expected_coverage(n) for n in SIGMAS), "closed form"]
    page.table(
        ["pair", "ellipses", *(f"inside {n} sigma" for n in SIGMAS), "counted from"],
        [*rows, normal],
    )


def _pair_figure(page: _Page, name: str, plane: _Plane, chosen, describe, config):
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


def _original_pairs(page, a: StoredAnalysis, config: ReportConfig, rows) -> None:
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


def _pca_pairs(page, a: StoredAnalysis, config: ReportConfig, rows) -> None:
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


def _pair_sections(page, a: StoredAnalysis, config: ReportConfig, rows) -> None:
    page.section("pairs", "Pairs of components", PAIRS_TEXT)
    _original_pairs(page, a, config, rows)
    _pca_pairs(page, a, config, rows)


def _normality(page: _Page, a: StoredAnalysis) -> None:
    normality = a.normality
    dof = normality.dof
    page.section(
        "normality",
        "Multivariate normality",
        f"Squared Mahalanobis distances against chi2({dof}): in high dimension the mass sits "
        "near radius sqrt(D), so coverage is read at chi2 quantile radii.",
    )
    page.figure(
        "mahalanobis_qq",
        mahalanobis_qq(normality.chi2_quantiles, normality.observed_quantiles, dof),
        "QQ plot of squared Mahalanobis distances. Left: the bulk (chi2 quantiles 1 % to 99 %) "
        "on linear axes; right: every quantile on log axes, so the tail shows beside the bulk. "
        "Look for: points on the dashed line; points above it on the right are latents "
        "further out than a normal would put them (heavy tails, outliers).",
    )
    cover = normality.coverage
    page.table(
        ["chi2 level", "radius^2", "observed fraction inside"],
        [
            [f"{level:g}", float(r), float(o)]
            for level, r, o in zip(cover.levels, cover.radii_squared, cover.observed, strict=True)
        ],
    )
    mardia = normality.mardia
    page.table(
        ["Mardia test", "statistic", "p-value"],
        [
            ["skewness", mardia.skewness_statistic, mardia.skewness_p],
            ["kurtosis (z)", mardia.kurtosis_z, mardia.kurtosis_p],
        ],
    )


def _path_plane(path: dict, points, cloud, cloud_pca, pca: PCA) -> tuple:
    """The pair plane a path is drawn in: its own components for a plane path, the PCA axis
    and the next for a PCA sweep, the first two PCA axes otherwise."""
    if path["kind"] == "plane":
        i, j = path["components"]
        return points[:, [i, j]], cloud[:, [i, j]], (f"z{i}", f"z{j}")
    k = path.get("pca_axis", 0) if path["kind"] == "pca_axis" else 0
    k = min(k, points.shape[1] - 2)
    scores = project(points, pca.mean, pca.components)
    return scores[:, [k, k + 1]], cloud_pca[:, [k, k + 1]], (f"pc{k}", f"pc{k + 1}")


def _path_caption(path: dict) -> str:
    kind = path["kind"]
    if kind == "plane":
        i, j = path["components"]
        what = f"through the mean in the plane of z{i}, z{j} at {path['angle_deg']:g} degrees"
    elif kind == "pca_axis":
        what = f"along PCA axis {path['pca_axis']} from -3 to +3 sigma"
    elif kind == "interpolate":
        what = "between the encodings of images {} and {}".format(*path["ids"])
    else:
        what = "from the zero vector to the latent mean"
    d2 = np.asarray(path["squared_mahalanobis"])
    return (
        f"Path {what}; squared Mahalanobis distance per step {d2.min():.3g} to "
        f"{d2.max():.3g}. Look for: faces that change smoothly along the strip, and points "
        "that stay inside the grey cloud (steps outside it decode to images the model never "
        "saw)."
    )


def _paths(page: _Page, samples: Path, metrics: dict, pca: PCA, cloud) -> None:
    paths = metrics.get("paths")
    if not paths:
        return
    page.section(
        "paths", "Latent paths", "Decoded strips and the path over the cloud of real latents."
    )
    cloud_pca = project(cloud, pca.mean, pca.components)
    for path in paths:
        points = np.load(samples / "paths" / path["npy"], allow_pickle=False).astype(np.float64)
        strip = np.asarray(Image.open(samples / "paths" / path["png"]))
        path2, cloud2, names = _path_plane(path, points, cloud, cloud_pca, pca)
        page.figure(
            f"path_{path['name']}",
            path_projection(strip, path2, cloud2, names),
            _path_caption(path),
        )


def _samples_sections(page: _Page, samples: Path, a: StoredAnalysis, config, rows) -> None:
    metrics = read_json(str(samples / "metrics.json"))
    sampler_sections.samplers(page, samples, metrics)
    study.faces(page, samples, metrics)
    study.gallery(page, samples, metrics)
    _paths(page, samples, metrics, a.pca.model, rows[: config.scatter_points])
    study.study_paths(page, samples, metrics, a.moments, rows[: config.scatter_points])


PAGE = "index.html"


def is_complete(out: str) -> bool:
    """A report is complete once `index.html` exists (uploaded last)."""
    return exists(join(out, PAGE))


def _document(page: _Page, a: StoredAnalysis, analysis: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>lsf report</title><style>{STYLE}</style></head><body>"
        f"<h1>lsf: the latent space of {html.escape(a.latents_path)}</h1>"
        f"<p>lsf {__version__}; analysis <code>{html.escape(str(analysis))}</code>.</p>"
        + page.contents()
        + "\n".join(page.parts)
        + "</body></html>\n"
    )


def _analysis_sections(page: _Page, a: StoredAnalysis, config: ReportConfig, rows, where):
    """`where`: `(local samples folder or None, its metrics or None)`."""
    fragmentation.warnings(page, a)
    _headline(page, a)
    fragmentation.fragmentation(page, a, *where)
    study.study_comparison(page, a.study_comparison)
    study.row_sets(page, a)
    run_folder = posixpath.dirname(str(a.model.get("path") or ""))
    if run_folder and exists(run_folder):
        _training(page, run_folder)
    _histograms(page, a, config)
    _trimming(page, a)
    _pca(page, a)
    study.pca_study(page, a, config, rows)
    _pair_sections(page, a, config, rows)
    study.pair_coverage(page, a.pair_coverage)
    study.fact_sweep(page, a)
    _normality(page, a)
    study.origin(page, a.origin)


@locks_output("out")
def report(
    config: ReportConfig,
    analysis: str,
    out: str,
    *,
    samples: str | None = None,
    overwrite: bool = False,
    progress: Progress = TERMINAL,
) -> ReportSummary:
    started = time.perf_counter()
    a = read(analysis)
    if samples is not None and not exists(join(samples, "metrics.json")):
        raise LsfError(f"no samples at {samples}; run `lsf generate` first or leave out --samples")
    _, rows = sample_rows(a.latents_path, config.density_rows, config.seed)
    rows = rows.astype(np.float64)
    with staged_output_dir(out, overwrite) as tmp, ExitStack() as inputs:
        page = _Page(Path(tmp))
        local_samples = metrics = None
        if samples is not None:
            local_samples = Path(inputs.enter_context(local_copy(samples)))
            metrics = read_json(str(local_samples / "metrics.json"))
        _analysis_sections(page, a, config, rows, (local_samples, metrics))
        if local_samples is not None:
            _samples_sections(page, local_samples, a, config, rows)
        else:
            study.decoder_note(page, a.model)
        (Path(tmp) / PAGE).write_text(_document(page, a, analysis))
    return ReportSummary(out, page.figures, time.perf_counter() - started)
