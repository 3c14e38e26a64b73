"""PCKh@0.5 of the generated person's pose (PATN ``tool/calPCKH_market.py`` protocol, design doc §7.3).

The detector (:mod:`posegan.pose_detect`, YOLO11n-pose; the original used OpenPose, so the figure is
comparable but not identical) runs on each generated 64x128 image. The head box is the bounding box of the
*target*'s head joints (nose, neck, eyes, ears); pairs with fewer than 2 of them are skipped (NaN). A target
joint counts as correct if the detected joint lies within half the head box's width in x and half its
height in y; a joint missing in the detection is wrong. The set score pools correct / visible joints.
"""
from __future__ import annotations

import numpy as np

from ..keypoints import J, is_present
from . import register_metric

HEAD_JOINTS = [J["nose"], J["neck"], J["right_eye"], J["left_eye"], J["right_ear"], J["left_ear"]]


def pckh_joint_hits(detected: np.ndarray, target: np.ndarray, alpha: float = 0.5):
    """(correct bool[18], visible bool[18]) for one pair, or None when the target has < 2 head joints."""
    tgt_present = is_present(target)
    head = target[[j for j in HEAD_JOINTS if tgt_present[j]]]
    if len(head) < 2:
        return None
    box_w, box_h = head.max(0) - head.min(0)
    close = (np.abs(detected - target) < alpha * np.array([box_w, box_h])).all(1)
    return close & is_present(detected) & tgt_present, tgt_present


def pckh_counts(detected: np.ndarray, target: np.ndarray, alpha: float = 0.5):
    """(correct, visible) joint counts for one pair, or None when the target has < 2 head joints."""
    hits = pckh_joint_hits(detected, target, alpha)
    return None if hits is None else (int(hits[0].sum()), int(hits[1].sum()))


def detect_poses(images: np.ndarray) -> np.ndarray:
    from ..pose_detect import NoPersonError, detect_pose_128x64, get_detector
    detector, poses = get_detector(), []
    for image in images:
        try:
            poses.append(detect_pose_128x64(image, detector)[0].pose)
        except NoPersonError:
            poses.append(np.full((18, 2), -1.0, np.float32))
    return np.stack(poses)


@register_metric("pckh")
def pckh(generated, targets, target_poses, **_) -> np.ndarray:
    """Per pair [N, 2]: (correct, visible) joint counts, NaN rows for skipped pairs; pooled as sum / sum."""
    detected = detect_poses(generated)
    counts = [pckh_counts(det, tgt) for det, tgt in zip(detected, target_poses)]
    return np.array([c if c is not None else (np.nan, np.nan) for c in counts], dtype=np.float64).reshape(-1, 2)
