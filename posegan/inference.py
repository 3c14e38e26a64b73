"""Inference API: ``PoseTransfer`` turns a 128x64 person image and a target pose into the generated person.

    pt = PoseTransfer.from_checkpoint("checkpoints/posegan-market-small-imageskip.pt")
    result = pt(source_image, target_pose, source_pose)   # PIL / uint8 HxWx3, poses float32[18, 2] (x, y)
    result.image.save("out.png")                           # 64x128 PIL image
    result.warped, result.masks, result.affines            # what happens inside the deformable skips
    pt(source_image, target_pose, source_pose, keep_background=True).image  # pasted over the source photo

When ``source_pose`` is None the pose is detected with :mod:`posegan.pose_detect`. Images that are not 64x128
are resized to it (the pose must then be given in the 64x128 frame). ``PoseTransfer.batch`` runs many pairs
at once for evaluation. ``keep_background`` pastes the generated person over the source photo with its own person
removed (:mod:`posegan.background`); ``result.generated`` is then the generator's whole frame.

``PoseTransfer.from_checkpoint(path, compile=True)`` is the fast path (issue #14): the generator compiled with
frozen weights (:mod:`posegan.compiled`) for one pair at a time, compiling in the background while the eager
generator answers; ``pt.compiled.wait()`` blocks until it is ready. Same outputs within float rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import default_collate

from .background import keep_background as paste_over_source
from .checkpoint import checkpoint_config, generator_weights, load_checkpoint
from .compiled import CompiledGenerator, example_inputs
from .data import MODEL_INPUTS, pair_tensors, tensor_to_image
from .keypoints import validate_pose
from .networks import Generator


@dataclass
class TransferResult:
    image: Image.Image                 # generated person, 64x128 (over the source photo with keep_background)
    generated: Image.Image             # the generator's own frame, background included
    source_features: list[torch.Tensor]  # per warped level, [C, h, w]
    warped: list[torch.Tensor]           # per warped level, [C, h, w]: the deformable skip's output
    masks: list[torch.Tensor]            # per warped level, [P, h, w]
    offsets: list[torch.Tensor]          # per warped level with learned offsets, [P, h, w, 2]
    affines: np.ndarray                  # [P, 2, 3] target -> source pixels
    part_masks: np.ndarray               # [P, H, W] full-resolution target-space masks (zero = invalid part)
    source_pose: np.ndarray
    target_pose: np.ndarray
    image_attention: np.ndarray | None = None  # image skip: [P + 1, H, W], who paints each pixel (parts, generated)


def as_rgb_array(image, height: int, width: int) -> np.ndarray:
    """PIL image or uint8 HxWx3 array -> uint8 [height, width, 3], resized when needed."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"image array must be uint8 HxWx3, got {image.dtype} {image.shape}")
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"image must be a PIL image or a uint8 array, got {type(image).__name__}")
    image = image.convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BICUBIC)
    return np.asarray(image)


class PoseTransfer:
    """The generator in eval mode; with ``compile``, its compiled form for batch 1 (:class:`CompiledGenerator`,
    compiling in a background thread unless ``background`` is False), used by every call it fits."""

    def __init__(self, generator: Generator, cfg, device: str = "cpu", compile: bool = False,
                 background: bool = True):
        self.G = generator.to(device).eval()
        self.cfg, self.device = cfg, torch.device(device)
        self.height, self.width = cfg.data.height, cfg.data.width
        self.compiled = None
        if compile:
            inputs = [x.to(self.device) for x in example_inputs(self.height, self.width)]
            self.compiled = CompiledGenerator(self.G, inputs, background)

    @classmethod
    def from_checkpoint(cls, path, device: str = "cpu", compile: bool = False,
                        background: bool = True) -> "PoseTransfer":
        ckpt = load_checkpoint(path)
        cfg = checkpoint_config(ckpt)
        generator = Generator(cfg.model)
        generator.load_state_dict({k: v.float() for k, v in generator_weights(ckpt)[0].items()})
        return cls(generator, cfg, device, compile, background)

    def prepare(self, source_image, target_pose, source_pose=None) -> dict:
        image = as_rgb_array(source_image, self.height, self.width)
        if source_pose is None:
            from .pose_detect import detect_pose_128x64
            source_pose = detect_pose_128x64(image)[0].pose
        source_pose = validate_pose(source_pose, self.width, self.height)
        target_pose = validate_pose(target_pose, self.width, self.height)
        return pair_tensors(image, source_pose, target_pose, self.height, self.width, self.cfg.data.heatmap_sigma)

    @torch.inference_mode()
    def run(self, batch: dict, deformable: bool | None = None):
        """Generator output for a collated batch of :func:`posegan.data.pair_tensors` dicts."""
        forward = self.compiled or self.G
        return forward(*[batch[k].to(self.device) for k in MODEL_INPUTS], deformable=deformable)

    def __call__(self, source_image, target_pose, source_pose=None, deformable: bool | None = None,
                 keep_background: bool = False) -> TransferResult:
        item = self.prepare(source_image, target_pose, source_pose)
        out = self.run(default_collate([item]), deformable)
        generated = tensor_to_image(out.image[0])
        image = (paste_over_source(generated, tensor_to_image(item["source_image"]), item["source_pose"].numpy(),
                                   item["target_pose"].numpy()) if keep_background else generated)
        return TransferResult(
            image=Image.fromarray(image), generated=Image.fromarray(generated),
            source_features=[f[0].cpu() for f in out.source_features],
            warped=[f[0].cpu() for f in out.warped_features],
            masks=[m[0].cpu() for m in out.masks],
            offsets=[o[0].cpu() for o in out.offsets],
            affines=item["affines"].numpy(), part_masks=item["part_masks"].numpy(),
            source_pose=item["source_pose"].numpy(), target_pose=item["target_pose"].numpy(),
            image_attention=None if out.image_attention is None else out.image_attention[0].float().cpu().numpy())

    def batch(self, items: list[dict], deformable: bool | None = None) -> torch.Tensor:
        """Generated images [N, 3, H, W] in [-1, 1] for prepared pair dicts (e.g. items of MarketPoseDataset)."""
        return self.run(default_collate([{k: it[k] for k in MODEL_INPUTS} for it in items]), deformable).image.float()
