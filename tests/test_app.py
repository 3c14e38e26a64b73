"""The Gradio app end to end through gradio_client: /detect and /transfer, bad inputs, the app surviving them.

The app is launched once for the module, in-process on a free port, with the shipped generator
(``checkpoints/posegan-market-small.pt``; export it first, see ``python -m posegan export --help``).
Run: ``python -m pytest tests/test_app.py -q``
"""
import json
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("YOLO_OFFLINE", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from PIL import Image  # noqa: E402

from demo.panels import skips_panel  # noqa: E402
from posegan.keypoints import interpolate_poses  # noqa: E402
from demo.studio import load_presets, parse_pose  # noqa: E402
from demo.ui import pose_json  # noqa: E402
from posegan.inference import PoseTransfer  # noqa: E402
from posegan.keypoints import is_present, pose_from_openpose_json, pose_to_openpose_json  # noqa: E402
from posegan.networks import Generator  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "demo" / "examples"
MARKET_PHOTO = EXAMPLES / "market-0161_c3s3_033028_07.jpg"
CROWD_PHOTO = EXAMPLES / "zidane.jpg"  # two people and a third partly visible
PRESETS = load_presets()


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def target_json(name: str = "Walking left (side)") -> str:
    return json.dumps(pose_to_openpose_json(PRESETS[name]))


def read_image(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# ----------------------------------------------------------------------------------------------- API

def test_only_detect_and_transfer_are_public(client):
    assert set(client.view_api(return_format="dict")["named_endpoints"]) == {"/detect", "/transfer"}


def test_detect_crops_the_person_and_returns_openpose_json(client):
    crop_path, pose_text = client.predict(handle_file(MARKET_PHOTO), api_name="/detect")
    crop = read_image(crop_path)
    pose = pose_from_openpose_json(pose_text)
    assert crop.shape == (128, 64, 3)
    assert np.array_equal(crop, read_image(MARKET_PHOTO))  # a Market crop is used as it is
    assert is_present(pose).sum() >= 12


def test_detect_picks_one_person_among_several(client):
    crop_path, pose_text = client.predict(handle_file(CROWD_PHOTO), api_name="/detect")
    assert read_image(crop_path).shape == (128, 64, 3)
    assert len(json.loads(pose_text)["people"]) == 1


def test_transfer_generates_the_target_pose(client):
    walking = read_image(client.predict(handle_file(MARKET_PHOTO), target_json(), api_name="/transfer"))
    arms_out = read_image(client.predict(handle_file(MARKET_PHOTO), target_json("Arms out"), api_name="/transfer"))
    assert walking.shape == arms_out.shape == (128, 64, 3)
    assert walking.std() > 5                                 # an image, not a flat colour
    assert np.abs(walking.astype(int) - arms_out).mean() > 1  # the pose matters


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"people": []}', "empty"),
    ('{"people": [{"pose_keypoints_2d": [1, 2, 1]}]}', "54 numbers"),
    ("", "empty"),
])
def test_malformed_pose_json_is_a_clear_error(client, text, message):
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(MARKET_PHOTO), text, api_name="/transfer")


def test_photo_without_a_person_is_a_clear_error(client, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 400), "white").save(blank)
    with pytest.raises(AppError, match="no person"):
        client.predict(handle_file(blank), api_name="/detect")
    with pytest.raises(AppError, match="no person"):
        client.predict(handle_file(blank), target_json(), api_name="/transfer")


def test_file_that_is_not_an_image_is_a_clear_error(client, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("this is text, not a picture")
    with pytest.raises(AppError, match="not an image"):
        client.predict(handle_file(fake), api_name="/detect")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(MARKET_PHOTO.read_bytes()[:600])
    with pytest.raises(AppError, match="truncated or corrupt"):
        client.predict(handle_file(truncated), api_name="/detect")


def test_uploads_above_the_size_limit_are_refused(app_url):
    too_big = os.urandom(11 * 2 ** 20)  # the limit is 10 MB
    with httpx.Client(base_url=app_url, timeout=60) as http:
        response = http.post("gradio_api/upload", files={"files": ("big.jpg", too_big, "image/jpeg")})
    assert response.status_code == 413, response.text


def test_server_paths_cannot_be_read(app_url):
    """A file reference that was not uploaded (here the server's /etc/hostname) is refused, not opened."""
    photo = {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}
    with httpx.Client(base_url=app_url, timeout=30) as http:
        event = http.post("gradio_api/call/detect", json={"data": [photo]}).json()["event_id"]
        stream = http.get(f"gradio_api/call/detect/{event}").text
    assert "event: error" in stream and "event: complete" not in stream


def test_app_still_answers_after_errors(client):
    with pytest.raises(AppError):
        client.predict(handle_file(MARKET_PHOTO), "[1, 2", api_name="/transfer")
    crop_path, _ = client.predict(handle_file(MARKET_PHOTO), api_name="/detect")
    assert read_image(crop_path).shape == (128, 64, 3)


# ----------------------------------------------------------------------------------------------- helpers

def test_pose_json_round_trips_with_posegan_keypoints():
    for pose in PRESETS.values():
        text = pose_json(pose)
        assert np.allclose(pose_from_openpose_json(text), pose, atol=0.05)
        assert np.allclose(parse_pose(json.loads(text)), pose, atol=0.05)


def test_interpolation_keeps_joints_missing_at_one_end_still():
    source, target = PRESETS["Walking left (side)"], PRESETS["Standing, front"]  # source lacks the right arm
    poses = interpolate_poses(source, target, 5)
    assert np.allclose(poses[0], source) and np.allclose(poses[-1], target)
    assert np.allclose(poses[2][1], (source[1] + target[1]) / 2)  # the neck moves in a straight line
    right_wrist = 4
    assert [bool(is_present(p)[right_wrist]) for p in poses] == [False, False, True, True, True]
    assert all(np.allclose(p[right_wrist], target[right_wrist]) for p in poses[2:])


def test_skips_panel_shows_learned_offsets_when_the_model_has_them(tiny_cfg):
    tiny_cfg.model.learned_offsets = True
    model = PoseTransfer(Generator(tiny_cfg.model), tiny_cfg)
    crop = read_image(MARKET_PHOTO)
    html = skips_panel(model(crop, PRESETS["Arms out"], PRESETS["Standing, front"]), crop)
    assert "learned offsets" in html
    assert html.count("<tr>") == 1 + tiny_cfg.model.warp_levels  # header + one row per warped level
