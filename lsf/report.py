"""`lsf report`: the whole study on one static HTML page (figures as PNG beside it).

Reads ANALYSIS through `lsf.stats.analysis_store.read` (and SAMPLES, and the training run
the analysis points to), adds the page kit's sections (`lsf.pages`) in page order with a
table of contents linking them, and writes REPORT/index.html atomically. Scatter points are
seeded store rows read with `lsf.core.store.sample_rows`; what each latent path is comes
from SAMPLES/metrics.json. The page needs no server: open it from the file system.
Run: `lsf report --analysis work/analysis --samples work/samples --out work/report`.
"""

from __future__ import annotations

import html
import posixpath
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsf import __version__
from lsf.core.config import ReportConfig
from lsf.core.errors import LsfError
from lsf.core.locks import locks_output
from lsf.core.outputs import exists, join, local_copy, read_json, staged_output_dir
from lsf.core.progress import TERMINAL, Progress
from lsf.core.store import sample_rows
from lsf.pages import analysis_sections, sample_sections, sampler_sections
from lsf.pages import fragmentation_sections as fragmentation
from lsf.pages import study_sections as study
from lsf.pages.page import Page, document
from lsf.pages.pair_sections import pair_sections
from lsf.stats.analysis_store import StoredAnalysis, read

PAGE = "index.html"


@dataclass
class ReportSummary:
    out: str
    figures: int
    seconds: float

    def __str__(self) -> str:
        return f"report with {self.figures} figures at {self.out}/index.html ({self.seconds:.1f} s)"


def is_complete(out: str) -> bool:
    """A report is complete once `index.html` exists (uploaded last)."""
    return exists(join(out, PAGE))


def _add_analysis(page: Page, a: StoredAnalysis, config: ReportConfig, rows, where):
    """`where`: `(local samples folder or None, its metrics or None)`."""
    fragmentation.warnings(page, a)
    analysis_sections.headline(page, a)
    fragmentation.fragmentation(page, a, *where)
    study.study_comparison(page, a.study_comparison)
    study.row_sets(page, a)
    run_folder = posixpath.dirname(str(a.model.get("path") or ""))
    if run_folder and exists(run_folder):
        analysis_sections.training(page, run_folder)
    analysis_sections.histograms(page, a, config)
    analysis_sections.trimming(page, a)
    analysis_sections.pca(page, a)
    study.pca_study(page, a, config, rows)
    pair_sections(page, a, config, rows)
    study.pair_coverage(page, a.pair_coverage)
    study.fact_sweep(page, a)
    analysis_sections.normality(page, a)
    study.origin(page, a.origin)


def _add_samples(page: Page, samples: Path, a: StoredAnalysis, config, rows) -> None:
    metrics = read_json(str(samples / "metrics.json"))
    cloud = rows[: config.scatter_points]
    sampler_sections.samplers(page, samples, metrics)
    sample_sections.faces(page, samples, metrics)
    sample_sections.gallery(page, samples, metrics)
    sample_sections.latent_paths(page, samples, metrics, a.pca.model, cloud)
    sample_sections.study_paths(page, samples, metrics, a.moments, cloud)


def _document(page: Page, a: StoredAnalysis, analysis: str) -> str:
    return document(
        "lsf report",
        f"<h1>lsf: the latent space of {html.escape(a.latents_path)}</h1>"
        f"<p>lsf {__version__}; analysis <code>{html.escape(str(analysis))}</code>.</p>"
        + page.contents()
        + "\n".join(page.parts),
    )


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
        page = Page(Path(tmp))
        local_samples = metrics = None
        if samples is not None:
            local_samples = Path(inputs.enter_context(local_copy(samples)))
            metrics = read_json(str(local_samples / "metrics.json"))
        _add_analysis(page, a, config, rows, (local_samples, metrics))
        if local_samples is not None:
            _add_samples(page, local_samples, a, config, rows)
        else:
            sample_sections.decoder_note(page, a.model)
        (Path(tmp) / PAGE).write_text(_document(page, a, analysis))
    return ReportSummary(out, page.figures, time.perf_counter() - started)
