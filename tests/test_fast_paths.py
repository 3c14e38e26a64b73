"""The fast forms of issue #14 against the straightforward ones, kept here as references: the deformable skip's
one-call, mask-folded warp against the per-part warp-multiply-max, the resize-conv as a transposed convolution against
nearest x2 + 3x3 conv, and the whole generator built from either."""
import pytest
import torch
from torch.nn import functional as F

from posegan.data import MODEL_INPUTS, MarketPoseDataset
from posegan.geometry import NUM_PARTS
from posegan.networks import Generator
from posegan.networks.blocks import ResizeConv2d, resize_conv_from_transposed, transposed_from_resize_conv
from posegan.networks.deformable_skip import DeformableSkip
from conftest import MINI_DATA


def reference_skip(skip, features, theta, part_masks, pose_features=None):
    """Paper §3.2 as written: warp a copy of the features per part, multiply by the part's mask, max over parts."""
    batch, channels, height, width = features.shape
    grid = F.affine_grid(theta.reshape(batch * NUM_PARTS, 2, 3), [batch * NUM_PARTS, channels, height, width],
                         align_corners=False)
    offsets = None
    if skip.offset_head is not None:
        offsets = skip.offset_head(pose_features).view(batch, NUM_PARTS, 2, height, width).permute(0, 1, 3, 4, 2)
        grid = grid + offsets.reshape(batch * NUM_PARTS, height, width, 2)
    repeated = features.repeat_interleave(NUM_PARTS, dim=0)
    warped = F.grid_sample(repeated, grid, mode=skip.mode, padding_mode="zeros", align_corners=False)
    masks = F.interpolate(part_masks, size=(height, width), mode="nearest")
    combined = (warped.view(batch, NUM_PARTS, channels, height, width) * masks[:, :, None]).amax(dim=1)
    return combined, masks, offsets


def random_inputs(batch=2, channels=3, height=16, width=8, full=(32, 16)):
    features = torch.randn(batch, channels, height, width, requires_grad=True)
    theta = torch.eye(2, 3).expand(batch, NUM_PARTS, 2, 3) + 0.3 * torch.randn(batch, NUM_PARTS, 2, 3)
    part_masks = (torch.rand(batch, NUM_PARTS, *full) > 0.5).float()
    part_masks[0, 3] = 0  # invalid parts: all-zero masks, as geometry.skip_inputs gives them
    part_masks[1, 7:] = 0
    pose_features = torch.randn(batch, 5, height, width)
    return features, theta, part_masks, pose_features


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("learned_offsets", [False, True])
def test_matches_the_per_part_reference_with_gradients(mode, learned_offsets):
    skip = DeformableSkip(5, mode, learned_offsets)
    if learned_offsets:  # non-zero offsets, so that they move the samples
        torch.nn.init.normal_(skip.offset_head.weight, std=0.05)
    features, theta, part_masks, pose_features = random_inputs()
    fast = skip(features, theta, part_masks, pose_features)
    slow = reference_skip(skip, features, theta, part_masks, pose_features)
    torch.testing.assert_close(fast[0], slow[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(fast[1], slow[1], atol=0, rtol=0)
    assert (fast[2] is None) == (slow[2] is None)
    assert (fast[0] == 0).any() and (fast[0] > 0).any()  # the max over parts includes the masked-out zeros

    weights = torch.randn_like(fast[0])
    params = [features] + list(skip.parameters())
    fast_grads = torch.autograd.grad((fast[0] * weights).sum(), params)
    slow_grads = torch.autograd.grad((slow[0] * weights).sum(), params)
    for fast_grad, slow_grad in zip(fast_grads, slow_grads):
        torch.testing.assert_close(fast_grad, slow_grad, atol=1e-4, rtol=1e-4)


def test_masked_out_pixels_read_nothing():
    """A pixel no part covers gets 0 whatever the features are: the mask is folded into the sampling."""
    skip = DeformableSkip(5)
    features, theta, part_masks, _ = random_inputs()
    part_masks[:, :, :8] = 0  # the top quarter of the target is covered by no part
    combined, _, _ = skip(features.detach().abs() + 1, theta, part_masks)
    assert not combined[:, :, :4].any() and (combined[:, :, 4:] >= 0).all()


def test_any_memory_format_gives_the_same_output():
    skip = DeformableSkip(5)
    features, theta, part_masks, _ = random_inputs()
    expected = skip(features, theta, part_masks)[0]
    channels_last = [x.contiguous(memory_format=torch.channels_last) for x in (features, part_masks)]
    torch.testing.assert_close(skip(channels_last[0], theta, channels_last[1])[0], expected)


def reference_resize_conv(module, x):
    return F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), module.weight, padding=1)


def test_resize_conv_as_transposed_conv_matches_nearest_then_conv_with_gradients():
    resize = ResizeConv2d(6, 5)
    x = torch.randn(2, 6, 4, 3, requires_grad=True)
    fast, slow = resize(x), reference_resize_conv(resize, x)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=0)
    weights = torch.randn_like(fast)
    for fast_grad, slow_grad in zip(torch.autograd.grad((fast * weights).sum(), [x, resize.weight]),
                                    torch.autograd.grad((slow * weights).sum(), [x, resize.weight])):
        torch.testing.assert_close(fast_grad, slow_grad, atol=1e-5, rtol=1e-5)
    # the transposed kernel is reachable, so the least-squares projection gives the 3x3 kernel back
    torch.testing.assert_close(resize_conv_from_transposed(transposed_from_resize_conv(resize.weight.detach())),
                               resize.weight.detach())


@pytest.mark.parametrize("upsample", ["transposed", "resize_conv"])
@pytest.mark.parametrize("deformable", [True, False])
@pytest.mark.parametrize("learned_offsets", [False, True])
def test_generator_fast_and_plain_paths_agree(tiny_cfg, monkeypatch, upsample, deformable, learned_offsets):
    tiny_cfg.model.upsample, tiny_cfg.model.learned_offsets = upsample, learned_offsets
    G = Generator(tiny_cfg.model).eval()
    for skip in G.skips if learned_offsets else []:
        torch.nn.init.normal_(skip.offset_head.weight, std=0.05)
    ds = MarketPoseDataset(MINI_DATA, "samples")
    inputs = [torch.utils.data.default_collate([ds[0], ds[5]])[k] for k in MODEL_INPUTS]
    with torch.no_grad():
        fast = G(*inputs, deformable=deformable)
        monkeypatch.setattr(DeformableSkip, "forward", reference_skip)
        monkeypatch.setattr(ResizeConv2d, "forward", reference_resize_conv)
        plain = G(*inputs, deformable=deformable)
    torch.testing.assert_close(fast.image, plain.image, atol=1e-5, rtol=0)
    for fast_warped, plain_warped in zip(fast.warped_features, plain.warped_features, strict=True):
        torch.testing.assert_close(fast_warped, plain_warped, atol=1e-5, rtol=0)


def test_resize_conv_inference_kernel_follows_weight_changes():
    resize = ResizeConv2d(3, 4).eval()
    x = torch.randn(1, 3, 4, 2)
    with torch.inference_mode():
        before = resize(x)
        assert torch.equal(resize(x), before)  # the kept kernel
        with torch.no_grad():
            resize.weight.mul_(2)  # an optimiser or EMA step, or load_state_dict: in place
        torch.testing.assert_close(resize(x), 2 * before)
        resize.load_state_dict({"weight": torch.zeros(4, 3, 3, 3)})
        assert not resize(x).any()
