"""`lsf analyze`: every statistic of a complete latent store, written to ANALYSIS/.

Runs the streaming passes of `lsf.stats.analysis` on the store's row chunks (Dask threads,
or Dask-on-Ray with `--address`), saves each finished pass in ANALYSIS.partial/ so an
interrupted run resumes, and writes `analysis.zarr` (arrays), `summary.json` and
`pairs.parquet` atomically through the folder's contract, `lsf.stats.analysis_store`
(whose `read` every reader uses).
Run: `lsf analyze --latents work/latents.zarr --out work/analysis` (or `jobs/analyze.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lsf import __version__
from lsf.core.checkpoints import PassCheckpoints
from lsf.core.config import AnalyzeConfig, as_dict
from lsf.core.locks import locks_output
from lsf.core.outputs import atomic_output_dir, check_output, exists, join
from lsf.core.progress import TERMINAL, Progress
from lsf.core.store import ID, open_latents, open_split, open_store
from lsf.stats.analysis import Analysis, analyze_latents
from lsf.stats.analysis_store import SUMMARY, ZarrPairSink, ids_at, open_for_writing, write_analysis
from lsf.stats.graph import scheduler_for
from lsf.stats.pair_analysis import check_pairs
from lsf.stats.regions_pass import check_settings
from lsf.stats.summary import summary_of

PARTIAL_SUFFIX = ".partial"  # finished passes of an interrupted analysis, beside the output
STORE_IDENTITY = ("n_samples", "latent_dim", "rows_per_chunk", "model", "source")


def top_pairs(result: Analysis, count: int = 10) -> dict:
    """The pairs that deviate most from a bivariate normal, per coordinate system."""
    top = {}
    for p in result.pairs:
        order = np.argsort(-np.asarray(p.table["score"]), kind="stable")[:count]
        top[p.coordinates] = [
            {"i": p.table["i"][k], "j": p.table["j"][k], "score": p.table["score"][k]}
            for k in order
        ]
    return top


@dataclass
class AnalyzeSummary:
    out: str
    n_samples: int
    seconds: float
    summary: dict

    def __str__(self) -> str:
        pca = self.summary["pca"]
        lines = [
            f"analysed {self.n_samples} latents in {self.seconds:.1f} s: PCA ({pca['basis']}) "
            f"needs {pca['components_for']['0.9']} components for 90% of the variance, max "
            f"|off-diagonal correlation| in PCA coordinates "
            f"{pca['max_abs_off_diagonal_correlation']:.1e}; {self.out}/summary.json"
        ]
        fragmentation = self.summary.get("fragmentation")
        if fragmentation:
            lines.append(f"fragmentation: {fragmentation['verdict']}")
        lines += [f"warning: {w}" for w in self.summary.get("warnings", [])]
        return "\n".join(lines)


def is_complete(out: str) -> bool:
    """An analysis is complete once its folder exists: it is written whole, then renamed."""
    return exists(join(out, SUMMARY))


@locks_output("out")
def analyze(
    config: AnalyzeConfig,
    latents: str,
    out: str,
    *,
    overwrite: bool = False,
    address: str | None = None,
    progress: Progress = TERMINAL,
) -> AnalyzeSummary:
    """Analyse the complete store `latents` and write `out/` atomically."""
    started = time.perf_counter()
    check_output(out, overwrite)
    store = open_store(latents)
    store_attrs = dict(store.attrs)
    z, split = open_latents(latents), open_split(latents)
    check_settings(config, *z.shape)  # bad regions settings: refused before any read
    check_pairs(config, z.shape[1])  # and pairs beyond the latent dimension
    checkpoints = PassCheckpoints(
        out.rstrip("/") + PARTIAL_SUFFIX,
        {
            "lsf_version": __version__,
            "store": {k: store_attrs.get(k) for k in STORE_IDENTITY},
            "config": as_dict(config),
        },
    )
    with atomic_output_dir(out, overwrite) as tmp:
        group = open_for_writing(tmp)
        result = analyze_latents(
            z,
            config,
            split=split,
            scheduler=scheduler_for(address),
            progress=progress,
            checkpoints=checkpoints,
            sink=ZarrPairSink(group),
        )
        if result.fragmentation is not None:
            frag = result.fragmentation
            frag.nearest_ids = ids_at(store[ID], frag.nearest_rows)
        summary = {
            "lsf_version": __version__,
            "latents": {"path": latents, "model": store_attrs.get("model")},
            "config": as_dict(config),
            **summary_of(result),
            "least_elliptic_pairs": top_pairs(result),
        }
        rows_per_chunk = int(store_attrs.get("rows_per_chunk") or 4096)
        write_analysis(tmp, group, result, summary, store[ID], rows_per_chunk, __version__)
    checkpoints.clear()
    return AnalyzeSummary(out, result.n_samples, time.perf_counter() - started, summary)
