"""OpenPose-18 keypoints: joint order, limbs, flips, COCO-17 conversion and pose file I/O.

Conventions (stated once, used everywhere in the package):
  * a pose is ``float32[K=18, 2]`` of **(x, y)** pixel coordinates in the 64-wide x 128-high frame,
    pixel centres at integer coordinates (the Market CSVs store integer pixel indices);
  * a missing joint is ``(-1, -1)``;
  * "right"/"left" are the person's own sides (OpenPose COCO-18 order, design doc ``deformable-gan.md`` §1.1).
    The swapped ``LABELS`` eye/ear names of the authors' code are deliberately *not* used (doc §1.1, §10.13).

The Market CSVs store ``name:keypoints_y:keypoints_x`` (row first!); :func:`read_market_csv` converts once.
Pose JSON is the OpenPose format ``{"people": [{"pose_keypoints_2d": [x, y, c, ...]}], "canvas_width", ...}``
so poses round-trip with OpenPose editors.
"""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path

import numpy as np

NUM_JOINTS = 18
MISSING = -1.0
HEIGHT, WIDTH = 128, 64  # Market-1501 crop size (rows, cols)

JOINT_NAMES = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
J = {name: i for i, name in enumerate(JOINT_NAMES)}

# Joint pairs drawn as the skeleton (OpenPose limbSeq, 0-based, without the ear-shoulder links).
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# Left/right partner of every joint (flip permutation), doc §1.4.
FLIP_PERMUTATION = (0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16)
TORSO_JOINTS = (J["right_hip"], J["left_hip"], J["left_shoulder"], J["right_shoulder"])

# COCO-17 (YOLO pose) -> OpenPose-18, doc §1.3. None marks the neck, which COCO lacks.
COCO_TO_OPENPOSE = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
COCO_LEFT_SHOULDER, COCO_RIGHT_SHOULDER = 5, 6

MAX_POSE_JSON = 100_000  # characters of pose JSON; one person's OpenPose pose is about 1 kB
MAX_PIXELS = 100_000     # largest canvas size and |coordinate| accepted in pose JSON (40 MP images are ~8000 px)


class PoseFormatError(ValueError):
    """A pose file or array that does not follow the conventions above."""


def missing_pose() -> np.ndarray:
    return np.full((NUM_JOINTS, 2), MISSING, dtype=np.float32)


def is_present(pose: np.ndarray) -> np.ndarray:
    """bool[..., 18]: which joints are present (neither coordinate is negative)."""
    return (pose[..., 0] >= 0) & (pose[..., 1] >= 0)


def validate_pose(pose, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Return ``pose`` as float32[18, 2]; raise :class:`PoseFormatError` with the reason otherwise.

    Joints outside the frame are marked missing rather than rejected: a dragged joint that leaves the
    canvas is a hidden joint.
    """
    try:
        arr = np.asarray(pose, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: a Python int beyond float range
        raise PoseFormatError(f"pose is not numeric: {exc}") from None
    if arr.shape != (NUM_JOINTS, 2):
        raise PoseFormatError(f"pose must have shape (18, 2) of (x, y) pixels, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise PoseFormatError("pose contains NaN or infinite coordinates")
    arr = arr.copy()
    outside = (arr[:, 0] < 0) | (arr[:, 1] < 0) | (arr[:, 0] > width - 1) | (arr[:, 1] > height - 1)
    arr[outside] = MISSING
    return arr


def flip_pose(pose: np.ndarray, width: int = WIDTH) -> np.ndarray:
    """Mirror left<->right: x' = W-1-x and swap partner joints (doc §1.4). Missing stays missing."""
    flipped = pose[list(FLIP_PERMUTATION)].copy()
    present = is_present(flipped)
    flipped[present, 0] = (width - 1) - flipped[present, 0]
    return flipped


def scale_pose(pose: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Rescale a pose between image sizes given as (width, height), mapping pixel centres exactly."""
    (fw, fh), (tw, th) = from_size, to_size
    out = pose.astype(np.float32).copy()
    present = is_present(out)
    out[present, 0] = (out[present, 0] + 0.5) * tw / fw - 0.5
    out[present, 1] = (out[present, 1] + 0.5) * th / fh - 0.5
    return out


def coco17_to_openpose18(keypoints: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """Convert COCO-17 ``[17, 3]`` (x, y, confidence) to an OpenPose-18 pose (doc §1.3).

    Joints with confidence below ``threshold`` become missing; the neck is the midpoint of the shoulders
    when both are present.
    """
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.shape != (17, 3):
        raise PoseFormatError(f"COCO keypoints must have shape (17, 3), got {keypoints.shape}")
    visible = keypoints[:, 2] >= threshold
    pose = missing_pose()
    for op_index, coco_index in enumerate(COCO_TO_OPENPOSE):
        if coco_index is not None and visible[coco_index]:
            pose[op_index] = keypoints[coco_index, :2]
    if visible[COCO_LEFT_SHOULDER] and visible[COCO_RIGHT_SHOULDER]:
        pose[J["neck"]] = (keypoints[COCO_LEFT_SHOULDER, :2] + keypoints[COCO_RIGHT_SHOULDER, :2]) / 2
    return pose


def interpolate_poses(source: np.ndarray, target: np.ndarray, steps: int) -> list[np.ndarray]:
    """``steps`` poses from ``source`` to ``target`` (both included), joints moving in straight lines.

    A joint missing at one end cannot move: it stays where it is visible and switches at the halfway frame
    (shown in the first half when only the source has it, in the second half when only the target has it).
    """
    src_present, tgt_present = is_present(source), is_present(target)
    poses = []
    for t in np.linspace(0.0, 1.0, steps):
        pose = np.full_like(source, MISSING)
        both = src_present & tgt_present
        pose[both] = (1 - t) * source[both] + t * target[both]
        only_src, only_tgt = src_present & ~tgt_present, tgt_present & ~src_present
        pose[only_src] = source[only_src] if t < 0.5 else MISSING
        pose[only_tgt] = target[only_tgt] if t >= 0.5 else MISSING
        poses.append(pose)
    return poses


# ----------------------------------------------------------------------------------------------- I/O

def pose_to_openpose_json(pose: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> dict:
    """OpenPose JSON dict for one person; missing joints are written as (0, 0, 0) as OpenPose does."""
    flat = []
    for x, y in np.asarray(pose, dtype=np.float32):
        flat += [float(x), float(y), 1.0] if x >= 0 and y >= 0 else [0.0, 0.0, 0.0]
    return {"version": 1.3, "people": [{"pose_keypoints_2d": flat}],
            "canvas_width": int(width), "canvas_height": int(height)}


def pose_from_openpose_json(data, width: int = WIDTH, height: int = HEIGHT, person: int = 0) -> np.ndarray:
    """Parse OpenPose JSON (dict, str or bytes) into a pose in a ``width`` x ``height`` frame.

    A confidence of 0 marks a missing joint. When the file gives ``canvas_width``/``canvas_height`` that
    differ from the target frame, the pose is rescaled, so poses from editors with larger canvases work.
    Values must be JSON numbers: numeric strings, booleans and null are refused, not converted.
    """
    if isinstance(data, (str, bytes)):
        data = _load_json(data)
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise PoseFormatError('pose JSON must be an object with a "people" list (OpenPose format)')
    if not data["people"]:
        raise PoseFormatError('pose JSON has an empty "people" list: no pose in it')
    if not 0 <= person < len(data["people"]):
        raise PoseFormatError(f"pose JSON has {len(data['people'])} people, no person {person}")
    entry = data["people"][person]
    if not isinstance(entry, dict):
        raise PoseFormatError(f'each entry of "people" must be an object, got {_json_kind(entry)}')
    flat = entry.get("pose_keypoints_2d")
    if not isinstance(flat, list) or len(flat) != NUM_JOINTS * 3:
        got = len(flat) if isinstance(flat, list) else _json_kind(flat)
        raise PoseFormatError(f'"pose_keypoints_2d" must list 18 joints x (x, y, confidence) = 54 numbers, got {got}')
    values = [_number(value, f'"pose_keypoints_2d" item {index}') for index, value in enumerate(flat)]
    triples = np.asarray(values, dtype=np.float32).reshape(NUM_JOINTS, 3)
    pose = missing_pose()
    present = triples[:, 2] > 0
    pose[present] = triples[present, :2]
    canvas = _canvas(data)
    if canvas is not None and canvas != (width, height):
        pose = scale_pose(pose, canvas, (width, height))
    return validate_pose(pose, width, height)


def _load_json(text: str | bytes):
    """json.loads for pose JSON, every failure as a PoseFormatError: the size is capped, and a deeply nested or
    huge-integer document (RecursionError / ValueError inside json) gets its own message."""
    if len(text) > MAX_POSE_JSON:
        raise PoseFormatError(f"pose JSON is longer than {MAX_POSE_JSON:,} characters (one pose is about 1,000)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PoseFormatError(f"pose JSON is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except UnicodeDecodeError:
        raise PoseFormatError("pose JSON is not UTF-8 text") from None
    except RecursionError:
        raise PoseFormatError("pose JSON is nested too deeply") from None
    except ValueError:  # Python refuses integer literals of more than 4300 digits
        raise PoseFormatError("pose JSON holds a number with too many digits") from None


def _json_kind(value) -> str:
    """What a parsed JSON value is, in JSON's words (for messages; never the value itself, which may be huge)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Real):
        return "a number"
    kinds = {str: "a string", list: "a list", dict: "an object", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def _number(value, what: str) -> float:
    """``value`` as a float if it is a finite JSON number within +-MAX_PIXELS, else PoseFormatError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise PoseFormatError(f"{what} must be a number, got {_json_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise PoseFormatError(f"{what} is NaN or infinite")
    if abs(value) > MAX_PIXELS:  # compared before float(): the integer may have hundreds of digits
        raise PoseFormatError(f"{what} is out of range (pixel values lie within ±{MAX_PIXELS:,})")
    return float(value)


def _canvas(data: dict) -> tuple[float, float] | None:
    """(canvas_width, canvas_height) when the file gives them (both, positive), None when it gives neither."""
    if data.get("canvas_width") is None and data.get("canvas_height") is None:
        return None
    size = (_number(data.get("canvas_width"), '"canvas_width"'), _number(data.get("canvas_height"), '"canvas_height"'))
    if min(size) < 1:
        raise PoseFormatError(f'"canvas_width" and "canvas_height" must be at least 1 px, got {size[0]:g} x '
                              f'{size[1]:g}')
    return size


def save_pose_json(path, pose: np.ndarray, width: int = WIDTH, height: int = HEIGHT) -> None:
    Path(path).write_text(json.dumps(pose_to_openpose_json(pose, width, height), indent=1))


def load_pose_json(path, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A pose JSON file (UTF-8); a file larger than any pose is refused before it is read."""
    path = Path(path)
    if path.stat().st_size > MAX_POSE_JSON:
        raise PoseFormatError(f"{path} is larger than {MAX_POSE_JSON:,} bytes: not one pose (about 1 kB)")
    return pose_from_openpose_json(path.read_bytes(), width, height)


def parse_market_row(line: str) -> tuple[str, np.ndarray]:
    """Parse one ``name: [y...]: [x...]`` annotation row into (name, pose (x, y))."""
    try:
        name, ys, xs = line.rsplit(":", 2)
        ys, xs = json.loads(ys), json.loads(xs)
    except ValueError:
        raise PoseFormatError(f"not a Market annotation row (name:keypoints_y:keypoints_x): {line[:80]!r}") from None
    if len(ys) != NUM_JOINTS or len(xs) != NUM_JOINTS:
        raise PoseFormatError(f"annotation row for {name.strip()!r} must have 18 y and 18 x values")
    pose = np.stack([np.asarray(xs, np.float32), np.asarray(ys, np.float32)], axis=1)  # y first in the file!
    pose[~is_present(pose)] = MISSING
    return name.strip(), pose


def read_market_csv(path) -> dict[str, np.ndarray]:
    """Read a Market annotation CSV into ``{image name: pose}`` (the header line is skipped)."""
    lines = Path(path).read_text().splitlines()
    if not lines or not lines[0].startswith("name:keypoints_y:keypoints_x"):
        raise PoseFormatError(f"{path}: expected header 'name:keypoints_y:keypoints_x'")
    return dict(parse_market_row(line) for line in lines[1:] if line.strip())


def format_market_row(name: str, pose: np.ndarray) -> str:
    """Inverse of :func:`parse_market_row` (coordinates rounded to integer pixels)."""
    ys = [int(round(v)) if v >= 0 else -1 for v in pose[:, 1]]
    xs = [int(round(v)) if v >= 0 else -1 for v in pose[:, 0]]
    return f"{name}: {json.dumps(ys)}: {json.dumps(xs)}"
