"""Keeping the photo's background (posegan.background): the person is found, removed, and the new one pasted.

Synthetic scenes with a known answer: a striped green background and a red person whose clothes are 5 px wider than
the pose's skeleton mask; the generated image is a blue person on grey, in a shifted pose.
"""
import cv2
import numpy as np
import pytest

from posegan.background import background_plate, keep_background, person_mask, source_hole
from posegan.metrics.ssim import pose_mask
from posegan.inference import PoseTransfer
from posegan.networks import Generator

HEIGHT, WIDTH = 128, 64
RED, BLUE = (200, 30, 30), (30, 40, 210)


def silhouette(pose: np.ndarray, clothes: int = 5) -> np.ndarray:
    """bool [H, W]: the body mask of ``pose`` widened by ``clothes`` pixels (a person in loose clothes)."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * clothes + 1, 2 * clothes + 1))
    return cv2.dilate(pose_mask(pose, HEIGHT, WIDTH).astype(np.uint8), disc) > 0


def striped_background() -> np.ndarray:
    rows = np.arange(HEIGHT)[:, None, None]
    return np.where(rows % 8 < 4, np.array([40, 150, 60]), np.array([90, 190, 100])).repeat(WIDTH, 1).astype(np.uint8)


def scene(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 image: a red person on stripes, bool mask of that person)."""
    person = silhouette(pose)
    image = striped_background()
    image[person] = RED
    return image, person


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def is_red(image: np.ndarray) -> np.ndarray:
    return (image[..., 0] > 150) & (image[..., 1] < 80)


def test_person_mask_follows_the_clothes_beyond_the_skeleton(frontal_pose):
    image, person = scene(frontal_pose)
    found = person_mask(image, frontal_pose) > 0
    skeleton = pose_mask(frontal_pose, HEIGHT, WIDTH)
    assert iou(found, person) > 0.9
    assert iou(skeleton, person) < 0.8  # the seed alone would miss the clothes


def test_person_mask_without_joints_is_empty_and_does_not_fail():
    image = striped_background()
    assert not person_mask(image, np.full((18, 2), -1, np.float32)).any()


def test_plate_removes_the_person_and_keeps_the_rest(frontal_pose):
    image, person = scene(frontal_pose)
    plate = background_plate(image, frontal_pose)
    assert is_red(plate).sum() < 0.01 * person.sum()
    far = ~cv2.dilate(person.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.array_equal(plate[far], image[far])


def test_keep_background_pastes_the_new_person_over_the_emptied_photo(frontal_pose):
    source, source_person = scene(frontal_pose)
    target_pose = np.where(frontal_pose >= 0, frontal_pose + np.array([6.0, 3.0], np.float32), -1).astype(np.float32)
    target_person = silhouette(target_pose)
    generated = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    generated[target_person] = BLUE

    out = keep_background(generated, source, frontal_pose, target_pose)

    assert out.shape == source.shape and out.dtype == np.uint8
    core = cv2.erode(target_person.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)  # the edge is feathered
    assert np.array_equal(out[core], generated[core])  # the new person, untouched inside
    grown = np.ones((11, 11), np.uint8)
    far = ~cv2.dilate((source_person | target_person).astype(np.uint8), grown).astype(bool)
    assert np.array_equal(out[far], source[far])  # the photo, untouched away from both people
    grey = np.all(out == 128, axis=-1)
    assert grey.sum() < 0.05 * (~target_person).sum()  # the generator's background is gone
    assert is_red(out).sum() < 0.01 * source_person.sum()  # and so is the old person


def test_keep_background_rejects_images_of_different_sizes(frontal_pose):
    with pytest.raises(ValueError, match="HxWx3"):
        keep_background(np.zeros((HEIGHT, WIDTH, 3), np.uint8), np.zeros((HEIGHT, 2 * WIDTH, 3), np.uint8),
                        frontal_pose, frontal_pose)


def test_pose_transfer_keeps_the_background_on_request(tiny_cfg, frontal_pose):
    transfer = PoseTransfer(Generator(tiny_cfg.model), tiny_cfg)
    source, _ = scene(frontal_pose)
    plain = transfer(source, frontal_pose, frontal_pose)
    kept = transfer(source, frontal_pose, frontal_pose, keep_background=True)
    assert np.array_equal(np.asarray(plain.image), np.asarray(plain.generated))
    assert np.array_equal(np.asarray(kept.generated), np.asarray(plain.generated))
    expected = keep_background(np.asarray(plain.generated), source, frontal_pose, frontal_pose)
    assert np.array_equal(np.asarray(kept.image), expected)


def test_plate_is_computed_once_per_photo_and_pose(frontal_pose, monkeypatch):
    import posegan.background as background
    image, _ = scene(frontal_pose)
    first = background_plate(image, frontal_pose)
    monkeypatch.setattr(background, "person_mask", lambda *a: pytest.fail("recomputed a cached plate"))
    assert background_plate(image.copy(), frontal_pose.copy()) is first and not first.flags.writeable
    moved = np.where(frontal_pose >= 0, frontal_pose + 1, -1).astype(np.float32)
    with pytest.raises(pytest.fail.Exception, match="recomputed"):
        background_plate(image, moved)  # another pose: another plate


def test_opencv_seamless_clone_would_rebuild_the_person_it_should_remove(frontal_pose):
    # why benchmarks/paste_variants.py's opencv_seamless_clone variant is not a plate: cv2.seamlessClone erodes the
    # mask and keeps the photo's gradients outside it, so the old person comes back from its own edges
    from benchmarks.paste_variants import seamless_clone
    image, person = scene(frontal_pose)
    cloned = seamless_clone(np.full_like(image, 128), image, source_hole(image, frontal_pose))
    assert is_red(cloned).sum() > 0.9 * person.sum()
    assert is_red(background_plate(image, frontal_pose)).sum() < 0.01 * person.sum()
