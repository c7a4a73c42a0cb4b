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
