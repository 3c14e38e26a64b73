"""Market-1501 pose-transfer pairs (paper §5 "Datasets"; design doc ``deformable-gan.md`` §2, §7.1).

Layout of ``--data`` (default ``shared/data/market1501`` beside the repository, README "Market-1501 data"): ``{train,test}/`` 64x128 JPEGs,
``annotations-{train,test}.csv`` (``name:keypoints_y:keypoints_x``), ``pairs-{train,test}.csv`` (``from,to``);
``samples/`` holds a small set with ``annotations.csv`` and ``pairs.csv``. Without ``pairs-train.csv`` the train pairs
are built from the annotations (:func:`build_pairs` reproduces the shared file exactly, order included, so the
bundle for a lent GPU leaves its 7 MB out); the test pairs are a fixed list the rule cannot rebuild.

Each item of :class:`MarketPoseDataset` is a dict of tensors for one (source, target) pair: images in [-1, 1]
[3, H, W], heatmaps [18, H, W], poses [18, 2] (x, y), the part affines [10, 2, 3] (target -> source) and
part masks [10, H, W] of the deformable skips, plus the two file names.
"""
from __future__ import annotations

import csv
import itertools
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .config import DEFAULT_DATA_ROOT
from .geometry import skip_inputs
from .heatmaps import pose_heatmaps
from .keypoints import HEIGHT, TORSO_JOINTS, WIDTH, flip_pose, is_present, read_market_csv
from .pose_prior import PosePrior

DEFAULT_ROOT = Path(DEFAULT_DATA_ROOT)
# The keys of a pair dict that the generator takes, in its argument order.
MODEL_INPUTS = ("source_image", "source_heatmap", "target_heatmap", "affines", "part_masks")
SPLIT_FILES = {  # split -> (image folder, annotations, pairs)
    "train": ("train", "annotations-train.csv", "pairs-train.csv"),
    "test": ("test", "annotations-test.csv", "pairs-test.csv"),
    "samples": ("samples", "samples/annotations.csv", "samples/pairs.csv"),
}


def read_pairs(path) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != ["from", "to"]:
        raise ValueError(f"{path}: expected a 'from,to' header")
    return [(a, b) for a, b in rows[1:]]


def person_id(name: str) -> str:
    return name.split("_")[0]


def build_pairs(poses: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """The Deformable GAN pair rule (doc §7.1): all ordered pairs of different images of the same person,
    junk (-1) and distractor (0000) ids excluded, both images with both shoulders and both hips."""
    valid = sorted(name for name, pose in poses.items()
                   if person_id(name) not in ("-1", "0000") and is_present(pose)[list(TORSO_JOINTS)].all())
    pairs = []
    for _, group in itertools.groupby(valid, key=person_id):
        pairs += list(itertools.permutations(list(group), 2))
    return pairs


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float [3, H, W] in [-1, 1] (doc §2)."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def tensor_to_image(tensor: torch.Tensor) -> np.ndarray:
    """float [3, H, W] in [-1, 1] -> uint8 [H, W, 3] (rounded; the original truncates)."""
    return ((tensor.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def pair_tensors(source_image: np.ndarray, source_pose: np.ndarray, target_pose: np.ndarray,
                 height: int = HEIGHT, width: int = WIDTH, sigma: float = 6.0) -> dict[str, torch.Tensor]:
    """Everything the generator needs for one pair, as unbatched tensors (shared by data and inference)."""
    affines, masks = skip_inputs(source_pose, target_pose, height, width)
    return {
        "source_image": image_to_tensor(source_image),
        "source_heatmap": torch.from_numpy(pose_heatmaps(source_pose, height, width, sigma)),
        "target_heatmap": torch.from_numpy(pose_heatmaps(target_pose, height, width, sigma)),
        "affines": torch.from_numpy(affines),
        "part_masks": torch.from_numpy(masks),
        "source_pose": torch.from_numpy(np.asarray(source_pose, np.float32)),
        "target_pose": torch.from_numpy(np.asarray(target_pose, np.float32)),
    }


class MarketPoseDataset(torch.utils.data.Dataset):
    def __init__(self, root=DEFAULT_ROOT, split: str = "train", pairs_csv=None, limit: int | None = None,
                 height: int = HEIGHT, width: int = WIDTH, sigma: float = 6.0, flip: bool = False):
        """root: Market folder; split: "train", "test" or "samples"; pairs_csv: another pair list (default
        the split's); limit: keep the first N pairs; flip: random horizontal flip of the whole pair."""
        if split not in SPLIT_FILES:
            raise ValueError(f"split must be one of {list(SPLIT_FILES)}, got {split!r}")
        root = Path(root)
        folder, annotations, pairs = SPLIT_FILES[split]
        if not (root / annotations).is_file():
            raise FileNotFoundError(f"Market-1501 annotations not found at {root / annotations}; pass --data "
                                    "pointing at a folder laid out as README.md's 'Market-1501 data' describes")
        self.image_dir = root / folder
        self.poses = read_market_csv(root / annotations)
        if pairs_csv is None and split == "train" and not (root / pairs).is_file():
            self.pairs = build_pairs(self.poses)[:limit]
        else:
            self.pairs = read_pairs(pairs_csv or root / pairs)[:limit]
        missing = [n for pair in self.pairs for n in pair if n not in self.poses]
        if missing:
            raise ValueError(f"{len(missing)} images of the pair list have no annotation, e.g. {missing[0]}")
        self.height, self.width, self.sigma, self.flip = height, width, sigma, flip

    def __len__(self) -> int:
        return len(self.pairs)

    def load_image(self, name: str) -> np.ndarray:
        with Image.open(self.image_dir / name) as im:
            image = np.asarray(im.convert("RGB"))
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"{name}: expected {self.width}x{self.height}, got {image.shape[1]}x{image.shape[0]}")
        return image

    def __getitem__(self, index: int) -> dict:
        source_name, target_name = self.pairs[index]
        source_image, target_image = self.load_image(source_name), self.load_image(target_name)
        source_pose, target_pose = self.poses[source_name], self.poses[target_name]
        if self.flip and random.random() < 0.5:
            source_image, target_image = source_image[:, ::-1], target_image[:, ::-1]
            source_pose, target_pose = flip_pose(source_pose, self.width), flip_pose(target_pose, self.width)
        item = pair_tensors(source_image, source_pose, target_pose, self.height, self.width, self.sigma)
        item["target_image"] = image_to_tensor(target_image)
        item["source_name"], item["target_name"] = source_name, target_name
        return item


def rare_pose_weights(dataset: MarketPoseDataset, cap: float, prior: PosePrior) -> torch.Tensor:
    """float64[pairs]: how often to draw each pair of ``dataset`` relative to a common one (issue #13).

    A pose the training data hardly holds (a wrist above the head, a wide step) is one the generator never learns to
    draw, and the app asks for exactly those. Each pair is weighted by its target pose's rarity
    (:meth:`PosePrior.rarity`: its most unusual joint against the training positions of that joint) over the median
    rarity, clipped to [1, ``cap``]: half the pairs keep weight 1, the rarest are drawn ``cap`` times as often.
    """
    targets = sorted({target for _, target in dataset.pairs})
    rarity = dict(zip(targets, prior.rarity(np.stack([dataset.poses[name] for name in targets]))))
    per_pair = np.array([rarity[target] for _, target in dataset.pairs], np.float64)
    return torch.from_numpy(np.clip(per_pair / max(np.median(per_pair), 1e-6), 1.0, cap))
