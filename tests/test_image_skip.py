"""The image skip (posegan.networks.image_skip): the output head that copies part-warped source pixels."""
import pytest
import torch

from posegan.checkpoint import load_weights_converted
from posegan.data import MODEL_INPUTS, MarketPoseDataset
from posegan.geometry import NUM_PARTS, affines_to_theta
from posegan.networks import Generator
from posegan.networks.image_skip import PART_BIAS, ImageSkip
from conftest import MINI_DATA


@pytest.fixture
def batch():
    ds = MarketPoseDataset(MINI_DATA, "samples")
    return torch.utils.data.default_collate([ds[0], ds[5]])


def shifted_affines(dx: float, batch: int = 1) -> torch.Tensor:
    """Every part's target -> source pixel map: x_s = x_t + dx, y_s = y_t."""
    affine = torch.tensor([[1.0, 0.0, dx], [0.0, 1.0, 0.0]])
    return affine.expand(batch, NUM_PARTS, 2, 3).contiguous()


def head_choosing(choice: int, channels: int = 4) -> ImageSkip:
    """An image skip whose logits pick ``choice`` (a part, or NUM_PARTS = the generated colour) everywhere."""
    head = ImageSkip(channels)
    head.reset_parameters()
    with torch.no_grad():
        head.logits.bias.fill_(-30.0)
        head.logits.bias[choice] = 30.0
    return head


def test_copying_the_torso_part_reads_the_source_where_its_affine_points():
    """Torso chosen, the affine a 5 px shift: output pixel x is the source pixel x + 5, and 0 past the border."""
    source = torch.rand(1, 3, 128, 64) * 2 - 1
    masks = torch.ones(1, NUM_PARTS, 128, 64)
    head = head_choosing(0)
    image, attention = head(torch.zeros(1, 4, 128, 64), torch.zeros(1, 3, 128, 64), source,
                            affines_to_theta(shifted_affines(5.0)), masks)
    torch.testing.assert_close(image[..., :59], source[..., 5:], atol=1e-5, rtol=0)
    assert image[..., 59:].abs().max() < 1e-5
    assert torch.allclose(attention[:, 0], torch.ones(1, 128, 64))


def test_a_part_is_no_choice_outside_its_mask():
    """The right forearm is preferred everywhere, but only its mask's pixels may copy from it; elsewhere the generated
    colour and the torso share the weight, and every pixel's weights sum to 1."""
    source, rgb = torch.rand(1, 3, 128, 64) * 2 - 1, torch.rand(1, 3, 128, 64) * 2 - 1
    masks = torch.zeros(1, NUM_PARTS, 128, 64)
    masks[:, 0] = 1
    masks[:, 8, 40:60, 10:20] = 1
    head = head_choosing(8)
    image, attention = head(torch.zeros(1, 4, 128, 64), rgb, source, affines_to_theta(shifted_affines(0.0)), masks)
    inside = masks[0, 8] > 0
    assert torch.allclose(attention[0, 8][inside], torch.ones(()))
    assert attention[0, 8][~inside].max() == 0
    assert torch.equal(attention[0, 1:8], torch.zeros(7, 128, 64))
    torch.testing.assert_close(attention.sum(1), torch.ones(1, 128, 64))
    torch.testing.assert_close(image[0][:, inside], source[0][:, inside], atol=1e-5, rtol=0)
    torch.testing.assert_close(image[0][:, ~inside], ((source + rgb) / 2)[0][:, ~inside], atol=1e-5, rtol=0)


def test_a_new_image_skip_starts_from_its_bias_blend(tiny_cfg, batch):
    """Fine-tuning starts from the plain generator's weights: where n parts cover a pixel, the generated colour keeps
    1 / (1 + n e^PART_BIAS) of it; the other weights load unchanged and only the head's are new."""
    plain = Generator(tiny_cfg.model).eval()
    tiny_cfg.model.image_skip = True
    tuned = Generator(tiny_cfg.model).eval()
    missing = load_weights_converted(tuned, plain.state_dict())
    assert missing == ["image_skip.logits.weight", "image_skip.logits.bias"]
    inputs = [batch[k] for k in MODEL_INPUTS]
    out = tuned(*inputs)
    covering = batch["part_masks"].sum(1)  # parts covering each pixel (torso everywhere)
    expected = 1 / (1 + covering * torch.exp(torch.tensor(PART_BIAS)))
    torch.testing.assert_close(out.image_attention[:, -1], expected, atol=1e-5, rtol=0)
    assert out.image_attention.shape == (2, NUM_PARTS + 1, 128, 64)
    assert out.image.shape == (2, 3, 128, 64) and out.image.abs().max() <= 1
    # the plain skips (the app's comparison) bypass it: exactly the plain generator's output
    torch.testing.assert_close(tuned(*inputs, deformable=False).image, plain(*inputs, deformable=False).image)
    assert tuned(*inputs, deformable=False).image_attention is None


def test_gradients_reach_the_image_skip_and_the_colour(tiny_cfg, batch):
    tiny_cfg.model.image_skip = True
    generator = Generator(tiny_cfg.model)
    generator(*[batch[k] for k in MODEL_INPUTS]).image.square().mean().backward()
    for parameter in (generator.image_skip.logits.weight, generator.image_skip.logits.bias, generator.to_rgb[1].weight):
        assert parameter.grad.abs().sum() > 0


def test_the_image_skip_needs_deformable_skips(tiny_cfg):
    tiny_cfg.model.image_skip, tiny_cfg.model.deformable_skips = True, False
    with pytest.raises(ValueError, match="deformable_skips"):
        Generator(tiny_cfg.model)
