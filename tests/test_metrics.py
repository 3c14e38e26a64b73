"""Evaluation metrics and the evaluate command (LPIPS / FID networks come from ../shared/weights, as in CI)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from posegan.checkpoint import FORMAT, save_atomic
from posegan.evaluate import evaluate
from posegan.metrics import PAIR_METRICS, check_metric_names, summarise
from posegan.metrics.fid import frechet_distance, inception_features
from posegan.metrics.pckh import pckh_counts
from posegan.metrics.ssim import pose_mask, ssim_score
from posegan.networks import Generator
from conftest import MINI_DATA

WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights"
if not WEIGHTS.is_dir():
    WEIGHTS = Path("../shared/weights")


@pytest.fixture(scope="module")
def images():
    from PIL import Image
    files = sorted((MINI_DATA / "samples").glob("*.jpg"))
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def test_ssim_of_an_image_with_itself_is_one(images):
    assert ssim_score(images[0], images[0]) == pytest.approx(1.0)
    assert ssim_score(images[0], images[1]) < 0.6


def test_ssim_takes_data_range_from_the_generated_image_as_the_paper_code(images):
    from skimage.metrics import structural_similarity
    dark = (images[1] // 4).astype(np.uint8)  # data range about 64, not 255
    common = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1)
    quirk = structural_similarity(images[0], dark, data_range=float(dark.max()) - float(dark.min()), **common)
    assert ssim_score(dark, images[0]) == pytest.approx(quirk)
    assert abs(quirk - structural_similarity(images[0], dark, data_range=255, **common)) > 0.01


def test_mask_ssim_ignores_the_background(images, frontal_pose):
    mask = pose_mask(frontal_pose)
    assert 0.1 < mask.mean() < 0.6 and mask[int(frontal_pose[8, 1]), int(frontal_pose[8, 0])]
    noisy = images[0].copy()
    noisy[~mask] = np.random.default_rng(0).integers(0, 256, size=((~mask).sum(), 3))
    score = PAIR_METRICS["mask_ssim"](noisy[None], images[0][None], frontal_pose[None])[0]
    assert score == pytest.approx(1.0, abs=1e-6)
    assert PAIR_METRICS["ssim"](noisy[None], images[0][None], frontal_pose[None])[0] < 0.9


def test_lpips_identical_is_zero_and_different_is_not(images):
    scores = PAIR_METRICS["lpips"](images[:2], images[[0, 2]], None, weights_dir=WEIGHTS)
    assert scores[0] == pytest.approx(0.0, abs=1e-6) and scores[1] > 0.1


def test_fid_of_a_set_with_itself_is_about_zero(images):
    images = images[:4]
    features = inception_features(images, WEIGHTS)
    assert features.shape == (len(images), 2048) and (features >= 0).all()
    assert abs(frechet_distance(features, features)) < 1e-3
    shifted = inception_features(np.ascontiguousarray(images[:, ::-1, :]), WEIGHTS)  # upside down
    assert frechet_distance(shifted, features) > 10


def test_pckh_counts():
    target = np.full((18, 2), -1.0, np.float32)
    target[[0, 1]] = [[30, 10], [40, 30]]  # head box 10 x 20 px -> tolerance 5 px in x, 10 px in y
    target[2] = [20, 40]
    detected = target.copy()
    detected[2] = [24, 49]
    assert pckh_counts(detected, target) == (3, 3)
    detected[2] = [26, 40]  # 6 px off in x
    assert pckh_counts(detected, target) == (2, 3)
    detected[1] = -1  # missing in the detection counts as wrong
    assert pckh_counts(detected, target) == (1, 3)
    target[0] = -1  # fewer than 2 head joints: skipped
    assert pckh_counts(detected, target) is None
    assert summarise(np.array([[1, 3], [np.nan, np.nan], [2, 3]])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown metric"):
        check_metric_names(["ssim", "is"])


def _tiny_generator_checkpoint(cfg, path, seed=0):
    torch.manual_seed(seed)
    save_atomic({"format": FORMAT, "kind": "generator", "config": cfg.to_dict(), "step": 0,
                 "G": Generator(cfg.model).state_dict()}, path)
    return path


def test_evaluate_tiny_model_on_fixed_pairs_is_deterministic(tiny_cfg, tmp_path):
    ckpt = _tiny_generator_checkpoint(tiny_cfg, tmp_path / "tiny.pt")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text((MINI_DATA / "samples" / "pairs.csv").read_text())
    runs = []
    for name in ("a", "b"):
        report = evaluate(ckpt, MINI_DATA, tmp_path / name, pairs_csv=pairs, weights_dir=WEIGHTS, limit=8,
                          metric_names=["ssim", "mask_ssim", "l1", "lpips"], split="samples")
        runs.append(report["results"])
    assert runs[0] == runs[1]
    for method in ("ours", "copy_source"):
        assert all(np.isfinite(v) for v in runs[0][method].values())
    out = tmp_path / "a"
    assert json.loads((out / "metrics.json").read_text())["pairs"] == 8
    assert len((out / "per_pair.csv").read_text().splitlines()) == 1 + 2 * 8
    assert "copy_source" in (out / "table.md").read_text() and (out / "samples.png").exists()


def test_copy_source_baseline_needs_no_checkpoint(tmp_path):
    report = evaluate(None, MINI_DATA, tmp_path, weights_dir=WEIGHTS, limit=4, metric_names=["ssim", "l1"],
                      split="samples")
    assert list(report["results"]) == ["copy_source"]


def test_cached_evaluation_reuses_results_and_recomputes_a_new_checkpoint(tiny_cfg, tmp_path, monkeypatch):
    import posegan.evaluate as evaluate_module
    kwargs = dict(pairs_csv=MINI_DATA / "samples" / "pairs.csv", weights_dir=WEIGHTS, split="samples",
                  metric_names=["ssim", "l1", "fid"], cache_dir=tmp_path / "cache")
    first = _tiny_generator_checkpoint(tiny_cfg, tmp_path / "first.pt")
    fresh = evaluate(first, MINI_DATA, tmp_path / "fresh", **kwargs)["results"]
    assert evaluate(first, MINI_DATA, tmp_path / "nocache", **{**kwargs, "cache_dir": None})["results"] == fresh

    def must_not_run(*args, **kw):
        raise AssertionError("recomputed although cached")
    with monkeypatch.context() as patch:  # every metric of every method now comes from the cache
        patch.setitem(PAIR_METRICS, "ssim", must_not_run)
        patch.setitem(PAIR_METRICS, "l1", must_not_run)
        patch.setattr(evaluate_module, "inception_features", must_not_run)
        assert evaluate(first, MINI_DATA, tmp_path / "cached", **kwargs)["results"] == fresh
    renamed = tmp_path / "renamed.pt"  # same bytes under another name: still a cache hit
    renamed.write_bytes(first.read_bytes())
    with monkeypatch.context() as patch:
        patch.setitem(PAIR_METRICS, "ssim", must_not_run)
        assert evaluate(renamed, MINI_DATA, tmp_path / "renamed", **kwargs)["results"]["ours"] == fresh["ours"]
    second = _tiny_generator_checkpoint(tiny_cfg, tmp_path / "second.pt", seed=1)
    other = evaluate(second, MINI_DATA, tmp_path / "second", **kwargs)["results"]
    assert other["copy_source"] == fresh["copy_source"] and other["ours"]["ssim"] != fresh["ours"]["ssim"]


def test_fid_train_equals_the_fid_of_the_same_features_computed_directly(tmp_path, monkeypatch):
    import shutil
    import posegan.evaluate as evaluate_module
    data = tmp_path / "market"
    shutil.copytree(MINI_DATA / "samples", data / "samples")
    shutil.copytree(MINI_DATA / "samples", data / "train", ignore=shutil.ignore_patterns("*.csv"))
    kwargs = dict(weights_dir=WEIGHTS, split="samples", metric_names=["fid_train"], cache_dir=tmp_path / "cache")
    report = evaluate(None, data, tmp_path / "eval", **kwargs)
    from PIL import Image
    from posegan.data import read_pairs
    pairs = read_pairs(data / "samples" / "pairs.csv")
    load = lambda folder, names: np.stack([np.asarray(Image.open(data / folder / n).convert("RGB")) for n in names])
    train = inception_features(load("train", sorted(p.name for p in (data / "train").glob("*.jpg"))), WEIGHTS)
    sources = inception_features(load("samples", [a for a, _ in pairs]), WEIGHTS)
    assert report["results"]["copy_source"]["fid_train"] == pytest.approx(frechet_distance(sources, train), rel=1e-9)
    assert report["fid_reference_images"] == {"fid_train": len(train)}

    def must_not_run(*args, **kw):
        raise AssertionError("training-set statistics recomputed although cached")
    monkeypatch.setattr(evaluate_module, "feature_statistics", must_not_run)
    assert evaluate(None, data, tmp_path / "again", **kwargs)["results"] == report["results"]
