"""HTML panels of the app: "Inside the deformable skips", the correspondence inspector, the animation and the pose
plausibility meter.

Images are sent at their real resolution (a 16x8 feature map is 16x8 pixels) as data URIs and enlarged in the
browser with ``image-rendering: pixelated``: a generate answers with a few kB and no files pile up on the
server. All drawing of poses, masks and features is ``posegan.visualize``'s, so the panels match the trainer's
sample grids; this module only lays them out and outlines the parts.
"""
from __future__ import annotations

import base64
import html
import io
import json

import numpy as np
from PIL import Image, ImageDraw

from posegan.geometry import PART_NAMES, part_boxes
from posegan.inference import TransferResult
from posegan.config import REPO_ROOT
from posegan.keypoints import JOINT_NAMES
from posegan.model_card import ModelCard, architecture
from posegan.pose_prior import UNSEEN_SCORE, PosePrior
from posegan.visualize import (GENERATED_COLOUR, PART_COLOURS, colourise_attention, colourise_masks, draw_pose,
                               features_to_rgb, offsets_to_rgb, skip_rgb)

BOX_SCALE = 4  # part outlines are drawn on a x4 image so that thin lines stay visible


def png_data_uri(image) -> str:
    buffer = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _img(image, title: str, css_class: str = "pg-panel") -> str:
    title = html.escape(title)
    return f'<img class="{css_class}" src="{png_data_uri(image)}" alt="{title}" title="{title}">'


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.NEAREST))


def part_outlines(result: TransferResult, source_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) x4 images with the 10 part boxes: the bounding box of each valid target part mask,
    and where the part's affine (target -> source) reads it from in the source, a quadrilateral."""
    height, width = result.part_masks.shape[1:]
    size = (width * BOX_SCALE, height * BOX_SCALE)
    source = Image.fromarray(source_image).resize(size, Image.NEAREST)
    target = Image.fromarray(draw_pose(None, result.target_pose, BOX_SCALE))
    draw_source, draw_target = ImageDraw.Draw(source), ImageDraw.Draw(target)
    target_boxes, source_boxes = part_boxes(result.affines, result.part_masks)
    for part, (corners, read_from) in enumerate(zip(target_boxes, source_boxes)):
        if corners is None:  # invalid part: no correspondence, contributes nothing
            continue
        line = 1 if part == 0 else 2  # the torso box is the whole frame (it carries the background): keep it thin
        for draw, points in ((draw_target, corners), (draw_source, read_from)):
            outline = [tuple(p) for p in (points + 0.5) * BOX_SCALE]
            draw.line(outline + outline[:1], fill=PART_COLOURS[part], width=line)
    return np.asarray(source), np.asarray(target)


def skips_panel(result: TransferResult, source_image: np.ndarray, plain_image: Image.Image | None = None) -> str:
    """HTML table: per warped level, source features | warped features | part masks on the target pose
    (+ learned offsets when the model has them), then the part boxes in source and target, then the
    generated image next to ``plain_image`` (same generator, un-warped skips) when given."""
    height, width = result.part_masks.shape[1:]
    target_skeleton = draw_pose(None, result.target_pose, 1)
    has_offsets = bool(result.offsets)
    header = ["level", "source features", "warped features", "part masks"]
    header += ["learned offsets"] if has_offsets else []
    rows = []
    for level, (source, warped, masks) in enumerate(zip(result.source_features, result.warped, result.masks)):
        channels, h, w = source.shape
        source_rgb, basis = features_to_rgb(source)
        warped_rgb, _ = features_to_rgb(warped, basis)  # same PCA basis: same colour = same feature vector
        mask_rgb = colourise_masks(masks.numpy())
        overlay = np.maximum(_resize(mask_rgb, width, height), target_skeleton)
        cells = [f'<th scope="row">{level + 1}<br><small>{h}&times;{w}<br>{channels} ch</small></th>',
                 f"<td>{_img(source_rgb, f'level {level + 1} source features, first 3 principal components')}</td>",
                 f"<td>{_img(warped_rgb, f'level {level + 1} warped features, same colours as the source')}</td>",
                 f"<td>{_img(overlay, f'level {level + 1} part masks over the target pose')}</td>"]
        if has_offsets and level < len(result.offsets):
            cells.append(f"<td>{_img(offsets_to_rgb(result.offsets[level].numpy(), masks.numpy()), 'offsets')}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return '<p class="pg-note">This generator has no deformable skips: nothing is warped.</p>'
    source_boxes, target_boxes = part_outlines(result, source_image)
    comparison = ""
    if plain_image is not None:
        comparison = ('<div class="pg-boxes">'
                      f'<figure>{_img(result.image, "generated", "pg-panel pg-large")}'
                      "<figcaption>generated with deformable skips</figcaption></figure>"
                      f'<figure>{_img(plain_image, "plain skips", "pg-panel pg-large")}'
                      "<figcaption>same generator, plain skips: nothing warped</figcaption></figure></div>")
    legend = "".join(f'<li><span style="background: rgb{PART_COLOURS[k]}"></span>{name.replace("_", " ")}</li>'
                     for k, name in enumerate(PART_NAMES))
    image_skip = ""
    if result.image_attention is not None:
        legend += f'<li><span style="background: rgb{GENERATED_COLOUR}"></span>drawn by the generator</li>'
        copied = 1 - float(result.image_attention[-1].mean())
        image_skip = (f'<figure>{_img(colourise_attention(result.image_attention), "image skip", "pg-panel pg-large")}'
                      f"<figcaption>image skip: who paints each pixel ({copied:.0%} copied from the source "
                      "through a part, white: drawn)</figcaption></figure>")
    return (
        '<div class="pg-skips">'
        '<table><thead><tr>' + "".join(f'<th scope="col">{h}</th>' for h in header) + "</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>"
        '<div class="pg-side"><div class="pg-boxes">'
        f'<figure>{_img(source_boxes, "part boxes in the source", "pg-panel pg-large")}'
        "<figcaption>where each part is read in the source</figcaption></figure>"
        f'<figure>{_img(target_boxes, "part boxes in the target", "pg-panel pg-large")}'
        "<figcaption>where it is written in the target</figcaption></figure>"
        f'{image_skip}<ul class="pg-legend">{legend}</ul></div>{comparison}</div></div>'
    )


def mask_bits_png(masks: np.ndarray) -> str:
    """Part masks [P <= 16, H, W] as one PNG data URI: bit k of (red + 256 * green) is set where part k's mask is.
    Lossless and a few hundred bytes, where the masks as JSON would be tens of kB per generation."""
    bits = sum((masks[k] > 0).astype(np.uint16) << k for k in range(len(masks)))
    rgb = np.stack([bits & 255, bits >> 8, np.zeros_like(bits)], axis=-1).astype(np.uint8)
    return png_data_uri(rgb)


def inspector_panel(result: TransferResult, source_image: np.ndarray, mode: str = "bilinear") -> str:
    """The correspondence inspector: the generated image to hover, the source photo where every part's affine reads
    the hovered pixel (``inspector.js`` evaluates the affines given here at that pixel), and the source photo as the
    skips would carry it, part by part: warped by each part's affine and masked."""
    parts, combined = skip_rgb(source_image, result.affines, result.part_masks, mode)
    valid = [k for k in range(len(PART_NAMES)) if result.part_masks[k].any()]
    data = {"affines": np.round(result.affines, 5).tolist(), "names": [n.replace("_", " ") for n in PART_NAMES],
            "colours": [f"rgb{tuple(c)}" for c in PART_COLOURS], "valid": valid}
    overlay = '<svg class="pg-overlay" viewBox="-0.5 -0.5 64 128" aria-hidden="true"></svg>'
    carried = "".join(f'<figure>{_img(parts[k], f"{PART_NAMES[k]} as the skip carries it")}'
                      f'<figcaption>{PART_NAMES[k].replace("_", " ")}</figcaption></figure>' for k in valid)
    return (
        f'<div class="pg-inspector" data-inspector="{html.escape(json.dumps(data))}" '
        f'data-masks="{mask_bits_png(result.part_masks)}">'
        '<div class="pg-boxes">'
        f'<figure class="pg-inspect-target">{_img(result.image, "generated", "pg-panel pg-large")}{overlay}'
        "<figcaption>generated: hover a point</figcaption></figure>"
        f'<figure class="pg-inspect-source">{_img(source_image, "source", "pg-panel pg-large")}{overlay}'
        "<figcaption>source: where each part covering that point reads it</figcaption></figure>"
        '<ul class="pg-legend pg-read-list"><li>Hover over the generated person.</li></ul></div>'
        "<p>The source photo's RGB where the features would be, warped by each part's affine and masked (full "
        "resolution; the skips do this to the features at 4 levels):</p>"
        f'<div class="pg-boxes pg-carried">{carried}<figure>{_img(combined, "all parts")}'
        "<figcaption>all parts: their max</figcaption></figure></div></div>"
    )


METRIC_LABELS = {"ssim": "SSIM", "mask_ssim": "mask-SSIM", "lpips": "LPIPS", "fid": "FID", "pckh": "PCKh",
                 "l1": "L1"}
WEIGHTS = {"ema": "the moving average of G", "raw": "the optimiser's last weights"}


def metrics_line(card: ModelCard) -> str:
    return " · ".join(f"{METRIC_LABELS[k]} {v:.1f}" if k == "fid" else f"{METRIC_LABELS[k]} {v:.3f}"
                      for k, v in card.metrics.items())


def step_list(steps: list[int]) -> str:
    """Training steps for the card, with every run of three or more evenly spaced steps (a run's ``keep_every``
    snapshots) written as its ends and spacing: "19,302, 22,622, 34,000 to 40,000 every 1,000 (7 steps)"."""
    parts, i = [], 0
    while i < len(steps):
        end = i + 1
        while end + 1 < len(steps) and steps[end + 1] - steps[end] == steps[i + 1] - steps[i]:
            end += 1
        if end - i >= 2:  # steps[i..end]: three or more at one spacing
            parts.append(f"{steps[i]:,} to {steps[end]:,} every {steps[i + 1] - steps[i]:,} ({end - i + 1} steps)")
            i = end + 1
        else:
            parts.append(f"{steps[i]:,}")
            i += 1
    return ", ".join(parts)


def model_card_panel(card: ModelCard) -> str:
    """The checkpoint's numbers: what the file is, its training, its architecture and its test metrics (from the
    evaluation that names the file's sha256), or the command that would measure them."""
    kind = "exported generator" if card.kind == "generator" else "training state (its generator is used)"
    hours = f", {card.train_seconds / 3600:.1f} h of training" if card.train_seconds else ""
    if card.metrics:
        where = card.evaluation.parent.relative_to(REPO_ROOT)
        metrics = f"{metrics_line(card)}<br><small>on {card.pairs:,} test pairs ({where})</small>"
    else:
        metrics = (f"not evaluated: <code>python -m posegan evaluate --checkpoint checkpoints/{card.path.name} "
                   f"--out results/eval-{card.path.stem}</code>")
    weights = WEIGHTS.get(card.weights, "not recorded")
    if card.averaged_steps:
        weights += ", averaged over steps " + step_list(card.averaged_steps)
    rows = [("file", f"{card.path.name}: {kind}"),
            ("training", f"step {card.step:,}{hours}; weights: {weights}"),
            ("model", architecture(card.config)),
            ("sha256", f"<code>{card.sha256}</code>"),
            ("test metrics", metrics)]
    body = "".join(f'<tr><th scope="row">{name}</th><td>{value}</td></tr>' for name, value in rows)
    return f'<table class="pg-card">{body}</table>'


def comparison_panel(results: list[tuple[ModelCard, Image.Image]]) -> str:
    """Generated images side by side (x4), each with its checkpoint's name, step and test metrics."""
    figures = "".join(
        f'<figure data-checkpoint="{html.escape(card.path.name)}">{_img(image, card.path.name, "pg-panel pg-result")}'
        f"<figcaption><b>{html.escape(card.path.name)}</b><br>step {card.step:,}<br>"
        f"{metrics_line(card) or 'not evaluated'}</figcaption></figure>" for card, image in results)
    return f'<div class="pg-boxes pg-comparison">{figures}</div>'


def animation_panel(gif: bytes) -> str:
    uri = "data:image/gif;base64," + base64.b64encode(gif).decode()
    return (f'<div class="pg-animation"><img class="pg-panel" src="{uri}" alt="pose animation">'
            f'<a href="{uri}" download="posegan-animation.gif">Download GIF</a></div>')


def plausibility_panel(prior: PosePrior, pose: np.ndarray) -> str:
    """A meter of how close ``pose`` is to the training poses, the verdict in words and the joints placed where no
    training pose has them. The meter's colour zones are the prior's limits (typical, unseen)."""
    verdict = prior.assess(pose)
    far = ", ".join(JOINT_NAMES[j].replace("_", " ") for j in verdict.far_joints)
    level = ("typical", "unusual", "unseen")[verdict.level]
    return (f'<div class="pg-plausibility" data-level="{level}" data-score="{verdict.score:.3f}">'
            f'<label>Pose plausibility <meter min="0" max="1" low="{UNSEEN_SCORE}" high="{prior.typical_score:.3f}" '
            f'optimum="1" value="{verdict.score:.3f}">{verdict.score:.0%}</meter></label>'
            f"<p>{html.escape(verdict.verdict.capitalize())} ({verdict.distance:.2f} torso lengths from the closest "
            "training pose).</p>"
            + (f'<p class="pg-far">Far from anything seen in training: {far}. The generator will draw something '
               "it has seen instead.</p>" if far else "")
            + "</div>")
