import shutil
import warnings

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from lsf.core.config import EncodeConfig, ModelConfig
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.core.store import chunks_done, open_store
from lsf.data.shards import read_images, read_manifest, read_table, shard_urls
from lsf.encode import encode
from lsf.nn.model import Autoencoder, load_model, save_model
from lsf.sampling.decode import encode_images
from tests.helpers import ORACLE_BATCH, assert_model_close

pytestmark = pytest.mark.timeout(300)

# 600 rows in chunks of 128 (ragged last chunk), forward batches of 50 (do not divide 128).
CONFIG = EncodeConfig(rows_per_chunk=128, batch_size=50, actors=2)


@pytest.fixture(scope="module")
def encoded(tmp_path_factory, synthetic_shards, trained_run):
    run, _ = trained_run
    out = str(tmp_path_factory.mktemp("enc") / "latents.zarr")
    summary = encode(CONFIG, synthetic_shards, str(run / "model.pt"), out, progress=QUIET)
    return out, summary


def test_ray_encode_equals_the_direct_encoder_for_every_row(encoded, synthetic_shards, trained_run):
    out, summary = encoded
    run, _ = trained_run
    assert (summary.rows, summary.chunks_written, summary.chunks_total) == (600, 5, 5)
    group = open_store(out)
    ids, images = read_images(synthetic_shards)
    model, _ = load_model(run / "model.pt")
    direct = encode_images(model, images, batch_size=ORACLE_BATCH)
    z = group["z"][:]
    assert np.array_equal(group["id"][:], np.arange(600))
    # float32 forward passes of different batch sizes and thread counts differ in the last bits
    assert_model_close(z[ids], direct)
    assert group.attrs["model"]["sha256"] and group.attrs["source"]["image_shape"] == [32, 32, 3]


def test_resume_writes_only_missing_chunks_and_is_bit_identical(
    tmp_path, encoded, synthetic_shards, trained_run
):
    out, _ = encoded
    run, _ = trained_run
    copy = tmp_path / "latents.zarr"
    shutil.copytree(out, copy)
    group = zarr.open_group(str(copy), mode="r+")
    group.attrs["complete"] = False
    for chunk in ("1", "4"):  # as if killed before these chunks were committed
        (copy / "id" / "c" / chunk).unlink()
    cut = copy / "id" / "c" / "2"  # and killed in the middle of writing this one
    cut.write_bytes(cut.read_bytes()[:7])
    assert chunks_done(group).tolist() == [True, False, False, True, False]
    summary = encode(CONFIG, synthetic_shards, str(run / "model.pt"), str(copy), progress=QUIET)
    assert summary.chunks_written == 3 and summary.rows == 128 + 128 + 88
    assert np.array_equal(zarr.open_group(str(copy))["z"][:], zarr.open_group(out)["z"][:])
    assert open_store(str(copy)).attrs["complete"] is True


def test_split_array_holds_each_rows_split_from_the_shards(encoded, synthetic_shards):
    out, _ = encoded
    expected = np.full(600, -1)
    manifest = read_manifest(synthetic_shards)
    for url in shard_urls(synthetic_shards, manifest):
        table = read_table(url, columns=["id", "split"])
        expected[table["id"].to_numpy()] = table["split"].to_numpy()
    group = open_store(out)
    split = group["split"]
    assert split.dtype == np.int8 and split.chunks == (128,)
    assert np.array_equal(split[:], expected)
    assert set(np.unique(expected)) == {0, 1}  # the synthetic shards hold a validation split
    ds = xr.open_zarr(out)
    assert ds["split"].dims == ("sample",) and np.array_equal(ds["split"].values, expected)


def test_resuming_a_store_started_without_split_is_refused(tmp_path, encoded, synthetic_shards):
    out, _ = encoded
    run_model = zarr.open_group(out).attrs["model"]["path"]
    copy = tmp_path / "latents.zarr"
    shutil.copytree(out, copy)
    group = zarr.open_group(str(copy), mode="r+", use_consolidated=False)
    del group["split"]  # as written by an lsf without the split array, killed midway
    group.attrs["complete"] = False
    with warnings.catch_warnings():  # consolidated metadata is a zarr-python v3 extension
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(copy))
    with pytest.raises(LsfError, match="without the split array; pass --overwrite"):
        encode(CONFIG, synthetic_shards, run_model, str(copy), progress=QUIET)


def test_complete_store_is_not_recomputed(encoded, synthetic_shards, trained_run):
    out, _ = encoded
    run, _ = trained_run
    summary = encode(CONFIG, synthetic_shards, str(run / "model.pt"), out, progress=QUIET)
    assert summary.chunks_written == 0 and summary.rows == 0


def test_store_of_another_model_is_refused_unless_overwrite(tmp_path, encoded, synthetic_shards):
    out, _ = encoded
    copy = tmp_path / "latents.zarr"
    shutil.copytree(out, copy)
    other = Autoencoder(ModelConfig(image_size=32, widths=[8, 16, 32], latent_dim=16))
    save_model(other, tmp_path, {})
    with pytest.raises(LsfError, match="holds latents of a different model.*--overwrite"):
        encode(CONFIG, synthetic_shards, str(tmp_path / "model.pt"), str(copy), progress=QUIET)
    summary = encode(
        CONFIG,
        synthetic_shards,
        str(tmp_path / "model.pt"),
        str(copy),
        overwrite=True,
        progress=QUIET,
    )
    assert summary.chunks_written == 5


def test_model_of_another_image_size_is_refused(tmp_path, synthetic_shards):
    save_model(Autoencoder(ModelConfig(image_size=64, widths=[8, 8], latent_dim=4)), tmp_path, {})
    with pytest.raises(LsfError, match="takes 64px images .* shards hold 32px"):
        encode(CONFIG, synthetic_shards, str(tmp_path / "model.pt"), str(tmp_path / "l.zarr"))


def test_non_finite_latents_are_reported_and_the_store_stays_incomplete(tmp_path, synthetic_shards):
    model = Autoencoder(ModelConfig(image_size=32, widths=[8, 16, 32], latent_dim=16))
    with torch.no_grad():
        model.encoder.to_latent.bias[3] = float("nan")
    save_model(model, tmp_path, {})
    out = str(tmp_path / "l.zarr")
    with pytest.raises(LsfError, match="non-finite latents for 600 images \\(ids \\[0, 1"):
        encode(CONFIG, synthetic_shards, str(tmp_path / "model.pt"), out, progress=QUIET)
    with pytest.raises(LsfError, match="incomplete: 5 of 5 chunks missing"):
        open_store(out)
