import json

import pytest

from lsf.cli import main
from lsf.config import load_config
from lsf.errors import LsfError
from lsf.pipeline import run_pipeline
from lsf.store import open_store

pytestmark = pytest.mark.timeout(600)


def test_tiny_pipeline_runs_every_stage_and_a_rerun_skips_them(tmp_path, ray_local, capsys):
    workdir = tmp_path / "work"
    assert main(["run", "--config", "tiny", "--workdir", str(workdir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "ran ['prepare', 'train', 'encode', 'analyze']" in out
    assert open_store(str(workdir / "latents.zarr")).attrs["n_samples"] == 400
    summary = json.loads((workdir / "analysis" / "summary.json").read_text())
    assert summary["latent_dim"] == 16 and summary["n_samples"] == 400
    assert main(["run", "--config", "tiny", "--workdir", str(workdir), "--quiet"]) == 0
    assert (
        "ran nothing, skipped ['prepare', 'train', 'encode', 'analyze']" in capsys.readouterr().out
    )


def test_model_size_must_match_the_prepared_size(tmp_path):
    config = load_config("tiny")
    config.model.image_size = 64
    with pytest.raises(
        LsfError, match="model.image_size \\(64\\) must equal prepare.size \\(32\\)"
    ):
        run_pipeline(config, str(tmp_path))
