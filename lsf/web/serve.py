"""`lsf explore` on a Ray cluster: the same page and API as a Ray Serve application.

Two deployments: `ExploreDecoder` holds the model (one replica per GPU or CPU share) and
batches concurrent decode calls with `serve.batch`, stacking them into one forward pass
(`decode_parts`, as the local micro-batcher does); `ExploreIngress` serves the Starlette app
(`build_app`) and sends decoding to the decoder replicas. Start it with either of
    serve run lsf.web.serve:build model=/shared/run/model.pt analysis=/shared/analysis \
        latents=/shared/latents.zarr replicas=4
    lsf explore --serve --address auto --model ... --analysis ...     (or jobs/explore.py)
and reach port 8000 of the head node (`kubectl port-forward`, `ray attach -p 8000`).
"""

from __future__ import annotations

import numpy as np
from ray import serve

from lsf.core.errors import LsfError
from lsf.web.batching import decode_parts

APP_NAME = "lsf-explore"
SETTINGS = ("model", "analysis", "latents", "shards", "components", "replicas", "gpus")


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
class ExploreDecoder:
    def __init__(self, model_path: str, use_gpu: bool = False):
        import torch

        from lsf.nn.kinds import load_latent_model

        device = "cuda" if use_gpu and torch.cuda.is_available() else "cpu"
        self.model = load_latent_model(model_path, device=device)
        self.batch_sizes: list[int] = []

    def describe(self) -> dict:
        c = self.model.config
        return {"latent_dim": c.latent_dim, "image_shape": [c.image_size, c.image_size, c.channels]}

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def decode(self, parts: list[np.ndarray]) -> list[np.ndarray]:
        """One call per request, `[k, D]` latents each; Serve hands them over in batches."""
        self.batch_sizes.append(len(parts))
        return decode_parts(self.model, parts)

    def encode(self, images: np.ndarray) -> np.ndarray:
        from lsf.sampling.decode import encode_images

        return encode_images(self.model, images)

    def stats(self) -> dict:
        sizes = self.batch_sizes
        return {"batches": len(sizes), "items": sum(sizes), "largest_batch": max(sizes or [0])}


class HandleCodec:
    """The codec interface of `LocalCodec`, answered by the decoder deployment."""

    def __init__(self, handle, latent_dim: int):
        self.handle, self.latent_dim = handle, latent_dim

    async def decode(self, latents: np.ndarray) -> np.ndarray:
        return await self.handle.decode.remote(latents)

    async def encode(self, images: np.ndarray) -> np.ndarray:
        return await self.handle.encode.remote(images)


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=256)
@serve.ingress()
class ExploreIngress:
    async def __init__(self, decoder, settings: dict):
        from lsf.web.explorer import load_explorer

        described = await decoder.describe.remote()
        self.explorer = load_explorer(
            settings["analysis"],
            HandleCodec(decoder, described["latent_dim"]),
            latents=settings.get("latents"),
            shards=settings.get("shards"),
            image_shape=tuple(described["image_shape"]),
            components=int(settings.get("components") or 8),
        )

    def __serve_build_asgi_app__(self):
        from lsf.web.app import build_app

        return build_app(self.explorer)


def settings_from_args(args: dict) -> dict:
    """`serve run` passes `key=value` strings; check the keys and the numbers."""
    unknown = sorted(set(args) - set(SETTINGS))
    if unknown:
        raise LsfError(f"unknown setting {unknown[0]!r} (known: {', '.join(SETTINGS)})")
    for key in ("model", "analysis"):
        if not args.get(key):
            raise LsfError(f"{key}=... is required")
    settings = dict(args)
    try:
        settings["replicas"] = int(args.get("replicas", 1))
        settings["gpus"] = float(args.get("gpus", 0))
        settings["components"] = int(args.get("components", 8))
    except ValueError as exc:
        raise LsfError(f"replicas, gpus and components must be numbers ({exc})") from None
    if settings["replicas"] < 1 or settings["gpus"] < 0 or settings["components"] < 1:
        raise LsfError("replicas and components must be >= 1 and gpus >= 0")
    return settings


def build(args: dict) -> serve.Application:
    """The application for `serve run lsf.web.serve:build key=value ...`."""
    settings = settings_from_args(args)
    gpus = settings["gpus"]
    decoder = ExploreDecoder.options(
        num_replicas=settings["replicas"],
        ray_actor_options={"num_cpus": 0.5, "num_gpus": gpus},
    ).bind(settings["model"], gpus > 0)
    return ExploreIngress.bind(decoder, settings)


def deploy(args: dict, *, route_prefix: str = "/") -> None:
    """Deploy (or update) the application on the connected Ray cluster and return; it keeps
    running until `serve delete lsf-explore`."""
    serve.run(build(args), name=APP_NAME, route_prefix=route_prefix)
