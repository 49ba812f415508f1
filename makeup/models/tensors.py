"""The one conversion between numpy images (HxWx3 uint8 RGB) and model tensors (Nx3xHxW float in [-1, 1])."""

from __future__ import annotations

import numpy as np
import torch


def image_to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """HxWx3 uint8 RGB (or a list/stack of them as NxHxWx3) -> Nx3xHxW float32 in [-1, 1]."""
    array = np.asarray(image)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected HxWx3 or NxHxWx3 RGB images, got shape {array.shape}")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """Nx3xHxW (or 3xHxW) in [-1, 1] -> HxWx3 uint8 for one image, NxHxWx3 for a batch of several."""
    if tensor.ndim == 3:
        tensor = tensor[None]
    array = ((tensor.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    array = array.permute(0, 2, 3, 1).cpu().numpy()
    return array[0] if array.shape[0] == 1 else array
