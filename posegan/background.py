"""Keep the photo's background: the generated person pasted over the source photo, its own person removed (our
extension; not in the paper, whose generator paints the whole frame).

    image = keep_background(generated, source_image, source_pose, target_pose)   # uint8 [H, W, 3] each

The generator's backgrounds are the largest part of its realism gap (issue #13): on the first 2,000 test pairs the
app's generator scores FID 84.2 against the training set, and the same outputs pasted by this module over their
source photos 43.5 (``python benchmarks/paste_variants.py``; real photos score 16.8). In the app the source photo
*is* the scene the user wants the new pose in, so the generator's grey street is the wrong background there too.

    person(image, pose) = GrabCut of ``image`` seeded by the pose's body mask   (cv2.grabCut, GRABCUT_ITERATIONS)
    plate  = inpaint(source, grow(person(source, source_pose), PLATE_GROW))    the source person removed (Telea)
    alpha  = blur(grow(person(generated, target_pose), PERSON_GROW))          the generated person, soft-edged
    image  = alpha * generated + (1 - alpha) * plate

The pose's body mask is mask-SSIM's (Ma et al.'s, :func:`posegan.metrics.ssim.pose_mask`): limbs as 8-pixel bands
closed into a silhouette at 128x64. It is the sure foreground of GrabCut, ``SEED_GROW`` pixels around it probable
foreground, ``SEARCH_GROW`` probable background, the rest sure background; GrabCut then follows the clothes, which
are wider than the skeleton (a dress, a bag). Grows are in pixels of the 128x64 frame. Where GrabCut stops short
(a dark coat on a dark street) a part of the old person stays in the plate; also inpainting 5 px around its skeleton
removes more of it but smears more of the photo, and measured worse on 2,000 test pairs (FID against the training set
50.6 against 48.6, LPIPS +0.0007; ``results/keep-background-variants/``).

Measured there too (FID against the training set, first 2,000 pairs): the generated person's mask used as GrabCut
finds it (``PERSON_GROW`` 0) scores 43.5 where 1 px more scored 45.0 and 3 px 50.2 (the generator's grey halo);
the real target's person pasted the same way scores 28.1, so most of what is left is the generated person itself.
The hole filled from the generator's own frame scored 54.6 as it is and 46.6 Poisson-blended into the photo
(commit 85a9ee4, reverted); OpenCV's seamlessClone scored 42.0 only because it rebuilds the old person from its
edges (tests/test_background.py shows it on a synthetic scene).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from .metrics.ssim import pose_mask

SEED_GROW = 3           # px around the body mask that GrabCut starts as probable foreground
SEARCH_GROW = 10        # px around the body mask where GrabCut may still find the person
GRABCUT_ITERATIONS = 3
PLATE_GROW = 2          # px the source person is grown by before it is inpainted away (its blurred edge)
PERSON_GROW = 0         # px the generated person is grown by before its edge is feathered (1 px: FID +1.5, -1: 0)
FEATHER_SIGMA = 1.0     # px, Gaussian softening of the pasted person's edge (0.5 or 1.5: FID +3)
INPAINT_RADIUS = 3      # px, neighbourhood of cv2.INPAINT_TELEA


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """uint8 [H, W] (0 / 1) ``mask`` dilated by a disc of radius ``pixels`` (eroded by one of ``-pixels`` if < 0)."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(pixels) + 1, 2 * abs(pixels) + 1))
    return (cv2.dilate if pixels >= 0 else cv2.erode)(mask.astype(np.uint8), disc)


def person_mask(image: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """uint8 [H, W] (0 / 1): the person of ``pose`` in ``image`` (uint8 [H, W, 3] RGB), by GrabCut seeded with the
    pose's body mask. The body mask itself when GrabCut has nothing to separate (no joint, or no background)."""
    height, width = image.shape[:2]
    body = pose_mask(pose, height, width).astype(np.uint8)
    seeds = np.full((height, width), cv2.GC_BGD, np.uint8)
    seeds[_grow(body, SEARCH_GROW) > 0] = cv2.GC_PR_BGD
    seeds[_grow(body, SEED_GROW) > 0] = cv2.GC_PR_FGD
    seeds[body > 0] = cv2.GC_FGD
    if not body.any() or not (seeds == cv2.GC_BGD).any():
        return body
    background_model, foreground_model = np.zeros((1, 65)), np.zeros((1, 65))
    # GrabCut seeds its colour models by k-means from OpenCV's (per-thread) RNG: a fixed seed, same image, same mask
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), seeds, None, background_model, foreground_model,
                GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    return ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)


def source_hole(source_image: np.ndarray, source_pose: np.ndarray) -> np.ndarray:
    """uint8 [H, W] (0 / 1): the source person grown by ``PLATE_GROW`` (its blurred edge), what the plate fills."""
    return _grow(person_mask(source_image, source_pose), PLATE_GROW)


def background_plate(source_image: np.ndarray, source_pose: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3], read-only: the source photo with its person inpainted away. The app pastes every change of
    the target pose over the same crop (and every frame of an animation), so the last few plates are kept (about half
    of a paste's time)."""
    image = np.ascontiguousarray(source_image, dtype=np.uint8)
    pose = np.ascontiguousarray(source_pose, dtype=np.float32)
    return _plate(image.tobytes(), image.shape, pose.tobytes())


@functools.lru_cache(maxsize=8)
def _plate(image_bytes: bytes, shape: tuple, pose_bytes: bytes) -> np.ndarray:
    image = np.frombuffer(image_bytes, np.uint8).reshape(shape)
    pose = np.frombuffer(pose_bytes, np.float32).reshape(-1, 2)
    plate = cv2.inpaint(image, source_hole(image, pose), INPAINT_RADIUS, cv2.INPAINT_TELEA)
    plate.flags.writeable = False  # shared by every caller that gets it from the cache
    return plate


def person_alpha(generated: np.ndarray, target_pose: np.ndarray, grow: int = PERSON_GROW,
                 feather: float = FEATHER_SIGMA) -> np.ndarray:
    """float32 [H, W] in [0, 1]: where the generated person covers the output, its mask grown by ``grow`` px
    (eroded if negative) and its edge softened by a Gaussian of ``feather`` px."""
    mask = _grow(person_mask(generated, target_pose), grow).astype(np.float32)
    return np.clip(cv2.GaussianBlur(mask, (0, 0), feather), 0.0, 1.0)


def blend(person: np.ndarray, plate: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3]: ``person`` over ``plate`` (uint8 [H, W, 3] each) by ``alpha`` (float32 [H, W])."""
    alpha = alpha[..., None]
    return np.round(alpha * person.astype(np.float32) + (1.0 - alpha) * plate.astype(np.float32)).astype(np.uint8)


def keep_background(generated: np.ndarray, source_image: np.ndarray, source_pose: np.ndarray,
                    target_pose: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3]: ``generated`` where its person is, the source photo (its own person removed) elsewhere.
    Images uint8 [H, W, 3] RGB of one size; poses float32 [18, 2] (x, y) in that frame, missing joints negative."""
    if generated.shape != source_image.shape or generated.ndim != 3 or generated.shape[2] != 3:
        raise ValueError(f"generated {generated.shape} and source {source_image.shape} must both be HxWx3")
    return blend(generated, background_plate(source_image, source_pose), person_alpha(generated, target_pose))
