"""Part geometry of the deformable skip connections: 10 body parts, target-space masks, per-part affines.

Paper §3.2 ("Deformable skip connections": decomposition into rigid parts, one affine per part fitted by least
squares) and design doc ``deformable-gan.md`` §3.2-§3.4, §9.1. Shapes: P = 10 parts, K = 18 joints.

Direction: every affine maps **target pixel coordinates to source pixel coordinates** (backward warping):
``affines[k] @ [x_t, y_t, 1] = [x_s, y_s]``. Each output pixel is told where to read in the source, which is what
``affine_grid``/``grid_sample`` need (doc §8.2). Coordinates are (x, y) pixel indices (pixel centres at integers).

Choices where paper and the authors' code differ (doc §10), all following the code that produced the numbers:
  * torso (part 0): affine from the 4 torso joints, mask = **the whole image**, so the torso warp carries the
    background too (doc §3.2, §10.1);
  * head (part 1): affine from the face joints common to both poses **plus the shoulders**, mask = a square of
    half-side 0.4 * torso size around the target face centroid (doc §3.3, §10.3);
  * masks live in target space and are applied after the warp (doc §3.8, §10.2);
  * limbs: rectangles of width 0.4 * torso size along the extended bone; a limb missing in the source is read
    from the same limb on the other side (the contralateral trick, doc §3.4).
Departures, for robustness on user poses (the original assumes a valid torso): a part with no usable
correspondence is marked invalid (identity affine, zero mask) instead of the 1000-px translation; degenerate
(shorter than 1 px) limbs count as missing; with fewer than 3 torso/face points the fit falls back to a
similarity (2 points), a translation (1 point) or the identity (0 points).
"""
from __future__ import annotations

import numpy as np
import torch

from .keypoints import HEIGHT, TORSO_JOINTS, WIDTH, J, is_present

PART_NAMES = (
    "torso", "head",
    "right_upper_leg", "left_upper_leg", "right_lower_leg", "left_lower_leg",
    "right_upper_arm", "left_upper_arm", "right_forearm", "left_forearm",
)
NUM_PARTS = len(PART_NAMES)
# Limb parts: part index -> (proximal joint, distal joint, is_lower_limb, contralateral part).
LIMB_PARTS = {
    2: (J["right_hip"], J["right_knee"], False, 3),
    3: (J["left_hip"], J["left_knee"], False, 2),
    4: (J["right_knee"], J["right_ankle"], True, 5),
    5: (J["left_knee"], J["left_ankle"], True, 4),
    6: (J["right_shoulder"], J["right_elbow"], False, 7),
    7: (J["left_shoulder"], J["left_elbow"], False, 6),
    8: (J["right_elbow"], J["right_wrist"], True, 9),
    9: (J["left_elbow"], J["left_wrist"], True, 8),
}
FACE_POINTS = (J["nose"], J["right_eye"], J["left_eye"], J["right_ear"], J["left_ear"])
SHOULDERS = (J["left_shoulder"], J["right_shoulder"])

LIMB_HALF_WIDTH = 0.2      # rectangle half-width, in torso sizes (doc §3.3)
EXTEND_PROXIMAL = 0.1      # extension beyond the proximal joint, in limb lengths
EXTEND_DISTAL = 0.1        # ... beyond the distal joint of an upper limb
EXTEND_DISTAL_LOWER_MASK = 0.5  # lower-limb masks are longer so they cover hands and feet (doc §3.3)
EXTEND_DISTAL_LOWER_FIT = 0.3   # what the authors' affine fit uses; any value gives the same affine (doc §3.3)
HEAD_HALF_SIZE = 0.4       # head square half-side, in torso sizes
MIN_LIMB_LENGTH = 1.0      # px; shorter limbs are degenerate and treated as missing (doc §3.4)
MAX_CONDITION = 1e6        # least-squares systems worse than this are treated as under-determined

IDENTITY = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float64)


def torso_size(pose: np.ndarray, height: int = HEIGHT) -> float:
    """RMS length of the two torso sides (shoulder to hip), doc §3.3; 0.3 * height when no side is visible."""
    present = is_present(pose)
    sides = [np.sum((pose[hip] - pose[sho]) ** 2)
             for hip, sho in ((J["right_hip"], J["right_shoulder"]), (J["left_hip"], J["left_shoulder"]))
             if present[hip] and present[sho]]
    return float(np.sqrt(np.mean(sides))) if sides else 0.3 * height


def limb_polygon(proximal: np.ndarray, distal: np.ndarray, size: float, extend_distal: float) -> np.ndarray:
    """float64[4, 2] rectangle vertices around a bone, in the authors' vertex order (doc §3.3 estimate_polygon)."""
    proximal = proximal + EXTEND_PROXIMAL * (proximal - distal)
    distal = distal + extend_distal * (distal - proximal)  # uses the already-moved proximal, as the code does
    direction = proximal - distal
    normal = np.array([-direction[1], direction[0]]) / np.linalg.norm(direction)
    offset = LIMB_HALF_WIDTH * size * normal
    return np.stack([proximal + offset, proximal - offset, distal - offset, distal + offset])


def fit_affine(target_points: np.ndarray, source_points: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 map target -> source; falls back to similarity / translation / identity (see module doc)."""
    n = len(target_points)
    if n == 0:
        return IDENTITY.copy()
    if n == 1:
        return np.concatenate([np.eye(2), (source_points[0] - target_points[0])[:, None]], axis=1)
    design = np.concatenate([target_points, np.ones((n, 1))], axis=1)  # [n, 3]
    if n >= 3 and np.linalg.cond(design) < MAX_CONDITION:
        solution, *_ = np.linalg.lstsq(design, source_points, rcond=None)  # [3, 2]
        return solution.T
    # Similarity x_s = a x - b y + tx, y_s = b x + a y + ty, linear in (a, b, tx, ty).
    x, y = target_points[:, 0], target_points[:, 1]
    ones, zeros = np.ones(n), np.zeros(n)
    rows = np.concatenate([np.stack([x, -y, ones, zeros], 1), np.stack([y, x, zeros, ones], 1)])
    (a, b, tx, ty), *_ = np.linalg.lstsq(rows, np.concatenate([source_points[:, 0], source_points[:, 1]]), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def _limb_present(pose: np.ndarray, present: np.ndarray, proximal: int, distal: int) -> bool:
    return bool(present[proximal] and present[distal]
                and np.linalg.norm(pose[distal] - pose[proximal]) >= MIN_LIMB_LENGTH)


def part_affines(src_pose: np.ndarray, tgt_pose: np.ndarray, height: int = HEIGHT):
    """Per-part affines target -> source in pixels and their validity: (float32[P, 2, 3], bool[P]).
    ``height`` scales the fallback torso size when a pose shows no torso side.

    Invalid parts (no correspondence) get the identity and ``valid = False``; their masks must be zeroed
    (:func:`skip_inputs` does that).
    """
    src = np.asarray(src_pose, np.float64)
    tgt = np.asarray(tgt_pose, np.float64)
    src_present, tgt_present = is_present(src), is_present(tgt)
    src_size, tgt_size = torso_size(src, height), torso_size(tgt, height)
    affines = np.tile(IDENTITY, (NUM_PARTS, 1, 1))
    valid = np.zeros(NUM_PARTS, dtype=bool)

    # Torso: always valid, it carries the background (whole-image mask).
    common = [j for j in TORSO_JOINTS if src_present[j] and tgt_present[j]]
    affines[0], valid[0] = fit_affine(tgt[common], src[common]), True

    # Head: common face points plus the shoulders (doc §3.4).
    face = [j for j in FACE_POINTS if src_present[j] and tgt_present[j]]
    if face:
        points = face + [j for j in SHOULDERS if src_present[j] and tgt_present[j]]
        affines[1], valid[1] = fit_affine(tgt[points], src[points]), True

    for part, (proximal, distal, lower, other) in LIMB_PARTS.items():
        if not _limb_present(tgt, tgt_present, proximal, distal):
            continue
        source_limb = (proximal, distal)
        if not _limb_present(src, src_present, proximal, distal):
            source_limb = LIMB_PARTS[other][:2]  # contralateral trick: read the other side's limb
            if not _limb_present(src, src_present, *source_limb):
                continue
        extend = EXTEND_DISTAL_LOWER_FIT if lower else EXTEND_DISTAL
        target_rect = limb_polygon(tgt[proximal], tgt[distal], tgt_size, extend)
        source_rect = limb_polygon(src[source_limb[0]], src[source_limb[1]], src_size, extend)
        affines[part], valid[part] = fit_affine(target_rect, source_rect), True
    finite = np.isfinite(affines).all(axis=(1, 2))
    affines[~finite], valid[~finite] = IDENTITY, False
    return affines.astype(np.float32), valid


def _polygon_mask(vertices: np.ndarray, height: int, width: int) -> np.ndarray:
    """bool[H, W]: pixel centres inside a convex polygon (inclusive of its edges)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    signs = []
    for a, b in zip(vertices, np.roll(vertices, -1, axis=0)):
        signs.append((b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0]))
    signs = np.stack(signs)
    return (signs >= -1e-9).all(0) | (signs <= 1e-9).all(0)


def part_masks(tgt_pose: np.ndarray, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """float32[P, H, W] binary part masks in target space (doc §3.3); missing parts give zero masks."""
    tgt = np.asarray(tgt_pose, np.float64)
    present = is_present(tgt)
    size = torso_size(tgt, height)
    masks = np.zeros((NUM_PARTS, height, width), dtype=np.float32)
    masks[0] = 1.0
    face = [j for j in FACE_POINTS if present[j]]
    if face:
        cx, cy = tgt[face].mean(axis=0).astype(int)
        half = int(HEAD_HALF_SIZE * size)
        masks[1, max(cy - half, 0):max(cy + half, 0), max(cx - half, 0):max(cx + half, 0)] = 1.0
    for part, (proximal, distal, lower, _) in LIMB_PARTS.items():
        if _limb_present(tgt, present, proximal, distal):
            extend = EXTEND_DISTAL_LOWER_MASK if lower else EXTEND_DISTAL
            masks[part] = _polygon_mask(limb_polygon(tgt[proximal], tgt[distal], size, extend), height, width)
    return masks


def skip_inputs(src_pose: np.ndarray, tgt_pose: np.ndarray, height: int = HEIGHT, width: int = WIDTH):
    """What the generator's deformable skips take: (affines float32[P, 2, 3], masks float32[P, H, W]).

    Masks of parts without a valid affine are zeroed, so those parts contribute 0 to the max (doc §3.6).
    """
    affines, valid = part_affines(src_pose, tgt_pose, height)
    masks = part_masks(tgt_pose, height, width) * valid[:, None, None].astype(np.float32)
    return affines, masks


def part_boxes(affines: np.ndarray, masks: np.ndarray):
    """Where each part reads from: (target boxes, source quadrilaterals), lists of float[4, 2] (x, y) or None.

    The target box is the pixel-edge bounding box of the part's mask; its corners mapped through the part's
    affine (target -> source) outline the source region the part's pixels come from. None for empty masks.
    """
    targets, sources = [], []
    for affine, mask in zip(affines, masks):
        if not mask.any():
            targets.append(None)
            sources.append(None)
            continue
        ys, xs = np.nonzero(mask)
        corners = np.array([[xs.min() - 0.5, ys.min() - 0.5], [xs.max() + 0.5, ys.min() - 0.5],
                            [xs.max() + 0.5, ys.max() + 0.5], [xs.min() - 0.5, ys.max() + 0.5]])
        targets.append(corners)
        sources.append(corners @ affine[:, :2].T + affine[:, 2])
    return targets, sources


def source_points(affines: np.ndarray, masks: np.ndarray, x: float, y: float):
    """Where each part reads the target pixel (x, y) in the source: (float[P, 2] source (x, y), bool[P] whether the
    part's mask covers the pixel, i.e. whether that part takes part in the skip's max there)."""
    points = affines[:, :, :2] @ np.array([x, y], np.float64) + affines[:, :, 2]
    height, width = masks.shape[1:]
    row, col = int(np.clip(round(y), 0, height - 1)), int(np.clip(round(x), 0, width - 1))
    return points, masks[:, row, col] > 0


def affines_to_theta(affines: torch.Tensor, height: int = HEIGHT, width: int = WIDTH) -> torch.Tensor:
    """Pixel-space affines [..., 2, 3] -> ``affine_grid`` thetas [..., 2, 3] for ``align_corners=False``.

    theta = N A N^-1 with N mapping pixel index x to normalised u = (2x + 1) / W - 1 (x and y normalised
    *separately*: the maps are not square, doc §8.4). With ``align_corners=False`` a normalised coordinate
    names the same physical point at every resolution, so this one theta is the correctly rescaled
    transform for every feature-map level (design doc §9.1 recipe (b); it replaces the original per-level
    translation rescaling of §3.5 and its half-pixel error).
    """
    dtype = affines.dtype
    norm = torch.tensor([[2.0 / width, 0.0, 1.0 / width - 1.0],
                         [0.0, 2.0 / height, 1.0 / height - 1.0],
                         [0.0, 0.0, 1.0]], dtype=torch.float64, device=affines.device)
    bottom = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, device=affines.device)
    full = torch.cat([affines.double(), bottom.expand(*affines.shape[:-2], 1, 3)], dim=-2)  # [..., 3, 3]
    theta = norm @ full @ torch.linalg.inv(norm)
    return theta[..., :2, :].to(dtype)
