"""FID (Heusel et al., NeurIPS 2017) with the standard TF-Inception-v3 pool3 features, loaded offline.

The network is ``fid_inception_v3.pt`` from ``--weights-dir`` (a TorchScript port of the 2015-12-05 TF graph,
see ``shared/weights/README.md``): input RGB 299x299, values (x - 128) / 128. Both sets are resized with the
same bilinear filter (``F.interpolate``, align_corners=False), as the README asks. The reference statistics are
those of the real targets of the evaluated pairs (computed once per run); GFLA's published FIDs use the whole
Market train set as reference instead, so compare with them only roughly.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from scipy import linalg
from torch.nn import functional as F

from . import register_metric

INCEPTION = "fid_inception_v3.pt"


@functools.lru_cache(maxsize=2)
def load_inception(weights_dir: str):
    path = Path(weights_dir) / INCEPTION
    if not path.is_file():
        raise FileNotFoundError(f"FID needs {path} (see ../shared/weights/README.md); pass --weights-dir")
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


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    cov_a, cov_b = np.cov(features_a, rowvar=False), np.cov(features_b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(covmean).all():  # near-singular product: regularise as the reference code does
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    covmean = covmean.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(covmean))


@register_metric("fid", per_pair=False)
def fid(generated_features: np.ndarray, real_features: np.ndarray, **_) -> float:
    return frechet_distance(generated_features, real_features)
