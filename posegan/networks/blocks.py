"""Building blocks shared by the generator and discriminator (design doc ``deformable-gan.md`` §4.1, §4.3).

Pre-activation U-Net ordering as in pix2pix: activation -> (transposed) conv 4x4 stride 2 -> norm -> dropout.

Two ways to double the resolution in the decoder (``model.upsample``):

* ``"transposed"``: ConvTranspose 4x4 stride 2, the paper's. Its four output phases see different kernel taps,
  which prints a fine checkerboard into every image until training has evened them out (Odena et al., "Deconvolution
  and Checkerboard Artifacts", Distill 2016).
* ``"resize_conv"``: nearest x2, then Conv 3x3 (:class:`ResizeConv2d`); every output pixel sees the same kernel,
  so the checkerboard cannot form. :func:`resize_conv_from_transposed` turns a trained transposed kernel into the
  closest 3x3 kernel (least squares), so a trained decoder can be fine-tuned into the new form.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm2d(nn.Module):
    """The authors' "InstanceNormalization" (keras-contrib, axis=None): per-sample normalisation over
    (C, H, W) with one scalar gain and bias (doc §4.3, §8.10); no running statistics, so train = eval."""

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, 1, eps=self.eps) * self.weight + self.bias


def down_block(in_channels: int, out_channels: int, norm: bool = True) -> nn.Sequential:
    """LeakyReLU(0.2) -> Conv 4x4/2 (no bias) -> [norm]: halves H and W."""
    layers = [nn.LeakyReLU(0.2), nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)]
    if norm:
        layers.append(LayerNorm2d())
    return nn.Sequential(*layers)


class ResizeConv2d(nn.Conv2d):
    """Nearest-neighbour x2 up-sampling followed by a 3x3 convolution (no bias): the artefact-free up-sampling.

    Computed as the ConvTranspose 4x4/2 it equals (:func:`transposed_from_resize_conv`, exact, borders included):
    16 instead of 36 multiply-adds per input pixel and channel pair, and no up-sampled copy of the input (issue #14).
    The parameter stays the 3x3 kernel, so checkpoints and :func:`resize_conv_from_transposed` are unchanged. Without
    autograd (inference) the 4x4 kernel is kept until the weight changes: building it costs as much as the
    convolution itself at the coarse levels."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(in_channels, out_channels, 3, padding=1, bias=False)
        self._kernel, self._kernel_key = None, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self._transposed_kernel(), stride=2, padding=1)

    def _transposed_kernel(self) -> torch.Tensor:
        # training: the kernel must be part of the autograd graph; compiling: the frozen graph folds it once (the
        # cache's data_ptr would break the graph)
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return transposed_from_resize_conv(self.weight)
        key = (self.weight.data_ptr(), self.weight._version, self.weight.dtype)  # in-place updates bump the version
        if key != self._kernel_key:
            self._kernel, self._kernel_key = transposed_from_resize_conv(self.weight), key
        return self._kernel


# How one 3x3 tap of a ResizeConv2d lands on the 4 taps of a ConvTranspose 4x4/2/pad 1, along one axis: output row
# 2m reads input rows m-1 (tap 3 of the transposed kernel) and m (tap 1); row 2m+1 reads m (tap 2) and m+1 (tap 0).
# The nearest x2 + 3x3 conv reaches the same input rows with taps (w0 | w1 + w2) and (w0 + w1 | w2).
_TAPS_FROM_RESIZE = torch.tensor([[0.0, 0.0, 1.0],   # transposed tap 0 = w2
                                  [0.0, 1.0, 1.0],   # tap 1 = w1 + w2
                                  [1.0, 1.0, 0.0],   # tap 2 = w0 + w1
                                  [1.0, 0.0, 0.0]])  # tap 3 = w0


def resize_conv_from_transposed(weight: torch.Tensor) -> torch.Tensor:
    """Least-squares 3x3 kernel [out, in, 3, 3] of a ResizeConv2d closest to a ConvTranspose2d(4, stride 2, padding 1)
    kernel [in, out, 4, 4]. Exact when the transposed kernel has no checkerboard component (is reachable at all)."""
    if weight.ndim != 4 or weight.shape[2:] != (4, 4):
        raise ValueError(f"expected a ConvTranspose2d 4x4 kernel [in, out, 4, 4], got {tuple(weight.shape)}")
    projection = torch.linalg.pinv(_TAPS_FROM_RESIZE.double())  # [3, 4]
    kernel = projection @ weight.double() @ projection.T  # separable: rows and columns independently
    return kernel.transpose(0, 1).to(weight.dtype).contiguous()


def transposed_from_resize_conv(weight: torch.Tensor) -> torch.Tensor:
    """The ConvTranspose2d(4, stride 2, padding 1) kernel [in, out, 4, 4] that computes exactly what nearest x2 + the
    3x3 convolution ``weight`` [out, in, 3, 3] computes: the taps of ``_TAPS_FROM_RESIZE`` on rows, then columns."""
    return _transposed_taps(_transposed_taps(weight, 2), 3).transpose(0, 1).contiguous()


def _transposed_taps(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """Along ``dim``, the 3 resize-conv taps (w0, w1, w2) as the 4 transposed taps (w2, w1 + w2, w0 + w1, w0)."""
    w0, w1, w2 = weight.unbind(dim)
    return torch.stack([w2, w1 + w2, w0 + w1, w0], dim)


def up_block(in_channels: int, out_channels: int, dropout: float = 0.0, mode: str = "transposed") -> nn.Sequential:
    """ReLU -> up-sampling x2 (``mode``: "transposed" 4x4/2 or "resize_conv"; no bias) -> norm -> [dropout]."""
    if mode == "transposed":
        upsample = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)
    elif mode == "resize_conv":
        upsample = ResizeConv2d(in_channels, out_channels)
    else:
        raise ValueError(f"upsample must be 'transposed' or 'resize_conv', got {mode!r}")
    layers = [nn.ReLU(), upsample, LayerNorm2d()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """Keras defaults, as in the original: Glorot-uniform kernels, zero biases (doc §4.1)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
