"""FID (Heusel et al., NeurIPS 2017) with the standard TF-Inception-v3 pool3 features, loaded offline.

The network is ``fid_inception_v3.pt`` from ``--weights-dir`` (a TorchScript port of the 2015-12-05 TF graph,
see ``shared/weights/README.md``): input RGB 299x299, values (x - 128) / 128. Both sets are resized with the
same bilinear filter (``F.interpolate``, align_corners=False), as the README asks. Two references:

    fid        the real targets of the evaluated pairs (the set the outputs should look like, pair for pair)
    fid_train  every image of the training folder ``train/``, the reference of the published Market FIDs (GFLA
               ``--fid_real_path=./dataset/market/train_12864``, DPTN, PIDM): the only one to set beside them

FID falls as the number of generated images grows, so compare values only at equal counts (evaluate reports it).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from torch.nn import functional as F

from . import register_metric
from .weight_files import missing_weights

INCEPTION = "fid_inception_v3.pt"


@functools.lru_cache(maxsize=2)
def load_inception(weights_dir: str):
    path = Path(weights_dir) / INCEPTION
    if not path.is_file():
        raise FileNotFoundError(f"FID: {missing_weights(weights_dir, [INCEPTION])}; pass --weights-dir")
    return torch.jit.load(str(path), map_location="cpu").eval()


def inception_features(images: np.ndarray, weights_dir, batch_size: int = 32, progress=None) -> np.ndarray:
    """float64 [N, 2048] pool3 features of uint8 images [N, H, W, 3]."""
    model = load_inception(str(weights_dir))
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i:i + batch_size]).permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            out.append(model((x - 128.0) / 128.0).double().numpy())
            if progress is not None:
                progress.update(len(x))
    return np.concatenate(out) if out else np.zeros((0, 2048))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], covariance [D, D]) of features [N, D]: all FID needs of a reference set."""
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(features_a: np.ndarray, features_b) -> float:
    """FID between features [N, D] and features [M, D] or precomputed ``feature_statistics`` (mean, covariance)."""
    mu_a, cov_a = feature_statistics(features_a)
    mu_b, cov_b = features_b if isinstance(features_b, tuple) else feature_statistics(features_b)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as the reference code does
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


@register_metric("fid_train", per_pair=False)
@register_metric("fid", per_pair=False)
def fid(generated_features: np.ndarray, reference, **_) -> float:
    """FID against ``reference`` (features or statistics): the real targets of the same pairs for "fid", every
    training image for "fid_train" (:func:`posegan.evaluate.evaluate` passes the one each name needs)."""
    return frechet_distance(generated_features, reference)
