"""LPIPS v0.1, AlexNet-lin (Zhang et al., CVPR 2018) with weights loaded from files, never downloaded.

Uses the ``lpips`` package (0.1.4) built with ``pnet_rand=True`` (no backbone download) and then loads the
ImageNet AlexNet features from ``alexnet_features.pth`` slice by slice (README.md "Metric weights" says where both
files come from). Images are compared at their native 128x64 resolution, RGB in [-1, 1] (GFLA protocol).
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import torch

from . import register_metric
from .weight_files import missing_weights

ALEX_FEATURES = "alexnet_features.pth"
LPIPS_LINEAR = "lpips_alex_lin_v0.1.pth"


@functools.lru_cache(maxsize=2)
def load_lpips(weights_dir: str):
    import lpips
    message = missing_weights(weights_dir, (ALEX_FEATURES, LPIPS_LINEAR))
    if message:
        raise FileNotFoundError(f"LPIPS: {message}; pass --weights-dir")
    weights_dir = Path(weights_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's "pretrained is deprecated" notices
        model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False,
                            model_path=str(weights_dir / LPIPS_LINEAR))
    backbone = torch.load(weights_dir / ALEX_FEATURES, map_location="cpu", weights_only=True)
    for slice_ in (model.net.slice1, model.net.slice2, model.net.slice3, model.net.slice4, model.net.slice5):
        own = {name.split(".")[0] for name in slice_.state_dict()}
        slice_.load_state_dict({k: v for k, v in backbone.items() if k.split(".")[0] in own}, strict=True)
    return model.eval().requires_grad_(False)


def to_lpips_input(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


@register_metric("lpips")
def lpips_distance(generated, targets, target_poses, weights_dir, batch_size: int = 64, **_) -> np.ndarray:
    model = load_lpips(str(weights_dir))
    scores = []
    with torch.inference_mode():
        for i in range(0, len(generated), batch_size):
            a = to_lpips_input(generated[i:i + batch_size])
            b = to_lpips_input(targets[i:i + batch_size])
            scores.append(model(a, b).flatten().numpy())
    return np.concatenate(scores) if scores else np.zeros(0)
