"""`--features inception`: weights resolved from torch's hub cache or a path, never
downloaded, and one clear error when the weights or the optional package are absent."""

import importlib.util

import pytest

from lsf.core.errors import LsfError
from lsf.sampling.inception import WEIGHTS, InceptionFeatures, is_inception, resolve_weights


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_weights_are_found_in_the_torch_hub_cache(empty_caches):
    folder = empty_caches / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / WEIGHTS[1]).write_bytes(b"x")
    assert resolve_weights("inception") == folder / WEIGHTS[1]
    (folder / WEIGHTS[0]).write_bytes(b"x")
    assert resolve_weights("inception") == folder / WEIGHTS[0]  # torch-fidelity's first


def test_absent_weights_stop_with_one_line_naming_the_caches(empty_caches):
    with pytest.raises(LsfError) as error:
        resolve_weights("inception")
    message = str(error.value)
    assert "\n" not in message and "never downloads" in message
    assert str(empty_caches / "torch" / "hub" / "checkpoints") in message
    with pytest.raises(LsfError, match="no weights file at .*missing.pth"):
        resolve_weights(f"inception:{empty_caches / 'missing.pth'}")


def test_a_given_weights_path_is_taken_as_is(tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    assert resolve_weights(f"inception:{weights}") == weights
    assert is_inception("inception") and is_inception("inception:/a") and not is_inception("i.pt")
    assert not is_inception(None)


@pytest.mark.skipif(
    importlib.util.find_spec("torch_fidelity") is not None, reason="torch-fidelity installed"
)
def test_without_torch_fidelity_the_extractor_says_what_to_install(tmp_path):
    with pytest.raises(LsfError, match="needs the optional package torch-fidelity"):
        InceptionFeatures(tmp_path / "w.pth")


def _generate_args(tmp_path, features):
    return [
        "generate",
        "--model",
        str(tmp_path / "absent-model.pt"),
        "--analysis",
        str(tmp_path / "absent-analysis"),
        "--out",
        str(tmp_path / "samples"),
        "--features",
        features,
    ]


@pytest.mark.parametrize(
    "features, says",
    [
        ("inception", "no Inception weights on disk"),
        ("inception:{tmp}/missing.pth", "no weights file at"),
        ("{tmp}/missing-extractor.pt", "no feature extractor file there"),
    ],
)
def test_cli_without_the_feature_space_is_one_line_and_exit_2_before_any_work(
    empty_caches, capsys, features, says
):
    from lsf.cli import main

    code = main(_generate_args(empty_caches, features.format(tmp=empty_caches)))
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and "model not found" not in err  # checked before the model
    assert not (empty_caches / "samples").exists()


def test_weights_without_torch_fidelity_are_refused_before_any_work(empty_caches, monkeypatch):
    from lsf.sampling import inception
    from lsf.sampling.metrics import check_feature_space

    weights = empty_caches / "w.pth"
    weights.write_bytes(b"x")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        inception.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch_fidelity" else real_find_spec(name, *a),
    )
    with pytest.raises(LsfError, match="needs the optional package torch-fidelity") as error:
        check_feature_space(f"inception:{weights}")
    assert "\n" not in str(error.value)
    check_feature_space(None)  # pixel PCA needs nothing


def test_the_extractor_is_built_from_the_weights_on_disk_never_downloaded(tmp_path, monkeypatch):
    """A stand-in torch_fidelity records how lsf builds the network: with the weights path
    (torch-fidelity downloads only when that path is None) and uint8 (B, 3, H, W) batches."""
    import sys
    import types

    import numpy as np
    import torch

    built, batches = {}, []

    class FakeInception:
        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            built.update(name=name, features=features_list, weights=feature_extractor_weights_path)

        def __call__(self, x):
            batches.append((x.dtype, tuple(x.shape)))
            return (x.float().mean(dim=(2, 3)).repeat(1, 2),)  # (B, 6) stand-in pool features

    module = types.ModuleType("torch_fidelity.feature_extractor_inceptionv3")
    module.FeatureExtractorInceptionV3 = FakeInception
    monkeypatch.setitem(sys.modules, "torch_fidelity", types.ModuleType("torch_fidelity"))
    monkeypatch.setitem(sys.modules, "torch_fidelity.feature_extractor_inceptionv3", module)
    weights = tmp_path / WEIGHTS[0]
    weights.write_bytes(b"x")
    images = np.random.default_rng(0).integers(0, 256, (5, 7, 9, 3), dtype=np.uint8)
    features = InceptionFeatures(weights, batch_size=2)(images)
    assert built == {"name": "inception-v3-compat", "features": ["2048"], "weights": str(weights)}
    assert batches == [
        (torch.uint8, (2, 3, 7, 9)),
        (torch.uint8, (2, 3, 7, 9)),
        (torch.uint8, (1, 3, 7, 9)),
    ]
    expected = np.tile(images.reshape(5, -1, 3).mean(axis=1), 2)
    assert features.dtype == np.float64
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    with pytest.raises(LsfError, match="needs RGB images"):
        InceptionFeatures(weights)(images[..., :1])


def test_a_torchscript_extractor_file_gives_its_features(tmp_path):
    import numpy as np
    import torch

    from lsf.sampling.metrics import TorchScriptFeatures

    class ChannelMeans(torch.nn.Module):
        def forward(self, x):  # (B, C, H, W) in [0, 1] -> (B, C)
            return x.mean(dim=(2, 3))

    path = tmp_path / "extractor.pt"
    torch.jit.script(ChannelMeans()).save(str(path))
    images = np.random.default_rng(1).integers(0, 256, (300, 4, 5, 3), dtype=np.uint8)
    features = TorchScriptFeatures(str(path))(images)  # two batches of 256
    expected = images.reshape(300, -1, 3).mean(axis=1) / 255.0
    assert features.shape == (300, 3) and features.dtype == np.float64
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    (tmp_path / "broken.pt").write_bytes(b"not a module")
    with pytest.raises(LsfError, match="cannot load feature extractor"):
        TorchScriptFeatures(str(tmp_path / "broken.pt"))
