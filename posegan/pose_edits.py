"""Pose edits of the kind app users make, for the pose-edit fidelity benchmark (issue #13).

Each edit takes a pose (float32[18, 2], the 64x128 frame, :mod:`posegan.keypoints` conventions) and returns
``(edited pose, indices of the joints it moved)``, or ``None`` when the pose lacks the joints the edit needs or the
edited limb cannot stay inside the frame. Limbs are moved as rigid chains, so limb lengths are kept:

    raise_arm      the arm lifted above the shoulder: the whole arm straight up (tilted outward as far as the frame
                   needs), else upper arm out to the side and forearm up, the "wave" pose
    spread_legs    each leg rotated 20 degrees outward about its hip (in a side view, where the hips overlap,
                   one forward and one back: a long stride); 15 or 10 where 20 would leave the frame
    swing_arm      the arm rotated 45 degrees about the shoulder toward where the person faces (nose vs neck);
                   35 or 25 where 45 would leave the frame
    mirror         the whole pose mirrored left-right (:func:`posegan.keypoints.flip_pose`)

    python benchmarks/pose_edit_fidelity.py --limit 500   # how often the generator renders them
"""
from __future__ import annotations

import numpy as np

from .keypoints import HEIGHT, WIDTH, J, flip_pose, is_present

MARGIN = 1.0  # px: an edited joint must stay this far inside the frame
ARMS = {"right": (J["right_shoulder"], J["right_elbow"], J["right_wrist"]),
        "left": (J["left_shoulder"], J["left_elbow"], J["left_wrist"])}
LEGS = ((J["right_hip"], J["right_knee"], J["right_ankle"]), (J["left_hip"], J["left_knee"], J["left_ankle"]))


def _inside(points: np.ndarray, width: int, height: int) -> bool:
    return bool(((points >= MARGIN) & (points <= np.array([width - 1, height - 1]) - MARGIN)).all())


def _direction(angle_degrees: float) -> np.ndarray:
    """Unit vector in image coordinates (y down): 0 degrees points up, positive angles turn toward +x."""
    a = np.deg2rad(angle_degrees)
    return np.array([np.sin(a), -np.cos(a)], np.float32)


def _rotate_about(points: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate points [N, 2] about ``centre`` by ``degrees`` (positive = clockwise on screen, y down)."""
    a = np.deg2rad(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    return (points - centre) @ rotation.T + centre


def _outward(pose: np.ndarray, joint: int) -> float:
    """+1 if ``joint`` lies right of the neck in the image (its outward side is +x), else -1."""
    return 1.0 if pose[joint, 0] >= pose[J["neck"], 0] else -1.0


def raise_arm(pose: np.ndarray, side: str = "right", width: int = WIDTH, height: int = HEIGHT):
    shoulder, elbow, wrist = ARMS[side]
    if not is_present(pose)[[shoulder, elbow, wrist, J["neck"]]].all():
        return None
    upper = float(np.linalg.norm(pose[elbow] - pose[shoulder]))
    fore = float(np.linalg.norm(pose[wrist] - pose[elbow]))
    out = _outward(pose, shoulder)
    candidates = [(tilt, tilt) for tilt in range(10, 80, 5)]  # straight arm, tilted outward just enough
    candidates += [(upper_angle, fore_angle) for upper_angle in (90, 75, 105, 60, 120, 45)  # elbow out, forearm up
                   for fore_angle in (0, -15, 15, -30, 30)]
    for upper_angle, fore_angle in candidates:
        new_elbow = pose[shoulder] + upper * _direction(out * upper_angle)
        new_wrist = new_elbow + fore * _direction(out * fore_angle)
        if _inside(np.stack([new_elbow, new_wrist]), width, height) and new_wrist[1] < pose[shoulder, 1] - 0.25 * fore:
            edited = pose.copy()
            edited[elbow], edited[wrist] = new_elbow, new_wrist
            return edited, [elbow, wrist]
    return None


def spread_legs(pose: np.ndarray, degrees=(20.0, 15.0, 10.0), width: int = WIDTH, height: int = HEIGHT):
    """The largest of ``degrees`` that keeps both feet in the frame."""
    if not is_present(pose)[[j for leg in LEGS for j in leg]].all():
        return None
    (right_hip, *_), (left_hip, *_) = LEGS
    apart = pose[right_hip, 0] - pose[left_hip, 0]
    right_outward = np.sign(apart) if abs(apart) >= 2 else -1.0  # hips overlap (side view): a stride
    for angle in degrees:
        edited, moved = pose.copy(), []
        for (hip, knee, ankle), outward in zip(LEGS, (right_outward, -right_outward)):
            # Counter-clockwise (negative) turns a hanging leg's lower end toward +x.
            edited[[knee, ankle]] = _rotate_about(pose[[knee, ankle]], pose[hip], -outward * angle)
            moved += [knee, ankle]
        if _inside(edited[moved], width, height):
            return edited, moved
    return None


def swing_arm(pose: np.ndarray, side: str = "right", degrees=(45.0, 35.0, 25.0), width: int = WIDTH,
              height: int = HEIGHT):
    """The largest of ``degrees`` that keeps the hand in the frame."""
    shoulder, elbow, wrist = ARMS[side]
    if not is_present(pose)[[shoulder, elbow, wrist, J["neck"], J["nose"]]].all():
        return None
    facing = pose[J["nose"], 0] - pose[J["neck"], 0]
    forward = np.sign(facing) if abs(facing) >= 2 else _outward(pose, shoulder)  # frontal view: out to the side
    for angle in degrees:
        edited = pose.copy()
        # The arm hangs down; turning it counter-clockwise (negative) moves the hand toward +x.
        edited[[elbow, wrist]] = _rotate_about(pose[[elbow, wrist]], pose[shoulder], -forward * angle)
        if _inside(edited[[elbow, wrist]], width, height):
            return edited, [elbow, wrist]
    return None


def mirror(pose: np.ndarray, width: int = WIDTH, height: int = HEIGHT):
    edited = flip_pose(pose, width)
    moved = [j for j in np.flatnonzero(is_present(edited)) if np.linalg.norm(edited[j] - pose[j]) >= 1.0]
    return (edited, moved) if moved else None


EDITS = {"raise_arm": raise_arm, "spread_legs": spread_legs, "swing_arm": swing_arm, "mirror": mirror}
