import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from torch.nn import functional as F

from posegan.config import LossConfig
from posegan.losses import (ReconstructionLoss, discriminator_loss, generator_adversarial_loss, offset_smoothness,
                             ssim_loss)
from posegan.networks.vgg import VGG19Features
from posegan.nn_loss import nearest_neighbour_loss


def test_nn_loss_zero_for_identical_features():
    features = torch.rand(2, 8, 16, 12)
    assert nearest_neighbour_loss(features, features).item() == 0


def test_nn_loss_forgives_a_one_pixel_shift():
    target = torch.rand(1, 8, 16, 12)
    shifted = torch.cat([target[..., :1], target[..., :-1]], dim=3)  # moved 1 px right, border replicated
    same_position = (shifted - target).abs().sum(1).mean()
    assert same_position > 1.0
    assert nearest_neighbour_loss(shifted, target, window=3).item() == pytest.approx(0.0, abs=1e-6)
    torch.testing.assert_close(nearest_neighbour_loss(shifted, target, window=1), same_position)
    two_px = torch.cat([target[..., :2], target[..., :-2]], dim=3)
    assert nearest_neighbour_loss(two_px, target, window=3) > 0  # beyond the 3x3 window


def test_nn_loss_searches_the_target_not_the_generated():
    target = torch.zeros(1, 1, 5, 5)
    target[0, 0, 2, 2] = 1.0
    generated = torch.zeros(1, 1, 5, 5)
    # every generated zero finds a zero neighbour in the target -> 0, although the target's peak is unmatched
    assert nearest_neighbour_loss(generated, target).item() == 0
    assert nearest_neighbour_loss(target, generated).item() > 0


def test_nn_loss_gradient_flows_to_generated_only():
    target = torch.rand(1, 4, 6, 6, requires_grad=True)
    generated = torch.rand(1, 4, 6, 6, requires_grad=True)
    nearest_neighbour_loss(generated, target).backward()
    assert generated.grad.abs().sum() > 0 and target.grad is None


def test_vgg_features_and_missing_weights(tmp_path):
    vgg = VGG19Features(["relu1_2", "relu2_1"])
    out = vgg(torch.zeros(1, 3, 32, 16))
    assert out["relu1_2"].shape == (1, 64, 32, 16) and out["relu2_1"].shape == (1, 128, 16, 8)
    assert all(not p.requires_grad for p in vgg.parameters())
    with pytest.raises(FileNotFoundError, match="vgg19_caffe_relu4_1.pth"):
        VGG19Features(["relu1_2"], tmp_path / "missing.pth")


def test_reconstruction_loss_terms_follow_weights():
    image = torch.rand(1, 3, 32, 16) * 2 - 1
    other = torch.rand(1, 3, 32, 16) * 2 - 1
    losses = ReconstructionLoss(LossConfig(l1=2.0, perceptual=0.5))(image, other)
    assert set(losses) == {"G/nn", "G/perceptual", "G/l1"}
    torch.testing.assert_close(losses["G/l1"], 2.0 * F.l1_loss(image, other))
    assert set(ReconstructionLoss(LossConfig(nearest_neighbour=0))(image, other)) == set()
    assert ReconstructionLoss(LossConfig())(image, image)["G/nn"].item() == 0


def test_ssim_loss_matches_the_evaluation_ssim():
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 255, (40, 24, 3))
    generated = np.clip(target + rng.normal(0, 40, target.shape), 0, 255)

    def to_tensor(image):
        return torch.from_numpy(image / 127.5 - 1).permute(2, 0, 1)[None].float()

    expected = structural_similarity(target, generated, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     channel_axis=-1, data_range=255.0)
    loss = ssim_loss(to_tensor(generated), to_tensor(target))
    assert 0.2 < expected < 0.9
    assert loss.item() == pytest.approx(1 - expected, abs=1e-5)
    assert ssim_loss(to_tensor(target), to_tensor(target)).item() == pytest.approx(0, abs=1e-6)
    image = to_tensor(generated).requires_grad_()
    ReconstructionLoss(LossConfig(nearest_neighbour=0, ssim=3.0))(image, to_tensor(target))["G/ssim"].backward()
    assert image.grad.abs().sum() > 0


def test_adversarial_losses_and_offset_smoothness():
    confident_real = torch.full((4, 3), 8.0)
    losses = discriminator_loss(confident_real, -confident_real)
    assert losses["D/real"] < 1e-3 and losses["D/fake"] < 1e-3
    assert generator_adversarial_loss(-confident_real) > 5
    flat = torch.zeros(1, 10, 8, 4, 2)
    assert offset_smoothness([flat]).item() == 0
    assert offset_smoothness([torch.randn(1, 10, 8, 4, 2)]).item() > 0
