"""SSIM, mask-SSIM and L1 exactly as the Deformable GAN evaluation computes them (design doc §7.3).

``skimage.metrics.structural_similarity(target, generated, gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, channel_axis=-1, data_range=generated.max() - generated.min())`` - including the
original's quirk of taking ``data_range`` from the generated image. mask-SSIM multiplies both images by the
target-pose mask of Ma et al. (``pose_utils.produce_ma_mask``: 23 limb quadrilaterals of half-width 4 px,
discs of radius 4 at the joints, then a 5x5 closing).
"""
from __future__ import annotations

import numpy as np
from skimage.draw import disk, polygon
from skimage.metrics import structural_similarity
from skimage.morphology import dilation, erosion

from ..keypoints import is_present
from . import register_metric

MA_LIMBS = np.array([[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12], [12, 13],
                     [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18], [2, 17], [2, 18], [9, 12], [12, 6],
                     [9, 3], [17, 18]]) - 1
MASK_RADIUS = 4


def pose_mask(pose: np.ndarray, height: int = 128, width: int = 64) -> np.ndarray:
    """bool[H, W] body mask of a pose (x, y), as ``produce_ma_mask`` of the authors' code."""
    mask = np.zeros((height, width), dtype=bool)
    present = is_present(pose)
    yx = pose[:, ::-1].astype(np.float64)  # the original works in (row, col)
    for a, b in MA_LIMBS:
        if not (present[a] and present[b]) or np.allclose(yx[a], yx[b]):
            continue
        d = yx[a] - yx[b]
        normal = MASK_RADIUS * np.array([-d[1], d[0]]) / np.linalg.norm(d)
        corners = np.array([yx[a] + normal, yx[a] - normal, yx[b] - normal, yx[b] + normal])
        rr, cc = polygon(corners[:, 0], corners[:, 1], shape=mask.shape)
        mask[rr, cc] = True
    for j in np.flatnonzero(present):
        rr, cc = disk(tuple(yx[j]), MASK_RADIUS, shape=mask.shape)
        mask[rr, cc] = True
    square = np.ones((5, 5), bool)
    return erosion(dilation(mask, square), square)  # closing, as the original (dilation then erosion)


def ssim_score(generated: np.ndarray, target: np.ndarray) -> float:
    data_range = float(generated.max()) - float(generated.min())
    return float(structural_similarity(target, generated, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, channel_axis=-1,
                                       data_range=data_range if data_range > 0 else 255.0))


@register_metric("ssim")
def ssim(generated, targets, target_poses, **_) -> np.ndarray:
    return np.array([ssim_score(g, t) for g, t in zip(generated, targets)])


@register_metric("mask_ssim")
def mask_ssim(generated, targets, target_poses, **_) -> np.ndarray:
    scores = []
    for g, t, pose in zip(generated, targets, target_poses):
        mask = pose_mask(pose, *g.shape[:2])[..., None]
        scores.append(ssim_score(g * mask, t * mask))
    return np.array(scores)


@register_metric("l1")
def l1(generated, targets, target_poses, **_) -> np.ndarray:
    diff = np.abs(generated.astype(np.float32) - targets.astype(np.float32)) / 127.5
    return diff.reshape(len(diff), -1).mean(1)
