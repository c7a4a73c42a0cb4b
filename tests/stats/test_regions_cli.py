"""`lsf analyze` on the issue's three well-separated normals in 32-D: it completes with the
defaults and with the study preset (both once stopped at the trimming or rested on a
3-row PCA basis), says what it did, and refuses bad regions settings in one line."""

import json

import numpy as np
import pytest

from lsf.cli import main
from lsf.stats.analysis_store import read
from tests.helpers import write_latent_store

FEW_PAIRS = ["--pairs", "first:2", "--pca-pairs", "first:2", "--quiet"]


def three_normals_store(path, n_per: int):
    rng = np.random.default_rng(0)
    centres = 6 * rng.standard_normal((3, 32))
    truth = np.repeat(np.arange(3), n_per)[rng.permutation(3 * n_per)]
    z = (centres[truth] + rng.standard_normal((len(truth), 32))).astype(np.float32)
    return write_latent_store(path, z, 4096), truth


def test_three_normals_complete_with_defaults_and_say_what_they_did(tmp_path, capsys):
    store, truth = three_normals_store(tmp_path / "three.zarr", 10_000)
    out = str(tmp_path / "a")
    assert main(["analyze", "--latents", store, "--out", out, *FEW_PAIRS]) == 0
    printed = capsys.readouterr().out
    assert "fragmentation: 3 regions; the largest holds 33" in printed
    assert "warning: trim_fact 1.5 keeps 0 of 30000 rows" in printed
    a = read(out)
    assert a.fragmentation.regions == 3
    assert a.pca.basis.startswith("all rows")
    assert any("falls back to all rows" in w for w in a.warnings)
    f = read(out).fragmentation
    assert f.regions == 3 and f.counts.sum() + f.outside == 30_000
    labels = read(out).region_labels()[...]
    assert len(labels) == 30_000 and (np.bincount(labels[labels >= 0]) == f.counts).all()
    assert f.nearest_ids[0, 0] == f.nearest_rows[0, 0]  # the test store's id of row k is k
    json.dumps(a.summary, allow_nan=False)


def test_three_normals_complete_with_the_study_preset(tmp_path, capsys):
    store, _ = three_normals_store(tmp_path / "three.zarr", 2000)
    out = str(tmp_path / "a")
    args = ["analyze", "--latents", store, "--out", out, "--config", "study", *FEW_PAIRS]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "fragmentation: 3 regions" in printed
    assert "warning: trim_fact 1.7 keeps" in printed
    a = read(out)
    assert a.pca.rows == 6000 and a.fragmentation.regions == 3


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--regions-max-k", "60"], "regions_max_k 60 exceeds the mixture sample of 50 rows"),
        (["--regions-components", "40"], "regions_components 40 exceeds the latent dimension 32"),
    ],
)
def test_bad_regions_settings_exit_2_in_one_line(tmp_path, capsys, flags, message):
    z = np.random.default_rng(0).standard_normal((50, 32)).astype(np.float32)
    store = write_latent_store(tmp_path / "l.zarr", z, 25)
    out = tmp_path / "a"
    assert main(["analyze", "--latents", store, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("lsf analyze: error:")
    assert not out.exists()
