"""posegan.model_card: what the repository knows about each checkpoint (the app's checkpoint picker, issue #15)."""
import shutil

from posegan.config import DEFAULT_GENERATOR
from posegan.model_card import RESULTS, architecture, generator_files, model_card

CHECKPOINTS = DEFAULT_GENERATOR.parent


def test_generator_files_are_the_posegan_checkpoints_not_the_detector():
    names = [path.name for path in generator_files()]
    assert {"posegan-market-small.pt", "posegan-market-small-noskip.pt", "posegan-market-small-resizeconv-snhinge-style.pt",
            "posegan-market-small-imageskip.pt", "posegan-market-small-noskip-realism.pt",
            "market-small-resizeconv-snhinge-style-train-state.pt", "market-small-imageskip-train-state.pt"} <= set(names)
    assert "yolo11n-pose.pt" not in names  # an ultralytics pickle, refused by the safe loader


def test_the_shipped_generator_card_has_its_evaluation_and_training_run():
    card = model_card(DEFAULT_GENERATOR)
    assert (card.kind, card.step, card.weights) == ("generator", 46_040, "ema")
    # the mean of 19 steps of the run: the five of the file before it, the snapshots since and the last step
    assert card.averaged_steps == [19_302, 22_622, 27_679, 29_045, 30_743, *range(34_000, 46_001, 1_000), 46_040]
    assert card.evaluation == RESULTS / "eval-market-small-imageskip-avg19-step46040-all-pairs" / "metrics.json"
    assert card.pairs == 7483  # the evaluation over the most pairs wins over the first-2,000 one with its FIDs
    assert round(card.metrics["ssim"], 4) == 0.3125 and round(card.metrics["lpips"], 4) == 0.2859
    assert card.loss_curve == RESULTS / "train-market-small-imageskip" / "loss.png"
    assert [path.name for path in card.samples][-1] == "samples-step0046040.png"  # the run's grid at its last step
    assert architecture(card.config) == "encoder widths [16, 32, 64, 128, 128, 128], 4 deformable skips and an image skip"


def test_the_paper_recipe_file_the_ablations_and_the_training_state_have_their_cards():
    realism = model_card(CHECKPOINTS / "posegan-market-small-resizeconv-snhinge-style.pt")  # the app's previous one
    assert realism.step == 9_230 and round(realism.metrics["ssim"], 4) == 0.3081
    assert realism.loss_curve == RESULTS / "train-market-small-resizeconv-snhinge-style" / "loss.png"
    paper = model_card(CHECKPOINTS / "posegan-market-small.pt")
    assert paper.step == 38_677 and round(paper.metrics["ssim"], 4) == 0.2901
    assert paper.loss_curve == RESULTS / "train-market-small" / "loss.png"
    assert [path.name for path in paper.samples][-1] == "samples-step0038677.png"
    ablation = model_card(CHECKPOINTS / "posegan-market-small-noskip.pt")
    assert round(ablation.metrics["ssim"], 4) == 0.2114 and "plain skips" in architecture(ablation.config)
    realism_ablation = model_card(CHECKPOINTS / "posegan-market-small-noskip-realism.pt")  # with the app's recipe
    assert (realism_ablation.step, realism_ablation.pairs, round(realism_ablation.metrics["ssim"], 4)) == (3_500, 7483, 0.2884)
    assert architecture(realism_ablation.config).endswith("plain skips")  # neither deformable skips nor the image skip
    assert [path.name for path in realism_ablation.samples] == ["samples-step0003500.png"]
    assert realism_ablation.loss_curve is not None
    state = model_card(CHECKPOINTS / "market-small-resizeconv-snhinge-style-train-state.pt")
    assert (state.kind, state.step, state.metrics) == ("train", 16_742, {})  # a training state is never evaluated
    assert len(state.samples) == 12 and state.loss_curve is not None  # the committed grids of its run, and its last
    assert state.samples[-1].name == "samples-step0016742.png"


def test_an_unknown_file_has_a_card_without_results(tmp_path):
    copy = tmp_path / "posegan-elsewhere.pt"
    shutil.copy(DEFAULT_GENERATOR, copy)
    card = model_card(copy, results=tmp_path / "results")
    assert card.step == 46_040 and card.metrics == {} and card.loss_curve is None and card.samples == []
