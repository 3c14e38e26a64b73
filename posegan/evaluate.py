"""Evaluation on the Market-1501 test pairs: our generator, the baselines, and the paper's metrics in one run.

    python -m posegan evaluate --checkpoint checkpoints/posegan-market-small-imageskip.pt --out results/eval
    python -m posegan evaluate --checkpoint ... --ablation runs/no-deform/generator.pt --limit 500 --metrics ssim,mask_ssim,lpips
    python -m posegan evaluate --checkpoint ... --keep-background --limit 2000

Methods: ``ours`` (the checkpoint), ``copy_source`` (output = source image: what no model at all scores),
when ``--ablation`` is given, ``no_deform`` (the same generator trained with plain skips), and with
``--keep-background``, ``ours_keep_background`` (ours pasted over the source photo, :mod:`posegan.background`).
Metrics are those of :mod:`posegan.metrics` (design doc §7.3). Writes ``metrics.json``, ``per_pair.csv``,
``table.md`` and ``samples.png`` (source+pose | target pose | each method | real target, on fixed pairs) into ``--out``.
Results are cached in ``--cache-dir`` (:mod:`posegan.metrics.cache`): real-image features by image name,
each checkpoint's per-pair values and FID features by its sha256, so a new checkpoint costs one method's time.
Note: the shared test set is the 7,483 of the 12,000 standard pairs whose images are available (doc §7.1).
"""
from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from . import background
from . import metrics as metric_registry
from .config import DEFAULT_WEIGHTS_DIR
from .data import MarketPoseDataset, tensor_to_image
from .image_io import load_image
from .inference import PoseTransfer
from .metrics.cache import EvalCache, file_digest
from .metrics.fid import INCEPTION, feature_statistics, inception_features
from .visualize import draw_pose, image_grid

PAPER_ROWS = [  # design doc §7.4 (CVPR 2018 table; GFLA's re-evaluation for LPIPS / FID); PATN SSIM / mask-SSIM
    # as quoted in issue #6 from the PATN paper (Zhu et al., CVPR 2019)
    ("Def-GAN (paper, 12,000 pairs)", {"ssim": 0.290, "mask_ssim": 0.805, "lpips": 0.2994, "fid": 25.364}),
    ("PATN (paper)", {"ssim": 0.311, "mask_ssim": 0.811, "lpips": 0.3196, "fid": 22.657}),
]
GRID_PAIRS = 8
KEEP_BACKGROUND = "ours_keep_background"


def _to_uint8(batch_images: torch.Tensor) -> np.ndarray:
    return np.stack([tensor_to_image(t) for t in batch_images])


def generate_all(dataset, generator: PoseTransfer, batch_size: int, desc: str) -> np.ndarray:
    """uint8 [N, H, W, 3] outputs of ``generator`` for every pair of ``dataset``."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    out = [_to_uint8(generator.run(batch).image.float().cpu())
           for batch in tqdm(loader, desc=desc, unit="batch", mininterval=5)]
    return np.concatenate(out)


def paste_over_sources(images: np.ndarray, dataset, pairs) -> np.ndarray:
    """uint8 [N, H, W, 3]: each generated image of ``pairs`` (source, target names of ``dataset``) pasted over its
    source photo (:func:`posegan.background.keep_background`)."""
    return np.stack([background.keep_background(image, dataset.load_image(a), dataset.poses[a], dataset.poses[b])
                     for image, (a, b) in zip(images, pairs)])


def training_set_statistics(data_root, weights_dir, cache: EvalCache) -> tuple[tuple, int]:
    """((mean, covariance) of the Inception features of every image in ``train/``, number of images): the
    ``fid_train`` reference, cached by file list and network."""
    folder = Path(data_root) / "train"
    files = sorted(folder.glob("*.jpg"))
    if not files:
        raise FileNotFoundError(f"fid_train needs the training images in {folder}/*.jpg")

    def compute():
        images = np.stack([load_image(f) for f in files])
        with tqdm(total=len(files), desc="FID features train/", mininterval=5) as bar:
            return feature_statistics(inception_features(images, weights_dir, progress=bar))
    return cache.reference_statistics([f.name for f in files], file_digest(Path(weights_dir) / INCEPTION), compute), len(files)


def evaluate(checkpoint, data_root, out_dir, pairs_csv=None, weights_dir=DEFAULT_WEIGHTS_DIR, limit=None,
             metric_names=None, ablation=None, batch_size: int = 32, device: str = "cpu", split: str = "test",
             cache_dir=None, keep_background: bool = False) -> dict:
    """Generate every pair of ``split`` (or ``pairs_csv``) with each method and score it; returns the report.
    ``cache_dir``: reuse real-image features and per-checkpoint results (:mod:`posegan.metrics.cache`);
    ``keep_background``: also score ``ours`` pasted over the source photos (``ours_keep_background``)."""
    metric_names = metric_registry.check_metric_names(metric_names or metric_registry.list_metrics())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    cache = EvalCache(cache_dir, data_root, weights_dir)
    methods = {"ours": checkpoint} if checkpoint else {}
    methods["copy_source"] = None  # None = no generator: the output is the source image
    if ablation:
        methods["no_deform"] = ablation
    generators = {m: PoseTransfer.from_checkpoint(path, device) for m, path in methods.items() if path}
    digests = {m: file_digest(path) for m, path in methods.items() if path}  # cache key and provenance
    method_ids = {m: f"checkpoint:{digests[m]}" if m in digests else m for m in methods}
    if keep_background and checkpoint:  # ours' outputs, pasted: no generator of its own
        methods[KEEP_BACKGROUND], digests[KEEP_BACKGROUND] = checkpoint, digests["ours"]
        # the compositing code is part of the method: a change of it is a new method
        method_ids[KEEP_BACKGROUND] = f"{method_ids['ours']}+background:{file_digest(background.__file__)[:16]}"
    cfg = next(iter(generators.values())).cfg if generators else None
    dataset = MarketPoseDataset(data_root, split, pairs_csv=pairs_csv, limit=limit,
                                sigma=cfg.data.heatmap_sigma if cfg else 6.0)
    n, names = len(dataset), dataset.pairs
    targets = np.stack([dataset.load_image(b) for _, b in names])
    target_poses = np.stack([dataset.poses[b] for _, b in names])

    def real_features(image_names):
        def compute(missing):
            with tqdm(total=len(missing), desc="FID features real", mininterval=5) as bar:
                return inception_features(np.stack([dataset.load_image(x) for x in missing]), weights_dir, progress=bar)
        return cache.real_features(image_names, compute)

    references, reference_images = {}, {}  # set metric -> its real reference, and how many images that holds
    if "fid" in metric_names:
        references["fid"], reference_images["fid"] = real_features([b for _, b in names]), n
    if "fid_train" in metric_names:
        references["fid_train"], reference_images["fid_train"] = training_set_statistics(data_root, weights_dir, cache)
    generated = {}  # method -> its outputs, made lazily: not at all when every metric of a method is cached

    def outputs_of(method):
        if method not in generated:
            if method == KEEP_BACKGROUND:  # ours' outputs, generated once for both methods
                generated[method] = paste_over_sources(outputs_of("ours"), dataset, names)
            elif methods[method] is None:  # copy source
                generated[method] = np.stack([dataset.load_image(a) for a, _ in names])
            else:
                generated[method] = generate_all(dataset, generators[method], batch_size, f"generate {method}")
        return generated[method]

    results, per_pair = {}, {}
    for method in methods:
        features = None

        def inception():  # one set of Inception features per method serves every FID
            nonlocal features
            if features is None and methods[method] is None:  # copy source: the outputs are real test images
                features = real_features([a for a, _ in names])
            elif features is None:
                def compute_features():
                    with tqdm(total=n, desc=f"FID features {method}", mininterval=5) as bar:
                        return inception_features(outputs_of(method), weights_dir, progress=bar)
                features = cache.method_values(method_ids[method], names, "fid", compute_features)
            return features

        results[method], per_pair[method] = {}, {}
        for name in metric_names:
            t0 = time.time()
            if name in metric_registry.PAIR_METRICS:
                values = cache.method_values(method_ids[method], names, name, lambda: metric_registry.PAIR_METRICS[name](
                    outputs_of(method), targets, target_poses, weights_dir=weights_dir))
                per_pair[method][name] = metric_registry.per_pair_values(values)
                results[method][name] = metric_registry.summarise(values)
            else:
                results[method][name] = metric_registry.SET_METRICS[name](inception(), references[name])
            print(f"{method:>12} {name:>10} = {results[method][name]:.4f}   ({time.time() - t0:.0f} s)", flush=True)

    report = {"command": " ".join(["python -m posegan"] + sys.argv[1:]), "checkpoint": str(checkpoint),
              "ablation": str(ablation) if ablation else None, "pairs": n,
              "pairs_csv": str(pairs_csv or Path(data_root) / "pairs-test.csv"), "metrics": metric_names,
              "fid_reference_images": reference_images,
              "checkpoint_sha256": digests,
              "seconds": round(time.time() - started, 1), "results": results}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    _write_per_pair(out_dir / "per_pair.csv", names, per_pair, metric_names)
    (out_dir / "table.md").write_text(results_table(results, metric_names, n))
    _write_grid(out_dir / "samples.png", dataset, generators, targets, batch_size, KEEP_BACKGROUND in methods)
    print(results_table(results, metric_names, n))
    return report


def _write_per_pair(path, names, per_pair, metric_names):
    columns = [m for m in metric_names if m in metric_registry.PAIR_METRICS]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["from", "to", "method"] + columns)
        for method, values in per_pair.items():
            for i, (a, b) in enumerate(names):
                writer.writerow([a, b, method] + [f"{values[m][i]:.5f}" for m in columns])


def results_table(results: dict, metric_names, n: int) -> str:
    header = "| method | " + " | ".join(metric_names) + " |\n|---|" + "---|" * len(metric_names) + "\n"
    rows = "".join(f"| {method} ({n} pairs) | " + " | ".join(f"{r[m]:.4f}" for m in metric_names) + " |\n"
                   for method, r in results.items())
    paper = "".join(f"| {label} | " + " | ".join(f"{vals[m]}" if m in vals else "–" for m in metric_names) + " |\n"
                    for label, vals in PAPER_ROWS)
    return header + rows + paper


def _write_grid(path, dataset, generators, targets, batch_size, keep_background: bool = False):
    """source+pose | target pose | each generator (and ours pasted, with ``keep_background``) | real target, on
    fixed pairs spread over the list."""
    picks = np.linspace(0, len(dataset) - 1, min(GRID_PAIRS, len(dataset))).astype(int).tolist()
    outputs = {m: generate_all(Subset(dataset, picks), g, batch_size, f"grid {m}") for m, g in generators.items()}
    if keep_background:
        outputs[KEEP_BACKGROUND] = paste_over_sources(outputs["ours"], dataset, [dataset.pairs[i] for i in picks])
    rows = []
    for row_index, i in enumerate(picks):
        source_name, target_name = dataset.pairs[i]
        row = [draw_pose(dataset.load_image(source_name), dataset.poses[source_name]),
               draw_pose(None, dataset.poses[target_name])]
        rows.append(row + [outputs[m][row_index] for m in outputs] + [targets[i]])
    image_grid(rows, scale=2).save(path)
