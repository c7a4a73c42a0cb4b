"""`lsf report`: the whole study on one static HTML page (figures as PNG beside it).

Reads ANALYSIS (and SAMPLES, and the training run the analysis points to), draws every
figure with `lsf.plots`, and writes REPORT/index.html atomically. The page needs no server:
open it from the file system. Run: `lsf report --analysis work/analysis --samples
work/samples --out work/report`.
"""

from __future__ import annotations

import csv
import html
import posixpath
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import fsspec
import numpy as np
import zarr
from PIL import Image
from scipy.ndimage import gaussian_filter

from lsf import __version__
from lsf.analyze import load_analysis
from lsf.core.config import ReportConfig
from lsf.core.errors import LsfError
from lsf.core.locks import locks_output
from lsf.core.outputs import exists, join, local_copy, read_json, staged_output_dir, zarr_location
from lsf.core.progress import TERMINAL, Progress
from lsf.plots.distributions import (
    histogram_details,
    histograms_overview,
    mahalanobis_qq,
    training_curves,
    trimming_curve,
)
from lsf.plots.matrices import correlation_heatmap, explained_variance
from lsf.plots.pairs import pair_panels, path_projection
from lsf.stats.pairs import SIGMAS, density_levels, expected_coverage
from lsf.stats.pca import project


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
    upper = np.abs(np.nan_to_num(np.triu(corr, 1)))
    order = np.argsort(upper.ravel())[::-1][:count]
    return [tuple(int(v) for v in np.unravel_index(k, corr.shape)) for k in order]


def _density(points: np.ndarray, bins: int = 60):
    counts, xe, ye = np.histogram2d(points[:, 0], points[:, 1], bins=bins)
    smooth = gaussian_filter(counts, 1.5)
    masses = [expected_coverage(n) for n in SIGMAS]
    levels = np.sort(density_levels(smooth, masses))
    return 0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), smooth, levels


def _latent_rows(store_url: str, count: int, seed: int) -> np.ndarray:
    z = zarr.open_group(zarr_location(store_url), mode="r")["z"]
    n = z.shape[0]
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(n, count), replace=False))
    x = z.get_orthogonal_selection((rows, slice(None))).astype(np.float64)
    return x[np.isfinite(x).all(axis=1)]


class _Page:
    """Collects figures (saved as PNG) and HTML sections."""

    def __init__(self, folder: Path):
        self.folder, self.parts, self.figures = folder, [], 0

    def section(self, title: str, text: str = "") -> None:
        self.parts.append(f"<h2>{html.escape(title)}</h2>")
        if text:
            self.parts.append(f"<p>{text}</p>")

    def figure(self, name: str, figure, caption: str) -> None:
        figure.savefig(self.folder / f"{name}.png", dpi=110)
        self.image(f"{name}.png", caption)

    def image(self, file: str, caption: str) -> None:
        self.figures += 1
        self.parts.append(
            f'<figure><img src="{html.escape(file)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def table(self, header: list[str], rows: list[list]) -> None:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
            for row in rows
        )
        self.parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;
color:#222}img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}figcaption{color:#555;
font-size:.9em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;
padding:.25em .6em;text-align:right}th{background:#f3f3f3}h2{border-bottom:2px solid #eee;
margin-top:2em}"""


def _training(page: _Page, run: str) -> None:
    page.section("Training", f"Run folder <code>{html.escape(run)}</code>.")
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
            "Reconstruction loss per epoch (train and validation).",
        )
    if fs.isfile(reconstructions):
        fs.get_file(reconstructions, str(page.folder / "reconstructions.png"))
        page.image("reconstructions.png", "Validation images (top) and their reconstructions.")


def _pair_sections(page, arrays, summary, config: ReportConfig, density_rows) -> None:
    d = len(arrays["mean"])
    scatter = density_rows[: config.scatter_points]
    pca_density = project(density_rows, arrays["pca_mean"], arrays["pca_components"])
    least = summary.get("least_elliptic_pairs", {})
    scores = {("original", p["i"], p["j"]): p["score"] for p in least.get("original", [])}
    scores |= {("pca", p["i"], p["j"]): p["score"] for p in least.get("pca", [])}
    chosen = _pairs(config.pairs, d)
    chosen += [p for p in top_correlated_pairs(arrays["corr"], config.top_pairs) if p not in chosen]
    ranked = [(p["i"], p["j"]) for p in least.get("original", [])[: config.top_pairs]]
    chosen += [p for p in ranked if p not in chosen]
    panels = []
    for i, j in chosen:
        panels.append(
            {
                "points": scatter[:, [i, j]],
                "mean2": arrays["mean"][[i, j]],
                "cov2": arrays["cov"][np.ix_([i, j], [i, j])],
                "density": _density(density_rows[:, [i, j]]),
                "names": (f"z{i}", f"z{j}"),
                "title": f"z{i}, z{j}: r = {arrays['corr'][i, j]:.2f}"
                + (
                    f", score {scores[('original', i, j)]:.2f}"
                    if ("original", i, j) in scores
                    else ""
                ),
            }
        )
    page.section(
        "Pairs of components",
        "Scatter of real latents, smoothed-density contours enclosing the mass of 1, 2, 3 "
        "sigma of a bivariate normal, and the 1/2/3-sigma confidence ellipses of the pair's "
        "covariance. Elliptic contours that follow the ellipses mean the pair is bivariate "
        "normal. Shown: your pairs, the most correlated pairs and the pairs with the highest "
        "non-ellipticity score (<code>pairs.parquet</code> ranks every pair).",
    )
    if panels:
        page.figure("pairs_original", pair_panels(panels), "Pairs in original coordinates.")
    variance = arrays["explained_variance"]
    pca_chosen = _pairs(config.pca_pairs, d)
    ranked = [(p["i"], p["j"]) for p in least.get("pca", [])[: config.top_pairs]]
    pca_chosen += [p for p in ranked if p not in pca_chosen]
    panels = [
        {
            "points": pca_density[: config.scatter_points][:, [i, j]],
            "mean2": np.zeros(2),
            "cov2": np.diag(variance[[i, j]]),
            "density": _density(pca_density[:, [i, j]]),
            "names": (f"pc{i}", f"pc{j}"),
            "title": f"PCA components {i}, {j}"
            + (f", score {scores[('pca', i, j)]:.2f}" if ("pca", i, j) in scores else ""),
        }
        for i, j in pca_chosen
    ]
    if panels:
        page.figure("pairs_pca", pair_panels(panels), "Pairs in PCA coordinates.")


def _samples_section(page: _Page, samples: Path, arrays, config, latent_rows) -> None:
    metrics = read_json(str(samples / "metrics.json"))
    rows = metrics["samplers"]
    page.section(
        "Generation: which sampler makes faces",
        f"Feature space: {html.escape(metrics['feature_space'])}; reference set of "
        f"{metrics['real_images']} real images. Lower Frechet distance (FD) and higher "
        "precision/recall are better; <code>real</code> and <code>reconstruction</code> are "
        "the bounds. d2/dof: median squared Mahalanobis distance of the re-encoded images per "
        "latent dimension (about 1 for on-manifold images).",
    )
    page.table(
        ["sampler", "FD", "precision", "recall", "d2/dof", "inside chi2 0.99"],
        [
            [
                name,
                r["frechet_distance"],
                r["precision"],
                r["recall"],
                r["reencoded_d2_per_dof_median"],
                r["reencoded_inside_chi2_0.99"],
            ]
            for name, r in rows.items()
        ],
    )
    for name, r in rows.items():
        grid = samples / name / "grid.png"
        if grid.is_file():
            shutil.copy(grid, page.folder / f"samples_{name}.png")
            page.image(
                f"samples_{name}.png",
                f"{name}: FD {r['frechet_distance']:.2f}, precision {r['precision']:.2f}, "
                f"recall {r['recall']:.2f}",
            )
    paths = sorted((samples / "paths").glob("*.npy"))
    if not paths:
        return
    page.section("Latent paths", "Decoded strips and the path over the cloud of real latents.")
    cloud = latent_rows[: config.scatter_points]
    cloud_pca = project(cloud, arrays["pca_mean"], arrays["pca_components"])
    for path in paths:
        points = np.load(path, allow_pickle=False).astype(np.float64)
        strip = np.asarray(Image.open(path.with_suffix(".png")))
        if path.stem.startswith("plane_"):
            i, j = (int(v) for v in path.stem.split("_")[1:3])
            path2, cloud2, names = points[:, [i, j]], cloud[:, [i, j]], (f"z{i}", f"z{j}")
        else:
            k = int(path.stem.split("_")[-1]) if path.stem.startswith("pca_axis_") else 0
            k = min(k, points.shape[1] - 2)
            scores = project(points, arrays["pca_mean"], arrays["pca_components"])
            path2, cloud2 = scores[:, [k, k + 1]], cloud_pca[:, [k, k + 1]]
            names = (f"pc{k}", f"pc{k + 1}")
        page.figure(
            f"path_{path.stem}",
            path_projection(strip, path2, cloud2, names),
            f"Path {path.stem.replace('_', ' ')}.",
        )


PAGE = "index.html"


def is_complete(out: str) -> bool:
    """A report is complete once `index.html` exists (uploaded last)."""
    return exists(join(out, PAGE))


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
    arrays, summary = load_analysis(analysis)
    if samples is not None and not exists(join(samples, "metrics.json")):
        raise LsfError(f"no samples at {samples}; run `lsf generate` first or leave out --samples")
    d = len(arrays["mean"])
    fits = {k: arrays[f"fit_{k}"] for k in ("amplitude", "mu", "sigma", "fwhm")}
    pca_fits = {k: arrays[f"pca_fit_{k}"] for k in ("amplitude", "mu", "sigma", "fwhm")}
    with staged_output_dir(out, overwrite) as tmp, ExitStack() as inputs:
        page = _Page(Path(tmp))
        pca = summary["pca"]
        page.section("Headline numbers")
        page.table(
            ["quantity", "value"],
            [
                ["latents", summary["n_samples"]],
                ["latent dimension", d],
                ["non-finite rows (excluded)", summary["non_finite_rows"]],
                ["components fitted", summary["fits"]["fitted"]],
                ["dominant components", len(summary["fits"]["dominant_components"])],
                ["max |correlation| between components", summary["max_abs_correlation"]],
                ["PCA basis", f"{pca['basis']} ({pca['rows']} rows)"],
                *[
                    [f"PCA components for {k} of the variance", v]
                    for k, v in pca["components_for"].items()
                ],
                [
                    "max |off-diagonal| correlation in PCA coordinates",
                    pca["max_abs_off_diagonal_correlation"],
                ],
            ],
        )
        model = summary["latents"].get("model") or {}
        run_folder = posixpath.dirname(str(model.get("path") or ""))
        if run_folder and exists(run_folder):
            _training(page, run_folder)
        dominant = np.flatnonzero(arrays["dominant"])
        detail = list(dominant[: config.detail_components]) or list(range(min(d, 4)))
        page.section(
            "Component histograms",
            "Each latent component with its Gaussian fit (FWHM = 2.355 sigma). Dominant "
            "components (|mu| > 2 median sigma or FWHM > 2 median FWHM) are detailed.",
        )
        page.figure(
            "histograms",
            histograms_overview(arrays["hist1d_edges"], arrays["hist1d_counts"], fits),
            "All components.",
        )
        page.figure(
            "histogram_details",
            histogram_details(arrays["hist1d_edges"], arrays["hist1d_counts"], fits, detail),
            "Detail of chosen components.",
        )
        page.figure(
            "correlation",
            correlation_heatmap(arrays["corr"]),
            "Pearson correlation between latent components.",
        )
        page.section("Trimming")
        page.figure(
            "trimming",
            trimming_curve(arrays["trim_facts"], arrays["trim_survivors"], int(arrays["count"][0])),
            "Fraction of latents kept for each fact.",
        )
        page.section("PCA", f"Eigen-decomposition of the covariance of the {pca['basis']} set.")
        page.figure(
            "explained_variance",
            explained_variance(
                arrays["explained_variance_ratio"], arrays["cumulative_explained_variance_ratio"]
            ),
            "Explained variance ratio (first 40) and cumulative ratio (first 120).",
        )
        shown = min(d, 32)
        page.figure(
            "pca_histograms",
            histograms_overview(
                arrays["pca_hist1d_edges"][:shown],
                arrays["pca_hist1d_counts"][:shown],
                {k: v[:shown] for k, v in pca_fits.items()},
                label="pc",
            ),
            f"The first {shown} PCA components with Gaussian fits.",
        )
        page.figure(
            "pca_correlation",
            correlation_heatmap(arrays["pca_corr"], "Correlation in PCA coordinates"),
            "Diagonal: PCA decorrelates the latents.",
        )
        latent_rows = _latent_rows(summary["latents"]["path"], config.density_rows, config.seed)
        _pair_sections(page, arrays, summary, config, latent_rows)
        page.section(
            "Multivariate normality",
            f"Squared Mahalanobis distances against chi2({summary['normality']['dof']}): in "
            "high dimension the mass sits near radius sqrt(D), so coverage is read at chi2 "
            "quantile radii.",
        )
        page.figure(
            "mahalanobis_qq",
            mahalanobis_qq(
                arrays["mahalanobis_chi2_quantiles"],
                arrays["mahalanobis_observed_quantiles"],
                summary["normality"]["dof"],
            ),
            "QQ plot of squared Mahalanobis distances.",
        )
        cover = summary["normality"]["coverage"]
        page.table(
            ["chi2 level", "radius^2", "observed fraction inside"],
            [[k, v["radius_squared"], v["observed"]] for k, v in cover.items()],
        )
        mardia = summary["normality"]["mardia"]
        page.table(
            ["Mardia test", "statistic", "p-value"],
            [
                ["skewness", mardia["skewness_statistic"], mardia["skewness_p"]],
                ["kurtosis (z)", mardia["kurtosis_z"], mardia["kurtosis_p"]],
            ],
        )
        if samples is not None:
            local_samples = Path(inputs.enter_context(local_copy(samples)))
            _samples_section(page, local_samples, arrays, config, latent_rows)
        document = (
            "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>lsf report</title><style>{STYLE}</style></head><body>"
            f"<h1>lsf: the latent space of {html.escape(str(summary['latents']['path']))}</h1>"
            f"<p>lsf {__version__}; analysis <code>{html.escape(str(analysis))}</code>.</p>"
            + "\n".join(page.parts)
            + "</body></html>\n"
        )
        (Path(tmp) / PAGE).write_text(document)
    return ReportSummary(out, page.figures, time.perf_counter() - started)
