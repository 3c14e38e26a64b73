"""Differentiable augmentation of the discriminator's inputs (DiffAugment: Zhao et al., "Differentiable Augmentation
for Data-Efficient GAN Training", NeurIPS 2020), an addition to Deformable GAN (issue #13; the paper has none).

    loss.d_augment: color,translation,cutout     # configs/*.yaml; "" (the default) = off

D sees the real target and the generated image only through the same random, differentiable transforms, in its
own step and in G's, so it cannot memorise the 9,399 training photos pixel by pixel and G's gradient passes
through the transform. Our D is conditional (source image + heatmap, candidate image + target heatmap, 42
channels): each transform is drawn once per pair and applied alike to its four inputs, so the candidate still
sits on its pose, and ``copies`` inputs stacked along the batch (real and fake of the same pairs) get the same
draw, so they differ only by the candidate, as D's and feature matching's comparisons need. Policies (the
original's strengths, for images in [-1, 1]):

    color        brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5); images only, the
                 source and the candidate alike
    translation  an integer shift of up to 1/8 of the height and width, zero-filled (heatmaps: no joint there)
    cutout       a zeroed rectangle of half the height and width, anywhere (it may hang over the edge)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 1 / 8
CUTOUT_RATIO = 1 / 2


def parse_policy(policy: str) -> list[str]:
    """The policy names of a comma-separated ``policy`` string, checked; "" gives none."""
    names = [name.strip() for name in policy.split(",") if name.strip()]
    unknown = sorted(set(names) - set(POLICIES))
    if unknown:
        raise ValueError(f"unknown d_augment policy {unknown}: choose from {', '.join(POLICIES)}")
    return names


def _color(images: list[torch.Tensor], pairs: int, copies: int) -> list[torch.Tensor]:
    def draw(low, high):  # [pairs * copies, 1, 1, 1], one value per pair, repeated for its copies
        value = torch.rand(pairs, 1, 1, 1, device=images[0].device) * (high - low) + low
        return value.repeat(copies, 1, 1, 1)

    brightness, saturation, contrast = draw(-0.5, 0.5), draw(0.0, 2.0), draw(0.5, 1.5)
    out = []
    for x in images:
        x = x + brightness
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * saturation + grey
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        out.append((x - mean) * contrast + mean)
    return out


def _translation(stack: torch.Tensor, pairs: int, copies: int) -> torch.Tensor:
    """``stack`` [N, C, H, W] shifted by a per-pair integer (dy, dx), zero-filled."""
    n, _, height, width = stack.shape
    max_dy, max_dx = int(height * TRANSLATION_RATIO + 0.5), int(width * TRANSLATION_RATIO + 0.5)
    dy = torch.randint(-max_dy, max_dy + 1, (pairs,), device=stack.device).repeat(copies)
    dx = torch.randint(-max_dx, max_dx + 1, (pairs,), device=stack.device).repeat(copies)
    padded = F.pad(stack, (max_dx, max_dx, max_dy, max_dy))
    rows = (torch.arange(height, device=stack.device)[None] - dy[:, None] + max_dy)  # [N, H] into the padded frame
    cols = (torch.arange(width, device=stack.device)[None] - dx[:, None] + max_dx)   # [N, W]
    batch = torch.arange(n, device=stack.device)[:, None, None]
    # out[n, :, y, x] = stack[n, :, y - dy, x - dx]: index the padded frame per sample (gather keeps gradients)
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _cutout(stack: torch.Tensor, pairs: int, copies: int) -> torch.Tensor:
    """``stack`` [N, C, H, W] with a per-pair rectangle of CUTOUT_RATIO of each side set to 0."""
    n, _, height, width = stack.shape
    size_y, size_x = int(height * CUTOUT_RATIO + 0.5), int(width * CUTOUT_RATIO + 0.5)
    # the rectangle's centre anywhere in the frame (as the original): near an edge part of it falls outside
    centre_y = torch.randint(0, height + (1 - size_y % 2), (pairs,), device=stack.device).repeat(copies)
    centre_x = torch.randint(0, width + (1 - size_x % 2), (pairs,), device=stack.device).repeat(copies)
    ys = torch.arange(height, device=stack.device)[None]
    xs = torch.arange(width, device=stack.device)[None]
    inside_y = (ys >= (centre_y - size_y // 2)[:, None]) & (ys < (centre_y - size_y // 2 + size_y)[:, None])
    inside_x = (xs >= (centre_x - size_x // 2)[:, None]) & (xs < (centre_x - size_x // 2 + size_x)[:, None])
    keep = ~(inside_y[:, :, None] & inside_x[:, None, :])  # [N, H, W]
    return stack * keep[:, None].to(stack.dtype)


def augment(policy: list[str], source_image: torch.Tensor, source_heatmap: torch.Tensor, image: torch.Tensor,
            target_heatmap: torch.Tensor, copies: int = 1) -> tuple[torch.Tensor, ...]:
    """D's four inputs ([N, C, H, W] each, N = pairs x ``copies``: copy k of pair i at row k * pairs + i) through
    the transforms of ``policy`` (from :func:`parse_policy`), drawn once per pair; returned in the same order."""
    if not policy:
        return source_image, source_heatmap, image, target_heatmap
    n = image.shape[0]
    if n % copies:
        raise ValueError(f"batch of {n} is not {copies} copies of the same pairs")
    pairs = n // copies
    if "color" in policy:
        source_image, image = _color([source_image, image], pairs, copies)
    channels = [t.shape[1] for t in (source_image, source_heatmap, image, target_heatmap)]
    stack = torch.cat([source_image, source_heatmap, image, target_heatmap], dim=1)
    if "translation" in policy:
        stack = _translation(stack, pairs, copies)
    if "cutout" in policy:
        stack = _cutout(stack, pairs, copies)
    return tuple(stack.split(channels, dim=1))
