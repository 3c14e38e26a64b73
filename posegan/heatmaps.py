"""Pose heatmaps: one Gaussian channel per OpenPose-18 joint (paper §3, design doc §2).

``H_j(y, x) = exp(-((x - x_j)^2 + (y - y_j)^2) / (2 sigma^2))`` on the integer pixel grid, sigma = 6 px at
128x64 (the authors' code uses 2 sigma^2 in the denominator). Peak 1 at the joint, range [0, 1], no
normalisation across channels; a missing joint gives an all-zero channel. Shapes: K = 18 joints.
"""
from __future__ import annotations

import numpy as np

from .keypoints import HEIGHT, NUM_JOINTS, WIDTH, is_present


def pose_heatmaps(pose: np.ndarray, height: int = HEIGHT, width: int = WIDTH, sigma: float = 6.0) -> np.ndarray:
    """float32[K, H, W] Gaussian maps for a pose float32[K, 2] of (x, y) pixels."""
    if pose.shape != (NUM_JOINTS, 2):
        raise ValueError(f"pose must have shape (18, 2), got {pose.shape}")
    ys = np.arange(height, dtype=np.float32)[None, :, None]  # [1, H, 1]
    xs = np.arange(width, dtype=np.float32)[None, None, :]  # [1, 1, W]
    px = pose[:, 0, None, None].astype(np.float32)  # [K, 1, 1]
    py = pose[:, 1, None, None].astype(np.float32)
    maps = np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2.0 * sigma ** 2))  # [K, H, W]
    maps[~is_present(pose)] = 0.0
    return maps.astype(np.float32)
