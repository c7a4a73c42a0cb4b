"""What `lsf explore` answers, independent of HTTP: decode a latent and say where it sits
(and in which region), draw from a sampler, project a real image by id, decode a latent
path, build a pair panel (with the analysis's map sample coloured by region).

`load_explorer` reads the analysis (pair histograms stay on disk and are read one pair at a
time), the optional latent store and shards, and takes a codec: `LocalCodec` (the model in
this process, batched) or the Ray Serve decoder handle (`lsf.web.serve`). Every method
takes validated values; the HTTP layer (`lsf.web.app`) validates.
"""

from __future__ import annotations

import asyncio
import base64
import io
import posixpath
from functools import lru_cache

import numpy as np
from PIL import Image

from lsf import __version__
from lsf.core.config import SAMPLERS, GenerateConfig
from lsf.core.errors import LsfError
from lsf.sampling import paths as latent_paths
from lsf.sampling.regions import REGION_SAMPLERS
from lsf.sampling.samplers import fit_gmm, sample, statistics_from_analysis
from lsf.stats.analysis_store import StoredAnalysis, read
from lsf.web.panels import SYSTEMS, PairPanels, pairs_table
from lsf.web.position import LatentSpace, position, space_from_analysis
from lsf.web.regions import RegionView
from lsf.web.sources import ImageSource

MAX_SAMPLES = 64  # images per sampler request
MAX_STEPS = 32  # frames per path request
SAMPLE_ROWS = 20000  # store rows behind pairs the analysis did not histogram, and gmm


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 `(H, W, C)` image as a `data:image/png;base64,...` URI."""
    buffer = io.BytesIO()
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    Image.fromarray(pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Explorer:
    def __init__(
        self,
        space: LatentSpace,
        panels: PairPanels,
        analysis: StoredAnalysis,
        images: ImageSource,
        codec,
        *,
        components: int = 8,
        name: str = "",
        regions: RegionView | None = None,
    ):
        self.space, self.panels, self.images, self.codec = space, panels, images, codec
        self.analysis, self.name, self.regions = analysis, name, regions
        self.components = min(components, space.dim)
        self.statistics = statistics_from_analysis(analysis)
        self.generate_config = GenerateConfig()
        self._gmm = None
        self.pair = lru_cache(maxsize=256)(self._pair)

    @property
    def dim(self) -> int:
        return self.space.dim

    @property
    def samplers(self) -> list[str]:
        """Every sampler; gmm needs the latent store to be fitted on, the regions samplers
        an analysis with regions."""
        return [
            s
            for s in SAMPLERS
            if (s != "gmm" or self.images.z is not None)
            and (s not in REGION_SAMPLERS or self.regions is not None)
        ]

    def info(self) -> dict:
        k = self.components
        a = self.analysis
        suggestions = [
            {"system": system, "i": p.i, "j": p.j, "score": p.score}
            for system in ("pca", "original")
            for p in a.least_elliptic(system)[:5]
            if p.score is not None and np.isfinite(p.score)
        ]
        return {
            "lsf_version": __version__,
            "name": self.name,
            "dim": self.dim,
            "dof": self.space.dof,
            "n_latents": a.n_samples,
            "components": k,
            "centre": self.space.centre.tolist(),
            "pca_axes": self.space.pca.components[:k].tolist(),
            "pca_sigma": self.space.sigma[:k].tolist(),
            "explained_variance_ratio": self.space.pca.explained_variance_ratio[:k].tolist(),
            "components_for_90": a.headline.components_for.get("0.9"),
            "samplers": self.samplers,
            "ids": self.images.n,
            "source_images": self.images.manifest is not None,
            "trim_fact": self.space.trim_fact,
            "pairs": suggestions,
            "limits": {"samples": MAX_SAMPLES, "steps": MAX_STEPS},
            "regions": [] if self.regions is None else self.regions.info(),
            "fragmentation": None if a.fragmentation is None else a.fragmentation.verdict,
        }

    async def _decode_rows(self, latents: np.ndarray) -> list[dict]:
        images = await self.codec.decode(np.asarray(latents, dtype=np.float32))
        frames = [
            {"image": png_data_uri(image), "position": position(z, self.space)}
            for z, image in zip(latents, images, strict=True)
        ]
        if self.regions is not None:
            for frame, z in zip(frames, latents, strict=True):
                frame["region"] = self.regions.region_of(z)
        return frames

    async def decode(self, z: np.ndarray) -> dict:
        (frame,) = await self._decode_rows(z[None])
        return frame

    async def _gmm_model(self):
        if self._gmm is None:
            config = self.generate_config
            rows = self.images.sample_rows(config.gmm_rows, config.seed)
            loop = asyncio.get_running_loop()
            self._gmm = await loop.run_in_executor(
                None, fit_gmm, rows.astype(np.float64), config.gmm_components, config.seed
            )
        return self._gmm

    async def sample(self, sampler: str, n: int, seed: int) -> dict:
        config = self.generate_config
        gmm = await self._gmm_model() if sampler == "gmm" else None
        latents, facts = sample(
            sampler,
            self.statistics,
            n,
            seed,
            level=config.level,
            pca_sigmas=config.pca_sigmas,
            gmm=gmm,
            regions=None if self.regions is None else self.regions.mixture,
        )
        frames = await self._decode_rows(latents)
        for frame, z in zip(frames, latents, strict=True):
            frame["z"] = z.tolist()
        return {"sampler": sampler, "seed": seed, "info": facts, "frames": frames}

    async def _real(self, image_id: int) -> dict:
        """The latent of a real image (encoded from its pixels when there are shards, else the
        store row) and the source image."""
        loop = asyncio.get_running_loop()
        source = await loop.run_in_executor(None, self.images.image, image_id)
        if source is not None:
            z = (await self.codec.encode(source[None]))[0]
        else:
            z = await loop.run_in_executor(None, self.images.stored_latent, image_id)
        return {"id": image_id, "z": z, "source": source}

    async def project(self, image_id: int) -> dict:
        real = await self._real(image_id)
        frame = await self.decode(real["z"].astype(np.float64))
        return {
            "id": image_id,
            "z": real["z"].tolist(),
            "source": None if real["source"] is None else png_data_uri(real["source"]),
            **frame,
        }

    async def path(self, kind: str, steps: int, a: int | None, b: int | None) -> dict:
        ends = []
        if kind == "origin_to_centre":
            points = latent_paths.origin_to_centre(self.space.centre, steps)
        else:
            start, end = await asyncio.gather(self._real(a), self._real(b))
            points = latent_paths.interpolation(start["z"], end["z"], steps)
            for real in (start, end):
                ends.append(
                    {
                        "id": real["id"],
                        "source": None if real["source"] is None else png_data_uri(real["source"]),
                    }
                )
        frames = await self._decode_rows(points)
        for frame, z in zip(frames, points, strict=True):
            frame["z"] = z.tolist()
        return {"kind": kind, "frames": frames, "ends": ends}

    def _pair(self, system: str, i: int, j: int) -> dict:
        panel = self.panels.panel(system, i, j)
        if self.regions is not None:
            origin = np.zeros(self.dim) if panel["origin"] is None else self.space.centre
            axes = np.asarray(panel["axes"], dtype=np.float64)
            panel["regions"] = self.regions.panel_points(origin, axes, system, i, j)
        return panel


def load_explorer(
    analysis: str,
    codec,
    *,
    latents: str | None = None,
    shards: str | None = None,
    image_shape: tuple[int, int, int] | None = None,
    components: int = 8,
) -> Explorer:
    """Read everything the app serves; refuse inputs that do not fit together."""
    a = read(analysis)
    d = a.latent_dim
    if d != codec.latent_dim:
        raise LsfError(
            f"the analysis has latent dim {d} but the model {codec.latent_dim}: "
            "explore the analysis of this model's latents"
        )
    images = ImageSource.open(shards, latents)
    if images.z is not None and images.z.shape[1] != d:
        raise LsfError(
            f"the latent store {latents} has latent dim {images.z.shape[1]}, the analysis {d}"
        )
    if image_shape is not None and images.image_shape not in (None, tuple(image_shape)):
        raise LsfError(
            f"the shards hold {images.image_shape} images but the model makes {image_shape}"
        )
    space = space_from_analysis(a)
    grids = {system: a.pairs(system) for system in SYSTEMS}
    sample_rows = images.sample_rows(SAMPLE_ROWS) if images.z is not None else None
    panels = PairPanels(space, a.moments.cov, grids, pairs_table(a.pairs_table()), sample_rows)
    name = posixpath.basename(str(analysis).rstrip("/")) or str(analysis)
    fragmentation = a.fragmentation
    regions = fragmentation and RegionView.from_fragmentation(fragmentation, images.z)
    return Explorer(
        space,
        panels,
        a,
        images,
        codec,
        components=components,
        name=name,
        regions=regions,
    )
