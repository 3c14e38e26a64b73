"""Issue #13 variants: resize-conv decoder, spectrally normalised D, hinge / least-squares GAN losses, feature
matching and style losses, fine-tuning from a checkpoint of another form, and the pose edits of the benchmark."""
import numpy as np
import pytest
import torch
from torch import nn

from posegan import losses
from posegan.checkpoint import FORMAT, load_weights_converted, save_atomic
from posegan.data import MODEL_INPUTS, MarketPoseDataset
from posegan.keypoints import is_present
from posegan.losses import (ReconstructionLoss, discriminator_loss, feature_matching_loss, generator_adversarial_loss,
                            gram_matrix)
from posegan.networks import Discriminator, Generator
from posegan.networks.blocks import _TAPS_FROM_RESIZE, LayerNorm2d, ResizeConv2d, resize_conv_from_transposed
from posegan.pose_edits import ARMS, EDITS, raise_arm, spread_legs
from posegan.train import Trainer
from conftest import MINI_DATA


@pytest.fixture
def batch():
    ds = MarketPoseDataset(MINI_DATA, "samples")
    return torch.utils.data.default_collate([ds[0], ds[5]])


def test_resize_conv_reproduces_a_transposed_conv_without_checkerboard_component():
    kernel = torch.randn(5, 3, 3, 3)  # [out, in, 3, 3]
    transposed = nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1, bias=False)
    transposed.weight.data = torch.einsum("ka,oiab,lb->iokl", _TAPS_FROM_RESIZE, kernel, _TAPS_FROM_RESIZE)
    resize = ResizeConv2d(3, 5)
    resize.weight.data = resize_conv_from_transposed(transposed.weight.data)
    x = torch.randn(2, 3, 8, 6)
    assert torch.allclose(resize.weight, kernel, atol=1e-5)
    assert torch.allclose(resize(x), transposed(x), atol=1e-4)  # borders included


def test_resize_conv_cannot_print_a_checkerboard():
    """A constant input gives a constant interior for resize-conv; a random transposed kernel gives a 2x2 pattern."""
    torch.manual_seed(0)
    transposed = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1, bias=False)
    resize = ResizeConv2d(1, 1)
    resize.weight.data = resize_conv_from_transposed(transposed.weight.data)
    x = torch.ones(1, 1, 8, 8)
    assert transposed(x)[..., 2:-2, 2:-2].std() > 1e-3
    assert resize(x)[..., 2:-2, 2:-2].std() < 1e-6


@pytest.mark.parametrize("upsample", ["transposed", "resize_conv"])
def test_generator_decoder_variants_keep_shapes(tiny_cfg, batch, upsample):
    tiny_cfg.model.upsample = upsample
    out = Generator(tiny_cfg.model)(*[batch[k] for k in MODEL_INPUTS])
    assert out.image.shape == (2, 3, 128, 64) and out.image.abs().max() <= 1


def test_unknown_upsample_is_refused(tiny_cfg):
    tiny_cfg.model.upsample = "pixel_shuffle"
    with pytest.raises(ValueError, match="upsample"):
        Generator(tiny_cfg.model)


def test_spectral_norm_discriminator_features_and_bounded_layers(tiny_cfg, batch):
    tiny_cfg.model.discriminator_spectral_norm = True
    D = Discriminator(tiny_cfg.model)
    inputs = (batch["source_image"], batch["source_heatmap"], batch["target_image"], batch["target_heatmap"])
    for _ in range(20):  # power iteration converges over forward passes in training mode
        logits, inner = D(*inputs, features=True)
    assert logits.shape == (2, 3) and len(inner) == len(tiny_cfg.model.discriminator_channels)
    assert [f.shape[1] for f in inner] == tiny_cfg.model.discriminator_channels
    for module in D.modules():
        if isinstance(module, nn.Conv2d):
            sigma = torch.linalg.matrix_norm(module.weight.detach().flatten(1), ord=2)
            assert sigma == pytest.approx(1.0, rel=0.05)


def test_plain_discriminator_weights_load_into_a_spectral_norm_one(tiny_cfg):
    plain = Discriminator(tiny_cfg.model)
    tiny_cfg.model.discriminator_spectral_norm = True
    normalised = Discriminator(tiny_cfg.model)
    missing = load_weights_converted(normalised, plain.state_dict())
    assert missing and all(name.endswith(("._u", "._v")) for name in missing)
    first = normalised.net[0]
    assert torch.equal(first.parametrizations.weight.original, plain.net[0].weight)


def test_a_spectral_norm_discriminator_loads_whole_into_another(tiny_cfg):
    """Fine-tuning from a run that already has the normalised D (train.init_from): every tensor is taken over, the
    power-iteration vectors included; none starts fresh."""
    tiny_cfg.model.discriminator_spectral_norm = True
    trained, fresh = Discriminator(tiny_cfg.model), Discriminator(tiny_cfg.model)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(1.0)
    assert load_weights_converted(fresh, trained.state_dict()) == []
    for name, value in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name


def test_local_head_adds_one_logit_per_cell_that_sees_only_its_neighbourhood(tiny_cfg, batch):
    """The second D scale: 7x3 more logits at 128x64, each with a 46x46-pixel receptive field, so a change at the
    bottom of the image leaves the top row of cells as it was (checked with the per-sample normalisation, whose
    statistics span the whole image, taken out); a paper D loads into it with only the head fresh."""
    paper_D = Discriminator(tiny_cfg.model)
    tiny_cfg.model.discriminator_local_head = True
    D = Discriminator(tiny_cfg.model).eval()
    assert load_weights_converted(D, paper_D.state_dict()) == ["local_head.1.weight"]
    inputs = [batch["source_image"], batch["source_heatmap"], batch["target_image"], batch["target_heatmap"]]
    logits, inner = D(*inputs, features=True)
    assert logits.shape == (2, 3 + 7 * 3) and len(inner) == len(tiny_cfg.model.discriminator_channels)
    assert torch.equal(logits[:, :3], paper_D.eval()(*inputs))  # the paper's 3 global patches are unchanged
    for module in D.modules():
        for name, child in module.named_children():
            if isinstance(child, LayerNorm2d):
                setattr(module, name, nn.Identity())
    changed = inputs[2].clone()
    changed[:, :, 64:] = torch.rand_like(changed[:, :, 64:])
    local_before, local_after = (D(*inputs[:2], image, inputs[3])[:, 3:].reshape(2, 7, 3) for image in (inputs[2], changed))
    assert torch.equal(local_before[:, 0], local_after[:, 0])   # cells over rows 0-45: untouched
    assert not torch.allclose(local_before[:, -1], local_after[:, -1])


def test_transposed_decoder_converts_into_resize_conv(tiny_cfg, batch):
    transposed = Generator(tiny_cfg.model).eval()
    tiny_cfg.model.upsample = "resize_conv"
    resize = Generator(tiny_cfg.model).eval()
    assert load_weights_converted(resize, transposed.state_dict()) == []
    assert torch.equal(resize.decoder[0][1].weight, resize_conv_from_transposed(transposed.decoder[0][1].weight))
    assert torch.equal(resize.appearance_encoder.levels[1][1].weight, transposed.appearance_encoder.levels[1][1].weight)
    inputs = [batch[k] for k in MODEL_INPUTS]
    with torch.no_grad():  # the projection keeps the network close to what it was, not merely the right shapes
        a, b = transposed(*inputs).image, resize(*inputs).image
    assert (a - b).abs().mean() < (a - Generator(tiny_cfg.model).eval()(*inputs).image).abs().mean()
    tiny_cfg.model.encoder_channels = [4, 8, 8, 8, 8, 16]
    with pytest.raises(ValueError, match="shape"):
        load_weights_converted(Generator(tiny_cfg.model), transposed.state_dict())


def test_gan_loss_types():
    confident = torch.full((4, 3), 8.0)
    for gan_type in ("bce", "hinge", "lsgan"):
        right = discriminator_loss(confident, -confident, gan_type)
        wrong = discriminator_loss(-confident, confident, gan_type)
        assert sum(right.values()) < sum(wrong.values())
        assert generator_adversarial_loss(confident, gan_type) < generator_adversarial_loss(-confident, gan_type)
    hinge = discriminator_loss(torch.tensor([[2.0, 0.5]]), torch.tensor([[-2.0, 0.0]]), "hinge")
    assert hinge["D/real"].item() == pytest.approx(0.25) and hinge["D/fake"].item() == pytest.approx(0.5)
    assert discriminator_loss(torch.ones(1, 3), -torch.ones(1, 3), "lsgan")["D/fake"].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="gan_type"):
        generator_adversarial_loss(confident, "wasserstein")


def test_feature_matching_and_gram_matrix():
    real = [torch.randn(2, 4, 6, 6), torch.randn(2, 8, 3, 3)]
    fake = [f.clone().requires_grad_(True) for f in real]
    assert feature_matching_loss(real, fake).item() == 0
    shifted = [fake[0] + 1.0, fake[1]]
    assert feature_matching_loss(real, shifted).item() == pytest.approx(0.5)
    features = torch.randn(2, 3, 5, 4)
    gram = gram_matrix(features)
    assert gram.shape == (2, 3, 3) and torch.allclose(gram, gram.transpose(1, 2))
    assert gram[0, 1, 2] == pytest.approx((features[0, 1] * features[0, 2]).sum().item() / 60, rel=1e-5)


def test_style_and_perceptual_terms_under_bf16(tiny_cfg):
    cfg = tiny_cfg.loss
    cfg.nearest_neighbour, cfg.perceptual, cfg.style, cfg.vgg_bf16 = 0.0, 1.0, 1.0, True
    loss = ReconstructionLoss(cfg)
    image = torch.rand(1, 3, 32, 16) * 2 - 1
    same = loss(image, image)
    assert set(same) == {"G/perceptual", "G/style"} and all(v.item() < 1e-3 * (1 + v.item()) for v in same.values())
    generated = image.flip(2).requires_grad_(True)
    different = loss(generated, image)
    assert all(v.item() > 0 and v.dtype == torch.float32 for v in different.values())
    sum(different.values()).backward()
    assert generated.grad.abs().sum() > 0


def test_vgg_bf16_only_where_the_device_runs_bf16_natively(tiny_cfg, monkeypatch):
    # emulated bf16 (an AVX2-only CPU) made a training step 19x slower: such a device computes the VGG in float32
    tiny_cfg.loss.vgg_bf16 = True
    loss = ReconstructionLoss(tiny_cfg.loss)
    image, target = torch.rand(1, 3, 32, 16) * 2 - 1, torch.rand(1, 3, 32, 16) * 2 - 1
    monkeypatch.setattr(losses, "native_bf16", lambda device: False)
    emulated = loss.vgg_features(image, target)[0]
    monkeypatch.setattr(losses, "native_bf16", lambda device: True)
    native = loss.vgg_features(image, target)[0]
    tiny_cfg.loss.vgg_bf16 = False
    float32 = loss.vgg_features(image, target)[0]
    assert all(torch.equal(emulated[name], float32[name]) for name in float32)
    assert all(not torch.equal(native[name], float32[name]) for name in float32)


@pytest.mark.parametrize("changes", [
    {"model.upsample": "resize_conv"},
    {"model.discriminator_spectral_norm": True, "loss.gan_type": "hinge", "loss.feature_matching": 1.0},
    {"loss.perceptual": 0.01, "loss.style": 0.001, "loss.vgg_bf16": True, "loss.gan_type": "lsgan"},
    {"model.image_skip": True},
])
def test_fine_tuning_from_a_checkpoint_of_another_form(tiny_cfg, tmp_path, changes, capsys):
    source = Trainer(tiny_cfg, tmp_path / "source", MINI_DATA, split="samples", sample_split="samples", device="cpu")
    source.run(max_steps=1)
    for key, value in changes.items():
        section, name = key.split(".")
        setattr(getattr(tiny_cfg, section), name, value)
    tiny_cfg.train.init_from = str(tmp_path / "source" / "latest.pt")
    capsys.readouterr()
    tuned = Trainer(tiny_cfg, tmp_path / "tuned", MINI_DATA, split="samples", sample_split="samples", device="cpu")
    log = capsys.readouterr().out
    new = log.split("; new: ")[1].splitlines()[0].split(", ") if "; new: " in log else []
    assert len(new) == len(set(new)), log  # G and its moving average miss the same tensors: each is named once
    assert bool(new) == ("model.image_skip" in changes) and all(name.startswith("image_skip.") for name in new), log
    assert torch.equal(tuned.G.pose_encoder.levels[0].weight, source.G.pose_encoder.levels[0].weight)
    assert tuned.step == 0
    stats = tuned.train_step(tuned.batch(0))
    expected = {"D/real", "D/fake", "G/adversarial", "G/nn"} | {
        name for key, name in (("loss.feature_matching", "G/feature_matching"), ("loss.perceptual", "G/perceptual"),
                               ("loss.style", "G/style")) if key in changes}
    assert set(stats) == expected and all(np.isfinite(v) for v in stats.values())
    assert set(tuned.loss_names()) == expected


def test_pose_edits_keep_limbs_and_frame(mini_poses):
    edited_any = {name: 0 for name in EDITS}
    for pose in mini_poses.values():
        for name, edit in EDITS.items():
            result = edit(pose)
            if result is None:
                continue
            new, moved = result
            edited_any[name] += 1
            assert new.shape == (18, 2) and new.dtype == np.float32 and moved
            assert (is_present(new) == is_present(pose)).all() if name != "mirror" else is_present(new).sum() == is_present(pose).sum()
            inside = new[is_present(new)]
            assert (inside >= 0).all() and (inside[:, 0] <= 63).all() and (inside[:, 1] <= 127).all()
            assert all(np.linalg.norm(new[j] - pose[j]) >= 1 for j in moved)
    assert all(edited_any.values()), edited_any


def test_raise_arm_keeps_limb_lengths_and_lifts_the_wrist(frontal_pose):
    for side, (shoulder, elbow, wrist) in ARMS.items():
        new, moved = raise_arm(frontal_pose, side)
        assert moved == [elbow, wrist]
        for a, b in ((shoulder, elbow), (elbow, wrist)):
            assert np.linalg.norm(new[a] - new[b]) == pytest.approx(np.linalg.norm(frontal_pose[a] - frontal_pose[b]), abs=1e-3)
        assert new[wrist, 1] < new[shoulder, 1]
        untouched = [j for j in range(18) if j not in moved]
        assert np.array_equal(new[untouched], frontal_pose[untouched])


def test_spread_legs_moves_the_feet_apart(frontal_pose):
    new, moved = spread_legs(frontal_pose)
    right_ankle, left_ankle = 10, 13
    assert abs(new[right_ankle, 0] - new[left_ankle, 0]) > abs(frontal_pose[right_ankle, 0] - frontal_pose[left_ankle, 0]) + 5
    assert raise_arm(np.full((18, 2), -1.0, np.float32)) is None  # nothing to edit: skipped, not invented


def test_pose_edit_comparison_pools_joints_pair_by_pair():
    """benchmarks/compare_pose_edits.py: the pooled share of edited joints found, A - B on the pairs both scored, a
    bootstrap interval around it that holds 0 for two identical checkpoints and excludes it for a clear win."""
    from benchmarks.compare_pose_edits import compare_edit
    b = {pair: (1, 2) for pair in range(100)}  # one of two edited joints found on every pair: share 0.5
    a = {pair: (2, 2) if pair < 40 else (1, 2) for pair in range(100)}  # both found on 40 pairs: 0.7
    a[100] = (2, 2)  # a pair only A scored (B had no head box there) is left out
    result = compare_edit(a, b)
    assert (result["pairs"], result["pairs_a_more"], result["pairs_a_fewer"]) == (100, 40, 0)
    assert result["a"] == pytest.approx(0.7) and result["a_minus_b"] == pytest.approx(0.2)
    assert 0 < result["ci95"][0] < 0.2 < result["ci95"][1]
    same = compare_edit(b, b)
    assert same["a_minus_b"] == 0 and same["ci95"] == [0.0, 0.0]
    with pytest.raises(SystemExit, match="different joints"):
        compare_edit({0: (1, 4)}, {0: (1, 2)})
