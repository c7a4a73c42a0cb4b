import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from lsf.core.config import ModelConfig, TrainConfig
from lsf.core.errors import LsfError
from lsf.data.shards import read_images
from lsf.nn.artifacts import reconstruct
from lsf.nn.model import load_model
from lsf.train import train
from tests.helpers import TINY_MODEL, checkpoint_registered

pytestmark = pytest.mark.timeout(600)


def _metrics(run):
    with open(run / "metrics.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_two_worker_training_lowers_validation_loss(trained_run):
    run, summary = trained_run
    metrics = _metrics(run)
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[-1]["val_loss"] < 0.9 * metrics[0]["val_loss"]
    assert all(m["images_per_second"] > 0 for m in metrics)
    assert summary.epochs == 2 and summary.resumed_from_epoch == 0
    for name in ("model.pt", "model.json", "metrics.csv", "reconstructions.png"):
        assert (run / name).is_file()


def test_artifacts_reproduce_the_saved_reconstructions(trained_run, synthetic_shards):
    run, _ = trained_run
    model, info = load_model(run / "model.pt")
    ids = np.array(info["reconstruction_ids"])
    all_ids, images = read_images(synthetic_shards)
    originals = images[[list(all_ids).index(i) for i in ids]]
    grid = np.asarray(Image.open(run / "reconstructions.png"))
    size = info["model"]["image_size"]
    assert grid.shape == (2 * size, len(ids) * size, 3)
    saved = grid[size:].reshape(size, len(ids), size, 3).transpose(1, 0, 2, 3)
    assert np.array_equal(
        grid[:size].reshape(size, len(ids), size, 3).transpose(1, 0, 2, 3), originals
    )
    assert np.abs(saved.astype(int) - reconstruct(model, originals).astype(int)).max() <= 1


def test_killed_training_resumes_from_its_checkpoint(tmp_path, synthetic_shards):
    out = tmp_path / "run"
    config = tmp_path / "c.yaml"
    config.write_text(
        json.dumps(
            {"model": TINY_MODEL, "train": {"epochs": 3, "batch_size": 32, "cpus_per_worker": 0.5}}
        )
    )
    cmd = [
        sys.executable,
        "-m",
        "lsf.cli",
        "train",
        "--config",
        str(config),
        "--shards",
        synthetic_shards,
        "--out",
        str(out),
    ]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not checkpoint_registered(out):
            time.sleep(0.5)
        assert checkpoint_registered(out), "no checkpoint before the deadline"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "model.json").exists()
    summary = train(
        ModelConfig(**TINY_MODEL),
        TrainConfig(epochs=3, batch_size=32, cpus_per_worker=0.5),
        synthetic_shards,
        str(out),
        resume=True,
    )
    assert summary.resumed_from_epoch >= 1 and summary.epochs == 3
    assert [m["epoch"] for m in _metrics(out)] == [1, 2, 3]


def test_shards_of_another_image_size_are_refused(tmp_path, synthetic_shards):
    with pytest.raises(LsfError, match="shards hold 32px images .* model expects 64px"):
        train(ModelConfig(), TrainConfig(epochs=1), synthetic_shards, str(tmp_path / "run"))


def test_missing_shards_are_refused(tmp_path):
    with pytest.raises(LsfError, match="no shards at .*run `lsf prepare` first"):
        train(ModelConfig(), TrainConfig(epochs=1), str(tmp_path / "nope"), str(tmp_path / "run"))


def test_incompatible_checkpoints_and_finished_runs_are_refused(
    tmp_path, trained_run, synthetic_shards
):
    run, _ = trained_run
    with pytest.raises(LsfError, match="already holds a trained model; pass --overwrite"):
        train(ModelConfig(**TINY_MODEL), TrainConfig(epochs=2), synthetic_shards, str(run))
    other = tmp_path / "run"
    other.mkdir()
    identity = json.loads((run / "run.json").read_text())
    identity["model"]["latent_dim"] = 99
    (other / "run.json").write_text(json.dumps(identity))
    with pytest.raises(LsfError, match="incompatible run \\(model differ"):
        train(
            ModelConfig(**TINY_MODEL),
            TrainConfig(epochs=1, batch_size=32),
            synthetic_shards,
            str(other),
        )
    with pytest.raises(LsfError, match="nothing to resume"):
        train(
            ModelConfig(**TINY_MODEL),
            TrainConfig(epochs=1),
            synthetic_shards,
            str(tmp_path / "fresh"),
            resume=True,
        )
