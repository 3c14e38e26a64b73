"""Generator of Deformable GAN: two U-Net encoders, deformable skips, one decoder (paper §3-§4, doc §4.2).

    appearance encoder  concat(source image, source heatmap)  21 ch -> 6 levels (128x64 ... 4x2)
    pose encoder        target heatmap                         18 ch -> 6 levels
    skip l              concat(warp_l(appearance_l), pose_l)   for l < warp_levels (deformable skips)
                        concat(appearance_l, pose_l)           otherwise
    decoder             ReLU-Up-Norm(-Dropout) up-sampling, concat with the skip of each level, tanh RGB
                        (Up = ConvTranspose 4x4/2 as in the paper, or nearest x2 + conv 3x3: ``model.upsample``)
    image skip          optional (``model.image_skip``, our extension): each output pixel picks between that colour
                        and the source pixels warped by each part (:mod:`posegan.networks.image_skip`)

Names map to the paper once: source image x_a, source heatmap H_a, target heatmap H_b, output x_hat.
``Generator(cfg)`` builds the paper width (61.1M parameters), the CPU width (3.8M) or a tiny test width from
the same :class:`~posegan.config.ModelConfig`. With ``deformable_skips=False`` the skips are not warped
(the ablation). Dropout acts only in training mode (the original switches it off at test time, doc §4.2).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ModelConfig
from ..geometry import NUM_PARTS, affines_to_theta
from ..keypoints import NUM_JOINTS
from ..utils import assert_shape
from .blocks import down_block, init_weights, up_block
from .deformable_skip import DeformableSkip
from .image_skip import ImageSkip


class Encoder(nn.Module):
    """U-Net encoder returning the features of all levels, highest resolution first."""

    def __init__(self, in_channels: int, widths: list[int]):
        super().__init__()
        last = len(widths) - 1
        self.levels = nn.ModuleList([nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=True)] + [
            down_block(a, b, norm=i + 1 < last) for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features


@dataclass
class GeneratorOutput:
    image: torch.Tensor                 # [B, 3, H, W] in [-1, 1]
    source_features: list[torch.Tensor]  # per warped level: appearance features before warping [B, C, h, w]
    warped_features: list[torch.Tensor]  # per warped level: combined warped features [B, C, h, w]
    masks: list[torch.Tensor]            # per warped level: part masks at that resolution [B, P, h, w]
    offsets: list[torch.Tensor]          # per warped level with learned offsets: [B, P, h, w, 2]
    image_attention: torch.Tensor | None = None  # image skip: [B, P + 1, H, W], parts then the generated colour


class Generator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        enc, dec = list(cfg.encoder_channels), list(cfg.decoder_channels)
        if len(dec) != len(enc) - 1:
            raise ValueError(f"need len(decoder_channels) == len(encoder_channels) - 1, got {len(dec)} and {len(enc)}")
        if not 0 <= cfg.warp_levels <= len(enc):
            raise ValueError(f"warp_levels must be in [0, {len(enc)}], got {cfg.warp_levels}")
        if cfg.image_skip and not cfg.deformable_skips:
            raise ValueError("image_skip warps the source image with the part affines: it needs deformable_skips")
        self.cfg = cfg
        self.num_levels = len(enc)
        self.appearance_encoder = Encoder(3 + NUM_JOINTS, enc)
        self.pose_encoder = Encoder(NUM_JOINTS, enc)
        self.skips = nn.ModuleList([DeformableSkip(enc[l], cfg.warp_mode, cfg.learned_offsets)
                                    for l in range(cfg.warp_levels)])
        skip_channels = [2 * c for c in enc]  # appearance + pose stream at every level
        ups, in_channels = [], skip_channels[-1]
        for i, out_channels in enumerate(dec):
            ups.append(up_block(in_channels, out_channels, cfg.dropout if i < cfg.dropout_steps else 0.0, cfg.upsample))
            in_channels = out_channels + skip_channels[-2 - i]
        self.decoder = nn.ModuleList(ups)
        self.to_rgb = nn.Sequential(nn.ReLU(), nn.Conv2d(in_channels, 3, 3, padding=1, bias=True), nn.Tanh())
        self.image_skip = ImageSkip(in_channels, cfg.warp_mode) if cfg.image_skip else None
        init_weights(self)
        if self.image_skip is not None:  # after init_weights, which would undo its start as the plain output
            self.image_skip.reset_parameters()
        for skip in self.skips:  # init_weights must not undo the zero init of the offset heads
            if skip.offset_head is not None:
                nn.init.zeros_(skip.offset_head.weight)

    def forward(self, source_image, source_heatmap, target_heatmap, affines, part_masks,
                deformable: bool | None = None) -> GeneratorOutput:
        """source_image [B, 3, H, W] in [-1, 1], heatmaps [B, 18, H, W], affines [B, P, 2, 3] (target -> source
        pixels, :func:`posegan.geometry.part_affines`), part_masks [B, P, H, W] (zero for invalid parts).

        ``deformable`` overrides the config for this call (False = plain skips, e.g. to compare in the app).
        """
        batch, _, height, width = source_image.shape
        factor = 2 ** (self.num_levels - 1)
        if height % factor or width % factor:
            raise ValueError(f"image size {height}x{width} must be divisible by {factor}")
        assert_shape(source_image, (batch, 3, height, width), "source_image")
        assert_shape(source_heatmap, (batch, NUM_JOINTS, height, width), "source_heatmap")
        assert_shape(target_heatmap, (batch, NUM_JOINTS, height, width), "target_heatmap")
        assert_shape(affines, (batch, NUM_PARTS, 2, 3), "affines")
        assert_shape(part_masks, (batch, NUM_PARTS, height, width), "part_masks")
        deformable = self.cfg.deformable_skips if deformable is None else deformable

        appearance = self.appearance_encoder(torch.cat([source_image, source_heatmap], dim=1))
        pose = self.pose_encoder(target_heatmap)
        out = GeneratorOutput(image=None, source_features=[], warped_features=[], masks=[], offsets=[])
        if deformable:
            theta = affines_to_theta(affines, height, width)  # [B, P, 2, 3], valid at every level
            for level, skip in enumerate(self.skips):
                warped, masks, offsets = skip(appearance[level], theta, part_masks, pose[level])
                out.source_features.append(appearance[level])
                out.warped_features.append(warped)
                out.masks.append(masks)
                if offsets is not None:
                    out.offsets.append(offsets)
                appearance[level] = warped
        skips = [torch.cat([a, p], dim=1) for a, p in zip(appearance, pose)]

        x = skips[-1]
        for i, up in enumerate(self.decoder):
            x = torch.cat([up(x), skips[-2 - i]], dim=1)
        relu, conv, tanh = self.to_rgb  # the ReLU once for both heads (a Sequential still, for its state-dict keys)
        features = relu(x)
        out.image = tanh(conv(features))
        if deformable and self.image_skip is not None:
            out.image, out.image_attention = self.image_skip(features, out.image, source_image, theta, part_masks)
        return out
