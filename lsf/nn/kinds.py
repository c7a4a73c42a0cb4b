"""Loading any model kind into a `LatentModel` (the protocol of `lsf.nn.protocol`).

`load_latent_model(ref)`: `ref` is lsf's `RUN/model.pt`, a model YAML (`kind: torchscript`,
`encoder: ENC.pt`, ...; relative paths from the YAML's folder) or a `ModelConfig` (the
`model:` section of a pipeline config). Kinds: `lsf` (lsf's own autoencoder), `torchscript`
(two TorchScript files), `python` (`factory: package.module:function` or
`path/file.py:function`, `weights:` a state_dict loaded with `weights_only=True`) and
`pythae` (a folder from pythae's `model.save`; its state dict only, never its pickles).
Every model is probed once with a small batch: its shapes must match what it states.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import io
import os
import pickle

import fsspec
import torch

from lsf.core.config import ModelConfig, validate
from lsf.core.errors import LsfError
from lsf.nn.protocol import LatentModel, file_sha256

LOAD_ERRORS = (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, KeyError)
PYTHAE_PICKLES = ("encoder.pkl", "decoder.pkl")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_model_yaml(path: str) -> ModelConfig:
    """A model YAML (the `model:` section's keys, at the top level or under `model:`) with
    its relative file paths resolved from the YAML's own folder."""
    from lsf.core.config import _section_from_mapping, read_yaml

    _, data = read_yaml(path, "model", [])
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    folder = os.path.dirname(os.path.abspath(path))
    if isinstance(data, dict):
        data = {
            key: os.path.join(folder, os.path.expanduser(value))
            if key in ("encoder", "decoder", "weights", "path")
            and isinstance(value, str)
            and "://" not in value
            else value
            for key, value in data.items()
        }
    return _section_from_mapping(ModelConfig, data, "model")


def model_config_of(ref) -> ModelConfig | None:
    """The stated config of `ref` (a YAML or a `ModelConfig`); None for lsf's `model.pt`."""
    if isinstance(ref, ModelConfig):
        return ref
    if str(ref).endswith((".yaml", ".yml")):
        return read_model_yaml(str(ref))
    return None


def load_latent_model(ref, device: str | None = None) -> LatentModel:
    """Load `ref` (see the module docstring) on `device` (default: a GPU when present)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    config = model_config_of(ref)
    if config is None:
        return _load_lsf(str(ref), device)
    config = validate(config, "model")
    bounds = config.value_range
    if len(bounds) != 2 or not bounds[0] < bounds[1]:
        raise LsfError(f"model.value_range must be two numbers low < high, got {bounds}")
    loaders = {"torchscript": _load_torchscript, "python": _load_python, "pythae": _load_pythae}
    if config.kind == "lsf":
        raise LsfError("model.kind lsf is loaded from RUN/model.pt: pass --model RUN/model.pt")
    model = loaders[config.kind](config, torch.device(device))
    return probe(model)


def _load_lsf(path: str, device: str) -> LatentModel:
    from lsf.nn.model import load_model

    model, _ = load_model(path, device=device)
    return LatentModel(
        model.config,
        model.encoder,
        model.decoder,
        torch.device(device),
        path,
        {os.path.basename(path): file_sha256(path)},
    )


def _require(config: ModelConfig, *keys: str) -> None:
    for key in keys:
        value = getattr(config, key)
        if not value:
            raise LsfError(f"model.kind {config.kind} needs model.{key}")
        if key != "factory" and not fsspec.core.url_to_fs(value)[0].exists(value):
            raise LsfError(f"model.{key} not found: {value}")


def _read_bytes(path: str) -> bytes:
    with fsspec.open(path, "rb") as f:
        return f.read()


def _load_torchscript(config: ModelConfig, device: torch.device) -> LatentModel:
    _require(config, "encoder", "decoder")
    parts, files = {}, {}
    for key in ("encoder", "decoder"):
        path = getattr(config, key)
        data = _read_bytes(path)
        try:  # TorchScript archives hold code and tensors; a plain pickle is refused here
            module = torch.jit.load(io.BytesIO(data), map_location=device)
        except LOAD_ERRORS as exc:
            raise LsfError(
                f"model.{key} {path} is not a TorchScript module ({_first_line(exc)}); save it "
                "with torch.jit.script(module).save(PATH)"
            ) from None
        parts[key] = module.eval()
        files[os.path.basename(path)] = file_sha256(path)
    return LatentModel(config, parts["encoder"], parts["decoder"], device, config.encoder, files)


def _factory_function(spec: str):
    """`package.module:function` or `path/file.py:function` -> the function."""
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise LsfError(
            f"model.factory must be package.module:function or file.py:function, got {spec!r}"
        )
    try:
        if target.endswith(".py"):
            if not os.path.isfile(target):
                raise LsfError(f"model.factory file not found: {target}")
            module_name = "lsf_user_model_" + os.path.splitext(os.path.basename(target))[0]
            spec_ = importlib.util.spec_from_file_location(module_name, target)
            module = importlib.util.module_from_spec(spec_)
            spec_.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except LsfError:
        raise
    except Exception as exc:  # the user's module may raise anything while it imports
        raise LsfError(
            f"model.factory: cannot import {target} ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    function = getattr(module, name, None)
    if not callable(function):
        raise LsfError(f"model.factory: {target} has no function {name}")
    return function


def load_weights(path: str, device: torch.device) -> dict:
    """A state_dict file, with `weights_only=True`: pickled code is refused in one line."""
    try:
        state = torch.load(io.BytesIO(_read_bytes(path)), map_location=device, weights_only=True)
    except LOAD_ERRORS as exc:
        raise LsfError(
            f"refusing {path}: not a plain weights file ({_first_line(exc)}); save the "
            "state_dict with torch.save(model.state_dict(), PATH)"
        ) from None
    if not isinstance(state, dict):
        raise LsfError(f"{path} holds a {type(state).__name__}, not a state_dict")
    return state


def _load_python(config: ModelConfig, device: torch.device) -> LatentModel:
    _require(config, "factory")
    try:
        obj = _factory_function(config.factory)()
    except LsfError:
        raise
    except Exception as exc:
        raise LsfError(f"model.factory {config.factory} failed: {_first_line(exc)}") from None
    files = {}
    target = config.factory.rpartition(":")[0]
    if target.endswith(".py"):
        files[os.path.basename(target)] = file_sha256(target)
    if config.weights:
        _require(config, "weights")
        if not hasattr(obj, "load_state_dict"):
            raise LsfError(f"model.weights given but {config.factory} has no load_state_dict")
        try:
            obj.load_state_dict(load_weights(config.weights, device))
        except RuntimeError as exc:
            raise LsfError(f"model.weights {config.weights}: {_first_line(exc)}") from None
        files[os.path.basename(config.weights)] = file_sha256(config.weights)
    if isinstance(obj, torch.nn.Module):
        obj = obj.to(device).eval()
    if callable(getattr(obj, "encode", None)) and callable(getattr(obj, "decode", None)):
        encoder, decoder = obj.encode, obj.decode
    elif isinstance(getattr(obj, "encoder", None), torch.nn.Module) and isinstance(
        getattr(obj, "decoder", None), torch.nn.Module
    ):
        encoder, decoder = obj.encoder, obj.decoder
    else:
        raise LsfError(
            f"model.factory {config.factory} must return an object with encode(images) and "
            "decode(z), or an nn.Module with .encoder and .decoder"
        )
    return LatentModel(config, encoder, decoder, device, config.factory, files)


def _load_pythae(config: ModelConfig, device: torch.device) -> LatentModel:
    import json

    _require(config, "path")
    folder = config.path
    for name in PYTHAE_PICKLES:
        if os.path.exists(os.path.join(folder, name)):
            raise LsfError(
                f"refusing {folder}: it holds {name}, a pickled network (only pythae's own "
                "networks, loaded from their state dicts, are accepted)"
            )
    try:
        import pythae.models as pythae_models
    except ImportError:
        raise LsfError("model.kind pythae needs pythae: pip install 'lsf[pythae]'") from None
    try:
        with open(os.path.join(folder, "model_config.json")) as f:
            described = json.load(f)
        name = described.pop("name")
        config_class = getattr(pythae_models, name)
        model_class = getattr(pythae_models, name.removesuffix("Config"))
        model = model_class(config_class(**described))
    except (OSError, KeyError, AttributeError, TypeError, ValueError) as exc:
        raise LsfError(f"{folder} is not a pythae model folder ({_first_line(exc)})") from None
    weights = os.path.join(folder, "model.pt")
    state = load_weights(weights, device)
    model.load_state_dict(state.get("model_state_dict", state))
    model = model.to(device).eval()
    return LatentModel(
        config,
        lambda x: model.encoder(x)["embedding"],
        lambda z: model.decoder(z)["reconstruction"],
        device,
        folder,
        {"model.pt": file_sha256(weights)},
    )


@torch.inference_mode()
def probe(model: LatentModel) -> LatentModel:
    """Run two blank images through the model: its latents must be `[2, D]` and its images
    `[2, C, H, W]` as stated; returns the model with `latent_dim` set to its real D."""
    c = model.config
    low = float(c.value_range[0])
    images = torch.full((2, c.channels, c.image_size, c.image_size), low, device=model.device)
    try:
        z = model.encoder(images)
    except Exception as exc:  # the user's network may raise anything on a wrong shape
        raise LsfError(
            f"the {c.kind} model cannot encode {c.image_size}px images with {c.channels} "
            f"channels as stated in model.image_size/channels ({_first_line(exc)})"
        ) from None
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[0] != 2:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise LsfError(f"the {c.kind} model's encoder must return [N, D] latents, got {shape}")
    model.config = dataclasses.replace(c, latent_dim=int(z.shape[1]))
    try:
        out = model.decoder(z.float())
    except Exception as exc:
        reason = _first_line(exc)
        raise LsfError(f"the {c.kind} model cannot decode its latents ({reason})") from None
    expected = (2, c.channels, c.image_size, c.image_size)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise LsfError(f"the {c.kind} model's decoder must return images {expected}, got {shape}")
    return model
