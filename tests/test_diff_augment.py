"""DiffAugment of D's inputs: each transform is the one it claims, drawn once per pair, applied alike to the pair's
four inputs and to its copies, differentiable; the trainer runs with it and stays resumable."""
import pytest
import torch

from posegan.diff_augment import CUTOUT_RATIO, TRANSLATION_RATIO, augment, parse_policy
from posegan.train import Trainer
from conftest import MINI_DATA

PAIRS, COPIES, H, W = 3, 2, 32, 16


def dot_inputs(y: int = 11, x: int = 5):
    """D's four inputs, N = PAIRS x COPIES, each channel 0 everywhere but 1 at (y, x)."""
    def dot(channels):
        t = torch.zeros(PAIRS * COPIES, channels, H, W)
        t[:, :, y, x] = 1.0
        return t
    return dot(3), dot(18), dot(3), dot(18)


def test_parse_policy_checks_names():
    assert parse_policy("") == [] and parse_policy(" color, cutout ") == ["color", "cutout"]
    with pytest.raises(ValueError, match="unknown d_augment policy.*'flip'"):
        parse_policy("translation,flip")


def test_no_policy_is_the_identity():
    inputs = dot_inputs()
    assert all(a is b for a, b in zip(augment([], *inputs, copies=COPIES), inputs))


def test_translation_shifts_every_input_of_a_pair_by_the_same_integer_offset():
    torch.manual_seed(0)
    y, x = 11, 5
    seen = set()
    for _ in range(20):
        outputs = augment(["translation"], *dot_inputs(y, x), copies=COPIES)
        for row in range(PAIRS * COPIES):
            positions = {tuple(torch.nonzero(t[row, c]).flatten().tolist()) for t in outputs for c in range(t.shape[1])}
            assert len(positions) == 1, "every channel of a pair moves alike"
            (new_y, new_x), = positions  # the dot stays whole: the shift is an integer, the frame big enough
            assert abs(new_y - y) <= round(H * TRANSLATION_RATIO) and abs(new_x - x) <= round(W * TRANSLATION_RATIO)
            assert sum(float(t[row].sum()) for t in outputs) == 42.0  # moved, not blurred
            if row >= PAIRS:  # a copy: the same shift as its pair
                assert torch.equal(outputs[2][row], outputs[2][row - PAIRS])
            seen.add((new_y - y, new_x - x))
    assert len(seen) > 10  # the shifts are drawn, not fixed


def test_translation_fills_with_zeros_what_comes_in_from_outside():
    torch.manual_seed(1)
    ones = [torch.ones(PAIRS * COPIES, c, H, W) for c in (3, 18, 3, 18)]
    out = augment(["translation"], *ones, copies=COPIES)[3]
    for row in out:
        rows_kept = int(row[0].any(dim=1).sum())
        cols_kept = int(row[0].any(dim=0).sum())
        assert float(row[0].sum()) == rows_kept * cols_kept  # a rectangle of ones, zeros around it
        assert rows_kept >= H - round(H * TRANSLATION_RATIO) and cols_kept >= W - round(W * TRANSLATION_RATIO)


def test_cutout_zeroes_one_rectangle_of_half_each_side_in_every_channel():
    torch.manual_seed(2)
    ones = [torch.ones(PAIRS * COPIES, c, H, W) for c in (3, 18, 3, 18)]
    for _ in range(10):
        outputs = augment(["cutout"], *ones, copies=COPIES)
        for row in range(PAIRS * COPIES):
            hole = outputs[0][row, 0] == 0
            for t in outputs:
                assert torch.equal(t[row] == 0, hole.expand_as(t[row]))
            rows, cols = hole.any(dim=1).nonzero().flatten(), hole.any(dim=0).nonzero().flatten()
            assert int(hole.sum()) == len(rows) * len(cols)  # one axis-aligned rectangle
            assert len(rows) <= H * CUTOUT_RATIO and len(cols) <= W * CUTOUT_RATIO
            inside = (rows[0] > 0 and rows[-1] < H - 1) and (cols[0] > 0 and cols[-1] < W - 1)
            if inside:  # away from the frame's edge the whole rectangle shows
                assert (len(rows), len(cols)) == (H * CUTOUT_RATIO, W * CUTOUT_RATIO)
            if row >= PAIRS:
                assert torch.equal(hole, outputs[0][row - PAIRS, 0] == 0)


def test_color_changes_the_source_and_the_candidate_alike_and_leaves_heatmaps():
    torch.manual_seed(3)
    image = (torch.rand(PAIRS, 3, H, W) * 2 - 1).repeat(COPIES, 1, 1, 1)  # the copies of each pair alike
    heatmap = torch.rand(PAIRS * COPIES, 18, H, W)
    source, source_heatmap, candidate, target_heatmap = augment(["color"], image, heatmap, image.clone(), heatmap,
                                                                copies=COPIES)
    assert torch.equal(source, candidate) and not torch.allclose(source, image)
    assert torch.equal(source_heatmap, heatmap) and torch.equal(target_heatmap, heatmap)
    # the copies of a pair got the same draw
    torch.testing.assert_close(candidate[PAIRS:], candidate[:PAIRS])


def test_gradients_pass_to_the_candidate():
    torch.manual_seed(4)
    for policy in (["translation", "cutout"], ["color", "translation", "cutout"]):
        candidate = torch.rand(PAIRS * COPIES, 3, H, W, requires_grad=True)
        inputs = list(dot_inputs())
        inputs[2] = candidate
        augment(policy, *inputs, copies=COPIES)[2].square().sum().backward()
        assert candidate.grad.abs().sum() > 0
        if "color" not in policy:  # cut or shifted-out pixels get none (colour's means reach every pixel)
            assert (candidate.grad == 0).any()


def test_a_batch_that_is_not_whole_copies_is_refused():
    with pytest.raises(ValueError, match="5 is not 2 copies"):
        augment(["cutout"], *(torch.zeros(5, c, H, W) for c in (3, 18, 3, 18)), copies=2)


def test_trainer_with_d_augment_changes_the_run_and_resumes_exactly(tiny_cfg, tmp_path):
    def trainer(cfg, out, resume=None):
        return Trainer(cfg, out, MINI_DATA, split="samples", sample_split="samples", resume=resume, device="cpu")
    plain = trainer(tiny_cfg, tmp_path / "plain")
    plain.run(max_steps=2)
    tiny_cfg.loss.d_augment = "color,translation,cutout"
    straight = trainer(tiny_cfg, tmp_path / "straight")
    straight.run(max_steps=3)
    first = trainer(tiny_cfg, tmp_path / "split")
    first.run(max_steps=2)
    assert any(not torch.equal(a, b) for a, b in zip(plain.D.state_dict().values(), first.D.state_dict().values()))
    second = trainer(None, tmp_path / "split", resume=str(tmp_path / "split" / "latest.pt"))
    assert second.d_augment == ["color", "translation", "cutout"]
    second.run(max_steps=3)
    for a, b in zip(straight.D.state_dict().values(), second.D.state_dict().values()):
        torch.testing.assert_close(a, b)
