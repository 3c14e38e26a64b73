"""Drawing shared by the trainer's sample grids and the app: skeletons, part masks, feature maps as RGB.

All functions take and return uint8 HxWx3 numpy arrays (RGB); poses follow :mod:`posegan.keypoints`.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from .geometry import NUM_PARTS, affines_to_theta
from .keypoints import LIMBS, NUM_JOINTS, is_present
from .networks.deformable_skip import DeformableSkip

# One colour per joint / part (OpenPose-like hue wheel), so trainer grids and the app agree.
JOINT_COLOURS = [tuple(int(255 * c) for c in _rgb) for _rgb in
                 (np.array([np.clip(abs(((h * 6 + k) % 6) - 3) - 1, 0, 1) for k in (0, 4, 2)])
                  for h in np.linspace(0, 1, NUM_JOINTS, endpoint=False))]
OTHER_PEOPLE_COLOUR, BOX_COLOUR = (160, 160, 160), (0, 220, 0)
PART_COLOURS = [JOINT_COLOURS[round(k * NUM_JOINTS / NUM_PARTS)] for k in range(NUM_PARTS)]  # 10 distinct hues


def draw_pose(image: np.ndarray | None, pose: np.ndarray, scale: int = 1, height: int = 128, width: int = 64,
              radius: float = 1.5, line_width: int | None = None, colour=None) -> np.ndarray:
    """Skeleton over ``image`` (or over black when None), upscaled by ``scale`` (nearest) for legibility.

    ``colour`` draws the whole skeleton in one colour (e.g. grey for people other than the chosen one).
    """
    base = np.zeros((height, width, 3), np.uint8) if image is None else image
    canvas = Image.fromarray(base).resize((base.shape[1] * scale, base.shape[0] * scale), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    present = is_present(pose)
    points = (pose + 0.5) * scale - 0.5
    line_width = line_width or max(1, scale)
    for a, b in LIMBS:
        if present[a] and present[b]:
            draw.line([tuple(points[a]), tuple(points[b])], fill=colour or JOINT_COLOURS[b], width=line_width)
    r = radius * scale * line_width / max(1, scale)
    for j in np.flatnonzero(present):
        x, y = points[j]
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour or JOINT_COLOURS[j])
    return np.asarray(canvas)


def draw_people(image: np.ndarray, people, chosen: int = 0) -> np.ndarray:
    """Every detected skeleton over a photo: the chosen person in colour with its box, the others grey."""
    line_width = max(1, round(max(image.shape[:2]) / 300))
    canvas = image
    for index, person in enumerate(people):
        if index != chosen:
            canvas = draw_pose(canvas, person.pose, line_width=line_width, colour=OTHER_PEOPLE_COLOUR)
    canvas = draw_pose(canvas, people[chosen].pose, line_width=line_width)
    out = Image.fromarray(canvas)
    ImageDraw.Draw(out).rectangle([round(v) for v in people[chosen].box], outline=BOX_COLOUR, width=line_width)
    return np.asarray(out)


def colourise_masks(masks: np.ndarray, background: np.ndarray | None = None, alpha: float = 0.6) -> np.ndarray:
    """Part masks [P, H, W] -> RGB, one colour per part (limbs painted over the whole-image torso mask)."""
    _, height, width = masks.shape
    out = np.zeros((height, width, 3), np.float32) if background is None else background.astype(np.float32)
    for k in range(NUM_PARTS):
        weight = alpha * masks[k][..., None] * (0.35 if k == 0 else 1.0)  # torso covers everything: keep it faint
        out = out * (1 - weight) + weight * np.array(PART_COLOURS[k], np.float32)
    return out.clip(0, 255).astype(np.uint8)


GENERATED_COLOUR = (255, 255, 255)  # the image skip's own choice: the generator paints the pixel itself


def colourise_attention(attention: np.ndarray) -> np.ndarray:
    """Image-skip attention [P + 1, H, W] (parts, then the generated colour; sums to 1) -> RGB: each pixel the
    attention-weighted mix of the part colours and white, so a pure part colour means "copied from that part"."""
    colours = np.array(list(PART_COLOURS) + [GENERATED_COLOUR], np.float32)  # [P + 1, 3]
    if attention.shape[0] != len(colours):
        raise ValueError(f"expected attention of {len(colours)} channels, got {attention.shape}")
    return np.einsum("khw,kc->hwc", attention.astype(np.float32), colours).clip(0, 255).astype(np.uint8)


def features_to_rgb(features: torch.Tensor, basis: torch.Tensor | None = None):
    """Feature map [C, h, w] -> (uint8 [h, w, 3] of its first 3 principal components, the basis used).

    Pass the ``basis`` returned for the source features when showing the warped ones, so both panels use
    the same colours for the same feature vectors.
    """
    channels, height, width = features.shape
    flat = features.detach().float().reshape(channels, -1).T  # [h*w, C]
    if basis is None:
        centred = flat - flat.mean(0)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        components = v[:3].T  # [C, 3]
        if components.shape[1] < 3:
            components = torch.nn.functional.pad(components, (0, 3 - components.shape[1]))
        projected = flat @ components
        low, high = projected.quantile(0.01, 0), projected.quantile(0.99, 0)
        basis = (components, low, high)
    components, low, high = basis
    projected = (flat @ components - low) / (high - low).clamp_min(1e-6)
    rgb = (projected.clamp(0, 1) * 255).round().byte().reshape(height, width, 3).numpy()
    return rgb, basis


def offsets_to_rgb(offsets: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Learned offsets [P, h, w, 2] -> RGB: hue = direction, brightness = length of the mask-weighted mean offset."""
    weights = masks[..., None]  # [P, h, w, 1]
    mean = (offsets * weights).sum(0) / np.maximum(weights.sum(0), 1e-6)  # [h, w, 2]
    angle = (np.arctan2(mean[..., 1], mean[..., 0]) + np.pi) / (2 * np.pi)
    length = np.linalg.norm(mean, axis=-1)
    value = length / max(float(length.max()), 1e-6)
    hsv = np.stack([angle * 255, np.full_like(angle, 255), value * 255], axis=-1).astype(np.uint8)
    return np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))


def skip_rgb(source_image: np.ndarray, affines: np.ndarray, masks: np.ndarray, mode: str = "bilinear"):
    """What a deformable skip would carry if its features were the source photo's RGB: (uint8 [P, H, W, 3] part by
    part, warped by the part's affine and masked, uint8 [H, W, 3] the max over parts). The warp is the skip's own
    (:meth:`posegan.networks.deformable_skip.DeformableSkip.warp_parts`), combined as the skip combines it."""
    image = torch.from_numpy(np.ascontiguousarray(source_image)).permute(2, 0, 1).float()[None]  # [1, 3, H, W]
    theta = affines_to_theta(torch.from_numpy(np.asarray(affines)))[None]                       # [1, P, 2, 3]
    masks = torch.from_numpy(np.asarray(masks, np.float32))[None]                               # [1, P, H, W]
    with torch.no_grad():
        parts, _, _ = DeformableSkip(pose_channels=0, mode=mode).warp_parts(image, theta, masks)  # [1, 3, P, H, W]
    return _images(parts[0].transpose(0, 1)), _images(parts.amax(dim=2))[0]


def _images(batch: torch.Tensor) -> np.ndarray:
    """float [N, 3, H, W] in 0..255 -> uint8 [N, H, W, 3]."""
    return batch.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def image_grid(rows: list[list[np.ndarray]], scale: int = 1, pad: int = 2) -> Image.Image:
    """Tile equally sized RGB panels into one picture (rows x columns), white gaps between panels."""
    height, width = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    grid = Image.new("RGB", (cols * (width * scale + pad) + pad, len(rows) * (height * scale + pad) + pad), "white")
    for i, row in enumerate(rows):
        for j, panel in enumerate(row):
            tile = Image.fromarray(panel).resize((width * scale, height * scale), Image.NEAREST)
            grid.paste(tile, (pad + j * (width * scale + pad), pad + i * (height * scale + pad)))
    return grid


def plot_training_log(csv_path, out_path, smooth: int = 20) -> None:
    """Loss curves of a trainer ``log.csv`` (one panel per loss, moving average over ``smooth`` rows) as a PNG."""
    import csv

    import matplotlib
    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    names = [k for k in rows[0] if "/" in k]
    steps = np.array([int(r["step"]) for r in rows])
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        logged = np.array([bool(r[name]) for r in rows])  # a term added on resuming is empty in the earlier rows
        x, values = steps[logged], np.array([float(r[name]) for r in rows if r[name]])
        ax.plot(x, values, color="0.8", linewidth=0.8)
        if len(values) >= smooth:
            ax.plot(x[smooth - 1:], np.convolve(values, np.ones(smooth) / smooth, "valid"), color="C0")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
