import subprocess
import sys

import numpy as np
import pytest
import torch

from lsf.core.config import ModelConfig
from lsf.core.errors import LsfError
from lsf.nn.model import Autoencoder, load_model, save_model
from lsf.nn.training import NonFiniteLoss, evaluate, reconstruction_loss, train_epoch
from lsf.train import _as_lsf_error


@pytest.mark.parametrize("size", [64, 96, 128])
@pytest.mark.parametrize("latent_dim", [2, 32, 256])
def test_shapes_round_trip_for_sizes_and_latent_dims(size, latent_dim):
    model = Autoencoder(ModelConfig(image_size=size, widths=[8, 8, 16, 16], latent_dim=latent_dim))
    images = torch.rand(3, 3, size, size)
    latents = model.encoder(images)
    assert latents.shape == (3, latent_dim)
    out = model.decoder(latents)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("kernel", [3, 4, 5])
def test_odd_and_even_kernels_halve_and_double_exactly(kernel):
    model = Autoencoder(ModelConfig(image_size=32, widths=[4, 8], kernel=kernel, latent_dim=8))
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_parameter_count_matches_the_layer_arithmetic():
    c = ModelConfig(image_size=32, widths=[8, 16], kernel=4, latent_dim=10)
    conv = (3 * 8 * 16 + 8) + (8 * 16 * 16 + 16)
    deconv = (16 * 8 * 16 + 8) + (8 * 3 * 16 + 3)
    linear = (16 * 8 * 8 * 10 + 10) + (10 * 16 * 8 * 8 + 16 * 8 * 8)
    model = Autoencoder(c)
    assert model.parameter_count() == conv + deconv + linear
    assert f"{conv + deconv + linear:,} parameters" in model.describe()


def test_batch_norm_is_optional():
    plain = Autoencoder(ModelConfig(image_size=32, widths=[4, 8], latent_dim=4))
    normed = Autoencoder(ModelConfig(image_size=32, widths=[4, 8], latent_dim=4, batch_norm=True))
    bn = [m for m in normed.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert not [m for m in plain.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bn) == 3  # 2 encoder blocks + 1 inner decoder block


def test_size_not_divisible_by_the_blocks_is_refused():
    with pytest.raises(LsfError, match="must be divisible by 2\\*\\*4"):
        Autoencoder(ModelConfig(image_size=40))


def test_saved_model_loads_with_weights_only_and_without_ray(tmp_path):
    model = Autoencoder(ModelConfig(image_size=32, widths=[4, 8], latent_dim=6))
    save_model(model, tmp_path, {"note": "x"})
    loaded, info = load_model(tmp_path / "model.pt")
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(loaded(x), model.eval()(x)) and info["note"] == "x"
    code = (
        "import sys, torch; from lsf.nn.model import load_model; "
        f"m, _ = load_model({str(tmp_path / 'model.pt')!r}); "
        "assert 'ray' not in sys.modules; print(m.parameter_count())"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == model.parameter_count()


def test_corrupt_model_file_is_one_clear_error(tmp_path):
    model = Autoencoder(ModelConfig(image_size=32, widths=[4, 8], latent_dim=6))
    save_model(model, tmp_path, {})
    (tmp_path / "model.pt").write_bytes(b"garbage")
    with pytest.raises(LsfError, match="cannot load"):
        load_model(tmp_path / "model.pt")
    with pytest.raises(LsfError, match="model not found"):
        load_model(tmp_path / "nope.pt")


def _batches(seed=0, n=8, size=16):
    base = np.random.default_rng(42).random((1, 3, size, size))  # one image, noisy copies
    rng = np.random.default_rng(seed)
    return [
        torch.tensor(base + 0.05 * rng.random((4, 3, size, size)), dtype=torch.float32).clamp(0, 1)
        for _ in range(n)
    ]


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_plain_training_loop_lowers_the_loss(loss):
    torch.manual_seed(0)
    model = Autoencoder(ModelConfig(image_size=16, widths=[8, 8], latent_dim=8))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = reconstruction_loss(loss)
    device = torch.device("cpu")
    before = evaluate(model, _batches(1), loss_fn, device)
    for epoch in range(1, 6):
        total, count = train_epoch(
            model, _batches(0), optimizer, loss_fn, epoch=epoch, device=device
        )
        assert count == 32
    after = evaluate(model, _batches(1), loss_fn, device)
    assert after[0] / after[1] < 0.8 * before[0] / before[1]


def test_non_finite_loss_stops_naming_epoch_and_step():
    model = Autoencoder(ModelConfig(image_size=16, widths=[8, 8], latent_dim=8))
    optimizer = torch.optim.Adam(model.parameters())
    with torch.no_grad():
        model.decoder.from_latent[0].bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLoss, match="at epoch 3 step 0"):
        train_epoch(
            model,
            _batches(),
            optimizer,
            reconstruction_loss("mse"),
            epoch=3,
            device=torch.device("cpu"),
        )
    error = _as_lsf_error(
        RuntimeError("Worker failed\nNonFiniteLoss: non-finite loss (nan) at epoch 3 step 0")
    )
    assert str(error).startswith(
        "non-finite loss (nan) at epoch 3 step 0; the last good checkpoint"
    )
