"""Tests for posegan/pose_detect.py on real photos: ultralytics' bus.jpg / zidane.jpg and five Market crops.

The detector is loaded once for the module, with outgoing network calls refused and recorded throughout.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from posegan import pose_detect
from posegan.cli import main
from posegan.image_io import load_image
from posegan.keypoints import is_present, read_market_csv
from posegan.annotate import annotate_folder, detect_images
from posegan.pose_detect import (DEFAULT_WEIGHTS, TRUSTED_WEIGHTS_ENV, WEIGHTS_ENV, NoPersonError, Person,
                                 PoseDetector, UntrustedWeightsError, check_weights, crop_person, detect_pose_128x64,
                                 resolve_weights)
from test_checkpoint import RunsCode

MARKET = Path(__file__).parent / "fixtures" / "market-mini" / "samples"
# frontal, frontal with a second person at the edge, back view, two more (fixtures README)
DETECTION_CASES = ["0153_c4s1_025451_01.jpg", "0617_c6s2_026818_06.jpg", "0617_c3s2_033037_01.jpg",
                   "1277_c1s5_053816_02.jpg", "0469_c3s1_136558_02.jpg"]
YOLO_SHA256 = "869e83fcdffdc7371fa4e34cd8e51c838cc729571d1635e5141e3075e9319dc0"
TORSO = [2, 5, 8, 11]  # right/left shoulder, right/left hip


@pytest.fixture(scope="module", autouse=True)
def network_attempts():
    """Every socket connect / DNS lookup made while this module runs, each refused."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is disabled in tests")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        yield attempts


@pytest.fixture(scope="module")
def detector() -> PoseDetector:
    return pose_detect.get_detector()


@pytest.fixture(scope="module")
def assets() -> Path:
    from ultralytics.utils import ASSETS
    return ASSETS


@pytest.fixture(scope="module")
def bus(detector, assets):
    image = load_image(assets / "bus.jpg")
    return image, detector.detect(image)


@pytest.fixture(scope="module")
def market_annotations() -> dict[str, np.ndarray]:
    return read_market_csv(MARKET / "annotations.csv")


def test_repo_weights_offline_and_no_network(detector, bus, network_attempts):
    import ultralytics.utils

    assert detector.weights.resolve() == (Path(__file__).parents[1] / "checkpoints" / "yolo11n-pose.pt").resolve()
    assert hashlib.sha256(detector.weights.read_bytes()).hexdigest() == YOLO_SHA256
    assert ultralytics.utils.ONLINE is False  # YOLO_OFFLINE was set before ultralytics was imported
    assert network_attempts == []             # loading and detecting made no connection attempt


def test_weights_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert resolve_weights() == DEFAULT_WEIGHTS
    with pytest.raises(FileNotFoundError, match=r"missing\.pt \(from the weights argument\).*shared/weights"):
        resolve_weights(tmp_path / "missing.pt")
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "env.pt"))
    with pytest.raises(FileNotFoundError, match=rf"env\.pt \(from \${WEIGHTS_ENV}\)"):
        resolve_weights()  # a path that was asked for never falls back to another file
    monkeypatch.setenv(WEIGHTS_ENV, str(DEFAULT_WEIGHTS))
    assert resolve_weights() == DEFAULT_WEIGHTS


@pytest.fixture
def malicious_weights(tmp_path, monkeypatch) -> Path:
    """A .pt file that creates ``tmp_path / "ran"`` when it is unpickled (as ultralytics would load it)."""
    monkeypatch.delenv(TRUSTED_WEIGHTS_ENV, raising=False)
    path = tmp_path / "evil.pt"
    torch.save({"model": RunsCode(tmp_path / "ran")}, path)
    return path


def test_unknown_weights_are_refused_before_they_are_unpickled(malicious_weights, monkeypatch):
    """Before: loading them ran the file's code (os.system in the original report)."""
    refused = r"refusing to load .*evil\.pt: it is not a known YOLO release \(sha256 [0-9a-f]{64}\)"
    with pytest.raises(UntrustedWeightsError, match=refused):
        PoseDetector.load(malicious_weights)
    monkeypatch.setenv(WEIGHTS_ENV, str(malicious_weights))
    with pytest.raises(UntrustedWeightsError, match=refused):
        pose_detect.get_detector()
    assert not (malicious_weights.parent / "ran").exists()
    torch.load(malicious_weights, weights_only=False)  # control: the file really runs code when unpickled
    assert (malicious_weights.parent / "ran").exists()


def test_weights_vouched_for_by_sha256_pass_the_check_until_they_change(malicious_weights, monkeypatch):
    digest = hashlib.sha256(malicious_weights.read_bytes()).hexdigest()
    monkeypatch.setenv(TRUSTED_WEIGHTS_ENV, f"{'0' * 64}, {digest.upper()}")
    check_weights(malicious_weights)  # the user vouches for this exact file (not loaded here)
    check_weights(DEFAULT_WEIGHTS)    # the known release stays allowed
    malicious_weights.write_bytes(malicious_weights.read_bytes() + b"\n")
    with pytest.raises(UntrustedWeightsError):
        check_weights(malicious_weights)


def test_cli_refuses_unknown_weights_in_one_line(malicious_weights, monkeypatch, capsys):
    image = str(MARKET / DETECTION_CASES[0])
    out = str(malicious_weights.parent / "out")
    result = subprocess.run([sys.executable, "-m", "posegan", "detect", image, "--weights", str(malicious_weights),
                             "--out", out], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("error: refusing to load")
    assert result.stderr.count("\n") == 1, result.stderr
    monkeypatch.setenv(WEIGHTS_ENV, str(malicious_weights))
    with pytest.raises(SystemExit) as exc:
        main(["annotate", "--images", str(MARKET), "--out", out + ".csv"])
    assert exc.value.code == 2 and capsys.readouterr().err.startswith("error: refusing to load")
    assert not (malicious_weights.parent / "ran").exists()


def inside_box(person: Person, slack: float = 0.05) -> np.ndarray:
    """bool[18]: present joints within the person's box grown by ``slack`` of its size on each side."""
    x0, y0, x1, y1 = person.box
    dx, dy = slack * (x1 - x0), slack * (y1 - y0)
    x, y = person.pose[:, 0], person.pose[:, 1]
    return (x >= x0 - dx) & (x <= x1 + dx) & (y >= y0 - dy) & (y <= y1 + dy)


def test_bus_people_sorted_inside_boxes_and_sides_right(bus):
    image, people = bus
    assert len(people) >= 3
    keys = [p.area * p.score for p in people]
    assert keys == sorted(keys, reverse=True)
    first = people[0]
    assert first.box[0] < 100 and first.box[2] < 300  # the man in the light coat, on the left
    assert first.keypoints_coco.shape == (17, 3) and first.pose.shape == (18, 2) and first.pose.dtype == np.float32
    assert is_present(first.pose).sum() >= 16
    for person in people[:3]:
        assert inside_box(person)[is_present(person.pose)].all()
    # He faces the camera: his right shoulder/hip are on the image's left (checked by eye on the drawn skeleton).
    assert first.pose[2, 0] < first.pose[5, 0] and first.pose[8, 0] < first.pose[11, 0]


def test_zidane_two_people_largest_first(detector, assets):
    people = detector.detect(assets / "zidane.jpg")
    assert len(people) == 2
    assert people[0].area * people[0].score > people[1].area * people[1].score
    for person in people:
        present = is_present(person.pose)
        assert inside_box(person, 0.1)[present].mean() >= 0.9  # a few limbs reach past the box edges


def test_crop_of_a_photo_maps_back(bus):
    image, people = bus
    crop = crop_person(image, people[0])
    assert crop.image.shape == (128, 64, 3) and crop.image.dtype == np.uint8
    present = is_present(crop.pose)
    assert present.sum() >= 16
    back = crop.transform.to_original(crop.pose)
    np.testing.assert_allclose(back[present], people[0].pose[present], atol=1.0)
    # the person roughly fills the height, as in Market crops
    ys = crop.pose[present, 1]
    assert ys.min() < 20 and ys.max() > 105


def test_crop_pixels_follow_the_transform():
    """A bright dot is found in the crop where the transform puts it: downscaled, upscaled and edge-padded."""
    for size, dot, box in (((900, 700), (333.0, 512.0), (200, 100, 450, 800)),    # shrink ~0.18x
                           ((120, 90), (20.0, 60.0), (0, 10, 30, 110)),           # enlarge, box at the left edge
                           ((400, 300), (150.0, 370.0), (100, 200, 200, 400))):   # box leaves the frame at the bottom
        height, width = size
        yy, xx = np.mgrid[:height, :width]
        blob = np.exp(-((xx - dot[0]) ** 2 + (yy - dot[1]) ** 2) / (2 * 12.0 ** 2))
        image = np.repeat((255 * blob).astype(np.uint8)[:, :, None], 3, axis=2)
        pose = np.full((18, 2), -1, np.float32)
        pose[0] = dot
        person = Person(box, 1.0, np.zeros((17, 3), np.float32), pose)
        crop = crop_person(image, person)
        weights = crop.image[:, :, 0].astype(np.float64) ** 4  # sharpen: centroid of the blob's peak
        peak = np.array([(weights * np.arange(64)).sum(), (weights.T * np.arange(128)).sum()]) / weights.sum()
        np.testing.assert_allclose(peak, crop.pose[0], atol=1.0)
        np.testing.assert_allclose(crop.transform.to_original(crop.pose)[0], dot, atol=1e-3)


@pytest.mark.parametrize("name", DETECTION_CASES)
def test_market_crop_keeps_its_frame_and_agrees_with_annotation(detector, market_annotations, name):
    image = load_image(MARKET / name)
    crop, person, people = detect_pose_128x64(image, detector)
    np.testing.assert_array_equal(crop.image, image)  # a 128x64 input is its own crop
    target = market_annotations[name]
    assert is_present(crop.pose[TORSO]).all()
    distance = np.linalg.norm(crop.pose[TORSO] - target[TORSO], axis=1)
    assert distance.mean() < 5 and distance.max() < 8, distance
    # same facing as OpenPose: frontal (right shoulder on the image's left) or back view
    assert (crop.pose[2, 0] < crop.pose[5, 0]) == (target[2, 0] < target[5, 0])


def test_blank_image_has_no_person(detector):
    blank = np.full((480, 640, 3), 128, np.uint8)
    with pytest.raises(NoPersonError, match="no person found"):
        detector.detect(blank)
    with pytest.raises(NoPersonError):
        detect_pose_128x64(blank, detector)


def test_large_photo_is_detected_at_reduced_size_in_its_own_coordinates(detector, assets):
    image = load_image(assets / "zidane.jpg")
    big = np.asarray(Image.fromarray(image).resize((2560, 1440), Image.BICUBIC))
    small_people, big_people = detector.detect(image), detector.detect(big)
    assert len(big_people) == len(small_people)
    np.testing.assert_allclose(np.array(big_people[0].box) / 2, small_people[0].box, atol=3)
    both = is_present(big_people[0].pose) & is_present(small_people[0].pose)
    np.testing.assert_allclose((big_people[0].pose[both] + 0.5) / 2 - 0.5, small_people[0].pose[both], atol=3)


def test_concurrent_detection_matches_sequential(detector):
    images = [load_image(MARKET / name) for name in DETECTION_CASES[:2]]
    expected = [detector.detect(image)[0].pose for image in images]
    results = [None, None]

    def run(index):
        results[index] = detector.detect(images[index])[0].pose
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_detect_images_writes_outputs_and_skips_a_bad_file(tmp_path, assets, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_text("not a picture")
    paths = [str(assets / "zidane.jpg"), str(bad), str(MARKET / "0153_c4s1_025451_01.jpg")]
    summaries = detect_images(paths, str(tmp_path / "out"))
    assert [s["error"] is None for s in summaries] == [True, False, True]
    assert "not an image file" in summaries[1]["error"]
    assert summaries[0]["people"] == 2 and len(summaries[0]["box"]) == 4
    out = tmp_path / "out"
    assert Image.open(out / "zidane_crop.png").size == (64, 128)
    assert Image.open(out / "zidane_annotated.png").size == (1280, 720)
    pose_json = json.loads((out / "0153_c4s1_025451_01.json").read_text())
    assert (pose_json["canvas_width"], pose_json["canvas_height"]) == (64, 128)
    assert len(pose_json["people"][0]["pose_keypoints_2d"]) == 54
    printed = capsys.readouterr().err
    assert "[2/3]" in printed and "skipped" in printed and "done: 2 of 3" in printed
    assert "zidane.jpg: 2 people," in printed and "025451_01.jpg: 1 person," in printed


def test_annotate_folder_writes_market_csv(tmp_path, market_annotations):
    names = ["0617_c3s2_033037_01.jpg", "1277_c1s5_053816_02.jpg"]
    for name in names:
        shutil.copy(MARKET / name, tmp_path / name)
    (tmp_path / "junk.jpg").write_bytes(b"\x00" * 100)
    out_csv = tmp_path / "csv" / "annotations.csv"
    assert annotate_folder(str(tmp_path), str(out_csv)) == 2
    poses = read_market_csv(out_csv)  # header and row format as the Market files
    assert sorted(poses) == names
    for name in names:  # Market crops: poses in the image's own frame
        distance = np.linalg.norm(poses[name][TORSO] - market_annotations[name][TORSO], axis=1)
        assert distance.mean() < 5
