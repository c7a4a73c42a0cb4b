"""Your own model: a user's Python class (in a temporary module file), a TorchScript pair
exported here and a pythae folder go through the model protocol (`lsf.nn.kinds`) into
`encode`, `generate` and `explore`'s decode endpoint; pickled code in weights is refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import io
import os
import pickle

import httpx
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from lsf.core.config import EncodeConfig, ModelConfig
from lsf.core.errors import LsfError
from lsf.core.progress import QUIET
from lsf.nn.kinds import load_latent_model
from lsf.sampling.decode import decode, encode_images
from tests.explore_inputs import write_shards

USER_MODULE = '''
import torch
from torch import nn


class TinyAE(nn.Module):
    """A user's autoencoder: 16-px RGB images in [-1, 1] <-> 6 latents."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 6))
        self.dec = nn.Sequential(nn.Linear(6, 3 * 16 * 16), nn.Tanh())

    def encode(self, images):
        return self.enc(images)

    def decode(self, z):
        return self.dec(z).view(-1, 3, 16, 16)


def build():
    return TinyAE()
'''


def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def to_range(images: np.ndarray, low: float, high: float) -> torch.Tensor:
    """The oracle's own pixel conversion: uint8 NHWC -> float NCHW in [low, high]."""
    x = torch.tensor(images.transpose(0, 3, 1, 2), dtype=torch.float64) / 255.0
    return (x * (high - low) + low).float()


def close(actual, expected) -> None:
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """The module file, its weights, the model YAML pointing at both, and the module."""
    folder = tmp_path_factory.mktemp("user_model")
    (folder / "my_ae.py").write_text(USER_MODULE)
    spec = importlib.util.spec_from_file_location("my_ae_oracle", folder / "my_ae.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    net = module.build().eval()
    torch.save(net.state_dict(), folder / "my_ae.pt")
    description = {
        "kind": "python",
        "factory": f"{folder / 'my_ae.py'}:build",
        "weights": "my_ae.pt",  # relative: from the YAML's folder
        "image_size": 16,
        "channels": 3,
        "value_range": [-1.0, 1.0],
    }
    (folder / "model.yaml").write_text(yaml.safe_dump(description))
    return {"folder": folder, "yaml": str(folder / "model.yaml"), "net": net}


@pytest.fixture(scope="module")
def faces():
    from lsf.data.synthetic import synthetic_faces

    return synthetic_faces(0, 240, seed=4, size=16)


def test_python_model_encodes_and_decodes_like_the_users_own_network(user_model, faces):
    model = load_latent_model(user_model["yaml"], device="cpu")
    assert model.kind == "python" and model.latent_dim == 6
    net = user_model["net"]
    with torch.no_grad():
        expected = net.enc(to_range(faces[:20], -1, 1)).numpy()
        z = torch.from_numpy(expected)
        pixels = (net.decode(z).numpy() + 1) / 2  # [-1, 1] -> [0, 1]
    close(encode_images(model, faces[:20]), expected)
    images = decode(model, expected)
    reference = np.clip(pixels, 0, 1).transpose(0, 2, 3, 1) * 255
    np.testing.assert_allclose(images.astype(np.float64), reference, atol=0.5 + 1e-3)


def test_python_model_through_encode_generate_and_explore(user_model, faces, tmp_path, ray_local):
    from lsf.analyze import analyze
    from lsf.core.config import AnalyzeConfig, GenerateConfig
    from lsf.core.store import open_store
    from lsf.encode import encode
    from lsf.explore import load_codec
    from lsf.generate import generate
    from lsf.web.app import build_app
    from lsf.web.explorer import load_explorer

    shards = write_shards(tmp_path / "shards", faces, rows_per_shard=100)
    store = str(tmp_path / "latents.zarr")
    config = EncodeConfig(rows_per_chunk=64, batch_size=32, actors=1, cpus_per_actor=0.5)
    encode(config, shards, user_model["yaml"], store, progress=QUIET)
    group = open_store(store)
    model = load_latent_model(user_model["yaml"], device="cpu")
    close(group["z"][:], encode_images(model, faces))
    attrs = group.attrs["model"]
    folder = user_model["folder"]
    assert attrs["kind"] == "python"
    assert attrs["files"] == {
        "my_ae.py": sha256(folder / "my_ae.py"),
        "my_ae.pt": sha256(folder / "my_ae.pt"),
    }

    analysis = str(tmp_path / "analysis")
    analyze(AnalyzeConfig(bins=16, pair_bins=8, mardia_sample=50), store, analysis, progress=QUIET)
    samples = str(tmp_path / "samples")
    settings = GenerateConfig(
        samplers=["mvn"], n=16, grid=4, real_images=40, feature_dims=4, study_planes=0,
        gallery=False, path_steps=3,
    )  # fmt: skip
    summary = generate(settings, user_model["yaml"], analysis, samples, progress=QUIET)
    assert np.isfinite(summary.rows["mvn"]["frechet_distance"])
    grid = np.asarray(Image.open(os.path.join(samples, "mvn", "grid.png")))
    assert grid.ndim == 3 and grid.shape[2] == 3

    codec, shape = load_codec(user_model["yaml"], analysis)
    assert shape == (16, 16, 3)
    explorer = load_explorer(analysis, codec, latents=store, shards=shards, image_shape=shape)
    z = explorer.space.centre + np.linspace(-0.5, 0.5, 6)

    async def post():
        transport = httpx.ASGITransport(app=build_app(explorer))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/api/decode", json={"z": z.tolist()})

    response = asyncio.run(post())
    assert response.status_code == 200
    uri = response.json()["image"]
    image = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    expected = decode(model, z[None].astype(np.float32))[0]
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= 1


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 4, stride=4)
        self.linear = torch.nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        return self.linear(torch.relu(self.conv(x)).flatten(1))


class Decoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(5, 16 * 16)

    def forward(self, z):
        return torch.sigmoid(self.linear(z)).view(-1, 1, 16, 16)


@pytest.fixture(scope="module")
def torchscript_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torchscript")
    torch.manual_seed(1)
    encoder, decoder = Encoder().eval(), Decoder().eval()
    torch.jit.script(encoder).save(str(folder / "enc.pt"))
    torch.jit.script(decoder).save(str(folder / "dec.pt"))
    description = {"kind": "torchscript", "encoder": "enc.pt", "decoder": "dec.pt"}
    (folder / "model.yaml").write_text(
        yaml.safe_dump({"model": {**description, "image_size": 16, "channels": 1}})
    )
    return folder, encoder, decoder


def test_torchscript_pair_exported_here_matches_the_eager_modules(torchscript_pair):
    folder, encoder, decoder = torchscript_pair
    model = load_latent_model(str(folder / "model.yaml"), device="cpu")
    assert (model.kind, model.latent_dim, model.image_shape) == ("torchscript", 5, (16, 16, 1))
    images = np.random.default_rng(0).integers(0, 256, (7, 16, 16, 1), dtype=np.uint8)
    with torch.no_grad():
        expected = encoder(to_range(images, 0, 1)).numpy()
        pixels = decoder(torch.from_numpy(expected)).numpy().transpose(0, 2, 3, 1) * 255
    close(encode_images(model, images), expected)
    np.testing.assert_allclose(decode(model, expected).astype(float), pixels, atol=0.5 + 1e-3)
    assert model.describe()["files"] == {
        "enc.pt": sha256(folder / "enc.pt"),
        "dec.pt": sha256(folder / "dec.pt"),
    }


def test_a_model_whose_stated_size_does_not_fit_its_network_is_one_line(torchscript_pair):
    folder, _, _ = torchscript_pair
    config = ModelConfig(
        kind="torchscript",
        encoder=str(folder / "enc.pt"),
        decoder=str(folder / "dec.pt"),
        image_size=32,
        channels=1,
    )
    with pytest.raises(
        LsfError, match="torchscript model cannot encode 32px images with 1 channels"
    ):
        load_latent_model(config, device="cpu")


def test_encode_refuses_shards_of_another_size_before_any_work(torchscript_pair, tmp_path):
    from lsf.cli import main

    folder, _, _ = torchscript_pair
    shards = write_shards(tmp_path / "shards", np.zeros((4, 8, 8, 3), dtype=np.uint8))
    out = tmp_path / "z.zarr"
    code = main(["encode", "--shards", shards, "--model", str(folder / "model.yaml"),
                 "--out", str(out)])  # fmt: skip
    assert code == 2 and not out.exists()


class Payload:
    """Unpickling this runs a shell command: what a hostile weights file does."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_weights_and_modules_are_refused_without_running_them(user_model, tmp_path, capsys):
    from lsf.cli import main

    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pt"
    hostile.write_bytes(pickle.dumps({"enc.0.weight": Payload(str(marker))}))
    torch.save({"x": Payload(str(marker))}, tmp_path / "hostile_zip.pt")
    for weights in (hostile, tmp_path / "hostile_zip.pt"):
        config = ModelConfig(
            kind="python",
            factory=f"{user_model['folder'] / 'my_ae.py'}:build",
            weights=str(weights),
            image_size=16,
            value_range=[-1.0, 1.0],
        )
        with pytest.raises(LsfError, match="refusing .*not a plain weights file"):
            load_latent_model(config, device="cpu")
    torchscript = ModelConfig(kind="torchscript", encoder=str(hostile), decoder=str(hostile))
    with pytest.raises(LsfError, match="is not a TorchScript module"):
        load_latent_model(torchscript, device="cpu")
    (tmp_path / "bad.yaml").write_text(
        yaml.safe_dump({"kind": "python", "factory": f"{user_model['folder'] / 'my_ae.py'}:build",
                        "weights": str(hostile), "image_size": 16})
    )  # fmt: skip
    code = main(["generate", "--model", str(tmp_path / "bad.yaml"), "--analysis",
                 str(tmp_path), "--out", str(tmp_path / "s")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "not a plain weights file" in err
    assert not marker.exists()


def test_pythae_folder_with_pickled_networks_is_refused(tmp_path):
    (tmp_path / "encoder.pkl").write_bytes(b"x")
    config = ModelConfig(kind="pythae", path=str(tmp_path), image_size=16)
    with pytest.raises(LsfError, match="pickled network"):
        load_latent_model(config, device="cpu")


def test_pythae_model_round_trip(tmp_path):
    models = pytest.importorskip("pythae.models")
    torch.manual_seed(2)
    vae = models.VAE(models.VAEConfig(input_dim=(3, 16, 16), latent_dim=4)).eval()
    vae.save(str(tmp_path / "vae"))
    config = ModelConfig(kind="pythae", path=str(tmp_path / "vae"), image_size=16, channels=3)
    model = load_latent_model(config, device="cpu")
    assert model.latent_dim == 4
    images = np.random.default_rng(3).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = vae.encoder(to_range(images, 0, 1))["embedding"].numpy()
        pixels = vae.decoder(torch.from_numpy(expected))["reconstruction"].numpy()
    close(encode_images(model, images), expected)
    reference = np.clip(pixels, 0, 1).transpose(0, 2, 3, 1) * 255
    np.testing.assert_allclose(decode(model, expected).astype(float), reference, atol=0.5 + 1e-3)
    assert model.describe()["files"] == {"model.pt": sha256(tmp_path / "vae" / "model.pt")}


def test_compare_refuses_a_model_of_another_kind(tmp_path, capsys):
    from lsf.cli import main

    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"model": {"kind": "torchscript"}}))
    (tmp_path / "sweep.yaml").write_text(
        yaml.safe_dump({"base": "base.yaml", "axes": {"train.seed": [0, 1]}})
    )
    code = main(["compare", "--config", str(tmp_path / "sweep.yaml"), "--workdir",
                 str(tmp_path / "w")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "compare trains lsf's own model" in err and err.count("\n") == 1
