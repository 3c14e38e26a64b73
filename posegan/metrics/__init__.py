"""Evaluation metrics, one file each, behind a registry (stylegan2-ada ``metric_main`` style).

Per-pair metrics take uint8 images [N, H, W, 3] (generated, real target) plus target poses and return one
value per pair [N] (summarised by the mean over pairs) or (numerator, denominator) pairs [N, 2] (summarised as
sum / sum, as PCKh pools joints); set metrics (FID) return one value for the whole set. Names state the protocol:

    ssim        SSIM as in the paper's code (Gaussian window sigma 1.5, data_range quirk), doc §7.3
    mask_ssim   SSIM after masking both images with the target-pose mask of Ma et al., doc §7.3
    l1          mean |generated - target| in [-1, 1] units (printed by the original test script)
    lpips       LPIPS v0.1 AlexNet-lin (Zhang et al. 2018), ``lpips`` package with offline weights
    fid         Frechet distance of TF-Inception pool3 features (Heusel et al. 2017), offline TorchScript port,
                against the real targets of the evaluated pairs
    fid_train   the same against all training images, the reference of the published Market FIDs (GFLA, DPTN)
    pckh        PCKh@0.5 of YOLO-pose detections on the generated image vs the target pose (PATN protocol)
"""
from __future__ import annotations

from typing import Callable

import numpy as np

TABLE_ORDER = ["ssim", "mask_ssim", "lpips", "fid", "fid_train", "pckh", "l1"]
PAIR_METRICS: dict[str, Callable] = {}
SET_METRICS: dict[str, Callable] = {}


def register_metric(name: str, per_pair: bool = True):
    def wrap(fn):
        (PAIR_METRICS if per_pair else SET_METRICS)[name] = fn
        return fn
    return wrap


def list_metrics() -> list[str]:
    """All metric names, in the order of the README's results table."""
    return sorted(list(PAIR_METRICS) + list(SET_METRICS), key=lambda n: (TABLE_ORDER + [n]).index(n))


def summarise(values: np.ndarray) -> float:
    """One number for a per-pair metric: mean over pairs, or pooled sum / sum for [N, 2] counts. NaN = skipped."""
    if values.ndim == 2:
        return float(np.nansum(values[:, 0]) / max(np.nansum(values[:, 1]), 1e-12))
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def per_pair_values(values: np.ndarray) -> np.ndarray:
    """The per-pair column of a metric for CSVs: the value itself, or numerator / denominator."""
    if values.ndim == 2:
        with np.errstate(invalid="ignore", divide="ignore"):
            return values[:, 0] / values[:, 1]
    return values


def check_metric_names(names) -> list[str]:
    unknown = [n for n in names if n not in list_metrics()]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; valid: {', '.join(list_metrics())}")
    return list(names)


from . import fid, lpips_metric, pckh, ssim  # noqa: E402,F401  (registration)
