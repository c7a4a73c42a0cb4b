"""The fragmentation sections of `lsf report`, near the top of the page: the analysis's
warnings, and "Fragmentation": the verdict line, the BIC curve with the merge steps, maps of
the regions (first two PCA components; the two directions that separate them best), a card
per region (numbers from the analysis; centre face and nearest source images from SAMPLES)
and the gaps between regions (table, decoded paths through each gap with each step's
density and d2, the density profiles). With one region: one line and why (BIC, merges).

Reads the analysis's `Fragmentation` (`StoredAnalysis.fragmentation`)
and SAMPLES/metrics.json's `regions` entry (`lsf.sampling.region_images`). Called by
`lsf.report.report`.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from lsf.pages.numbers import counted, number, percent
from lsf.pages.page import Page
from lsf.pages.sample_sections import strip
from lsf.plots.fragmentation import bic_merges, gap_profiles, map_directions, region_maps
from lsf.plots.study import labelled_rows
from lsf.stats.analysis_store import StoredAnalysis

WARNING_STYLE = (
    "background:#fff4e5;border:1px solid #e6a23c;border-left:6px solid #e6a23c;"
    "padding:.6em 1em;margin:1em 0"
)


def all_warnings(a: StoredAnalysis) -> list[str]:
    """The analysis's warnings, then its regions pass's (each once, in order)."""
    found = a.warnings + (list(a.fragmentation.warnings) if a.fragmentation else [])
    return list(dict.fromkeys(str(w) for w in found))


def warnings(page: Page, a: StoredAnalysis) -> None:
    """A highlighted list of the analysis's warnings (nothing when it has none)."""
    found = all_warnings(a)
    if not found:
        return
    page.section("warnings", "Warnings", "The analysis flagged results to read with care.")
    items = "".join(f"<li>{html.escape(w)}</li>" for w in found)
    page.add(f'<div class="warnings" style="{WARNING_STYLE}"><ul>{items}</ul></div>')


def _method_text(f) -> str:
    inside = f.inside or {}
    parts = [
        f"Gaussian mixture on the first {f.components} PCA components, k = 1 to {len(f.bic)}; "
        f"BIC chose k = {f.chosen_k}; {counted(len(f.merges), 'merge')} where no density gap "
        f"separates two components (ridgeline) leave {counted(f.regions, 'region')}.",
        f"HDBSCAN cross-check: {counted(f.hdbscan_clusters, 'cluster')}, "
        f"{percent(f.hdbscan_noise_share)} noise, adjusted Rand index "
        f"{number(f.adjusted_rand)} against the regions.",
        "Inside some region's chi2 0.99 radius: "
        + ", ".join(
            f"{name} {percent(inside.get(name))}" for name in ("uniform-box", "mvn", "real")
        )
        + " (the share of random vectors that land where latents are).",
    ]
    if f.outside:
        parts.append(f"{counted(f.outside, 'row')} outside every region.")
    return " ".join(html.escape(p) for p in parts)


def _bic_figure(page: Page, f) -> None:
    threshold = (f.parameters or {}).get("merge_threshold")
    page.figure(
        "fragmentation_bic",
        bic_merges(np.asarray(f.bic, np.float64), f.chosen_k, list(f.merges), threshold),
        f"Left: BIC of the mixture for each number of components (chosen k = {f.chosen_k}). "
        f"Right: the merges that joined components into regions, with the ridgeline dip "
        "ratio (1: no dip between the two components). Look for: a clear BIC minimum, and "
        "merges that explain why several components are one region.",
    )


def map_panels(f) -> list[dict]:
    """The regions map's panels: the labelled sample on the first two PCA components and on
    the two directions that separate the regions best (`map_directions`)."""
    scores = np.asarray(f.sample_scores, np.float64)
    labels = np.asarray(f.sample_labels, np.int64)
    centres = np.asarray(f.score_means, np.float64)
    panels = [
        {
            "points": scores[:, :2],
            "labels": labels,
            "centres": centres[:, :2],
            "names": ("pc0", "pc1"),
            "title": "first two PCA components",
        }
    ]
    if len(np.unique(labels[labels >= 0])) >= 2:
        directions, names = map_directions(scores, labels)
        panels.append(
            {
                "points": scores @ directions,
                "labels": labels,
                "centres": centres @ directions,
                "names": tuple(names),
                "title": "directions that separate the regions best (LDA)",
            }
        )
    return panels


def _region_table(page: Page, f) -> None:
    levels = [f"{level:g}" for level in f.coverage_levels]
    rows = []
    for r in range(f.regions):
        extent = ", ".join(number(v) for v in np.asarray(f.extent[r])[:3])
        rows.append(
            [
                r,
                int(f.counts[r]),
                percent(float(f.shares[r])),
                *(number(float(c)) for c in f.coverage[r]),
                int(f.components_80[r]),
                extent,
            ]
        )
    page.table(
        [
            "region",
            "rows",
            "share",
            *(f"inside chi2 {q}" for q in levels),
            "components 80 %",
            "extent (std, first axes)",
        ],
        rows,
    )


def _cards(page: Page, f, samples: Path | None, entry: dict | None) -> None:
    if samples is None or not entry or "off" in entry:
        page.note(
            "Centre faces and nearest source images: give --samples from "
            "`lsf generate` of this analysis."
        )
        return
    centres = strip(samples, entry["centres"]["png"], entry["regions"])
    nearest = {row["region"]: row for row in entry.get("nearest", [])}
    decoded = entry["centres"].get("decoded") or [True] * entry["regions"]
    rows = []
    for r in range(entry["regions"]):
        images, labels = [centres[r]], ["centre" if decoded[r] else "no centre (< 2 rows)"]
        row = nearest.get(r)
        if row and row["png"]:
            images += strip(samples, row["png"], len(row["ids"]))
            labels += [f"id {i}" for i in row["ids"]]
        share = entry["centres"]["shares"][r]
        rows.append((f"region {r}: {percent(share)} of the latents", images, labels))
    page.figure(
        "fragmentation_cards",
        labelled_rows(rows),
        "Each region: the decoded face of its centre (the mean latent of its rows), then "
        "the source images of the latents nearest that centre. Look for: what the images of "
        "one region share and how regions differ (an image family, a pose, a background).",
    )


def _gap_table(page: Page, f) -> None:
    rows = [
        [f"{a} - {b}", number(float(f.gap[a, b])), number(float(f.separation[a, b]))]
        for a in range(f.regions)
        for b in range(a + 1, f.regions)
    ]
    page.table(["regions", "gap (density dip / smaller peak)", "Mahalanobis separation"], rows)


def gap_labels(path: dict) -> list[str]:
    """The label under each step of a gap path: density ratio, d2 and region."""
    return [
        f"p {number(p, 2)}\nd2 {number(d, 3)}\n{'out' if r < 0 else f'r{r}'}"
        for p, d, r in zip(path["density"], path["d2"], path["region"], strict=True)
    ]


def _gap_paths(page: Page, samples: Path | None, entry: dict | None) -> None:
    paths = (entry or {}).get("gaps") or []
    if samples is None or not paths:
        return
    rows = [
        (
            f"region {p['a']} to {p['b']}: gap {p['gap']:.2g}, separation "
            f"{number(p['separation'])}",
            strip(samples, p["png"], p["steps"]),
            gap_labels(p),
        )
        for p in paths
    ]
    page.figure(
        "fragmentation_gaps",
        labelled_rows(rows),
        "Decoded steps of the straight segment between two region centres. Under each step: "
        "p, the mixture density relative to the smaller region's peak; d2, the squared "
        "Mahalanobis distance to the nearest region; and that region (out: beyond every "
        "region's radius). Look for: whether the images between two regions are faces at all "
        "where the density dips.",
    )
    page.figure(
        "fragmentation_profiles",
        gap_profiles([{"label": f"{p['a']} - {p['b']}", "density": p["density"]} for p in paths]),
        "Mixture density along each decoded gap path, relative to the smaller region's peak "
        "(log scale). Look for: deep dips (empty space between fragments) against flat lines "
        "(one connected region).",
    )


def fragmentation(
    page: Page, a: StoredAnalysis, samples: Path | None, metrics: dict | None
) -> None:
    """The "Fragmentation" section (see the module docstring)."""
    f = a.fragmentation
    page.section(
        "fragmentation",
        "Fragmentation",
        "Does the autoencoder put its images into one region of the latent space, or into "
        "several fragments with empty space between them?",
    )
    if f is None:
        page.note(
            "Not in this analysis: its regions pass was off or it predates regions "
            "(rerun `lsf analyze` with analyze.regions: true)."
        )
        return
    page.add(f'<p class="verdict"><strong>{html.escape(f.verdict)}</strong></p>')
    page.add(f"<p>{_method_text(f)}</p>")
    if f.regions == 1:
        why = f"BIC chose {counted(f.chosen_k, 'component')}" + (
            f" and {counted(len(f.merges), 'merge')} joined them" if f.merges else ""
        )
        page.add(f"<p>One region: the latents fill one connected region ({why}).</p>")
        _bic_figure(page, f)
        return
    _bic_figure(page, f)
    if f.components >= 2:
        page.figure(
            "fragmentation_map",
            region_maps(map_panels(f)),
            f"A labelled sample of {len(f.sample_labels)} latents coloured by region (grey: "
            "outside every region), region centres numbered. Left: the first two PCA "
            "components; right: the directions that separate the regions best (Fisher's "
            "linear discriminants). Look for: separate islands with empty space between them.",
        )
    _region_table(page, f)
    entry = (metrics or {}).get("regions")
    _cards(page, f, samples, entry)
    _gap_table(page, f)
    _gap_paths(page, samples, entry)
