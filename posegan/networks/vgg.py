"""Frozen VGG19 (original Caffe weights) up to relu4_1, the feature network of the NN and perceptual losses.

Design doc ``deformable-gan.md`` §5.2-§5.3; weights ``checkpoints/vgg19_caffe_relu4_1.pth`` (a plain
state_dict with torchvision ``vgg19().features[:21]`` keys; provenance in ``checkpoints/README.md``).
Preprocessing is the correct Caffe convention: RGB [-1, 1] -> BGR 0..255 minus the BGR means. (The
authors' Keras code subtracts the means before the RGB->BGR flip, swapping the R and B means; doc §5.3.
The effect is small; we use the correct order.)
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..utils import assert_shape

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "checkpoints" / "vgg19_caffe_relu4_1.pth"
# Conv widths of VGG19 up to conv4_1; "M" = 2x2 max pool. Indices then match torchvision's features.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512)
LAYER_INDEX = {  # output index in the Sequential of each ReLU
    "relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8,
    "relu3_1": 11, "relu3_2": 13, "relu3_3": 15, "relu3_4": 17, "relu4_1": 20,
}
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


class VGG19Features(nn.Module):
    """``VGG19Features(layers)(image)`` -> {layer name: features} for images in [-1, 1], RGB, [B, 3, H, W]."""

    def __init__(self, layers, weights_path=DEFAULT_WEIGHTS):
        super().__init__()
        unknown = [name for name in layers if name not in LAYER_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG layers {unknown}; valid: {', '.join(LAYER_INDEX)}")
        weights_path = Path(weights_path)
        if not weights_path.is_file():
            raise FileNotFoundError(
                f"VGG19 weights not found at {weights_path}. Copy vgg19_caffe_relu4_1.pth from the shared weights "
                "folder (../shared/weights/) into checkpoints/.")
        self.layers = sorted(set(layers), key=LAYER_INDEX.get)
        modules, channels = [], 3
        for item in _LAYOUT:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        full = nn.Sequential(*modules)
        full.load_state_dict(state, strict=True)
        self.net = full[: LAYER_INDEX[self.layers[-1]] + 1]  # only as deep as the deepest requested layer
        self.net.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(CAFFE_BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: always in eval mode

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        assert_shape(image, (None, 3, None, None), "image")
        x = (image.flip(1) + 1.0) * 127.5 - self.mean  # RGB [-1, 1] -> Caffe BGR, mean-subtracted
        wanted = {LAYER_INDEX[name]: name for name in self.layers}
        out = {}
        for index, module in enumerate(self.net):
            x = module(x)
            if index in wanted:
                out[wanted[index]] = x
        return out
