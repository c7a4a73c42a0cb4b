"""Real images and their latents for `lsf explore`, by id.

`ImageSource` reads one image from the shards (only the row group that holds the id) and
one latent row from the latent store (row k is the image with id k), and draws a seeded row
sample of the store for the gmm sampler and for pairs the analysis did not histogram.
Paths come from the command line only; the page sends ids.
"""

from __future__ import annotations

import numpy as np
import zarr

from lsf.core.errors import LsfError
from lsf.core.outputs import exists, join, zarr_location
from lsf.core.store import open_store
from lsf.data.shards import column_images, read_manifest, read_table, shard_urls


class ImageSource:
    def __init__(self, shards: str | None, latents: str | None):
        self.shards, self.latents = shards, latents
        self.manifest = read_manifest(shards) if shards else None
        self.z = None
        if latents:
            open_store(latents)  # refuses an incomplete store
            self.z = zarr.open_group(zarr_location(latents), mode="r")["z"]
        rows = None if self.z is None else self.z.shape[0]
        if self.manifest is not None and rows is not None and self.manifest["n"] != rows:
            raise LsfError(
                f"the latent store {latents} holds {rows} rows but the shards {shards} "
                f"{self.manifest['n']} images; give the shards the store was encoded from"
            )

    @classmethod
    def open(cls, shards: str | None, latents: str | None) -> ImageSource:
        """With only `latents`, the shards the store was encoded from are used if they still
        exist (the store records them)."""
        if latents and not shards:
            recorded = open_store(latents).attrs.get("source", {}).get("shards")
            if recorded and exists(join(recorded, "manifest.json")):
                shards = recorded
        return cls(shards, latents)

    @property
    def n(self) -> int | None:
        """Number of ids (0..n-1), or None when there is neither shards nor store."""
        if self.manifest is not None:
            return int(self.manifest["n"])
        return None if self.z is None else int(self.z.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        return tuple(self.manifest["image_shape"]) if self.manifest is not None else None

    def image(self, image_id: int) -> np.ndarray | None:
        """uint8 `(H, W, C)` image with this id, or None without shards."""
        if self.manifest is None:
            return None
        urls = shard_urls(self.shards, self.manifest)
        for entry, url in zip(self.manifest["shards"], urls, strict=True):
            if entry["first_id"] <= image_id < entry["first_id"] + entry["rows"]:
                table = read_table(url, columns=["id", "image"], filters=[("id", "==", image_id)])
                images = column_images(table["image"], self.image_shape)
                if len(images):
                    return images[0]
        raise LsfError(f"image id {image_id} is not in {self.shards}")

    def stored_latent(self, image_id: int) -> np.ndarray | None:
        """Row `image_id` of the store's z, or None without a store."""
        if self.z is None:
            return None
        return np.asarray(self.z[image_id], dtype=np.float32)

    def sample_rows(self, count: int, seed: int = 0) -> np.ndarray | None:
        """A seeded sample of finite store rows `[<=count, D]`, or None without a store."""
        if self.z is None:
            return None
        n = self.z.shape[0]
        picks = np.sort(np.random.default_rng(seed).choice(n, size=min(n, count), replace=False))
        rows = self.z.get_orthogonal_selection((picks, slice(None)))
        return rows[np.isfinite(rows).all(axis=1)]
