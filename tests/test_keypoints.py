import json

import numpy as np
import pytest

from posegan.keypoints import (COCO_TO_OPENPOSE, J, PoseFormatError, flip_pose, format_market_row, load_pose_json,
                               missing_pose, parse_market_row, pose_from_openpose_json, pose_to_openpose_json,
                               read_market_csv, coco17_to_openpose18, scale_pose, validate_pose)


def coco_keypoints(conf=0.9):
    kps = np.zeros((17, 3), np.float32)
    kps[:, 0] = np.arange(17) * 2 + 1  # distinct x per COCO joint
    kps[:, 1] = np.arange(17) * 5 + 3
    kps[:, 2] = conf
    return kps


def test_coco_to_openpose_mapping_by_name():
    pose = coco17_to_openpose18(coco_keypoints())
    coco_names = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle"]
    for coco_index, name in enumerate(coco_names):
        np.testing.assert_array_equal(pose[J[name]], [coco_index * 2 + 1, coco_index * 5 + 3])
    assert COCO_TO_OPENPOSE[J["neck"]] is None
    np.testing.assert_allclose(pose[J["neck"]], (pose[J["left_shoulder"]] + pose[J["right_shoulder"]]) / 2)


def test_coco_threshold_and_neck_needs_both_shoulders():
    kps = coco_keypoints()
    kps[6, 2] = 0.1  # right shoulder below threshold
    kps[0, 2] = 0.29
    pose = coco17_to_openpose18(kps, threshold=0.3)
    assert (pose[J["right_shoulder"]] == -1).all() and (pose[J["neck"]] == -1).all() and (pose[J["nose"]] == -1).all()
    assert (pose[J["left_shoulder"]] >= 0).all()
    with pytest.raises(PoseFormatError):
        coco17_to_openpose18(np.zeros((18, 3)))


def test_flip_twice_is_identity_and_swaps_sides(frontal_pose):
    flipped = flip_pose(frontal_pose)
    np.testing.assert_array_equal(flip_pose(flipped), frontal_pose)
    assert flipped[J["left_shoulder"], 0] == 63 - frontal_pose[J["right_shoulder"], 0]
    assert flipped[J["left_shoulder"], 1] == frontal_pose[J["right_shoulder"], 1]
    missing = missing_pose()
    np.testing.assert_array_equal(flip_pose(missing), missing)


def test_openpose_json_round_trip(mini_poses):
    for pose in mini_poses.values():
        text = json.dumps(pose_to_openpose_json(pose))
        np.testing.assert_array_equal(pose_from_openpose_json(text), pose)


def test_openpose_json_from_larger_canvas_is_rescaled(frontal_pose):
    big = scale_pose(frontal_pose, (64, 128), (512, 1024))
    data = pose_to_openpose_json(big, width=512, height=1024)
    np.testing.assert_allclose(pose_from_openpose_json(data), frontal_pose, atol=1e-4)


def keypoints_json(first: str, canvas: str = "") -> str:
    """Pose JSON text whose first keypoint value is the JSON text ``first`` (the rest valid), plus ``canvas``."""
    return '{"people": [{"pose_keypoints_2d": [' + first + ", 1" * 53 + "]}]" + canvas + "}"


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"people": []}', "empty"),
    ('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}', "54 numbers"),
    ('{"people": [{"pose_keypoints_2d": ' + json.dumps(["a"] * 54) + "}]}", "item 0 must be a number, got a string"),
    ("[1, 2]", "people"),
    (keypoints_json("9" * 400), "item 0 is out of range"),
    (keypoints_json("9" * 5000), "a number with too many digits"),
    (keypoints_json("1e999"), "item 0 is NaN or infinite"),
    (keypoints_json("NaN"), "item 0 is NaN or infinite"),
    (keypoints_json('"3"'), "item 0 must be a number, got a string"),
    (keypoints_json("false"), "item 0 must be a number, got a boolean"),
    (keypoints_json("null"), "item 0 must be a number, got null"),
    (keypoints_json("1", ', "canvas_width": true, "canvas_height": 128'),
     '"canvas_width" must be a number, got a boolean'),
    (keypoints_json("1", ', "canvas_width": 64'), '"canvas_height" must be a number, got null'),
    (keypoints_json("1", ', "canvas_width": 0, "canvas_height": 128'), "at least 1 px"),
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    (" " * 100_001, "longer than 100,000 characters"),
    (b"\xff\xfe\x00", "not UTF-8"),
])
def test_malformed_pose_json_raises_clear_error(text, message):
    with pytest.raises(PoseFormatError, match=message):
        pose_from_openpose_json(text)


def test_pose_json_file_far_larger_than_a_pose_is_not_read(tmp_path):
    big = tmp_path / "big.json"
    big.write_text(keypoints_json("1") + " " * 100_000)
    with pytest.raises(PoseFormatError, match="larger than 100,000 bytes"):
        load_pose_json(big)


def test_validate_pose_marks_outside_joints_missing():
    pose = missing_pose()
    pose[0] = (10, 20)
    pose[1] = (70, 20)  # outside the 64-wide frame
    out = validate_pose(pose)
    assert tuple(out[0]) == (10, 20) and tuple(out[1]) == (-1, -1)
    with pytest.raises(PoseFormatError, match="shape"):
        validate_pose(np.zeros((17, 2)))
    with pytest.raises(PoseFormatError, match="NaN"):
        validate_pose(np.full((18, 2), np.nan))


def test_market_csv_is_y_first():
    name, pose = parse_market_row("0161_c3s3_033053_04.jpg: [14, 24, 25, 44, 61, 24, 42, 56, 61, 86, 112, 60, 86, "
                                  "101, 12, 11, 10, -1]: [38, 33, 20, 14, 20, 46, 52, 63, 29, 33, 34, 43, 36, 14, "
                                  "35, 39, 27, -1]")
    assert name == "0161_c3s3_033053_04.jpg"
    assert tuple(pose[0]) == (38, 14)  # (x, y) = (col, row)
    assert tuple(pose[13]) == (14, 101)
    assert tuple(pose[17]) == (-1, -1)
    assert parse_market_row(format_market_row(name, pose))[1].tolist() == pose.tolist()


def test_read_market_csv_fixture(mini_poses, tmp_path):
    assert len(mini_poses) == 8  # one row per image of the fixture folder
    pose = mini_poses["0617_c6s2_026818_06.jpg"]
    assert (pose[:, 0] <= 63).all() and (pose[:, 1] <= 127).all()
    (tmp_path / "bad.csv").write_text("name,x\n")
    with pytest.raises(PoseFormatError, match="header"):
        read_market_csv(tmp_path / "bad.csv")
