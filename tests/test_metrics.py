"""Evaluation metrics and the evaluate command.

Two kinds of tests: those of the real LPIPS / FID networks need their weight files (``../shared/weights`` beside
the repository, as in CI, or ``$POSEGAN_METRIC_WEIGHTS``) and skip without them, naming what to fetch; those of
evaluate's plumbing (generation, caching, reports) run anywhere, in seconds, on tiny stand-in networks.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from posegan.checkpoint import FORMAT, save_atomic
from posegan.cli import main
from posegan.config import DEFAULT_WEIGHTS_DIR
from posegan.background import keep_background
from posegan.data import MarketPoseDataset
from posegan.evaluate import evaluate, generate_all
from posegan.inference import PoseTransfer
from posegan.metrics import PAIR_METRICS, check_metric_names, fid, lpips_metric, summarise
from posegan.metrics.fid import INCEPTION, frechet_distance, inception_features
from posegan.metrics.pckh import pckh_counts
from posegan.metrics.ssim import pose_mask, ssim_score
from posegan.metrics.weight_files import SOURCES, missing_weights
from posegan.networks import Generator
from conftest import MINI_DATA, REPO

WEIGHTS_ENV = "POSEGAN_METRIC_WEIGHTS"


def real_weights(*names) -> str:
    """The folder with the real metric networks ``names``; skips the test, saying what to fetch, without them."""
    folder = os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS_DIR
    message = missing_weights(folder, names)
    if message:
        pytest.skip(f"needs the real metric networks, {message} (the tests look in ${WEIGHTS_ENV}, "
                    f"else {DEFAULT_WEIGHTS_DIR})")
    return folder


def _mean_abs_difference(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Stand-in for LPIPS: one distance per pair, shaped [N, 1, 1, 1] like the lpips model's output."""
    return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)


def _pooled_colours(x: torch.Tensor) -> torch.Tensor:
    """Stand-in for Inception pool3: mean colours of a 4x2 grid, 24 features per image instead of 2048."""
    return torch.nn.functional.adaptive_avg_pool2d(x, (4, 2)).flatten(1)


@pytest.fixture
def stand_in_weights(tmp_path, monkeypatch):
    """A weights folder whose networks are tiny deterministic functions: evaluate runs its whole path (weight files
    included, the cache keys on their names and sizes) without the real networks and their minutes of CPU."""
    folder = tmp_path / "stand-in-weights"
    folder.mkdir()
    for name in SOURCES:
        (folder / name).write_text("stand-in")
    monkeypatch.setattr(lpips_metric, "load_lpips", lambda weights_dir: _mean_abs_difference)
    monkeypatch.setattr(fid, "load_inception", lambda weights_dir: _pooled_colours)
    return folder


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
    weights = real_weights(lpips_metric.ALEX_FEATURES, lpips_metric.LPIPS_LINEAR)
    scores = PAIR_METRICS["lpips"](images[:2], images[[0, 2]], None, weights_dir=weights)
    assert scores[0] == pytest.approx(0.0, abs=1e-6) and scores[1] > 0.1


@pytest.mark.slow  # about 90 s on 2 cores: Inception-v3 at 299x299 and a 2048x2048 matrix square root
def test_fid_of_a_set_with_itself_is_about_zero(images):
    weights = real_weights(INCEPTION)
    images = images[:4]
    features = inception_features(images, weights)
    assert features.shape == (len(images), 2048) and (features >= 0).all()
    assert abs(frechet_distance(features, features)) < 1e-3
    shifted = inception_features(np.ascontiguousarray(images[:, ::-1, :]), weights)  # upside down
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


def test_missing_metric_weights_are_named_with_their_source(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"LPIPS: missing in .*alexnet_features\.pth \(LPIPS backbone.*"
                                                r"lpips_alex_lin_v0\.1\.pth.*README\.md 'Metric weights'"):
        lpips_metric.load_lpips(str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"FID: missing in .*fid_inception_v3\.pt \(FID network"):
        fid.load_inception(str(tmp_path))


def test_without_weights_the_real_network_test_skips_and_ci_fails(tmp_path):
    """A clone without the weights skips, naming the files; CI (``--no-skips``) turns any skip into a failure."""
    test = f"{__file__}::test_lpips_identical_is_zero_and_different_is_not"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-skips", test],
                            cwd=REPO, env={**os.environ, WEIGHTS_ENV: str(tmp_path)}, capture_output=True, text=True)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "1 skipped" in result.stdout and "--no-skips: 1 skipped, so this run fails" in result.stdout
    assert f"missing in {tmp_path}: alexnet_features.pth" in result.stdout


def test_evaluate_tiny_model_on_fixed_pairs_is_deterministic(tiny_cfg, tmp_path, stand_in_weights):
    ckpt = _tiny_generator_checkpoint(tiny_cfg, tmp_path / "tiny.pt")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text((MINI_DATA / "samples" / "pairs.csv").read_text())
    runs = []
    for name in ("a", "b"):
        report = evaluate(ckpt, MINI_DATA, tmp_path / name, pairs_csv=pairs, weights_dir=stand_in_weights, limit=8,
                          metric_names=["ssim", "mask_ssim", "l1", "lpips"], split="samples")
        runs.append(report["results"])
    assert runs[0] == runs[1]
    for method in ("ours", "copy_source"):
        assert all(np.isfinite(v) for v in runs[0][method].values())
    out = tmp_path / "a"
    assert json.loads((out / "metrics.json").read_text())["pairs"] == 8
    assert len((out / "per_pair.csv").read_text().splitlines()) == 1 + 2 * 8
    assert "copy_source" in (out / "table.md").read_text() and (out / "samples.png").exists()


def test_keep_background_is_scored_as_ours_pasted_over_the_source_photos(tiny_cfg, tmp_path):
    ckpt = _tiny_generator_checkpoint(tiny_cfg, tmp_path / "tiny.pt")
    report = evaluate(ckpt, MINI_DATA, tmp_path / "eval", weights_dir=tmp_path, limit=4, metric_names=["l1"],
                      split="samples", keep_background=True)
    assert list(report["results"]) == ["ours", "copy_source", "ours_keep_background"]
    dataset = MarketPoseDataset(MINI_DATA, "samples", limit=4)
    ours = generate_all(dataset, PoseTransfer.from_checkpoint(ckpt), 4, "ours")
    pasted = np.stack([keep_background(image, dataset.load_image(a), dataset.poses[a], dataset.poses[b])
                       for image, (a, b) in zip(ours, dataset.pairs)])
    targets = np.stack([dataset.load_image(b) for _, b in dataset.pairs])
    expected = PAIR_METRICS["l1"](pasted, targets, None)
    assert report["results"]["ours_keep_background"]["l1"] == pytest.approx(float(expected.mean()))
    assert report["results"]["ours_keep_background"]["l1"] != pytest.approx(report["results"]["ours"]["l1"])


def test_copy_source_baseline_needs_no_checkpoint_on_the_fixture_folder(tmp_path):
    """The CLI on the fixture folder as a user would call it: its test split, no checkpoint, no metric weights."""
    main(["evaluate", "--checkpoint", "none", "--data", str(MINI_DATA), "--metrics", "ssim,l1", "--limit", "4",
          "--out", str(tmp_path), "--no-cache"])
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert list(report["results"]) == ["copy_source"] and report["pairs"] == 4


def test_cached_evaluation_reuses_results_and_recomputes_a_new_checkpoint(tiny_cfg, tmp_path, monkeypatch,
                                                                           stand_in_weights):
    import posegan.evaluate as evaluate_module
    kwargs = dict(pairs_csv=MINI_DATA / "samples" / "pairs.csv", weights_dir=stand_in_weights, split="samples",
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


def test_fid_train_equals_the_fid_of_the_same_features_computed_directly(tmp_path, monkeypatch, stand_in_weights):
    import shutil
    import posegan.evaluate as evaluate_module
    data = tmp_path / "market"
    shutil.copytree(MINI_DATA / "samples", data / "samples")
    shutil.copytree(MINI_DATA / "samples", data / "train", ignore=shutil.ignore_patterns("*.csv"))
    kwargs = dict(weights_dir=stand_in_weights, split="samples", metric_names=["fid_train"], cache_dir=tmp_path / "cache")
    report = evaluate(None, data, tmp_path / "eval", **kwargs)
    from PIL import Image
    from posegan.data import read_pairs
    pairs = read_pairs(data / "samples" / "pairs.csv")
    load = lambda folder, names: np.stack([np.asarray(Image.open(data / folder / n).convert("RGB")) for n in names])
    train = inception_features(load("train", sorted(p.name for p in (data / "train").glob("*.jpg"))), stand_in_weights)
    sources = inception_features(load("samples", [a for a, _ in pairs]), stand_in_weights)
    assert report["results"]["copy_source"]["fid_train"] == pytest.approx(frechet_distance(sources, train), rel=1e-9)
    assert report["fid_reference_images"] == {"fid_train": len(train)}

    def must_not_run(*args, **kw):
        raise AssertionError("training-set statistics recomputed although cached")
    monkeypatch.setattr(evaluate_module, "feature_statistics", must_not_run)
    assert evaluate(None, data, tmp_path / "again", **kwargs)["results"] == report["results"]
