"""The compiled fast path (posegan.compiled, issue #14): which calls it takes, with a stand-in for torch.compile
(cheap), and that the real compilation matches eager for every decoder variant with and without deformable skips
(slow: one inductor compilation of 20-60 s per variant, even at tiny width)."""
import threading

import pytest
import torch
import torch._inductor.config  # noqa: F401  (imported by each compilation: here, so that no test waits on it)
from torch.utils.data import default_collate

from posegan import compiled as compiled_module
from posegan.compiled import CompiledGenerator
from posegan.data import MODEL_INPUTS, MarketPoseDataset
from posegan.inference import PoseTransfer
from posegan.networks import Generator
from conftest import MINI_DATA


def sample_inputs(batch_size: int = 1) -> list[torch.Tensor]:
    ds = MarketPoseDataset(MINI_DATA, "samples")
    batch = default_collate([ds[i] for i in (0, 5, 2)[:batch_size]])
    return [batch[k] for k in MODEL_INPUTS]


class StandInCompile:
    """Stands in for ``torch.compile``: runs the module eagerly, counts the calls, and holds the first call (the
    compilation) until ``release`` is set."""

    def __init__(self):
        self.release, self.calls = threading.Event(), 0

    def __call__(self, module, **options):
        def compiled(*inputs):
            self.release.wait(10)
            self.calls += 1
            return module(*inputs)
        return compiled


@pytest.fixture
def stand_in(monkeypatch):
    stand_in = StandInCompile()
    monkeypatch.setattr(compiled_module.torch, "compile", stand_in)
    return stand_in


def test_calls_run_eager_until_compiled_then_only_the_compiled_shapes_and_skips_go_compiled(tiny_cfg, stand_in):
    generator = Generator(tiny_cfg.model).eval()
    inputs = sample_inputs()
    compiled = CompiledGenerator(generator, inputs)
    with torch.inference_mode():
        assert not compiled.ready
        torch.testing.assert_close(compiled(*inputs).image, generator(*inputs).image)  # eager while compiling
        stand_in.release.set()
        assert compiled.wait(10) and compiled.seconds is not None
        assert stand_in.calls == 1  # the compilation's call only

        compiled(*inputs)
        assert stand_in.calls == 2
        compiled(*inputs, deformable=tiny_cfg.model.deformable_skips)
        assert stand_in.calls == 3
        compiled(*inputs, deformable=not tiny_cfg.model.deformable_skips)  # the app's plain-skips comparison
        compiled(*sample_inputs(batch_size=2))                             # another batch size (the app's GIF)
    compiled(*inputs)                                                       # autograd: frozen weights do not hold
    assert stand_in.calls == 3


def test_a_failed_compilation_leaves_eager(tiny_cfg, monkeypatch):
    def no_compiler(module, **options):
        def compiled(*inputs):
            raise RuntimeError("no C++ compiler")
        return compiled
    monkeypatch.setattr(compiled_module.torch, "compile", no_compiler)
    generator = Generator(tiny_cfg.model).eval()
    inputs = sample_inputs()
    compiled = CompiledGenerator(generator, inputs, background=False)
    assert not compiled.wait() and "no C++ compiler" in str(compiled.error)
    with torch.inference_mode():
        torch.testing.assert_close(compiled(*inputs).image, generator(*inputs).image)


def test_pose_transfer_runs_through_the_compiled_generator(tiny_cfg, stand_in, frontal_pose):
    stand_in.release.set()
    pt = PoseTransfer(Generator(tiny_cfg.model), tiny_cfg, compile=True, background=False)
    assert pt.compiled.ready and stand_in.calls == 1
    image = (torch.rand(128, 64, 3) * 255).to(torch.uint8).numpy()
    result = pt(image, frontal_pose, frontal_pose)
    assert stand_in.calls == 2 and result.image.size == (64, 128)


@pytest.mark.slow
@pytest.mark.parametrize("upsample, deformable, image_skip", [
    ("transposed", True, False), ("transposed", False, False), ("resize_conv", True, False),
    ("resize_conv", False, False), ("resize_conv", True, True)])
def test_compiled_generator_matches_eager(tiny_cfg, upsample, deformable, image_skip):
    tiny_cfg.model.upsample, tiny_cfg.model.deformable_skips = upsample, deformable
    tiny_cfg.model.learned_offsets, tiny_cfg.model.image_skip = True, image_skip
    generator = Generator(tiny_cfg.model).eval()
    for skip in generator.skips:  # non-zero offsets, so that the offset heads take part
        torch.nn.init.normal_(skip.offset_head.weight, std=0.05)
    if image_skip:  # a per-pixel choice that varies, not the bias alone
        torch.nn.init.normal_(generator.image_skip.logits.weight, std=0.5)
    inputs = sample_inputs()
    compiled = CompiledGenerator(generator, inputs, background=False)
    assert compiled.ready, compiled.error
    with torch.inference_mode():
        fast, eager = compiled(*inputs), generator(*inputs)
    torch.testing.assert_close(fast.image, eager.image, atol=1e-4, rtol=0)
    for name in ("source_features", "warped_features", "masks", "offsets"):  # what the app's panels draw
        for fast_tensor, eager_tensor in zip(getattr(fast, name), getattr(eager, name), strict=True):
            torch.testing.assert_close(fast_tensor, eager_tensor, atol=1e-4, rtol=0)
    if image_skip:
        torch.testing.assert_close(fast.image_attention, eager.image_attention, atol=1e-4, rtol=0)
