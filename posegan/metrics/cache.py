"""On-disk cache of evaluation results, so the full test set fits the CPU budget (issue #6: <= 30 min on 2 cores).

Two things are expensive and never change for fixed inputs:

* Inception features of *real* images (FID reference and the copy-source baseline): stored per image name, so
  the 7,483 test pairs need the 6,940 distinct test images once, whichever pairs or limit a later run uses.
* A method's per-pair metric values and generated-image FID features: stored per (method, pairs, metric), where
  a method is identified by the sha256 of its checkpoint file, so re-running with a new ``--checkpoint`` only
  recomputes that checkpoint and the baselines / ablation come from the cache.
* The FID statistics (mean, covariance) of the whole training folder (``fid_train``), keyed by its file list and
  the sha256 of the Inception network: 9,399 images, about 15 minutes on 2 cores, computed once.

Every key also holds the data folder, the metric networks (file names and sizes in ``--weights-dir``) and
:data:`CACHE_VERSION` (bump it when a metric's protocol changes). Files are ``.npz`` written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

CACHE_VERSION = 1


def file_digest(path) -> str:
    """sha256 of a file's content (identifies a checkpoint whatever its name)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _save_npz(path: Path, **arrays):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


class EvalCache:
    """``root=None`` disables caching (every lookup misses, nothing is written)."""

    def __init__(self, root, data_root, weights_dir):
        self.root = Path(root) if root else None
        if self.root:
            self.root.mkdir(parents=True, exist_ok=True)
        weights = Path(weights_dir)
        networks = sorted((p.name, p.stat().st_size) for p in weights.iterdir() if p.is_file()) if weights.is_dir() else []
        self.context = (CACHE_VERSION, str(Path(data_root).resolve()), networks)

    def method_values(self, method_id: str, pairs, metric: str, compute) -> np.ndarray:
        """Per-pair values (or FID features) of one method on one pair list: cached, else ``compute()``."""
        if self.root is None:
            return compute()
        path = self.root / f"{metric}-{_key(self.context, method_id, pairs, metric)}.npz"
        if path.is_file():
            return np.load(path)["values"]
        values = compute()
        _save_npz(path, values=values)
        return values

    def reference_statistics(self, names, network_digest: str, compute) -> tuple[np.ndarray, np.ndarray]:
        """(mean, covariance) of a fixed reference set of images: cached by (file list, network), else ``compute()``."""
        if self.root is None:
            return compute()
        path = self.root / f"reference-stats-{_key(self.context, sorted(names), network_digest)}.npz"
        if path.is_file():
            stored = np.load(path)
            return stored["mean"], stored["covariance"]
        mean, covariance = compute()
        _save_npz(path, mean=mean, covariance=covariance)
        return mean, covariance

    def real_features(self, names, compute) -> np.ndarray:
        """[len(names), D] features of real images by name; ``compute(missing_names)`` fills the gaps once."""
        path = self.root / f"real-inception-{_key(self.context)}.npz" if self.root else None
        known: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            stored = np.load(path)
            known = dict(zip(stored["names"].tolist(), stored["features"]))
        missing = sorted(set(names) - known.keys())
        if missing:
            known.update(zip(missing, compute(missing)))
            if path is not None:
                ordered = sorted(known)
                _save_npz(path, names=np.array(ordered), features=np.stack([known[n] for n in ordered]))
        return np.stack([known[n] for n in names])
