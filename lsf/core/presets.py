"""Named presets: section values that a pipeline YAML takes with one line, `preset: NAME`.

`study` reproduces the original study's analysis (the blog series lsf implements): training
split only, bins of width 0.25 (0.5 in PCA coordinates), the study's trimming facts, the PCA
basis on a seeded 80,000 of the fact-1.7 survivors, and the study's dominant rule; paths
in several rotated planes of dominant components and six steps from origin to centre;
ellipses from the Gaussian fits and Pearson coefficients. Values
written in the file's own sections win over the preset's, key by key. Read by
`lsf.core.config.config_from_mapping`; README's "The study preset" table lists each value.
"""

from __future__ import annotations

STUDY = {
    "analyze": {
        "split": "train",
        "bin_width": 0.25,
        "pca_bin_width": 0.5,
        "facts": [1.25, 1.35, 1.45, 1.55, 1.7, 1.8],
        "trim_fact": 1.7,
        "pca_sample": 80000,
        "pca_rows": "basis",
        "dominant_rule": "study",
        "dominant_min_abs_mu": 0.5,
        "dominant_min_half_width": 1.0,
        "sweep_components": 10,
    },
    "generate": {
        "path_steps": 6,
        "study_planes": 4,
        "study_angles": [0.0, 30.0, 60.0, 90.0, 120.0, 150.0],
        "study_sigmas": 2.0,
        "beyond_sigmas": 4.5,
        "gallery": True,
    },
    "report": {
        "ellipses": "fits",
        "detail_components": 10,
        "study_components": 10,
        "spread_components": [10, 20, 40, 60, 90, 120],
    },
}

PRESETS = {"study": STUDY}


def preset_sections(name) -> dict[str, dict]:
    """The sections of preset `name`, copied (callers may update them)."""
    from lsf.core.errors import LsfError

    if not isinstance(name, str) or name not in PRESETS:
        raise LsfError(f"config: unknown preset {name!r} (known: {', '.join(sorted(PRESETS))})")
    return {section: dict(values) for section, values in PRESETS[name].items()}
