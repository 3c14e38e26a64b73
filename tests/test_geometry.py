"""Geometry against known transforms (design doc §9.5): direction, exactness, fallbacks, masks, warping."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from posegan.geometry import (LIMB_PARTS, NUM_PARTS, PART_NAMES, affines_to_theta, limb_polygon, part_affines,
                              part_masks, skip_inputs, source_points, torso_size)
from posegan.keypoints import J, is_present
from posegan.networks.deformable_skip import DeformableSkip
from posegan.visualize import skip_rgb


def apply(matrix, pose):
    out = pose.copy()
    present = is_present(pose)
    out[present] = pose[present] @ matrix[:, :2].T + matrix[:, 2]
    return out


def similarity(angle_deg, scale, tx, ty):
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


@pytest.mark.parametrize("matrix", [similarity(0, 1, 5, 0), similarity(0, 1, -3, 7), similarity(0, 0.8, 4, 10),
                                    similarity(12, 1, 0, 0), similarity(-20, 1.1, 6, -4)])
def test_known_transform_is_recovered_for_every_visible_part(frontal_pose, matrix):
    # Source = M(target), so every part's target -> source affine must be M itself.
    source = apply(matrix, frontal_pose)
    affines, valid = part_affines(source, frontal_pose)
    assert valid.all(), f"invalid parts: {[PART_NAMES[k] for k in np.flatnonzero(~valid)]}"
    for k in range(NUM_PARTS):
        np.testing.assert_allclose(affines[k], matrix, atol=1e-3, err_msg=PART_NAMES[k])


def test_general_affine_recovered_by_torso_and_head(frontal_pose):
    matrix = np.array([[1.2, 0.3, -5.0], [-0.1, 0.9, 8.0]])
    affines, valid = part_affines(apply(matrix, frontal_pose), frontal_pose)
    np.testing.assert_allclose(affines[0], matrix, atol=1e-3)
    np.testing.assert_allclose(affines[1], matrix, atol=1e-3)


def test_limb_affine_maps_rectangle_vertices_exactly(mini_poses):
    names = sorted(mini_poses)
    source, target = mini_poses[names[0]], mini_poses[names[1]]
    affines, valid = part_affines(source, target)
    for part, (a, b, _, _) in LIMB_PARTS.items():
        if not valid[part] or not (is_present(source)[[a, b]].all()):
            continue
        tgt_rect = limb_polygon(target[a].astype(float), target[b].astype(float), torso_size(target), 0.1)
        src_rect = limb_polygon(source[a].astype(float), source[b].astype(float), torso_size(source), 0.1)
        mapped = tgt_rect @ affines[part][:, :2].T.astype(float) + affines[part][:, 2]
        np.testing.assert_allclose(mapped, src_rect, atol=1e-3, err_msg=PART_NAMES[part])


def test_direction_shifted_source_reads_to_the_right(frontal_pose):
    source = apply(similarity(0, 1, 5, 0), frontal_pose)  # person 5 px further right in the source
    affines, masks = skip_inputs(source, frontal_pose)
    np.testing.assert_allclose(affines[:, :, 2], np.tile([5, 0], (NUM_PARTS, 1)), atol=1e-4)
    features = torch.zeros(1, 1, 128, 64)
    features[..., 30] = 1.0  # a vertical line at x = 30 in the source
    skip = DeformableSkip(1)
    out, _, _ = skip(features, affines_to_theta(torch.from_numpy(affines)[None]), torch.from_numpy(masks)[None])
    assert out[0, 0, :, 25].min() > 0.99 and out[0, 0].sum(0).argmax() == 25


def test_bright_square_follows_the_right_forearm(frontal_pose):
    target = frontal_pose
    source = target.copy()
    elbow, wrist = J["right_elbow"], J["right_wrist"]
    # Source arm raised: rotate the forearm 90 degrees around the elbow.
    vec = target[wrist] - target[elbow]
    source[wrist] = target[elbow] + np.array([-vec[1], vec[0]])
    src_mid = (source[elbow] + source[wrist]) / 2
    tgt_mid = (target[elbow] + target[wrist]) / 2
    assert np.linalg.norm(src_mid - tgt_mid) > 6
    features = torch.zeros(1, 1, 128, 64)
    x0, y0 = np.round(src_mid).astype(int)
    features[0, 0, y0 - 2:y0 + 3, x0 - 2:x0 + 3] = 1.0
    affines, masks = skip_inputs(source, target)
    part = PART_NAMES.index("right_forearm")
    theta = affines_to_theta(torch.from_numpy(affines)[None])
    out, _, _ = DeformableSkip(1)(features, theta, torch.from_numpy(masks)[None])
    forearm_out = out[0, 0] * torch.from_numpy(masks[part])
    ys, xs = torch.nonzero(forearm_out > 0.5, as_tuple=True)
    assert len(ys) >= 9
    centre = np.array([xs.float().mean(), ys.float().mean()])
    assert np.linalg.norm(centre - tgt_mid) < 1.5, (centre, tgt_mid)


def test_identity_pair_passes_features_through_clipped_at_zero(frontal_pose):
    affines, masks = skip_inputs(frontal_pose, frontal_pose)
    np.testing.assert_allclose(affines, np.tile(np.eye(2, 3), (NUM_PARTS, 1, 1)), atol=1e-4)
    features = torch.randn(2, 5, 32, 16)
    theta = affines_to_theta(torch.from_numpy(affines)[None].repeat(2, 1, 1, 1))
    out, level_masks, _ = DeformableSkip(5)(features, theta, torch.from_numpy(masks)[None].repeat(2, 1, 1, 1))
    assert level_masks.shape == (2, NUM_PARTS, 32, 16)
    torch.testing.assert_close(out, features.clamp(min=0), atol=1e-5, rtol=0)  # max includes masked zeros (doc §3.6)


def test_theta_is_resolution_independent():
    # A pixel affine (scale 2 about the origin + shift) sampled at full and half resolution must agree.
    affine = torch.tensor([[[[0.5, 0.0, 3.0], [0.0, 0.5, 6.0]]]]).repeat(1, NUM_PARTS, 1, 1)
    theta = affines_to_theta(affine)[0]
    ys, xs = torch.meshgrid(torch.arange(128.0), torch.arange(64.0), indexing="ij")
    coords = torch.stack([xs, ys])[None]  # each pixel holds its own (x, y)
    full = F.grid_sample(coords, F.affine_grid(theta[:1], [1, 2, 128, 64], align_corners=False), align_corners=False)
    # Target pixel (x, y) must read source (0.5 x + 3, 0.5 y + 6).
    torch.testing.assert_close(full[0, 0, 40, 20], torch.tensor(0.5 * 20 + 3))
    torch.testing.assert_close(full[0, 1, 40, 20], torch.tensor(0.5 * 40 + 6))
    half_coords = F.avg_pool2d(coords, 2)
    half = F.grid_sample(half_coords, F.affine_grid(theta[:1], [1, 2, 64, 32], align_corners=False),
                         align_corners=False)
    torch.testing.assert_close(half, F.avg_pool2d(full, 2), atol=1e-3, rtol=0)


def test_missing_target_limb_gives_invalid_part_and_zero_mask(frontal_pose):
    target = frontal_pose.copy()
    target[J["right_wrist"]] = -1
    affines, valid = part_affines(frontal_pose, target)
    _, masks = skip_inputs(frontal_pose, target)
    part = PART_NAMES.index("right_forearm")
    assert not valid[part] and masks[part].sum() == 0
    np.testing.assert_array_equal(affines[part], np.eye(2, 3))


def test_contralateral_source_limb_is_used(frontal_pose):
    source = frontal_pose.copy()
    source[J["right_wrist"]] = -1
    affines, valid = part_affines(source, frontal_pose)
    part, other = PART_NAMES.index("right_forearm"), PART_NAMES.index("left_forearm")
    assert valid[part]
    size_t, size_s = torso_size(frontal_pose), torso_size(source)
    tgt_rect = limb_polygon(frontal_pose[J["right_elbow"]].astype(float), frontal_pose[J["right_wrist"]].astype(float), size_t, 0.3)
    src_rect = limb_polygon(source[J["left_elbow"]].astype(float), source[J["left_wrist"]].astype(float), size_s, 0.3)
    np.testing.assert_allclose(tgt_rect @ affines[part][:, :2].T + affines[part][:, 2], src_rect, atol=1e-3)
    assert valid[other]


@pytest.mark.parametrize("keep", [[], [J["right_shoulder"]], [J["right_shoulder"], J["left_shoulder"]],
                                  [J["nose"], J["right_hip"]]])
def test_sparse_poses_never_give_nans(frontal_pose, keep):
    sparse = np.full_like(frontal_pose, -1)
    sparse[keep] = frontal_pose[keep] + 3
    for source, target in ((sparse, frontal_pose), (frontal_pose, sparse), (sparse, sparse)):
        affines, masks = skip_inputs(source, target)
        assert np.isfinite(affines).all() and np.isfinite(masks).all()
        assert masks[0].all()  # the torso always carries the background


def test_degenerate_limb_counts_as_missing(frontal_pose):
    target = frontal_pose.copy()
    target[J["right_wrist"]] = target[J["right_elbow"]]  # zero-length forearm
    _, valid = part_affines(frontal_pose, target)
    assert not valid[PART_NAMES.index("right_forearm")]


def test_masks_sit_on_the_limbs(frontal_pose):
    masks = part_masks(frontal_pose)
    assert masks.shape == (NUM_PARTS, 128, 64) and masks[0].all()
    for part, (a, b, _, _) in LIMB_PARTS.items():
        x, y = np.round((frontal_pose[a] + frontal_pose[b]) / 2).astype(int)
        assert masks[part, y, x] == 1, PART_NAMES[part]
        assert 0 < masks[part].sum() < 0.25 * 128 * 64
    face = frontal_pose[[J["nose"], J["right_eye"], J["left_eye"], J["right_ear"], J["left_ear"]]]
    cx, cy = face[(face >= 0).all(1)].mean(0).astype(int)
    assert masks[1, cy, cx] == 1 and masks[1, 120, cx] == 0
    # Rotating a limb by 90 degrees rotates its mask on the non-square grid: the mask stays on the bone.
    rotated = frontal_pose.copy()
    vec = rotated[J["right_knee"]] - rotated[J["right_hip"]]
    rotated[J["right_knee"]] = rotated[J["right_hip"]] + np.array([-vec[1], vec[0]]) * 0.5
    mask = part_masks(rotated)[PART_NAMES.index("right_upper_leg")]
    x, y = np.round((rotated[J["right_hip"]] + rotated[J["right_knee"]]) / 2).astype(int)
    assert mask[y, x] == 1


def test_part_boxes_map_through_the_affines(frontal_pose):
    from posegan.geometry import part_boxes
    source = apply(similarity(0, 1, 5, -2), frontal_pose)
    affines, masks = skip_inputs(source, frontal_pose)
    targets, sources = part_boxes(affines, masks)
    np.testing.assert_allclose(targets[0], [[-0.5, -0.5], [63.5, -0.5], [63.5, 127.5], [-0.5, 127.5]])
    for target_box, source_box in zip(targets, sources):
        np.testing.assert_allclose(source_box, target_box + [5, -2], atol=1e-3)
    masks[3] = 0
    assert part_boxes(affines, masks)[0][3] is None


def test_source_points_follow_the_affines_and_say_which_parts_cover_the_pixel(frontal_pose):
    source = apply(similarity(0, 1, 5, -2), frontal_pose)
    affines, masks = skip_inputs(source, frontal_pose)
    x, y = (frontal_pose[J["right_shoulder"]] + frontal_pose[J["right_elbow"]]) / 2  # middle of the upper arm
    points, covered = source_points(affines, masks, x, y)
    np.testing.assert_allclose(points, np.tile([x + 5, y - 2], (NUM_PARTS, 1)), atol=1e-3)
    assert covered[PART_NAMES.index("torso")] and covered[PART_NAMES.index("right_upper_arm")]
    assert not covered[PART_NAMES.index("left_lower_leg")]


def test_skip_rgb_carries_the_source_photo_part_by_part(frontal_pose):
    source = apply(similarity(0, 1, 5, 0), frontal_pose)  # the person 5 px further right in the source
    affines, masks = skip_inputs(source, frontal_pose)
    photo = np.random.default_rng(0).integers(0, 256, (128, 64, 3), dtype=np.uint8)
    parts, combined = skip_rgb(photo, affines, masks, mode="nearest")
    assert parts.shape == (NUM_PARTS, 128, 64, 3) and combined.shape == (128, 64, 3)
    forearm = PART_NAMES.index("right_forearm")
    inside = masks[forearm][:, :59] > 0
    np.testing.assert_array_equal(parts[forearm][:, :59][inside], photo[:, 5:][inside])  # x reads x + 5
    assert (parts[forearm][masks[forearm] == 0] == 0).all()
    np.testing.assert_array_equal(combined, parts.max(axis=0))  # the skip's max over the masked parts
