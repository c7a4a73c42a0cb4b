"""The plain PyTorch part of training (no Ray): losses, one epoch, evaluation, autocast.

`lsf.train` runs `train_epoch` and `evaluate` inside Ray Train's per-worker loop; tests call
them directly on in-memory batches.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

from lsf.core.errors import LsfError


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or infinite; the message names the epoch and step."""


def reconstruction_loss(name: str):
    """Mean per-pixel loss between reconstructions and images, both in [0, 1]."""
    if name == "mse":
        return F.mse_loss
    if name == "bce":
        return F.binary_cross_entropy
    raise LsfError(f"unknown loss {name!r} (known: mse, bce)")


def train_epoch(
    model: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    loss_fn,
    *,
    epoch: int,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
) -> tuple[float, int]:
    """One pass over `batches` (float (B, C, H, W) in [0, 1]): `(sum of losses, images)`."""
    model.train()
    total, count = 0.0, 0
    for step, images in enumerate(batches):
        images = images.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            outputs = model(images)
        loss = loss_fn(outputs.float(), images)
        if not torch.isfinite(loss):
            raise NonFiniteLoss(f"non-finite loss ({loss.item()}) at epoch {epoch} step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(images)
        count += len(images)
    return total, count


@torch.inference_mode()
def evaluate(model: torch.nn.Module, batches, loss_fn, device: torch.device) -> tuple[float, int]:
    """`(sum of losses, images)` over `batches` without training."""
    model.eval()
    total, count = 0.0, 0
    for images in batches:
        images = images.to(device)
        total += loss_fn(model(images).float(), images).item() * len(images)
        count += len(images)
    return total, count


def autocast_dtype_for(device: torch.device, mixed_precision: bool) -> torch.dtype | None:
    """bf16 autocast on GPUs that support it; full precision elsewhere."""
    if mixed_precision and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None
