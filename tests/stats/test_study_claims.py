"""Study vs this run (lsf.stats.study_claims) on hand-made summaries: values read from the
summary's keys, agreement by the stated tolerances, missing keys give None, never an error."""

import json

import pytest

from lsf.stats.study_claims import STUDY_IMAGES, study_comparison


def _summary() -> dict:
    fractions = {1.25: 0.62, 1.35: 0.73, 1.45: 0.80, 1.55: 0.95, 1.7: 0.94, 1.8: 0.97}
    return {
        "trimming": {
            f"{fact:g}": {"survivors": int(f * 162770), "fraction": f}
            for fact, f in fractions.items()
        },
        "pca": {
            "components_for": {"0.8": 131, "0.9": 170, "0.95": 200},
            "max_abs_off_diagonal_correlation": 3e-16,
            "max_abs_diagonal_minus_one": 4e-8,
        },
        "fits": {"dominant_components": list(range(14))},
        "pair_coverage": {
            "original": {"2": [0.5, 0.6, 0.7], "3": [0.9, 0.95, 0.99]},
            "pca": {"2": [0.72, 0.80, 0.93], "3": [0.975, 0.985, 0.995]},
        },
        "fact_sweep": {
            "facts": list(fractions),
            "survivor_fraction": list(fractions.values()),
            "core_alignment_median": [1.0, 2.0, 6.5, 20.0, 30.0, 40.0],
        },
    }


def _by_claim(rows, text):
    (row,) = [r for r in rows if text in r["claim"]]
    return row


def test_each_claim_reads_its_value_and_judges_it_by_the_tolerance():
    rows = study_comparison(_summary())
    assert {tuple(r) for r in rows} == {("claim", "study", "this_run", "tolerance", "agrees")}
    survivors = _by_claim(rows, "fact 1.35")
    assert survivors["study"] == pytest.approx(122000 / STUDY_IMAGES, abs=1e-4)
    assert (survivors["this_run"], survivors["agrees"]) == (0.73, True)
    assert _by_claim(rows, "fact 1.55")["agrees"] is False  # 0.95 vs 0.876
    assert _by_claim(rows, "fact 1.7")["agrees"] is True
    assert _by_claim(rows, "80 %")["this_run"] == 131 and _by_claim(rows, "80 %")["agrees"]
    assert _by_claim(rows, "off-diagonal")["agrees"] is True
    assert _by_claim(rows, "diagonal - 1")["agrees"] is False  # 4e-8 > 1e-8
    three = _by_claim(rows, "3σ")
    assert three["this_run"] == [0.975, 0.985, 0.995] and three["agrees"] is True
    assert _by_claim(rows, "2σ")["agrees"] is False  # one pair holds 93 % > 90 %
    assert _by_claim(rows, "dominant")["this_run"] == 14 and _by_claim(rows, "dominant")["agrees"]
    # facts keeping 75-88 %: 1.45 (0.80) only -> its median angle 6.5 degrees
    aligned = _by_claim(rows, "core alignment")
    assert (aligned["this_run"], aligned["agrees"]) == (6.5, True)
    json.dumps(rows, allow_nan=False)


def test_survivors_fall_back_to_the_fact_sweep_and_angles_are_judged():
    summary = _summary()
    del summary["trimming"]
    summary["fact_sweep"]["core_alignment_median"][2] = 25.0
    rows = study_comparison(summary)
    assert _by_claim(rows, "fact 1.45")["this_run"] == 0.80
    assert _by_claim(rows, "core alignment")["agrees"] is False


@pytest.mark.parametrize(
    "summary",
    [
        {},
        {"trimming": {"1.35": {}}, "pca": None, "fits": {"dominant_components": 3}},
        {"pair_coverage": {"pca": {"3": [0.99]}}, "fact_sweep": {"facts": "x"}},
        {"pca": {"max_abs_off_diagonal_correlation": float("nan")}, "trimming": {"a": 1}},
    ],
)
def test_missing_or_malformed_keys_give_none_not_an_error(summary):
    rows = study_comparison(summary)
    assert len(rows) == len(study_comparison(_summary()))
    assert all(r["this_run"] is None and r["agrees"] is None for r in rows)
    json.dumps(rows, allow_nan=False)


def test_no_fact_in_the_aligned_range_gives_none():
    summary = _summary()
    summary["fact_sweep"]["survivor_fraction"] = [0.5, 0.6, 0.7, 0.9, 0.95, 0.99]
    aligned = _by_claim(study_comparison(summary), "core alignment")
    assert aligned["this_run"] is None and aligned["agrees"] is None
