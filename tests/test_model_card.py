"""posegan.model_card: what the repository knows about each checkpoint (the app's checkpoint picker, issue #15)."""
import shutil

from posegan.config import DEFAULT_GENERATOR
from posegan.model_card import RESULTS, architecture, generator_files, model_card

CHECKPOINTS = DEFAULT_GENERATOR.parent


def test_generator_files_are_the_posegan_checkpoints_not_the_detector():
    names = [path.name for path in generator_files()]
    assert {"posegan-market-small.pt", "posegan-market-small-noskip.pt", "posegan-market-small-resizeconv-snhinge-style.pt",
            "market-small-resizeconv-snhinge-style-train-state.pt"} <= set(names)
    assert "yolo11n-pose.pt" not in names  # an ultralytics pickle, refused by the safe loader


def test_the_shipped_generator_card_has_its_evaluation_and_training_run():
    card = model_card(DEFAULT_GENERATOR)
    assert (card.kind, card.step, card.weights) == ("generator", 38_677, "ema")
    assert card.evaluation == RESULTS / "eval-market-small" / "metrics.json" and card.pairs == 7483
    assert round(card.metrics["ssim"], 4) == 0.2901 and round(card.metrics["mask_ssim"], 4) == 0.7991
    assert card.loss_curve == RESULTS / "train-market-small" / "loss.png"
    assert [path.name for path in card.samples][-1] == "samples-step0038677.png"
    assert architecture(card.config) == "encoder widths [16, 32, 64, 128, 128, 128], 4 deformable skips"


def test_the_ablation_is_found_in_its_role_and_the_training_state_by_its_run():
    ablation = model_card(CHECKPOINTS / "posegan-market-small-noskip.pt")
    assert round(ablation.metrics["ssim"], 4) == 0.2114 and "plain skips" in architecture(ablation.config)
    state = model_card(CHECKPOINTS / "market-small-resizeconv-snhinge-style-train-state.pt")
    assert (state.kind, state.step, state.metrics) == ("train", 2_502, {})  # a training state is never evaluated
    assert len(state.samples) == 6 and state.loss_curve is not None  # every 500 steps of its run, and its last


def test_an_unknown_file_has_a_card_without_results(tmp_path):
    copy = tmp_path / "posegan-elsewhere.pt"
    shutil.copy(DEFAULT_GENERATOR, copy)
    card = model_card(copy, results=tmp_path / "results")
    assert card.step == 38_677 and card.metrics == {} and card.loss_curve is None and card.samples == []
