import json

import numpy as np
import pytest

from lsf.analyze import analyze
from lsf.cli import main
from lsf.core.config import AnalyzeConfig
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.stats.analysis_store import read
from tests.helpers import assert_close_to_scale, latent_like, write_latent_store


def test_analyze_writes_arrays_and_summary_and_is_reproducible(tmp_path):
    x = latent_like(3000)
    store = write_latent_store(tmp_path / "l.zarr", x, 700)
    first = analyze(AnalyzeConfig(bins=40), store, str(tmp_path / "a1"), progress=QUIET)
    second = analyze(AnalyzeConfig(bins=40), store, str(tmp_path / "a2"), progress=QUIET)
    stored, again = read(str(tmp_path / "a1")), read(str(tmp_path / "a2"))
    for name in stored.group.array_keys():
        np.testing.assert_array_equal(stored.group[name], again.group[name], err_msg=name)
    a, b = dict(first.summary), dict(second.summary)
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    summary = stored.summary
    assert_close_to_scale(stored.moments.mean, x.astype(np.float64).mean(axis=0), rtol=1e-9)
    assert stored.fits.hist.counts.shape == (12, 40) and stored.fits.hist.edges.shape == (12, 41)
    assert stored.pca.model.components.shape == (12, 12)
    assert stored.n_samples == 3000 and summary["pca"]["components_for"]["0.9"] >= 1
    assert set(summary["trimming"]) == {"1.25", "1.35", "1.45", "1.55", "1.7", "1.8"}
    assert json.loads((tmp_path / "a1" / "summary.json").read_text()) == summary


def test_incomplete_or_missing_store_is_refused(tmp_path):
    store = write_latent_store(tmp_path / "l.zarr", latent_like(1000), 700, complete=False)
    with pytest.raises(LsfError, match="incomplete: 0 of 2 chunks missing"):
        analyze(AnalyzeConfig(), store, str(tmp_path / "a"))
    with pytest.raises(LsfError, match="no latent store"):
        analyze(AnalyzeConfig(), str(tmp_path / "none.zarr"), str(tmp_path / "a"))
    assert not (tmp_path / "a").exists()


def test_cli_analyze_and_its_bad_input(tmp_path, capsys):
    store = write_latent_store(tmp_path / "l.zarr", latent_like(2000), 700)
    out = str(tmp_path / "a")
    assert (
        main(["analyze", "--latents", store, "--out", out, "--bin-width", "0.25", "--quiet"]) == 0
    )
    assert "analysed 2000 latents" in capsys.readouterr().out
    stored = read(out)
    assert_close_to_scale(np.diff(stored.fits.hist.edges, axis=1), 0.25, rtol=1e-7)
    assert stored.config.bin_width == 0.25
    assert main(["analyze", "--latents", store, "--out", out]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert (
        main(
            [
                "analyze",
                "--latents",
                store,
                "--out",
                out + "2",
                "--facts",
                "0.02",
                "--trim-fact",
                "0.02",
            ]
        )
        == 0
    )
    assert "warning: every trimming fact (0.02) removes every row" in capsys.readouterr().out
