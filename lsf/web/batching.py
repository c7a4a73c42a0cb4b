"""Batched decoding for `lsf explore`: concurrent requests become one forward pass.

`MicroBatcher` is an asyncio micro-batcher: the first request opens a window of `wait_s`,
every request arriving meanwhile joins it (up to `max_items`), and the batch runs as one
call of `batch_fn(list of items) -> list of results` on a single worker thread, so the event
loop keeps serving. `decode_parts` is that call for the decoder: each item is a `[k, D]`
array of latents, all are stacked into one forward pass and split back. The Ray Serve
deployment (`lsf.web.serve`) batches the same items with `serve.batch` and the same function.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lsf.sampling.decode import decode, encode_images


def decode_parts(model, parts: list[np.ndarray]) -> list[np.ndarray]:
    """uint8 images per part from one decoder pass over all parts' rows stacked."""
    sizes = [len(p) for p in parts]
    images = decode(model, np.concatenate(parts).astype(np.float32, copy=False))
    return np.split(images, np.cumsum(sizes)[:-1])


class MicroBatcher:
    def __init__(
        self,
        batch_fn: Callable[[list], list],
        *,
        wait_s: float = 0.002,
        max_items: int = 32,
        executor: ThreadPoolExecutor | None = None,
    ):
        self.batch_fn, self.wait_s, self.max_items = batch_fn, wait_s, max_items
        self.executor = executor or ThreadPoolExecutor(1, thread_name_prefix="lsf-batch")
        self.pending: list[tuple[object, asyncio.Future]] = []
        self.batch_sizes: list[int] = []  # items per batch run, for tests and /api/stats
        self._worker: asyncio.Task | None = None

    async def submit(self, item):
        """The result of `batch_fn` for `item`, computed together with concurrent items."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            await asyncio.sleep(self.wait_s)
            batch, self.pending = self.pending[: self.max_items], self.pending[self.max_items :]
            self.batch_sizes.append(len(batch))
            try:
                results = await loop.run_in_executor(
                    self.executor, self.batch_fn, [item for item, _ in batch]
                )
            except Exception as exc:  # every request of the batch gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)


class LocalCodec:
    """The model in this process: batched decoding, encoding on the same worker thread."""

    def __init__(self, model, *, wait_s: float = 0.002, max_items: int = 32):
        self.model = model
        self.latent_dim = model.config.latent_dim
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="lsf-model")
        self.batcher = MicroBatcher(
            lambda parts: decode_parts(model, parts),
            wait_s=wait_s,
            max_items=max_items,
            executor=self.executor,
        )

    async def decode(self, latents: np.ndarray) -> np.ndarray:
        """uint8 images `[k, H, W, C]` of latents `[k, D]`."""
        return await self.batcher.submit(latents)

    async def encode(self, images: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, encode_images, self.model, images)
