import random

import numpy as np
import torch

from posegan.data import MarketPoseDataset, build_pairs, read_pairs, tensor_to_image
from posegan.keypoints import J, flip_pose
from conftest import MINI_DATA


def test_pair_rule_reproduces_the_pair_list(mini_poses):
    assert sorted(build_pairs(mini_poses)) == sorted(read_pairs(MINI_DATA / "samples" / "pairs.csv"))
    broken = dict(mini_poses)
    name = sorted(broken)[0]
    broken[name] = broken[name].copy()
    broken[name][J["left_hip"]] = -1  # no torso: excluded from every pair
    assert all(name not in pair for pair in build_pairs(broken))
    broken["0000_c1s1_000001_01.jpg"] = mini_poses[name]  # distractor id: never paired
    assert all("0000_c1s1_000001_01.jpg" not in pair for pair in build_pairs(broken))


def test_item_contents_and_image_range():
    ds = MarketPoseDataset(MINI_DATA, "samples")
    item = ds[0]
    assert item["source_image"].shape == (3, 128, 64) and -1 <= item["source_image"].min() < item["source_image"].max() <= 1
    assert item["affines"].shape == (10, 2, 3) and item["part_masks"].shape == (10, 128, 64)
    assert item["source_heatmap"].shape == (18, 128, 64)
    source = ds.load_image(item["source_name"])
    assert np.array_equal(tensor_to_image(item["source_image"]), source)  # [-1, 1] round trip is exact
    torch.testing.assert_close(item["source_pose"], torch.from_numpy(ds.poses[item["source_name"]]))


def test_flip_mirrors_images_and_poses_together(monkeypatch):
    plain, flipping = MarketPoseDataset(MINI_DATA, "samples"), MarketPoseDataset(MINI_DATA, "samples", flip=True)
    monkeypatch.setattr(random, "random", lambda: 0.0)  # the coin always says flip
    item, reference = flipping[3], plain[3]
    torch.testing.assert_close(item["source_image"], reference["source_image"].flip(-1))
    torch.testing.assert_close(item["target_image"], reference["target_image"].flip(-1))
    np.testing.assert_array_equal(item["source_pose"].numpy(), flip_pose(reference["source_pose"].numpy()))
    monkeypatch.setattr(random, "random", lambda: 0.9)
    torch.testing.assert_close(flipping[3]["source_image"], reference["source_image"])
