import pytest
import torch
from torch import nn

from posegan.config import load_config
from posegan.data import MODEL_INPUTS, MarketPoseDataset
from posegan.networks import Discriminator, Generator
from conftest import MINI_DATA, REPO


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture
def batch():
    ds = MarketPoseDataset(MINI_DATA, "samples")
    return torch.utils.data.default_collate([ds[0], ds[5]])


@pytest.mark.parametrize("config, g_params, d_params", [
    ("market-paper.yaml", 61_109_085, 2_803_782),  # design doc §4.5, computed from the authors' layer list
    ("market-small.yaml", 3_824_877, 184_854),
])
def test_parameter_counts_match_the_design(config, g_params, d_params):
    cfg = load_config(REPO / "configs" / config)
    assert n_params(Generator(cfg.model)) == g_params
    assert n_params(Discriminator(cfg.model)) == d_params


def test_generator_shapes_and_intermediates(tiny_cfg, batch):
    G = Generator(tiny_cfg.model)
    out = G(*[batch[k] for k in MODEL_INPUTS])
    assert out.image.shape == (2, 3, 128, 64)
    assert out.image.abs().max() <= 1
    assert len(out.warped_features) == len(out.source_features) == len(out.masks) == tiny_cfg.model.warp_levels
    for level, (warped, masks) in enumerate(zip(out.warped_features, out.masks)):
        h, w = 128 >> level, 64 >> level
        assert warped.shape == (2, tiny_cfg.model.encoder_channels[level], h, w)
        assert masks.shape == (2, 10, h, w)
    assert out.offsets == []


def test_discriminator_gives_three_patch_logits(tiny_cfg, batch):
    D = Discriminator(tiny_cfg.model)
    logits = D(batch["source_image"], batch["source_heatmap"], batch["target_image"], batch["target_heatmap"])
    assert logits.shape == (2, 3)
    with pytest.raises(ValueError, match="target_heatmap"):
        D(batch["source_image"], batch["source_heatmap"], batch["target_image"], batch["target_heatmap"][:, :17])


def test_gradients_reach_every_parameter(tiny_cfg, batch):
    G = Generator(tiny_cfg.model)
    G(*[batch[k] for k in MODEL_INPUTS]).image.square().mean().backward()
    missing = [name for name, p in G.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_plain_skip_ablation_changes_output_not_structure(tiny_cfg, batch):
    G = Generator(tiny_cfg.model).eval()
    inputs = [batch[k] for k in MODEL_INPUTS]
    with torch.no_grad():
        warped, plain = G(*inputs).image, G(*inputs, deformable=False)
    assert not torch.allclose(warped, plain.image) and plain.warped_features == []
    tiny_cfg.model.deformable_skips = False
    ablation = Generator(tiny_cfg.model).eval()
    ablation.load_state_dict(G.state_dict())  # same parameters: the config flag only switches the warping off
    with torch.no_grad():
        torch.testing.assert_close(ablation(*inputs).image, plain.image)


def test_learned_offsets_start_as_the_affine_warp(tiny_cfg, batch):
    G = Generator(tiny_cfg.model).eval()
    tiny_cfg.model.learned_offsets = True
    torch.manual_seed(0)
    G_off = Generator(tiny_cfg.model).eval()
    G_off.load_state_dict(G.state_dict(), strict=False)
    inputs = [batch[k] for k in MODEL_INPUTS]
    with torch.no_grad():
        out = G_off(*inputs)
        torch.testing.assert_close(out.image, G(*inputs).image)
    assert len(out.offsets) == 4 and out.offsets[0].shape == (2, 10, 128, 64, 2) and not out.offsets[0].any()


def test_state_dict_round_trip_gives_identical_output(tiny_cfg, batch, tmp_path):
    G = Generator(tiny_cfg.model).eval()
    torch.save(G.state_dict(), tmp_path / "g.pt")
    G2 = Generator(tiny_cfg.model).eval()
    G2.load_state_dict(torch.load(tmp_path / "g.pt", weights_only=True))
    inputs = [batch[k] for k in MODEL_INPUTS]
    with torch.no_grad():
        torch.testing.assert_close(G(*inputs).image, G2(*inputs).image)


def test_dropout_only_in_training(tiny_cfg, batch):
    G = Generator(tiny_cfg.model)
    inputs = [batch[k] for k in MODEL_INPUTS]
    with torch.no_grad():
        G.eval()
        assert torch.equal(G(*inputs).image, G(*inputs).image)
        G.train()
        assert not torch.equal(G(*inputs).image, G(*inputs).image)


def test_conv_macs_counts_each_convolution_once():
    from benchmarks.count_macs import conv_macs
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1, stride=2, groups=2))
    # 8 x 10 x 10 outputs x (3 x 3 x 3) taps, then 4 x 5 x 5 outputs x (4 inputs per group x 1 x 1)
    assert conv_macs(model, torch.zeros(1, 3, 10, 10)) == 8 * 100 * 27 + 4 * 25 * 4
