"""Image files on disk: listing a folder or a CelebA tree, decoding, centre-crop and resize.

`load_square_image(path, size)` is the one preprocessing step for every file source: decode
fully (a truncated JPEG fails here, not later), convert to RGB, crop the centred square of
the short side and resize it to `size` with Lanczos filtering. `image_grid` tiles images.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from lsf.core.errors import LsfError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
CELEBA_IMAGE_DIR = "img_align_celeba"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"


def list_image_files(folder: str) -> list[str]:
    """Names of the JPEG/PNG files directly in `folder`, sorted (the id order)."""
    return sorted(
        name
        for name in os.listdir(folder)
        if name.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(folder, name))
    )


def celeba_image_folder(root: str) -> str:
    """The folder holding CelebA's JPEGs: `root/img_align_celeba`, or `root` itself."""
    nested = os.path.join(root, CELEBA_IMAGE_DIR)
    return nested if os.path.isdir(nested) else root


def source_files(source: str, path: str | None, n: int | None = None) -> tuple[str, list[str]]:
    """The image folder of a `celeba` or `folder` source at `path` and its sorted file names
    (the first `n` when given); one line naming the fix for a missing or empty folder."""
    if not path:
        raise LsfError(f"--path is required for --source {source}")
    if not os.path.isdir(path):
        raise LsfError(f"source folder not found: {path}")
    folder = celeba_image_folder(path) if source == "celeba" else path
    names = list_image_files(folder)
    if not names:
        raise LsfError(f"no JPEG or PNG images in {folder}")
    return folder, names[:n] if n else names


def read_celeba_partition(root: str) -> dict[str, int] | None:
    """CelebA's split per file name (0 train, 1 validation, 2 test), or None without the file."""
    path = os.path.join(root, CELEBA_PARTITION_FILE)
    if not os.path.isfile(path):
        return None
    partition = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                partition[parts[0]] = int(parts[1])
    return partition


def load_square_image(path: str, size: int) -> tuple[np.ndarray | None, str | None]:
    """Decode, centre-crop and resize one file: `(uint8 (size, size, 3), None)` or
    `(None, reason)` when the file is corrupt, truncated or smaller than `size`."""
    try:
        with Image.open(path) as image:
            image.load()
            image = image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        return None, f"unreadable image ({type(exc).__name__}: {exc})"
    width, height = image.size
    side = min(width, height)
    if side < size:
        return None, f"smaller than --size {size} ({width}x{height})"
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8), None


def image_grid(images: np.ndarray, columns: int = 8) -> np.ndarray:
    """Tile uint8 images `(n, H, W, 3)` into one `(rows*H, columns*W, 3)` image."""
    n, h, w, c = images.shape
    rows = -(-n // columns)
    grid = np.full((rows * h, columns * w, c), 255, dtype=np.uint8)
    for k in range(n):
        r, col = divmod(k, columns)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = images[k]
    return grid
