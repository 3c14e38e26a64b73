"""The metric networks' weight files, which the repository does not hold: what each one is and where it comes from.

The loaders' errors and the tests' skip messages name missing files with this; README.md "Metric weights" adds
the sha256 of each file and the commands that fetch them.
"""
from __future__ import annotations

from pathlib import Path

SOURCES = {
    "alexnet_features.pth": "LPIPS backbone: the state_dict of torchvision's ImageNet AlexNet .features",
    "lpips_alex_lin_v0.1.pth": "LPIPS v0.1 linear layers: lpips/weights/v0.1/alex.pth of the installed lpips package",
    "fid_inception_v3.pt": "FID network: TorchScript port of the TF Inception-v3 graph of 2015-12-05, pool3 features",
}


def missing_weights(weights_dir, names) -> str | None:
    """None when every file of ``names`` is in ``weights_dir``, else a message naming the missing ones."""
    missing = [name for name in names if not (Path(weights_dir) / name).is_file()]
    if not missing:
        return None
    return (f"missing in {weights_dir}: " + "; ".join(f"{name} ({SOURCES[name]})" for name in missing)
            + ". README.md 'Metric weights' says where to get them")
