"""The sections of `lsf report` drawn from SAMPLES (`lsf generate`'s folder): the origin
and centre faces, the outlier gallery, the latent paths over the cloud of real latents, the
study's paths (origin to centre, rotated lines per plane), and without SAMPLES the note on
what needs a decoder.

Each function takes the report's `Page`, the local samples folder and its metrics.json; an
entry an older samples folder lacks says "not in this analysis" instead of failing. Called
by `lsf.report.report`.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PIL import Image

from lsf.pages.numbers import number
from lsf.pages.page import Page
from lsf.plots.pairs import path_projection
from lsf.plots.study import labelled_rows, path_planes, plane_lines, split_strip
from lsf.sampling.study import STUDY_PATHS
from lsf.stats.moments import Moments
from lsf.stats.pca import PCA, project
from lsf.stats.quadratic import pair_covariance


def strip(samples: Path, png: str, count: int) -> list[np.ndarray]:
    """The `count` images of a strip PNG in `samples`, left to right."""
    return split_strip(np.asarray(Image.open(samples / png).convert("RGB")), count)


def faces(page: Page, samples: Path, metrics: dict) -> None:
    """The decoded origin beside the decoded centre, each with its d2."""
    page.section(
        "faces",
        "Origin and centre",
        "The decoder's image of the zero vector and of the centre (mean) of the latents.",
    )
    entry = metrics.get("faces")
    if not entry:
        page.missing("the origin and centre faces (samples from an older lsf generate)")
        return
    d2 = entry["squared_mahalanobis"]
    labels = [f"{n}: d2 {number(v, 4)}" for n, v in zip(entry["names"], d2, strict=True)]
    page.figure(
        "faces",
        labelled_rows([("origin and centre", strip(samples, entry["png"], 2), labels)]),
        f"Left the origin, right the centre, with their squared Mahalanobis distance "
        f"(chi2 with {entry['dof']} degrees of freedom). Look for: a face at the centre and "
        "none at the origin, which lies at the border of the bulk.",
    )


def gallery(page: Page, samples: Path, metrics: dict) -> None:
    """Source images of the most extreme latents beside typical ones."""
    page.section(
        "gallery",
        "Outlier gallery",
        "Source images of the latents furthest out by squared Mahalanobis distance (d2) and "
        "by trim radius, beside typical ones (d2 nearest the median).",
    )
    entry = metrics.get("gallery")
    if entry and entry.get("off"):
        page.note("Outlier gallery switched off (generate.gallery: false).")
        return
    if not entry or "missing" in entry:
        page.missing(f"the outlier gallery ({(entry or {}).get('missing', 'no entry')})")
        return
    rows = []
    for name, row in entry.items():
        if row["png"] is None:
            continue
        images = strip(samples, row["png"], len(row["ids"]))
        labels = [f"id {i}\n{v:.3g}" for i, v in zip(row["ids"], row["values"], strict=True)]
        rows.append((f"{name.replace('_', ' ')}: {row['measure']}", images, labels))
    if not rows:
        page.missing("gallery images (no id found in the shards)")
        return
    page.figure(
        "gallery",
        labelled_rows(rows),
        "One row per set, each image with its source id and value. Look for: what the outer "
        "points have in common (the study saw strong background variation) against the "
        "typical row.",
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


def latent_paths(page: Page, samples: Path, metrics: dict, pca: PCA, cloud) -> None:
    """Each latent path of SAMPLES: its decoded strip over its plane of the cloud `cloud`."""
    paths = metrics.get("paths")
    if not paths:
        return
    page.section(
        "paths", "Latent paths", "Decoded strips and the path over the cloud of real latents."
    )
    cloud_pca = project(cloud, pca.mean, pca.components)
    for path in paths:
        points = np.load(samples / "paths" / path["npy"], allow_pickle=False).astype(np.float64)
        image = np.asarray(Image.open(samples / "paths" / path["png"]))
        path2, cloud2, names = _path_plane(path, points, cloud, cloud_pca, pca)
        page.figure(
            f"path_{path['name']}",
            path_projection(image, path2, cloud2, names),
            _path_caption(path),
        )


def _origin_path(page: Page, samples: Path, metrics: dict, cloud: np.ndarray, planes) -> None:
    path = next((p for p in metrics.get("paths", []) if p["kind"] == "origin_to_centre"), None)
    if path is None:
        return
    points = np.load(samples / "paths" / path["npy"], allow_pickle=False).astype(np.float64)
    labels = [f"d2 {number(v, 4)}" for v in path["squared_mahalanobis"]]
    steps = path["steps"]
    rows = [("origin to centre", strip(samples, "paths/" + path["png"], steps), labels)]
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


def _plane_figures(page: Page, samples: Path, rows, cloud, mean, cov) -> None:
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
            strip(samples, f"{STUDY_PATHS}/{r['png']}", r["steps"]),
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


def study_paths(
    page: Page, samples: Path, metrics: dict, moments: Moments, cloud: np.ndarray
) -> None:
    """Origin to centre over several planes, and the rotated lines of each study plane."""
    page.section(
        "studypaths",
        "Paths as in the study",
        "Straight paths decoded step by step: origin to centre, and lines through the centre "
        "in planes of the widest dominant components, each rotated through several angles.",
    )
    paths, planes = metrics.get("study_paths"), metrics.get("study_planes")
    if paths == []:
        page.note("Study paths switched off (generate.study_planes: 0).")
        return
    if not paths or not planes:
        page.missing("the study paths (samples from an older lsf generate)")
        return
    _origin_path(page, samples, metrics, cloud, planes)
    beyond = sorted({tuple(p["components"]) for p in paths if p["beyond_core"]})
    page.add(
        "<p>Planes running beyond the core: "
        f"{html.escape(', '.join(f'(z{i}, z{j})' for i, j in beyond) or 'none')}.</p>"
    )
    mean, cov = np.asarray(moments.mean), np.asarray(moments.cov)
    for plane in planes:
        rows = [p for p in paths if p["components"] == list(plane)]
        if rows:
            _plane_figures(page, samples, rows, cloud, mean, cov)


def decoder_note(page: Page, model: dict) -> None:
    """Without samples: which parts of the study need a decoder, and which model made the
    latents (`model`: the store's model record; kind `none` for latents from `lsf import`)."""
    kind = model.get("kind") or "lsf"
    made = "imported latents, no model recorded" if kind == "none" else f"a {kind} model"
    page.section("decoder", "What needs a decoder")
    page.add(
        f"<p>The latents come from {html.escape(made)}. Everything above reads only the "
        "latents. Sampler grids and their quality metrics, latent paths, the origin and "
        "centre faces and the outlier gallery need a decoder: run <code>lsf generate "
        "--model MODEL</code> (lsf's model.pt or a model YAML of your own) and pass "
        "<code>--samples</code>.</p>"
    )
