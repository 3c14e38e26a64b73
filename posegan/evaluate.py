"""Evaluation on the Market-1501 test pairs: our generator, the baselines, and the paper's metrics in one run.

    python -m posegan evaluate --checkpoint checkpoints/posegan-market-small.pt --out results/eval
    python -m posegan evaluate --checkpoint ... --ablation runs/no-deform/generator.pt --limit 500 --metrics ssim,mask_ssim,lpips

Methods: ``ours`` (the checkpoint), ``copy_source`` (output = source image: what no model at all scores) and,
when ``--ablation`` is given, ``no_deform`` (the same generator trained with plain skips). Metrics are those of
:mod:`posegan.metrics` (design doc §7.3). Writes ``metrics.json``, ``per_pair.csv``, ``table.md`` and
``samples.png`` (source+pose | target pose | each method | real target, on fixed pairs) into ``--out``.
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
from torch.utils.data import DataLoader
from tqdm import tqdm

from . import metrics as metric_registry
from .data import MarketPoseDataset, tensor_to_image
from .inference import PoseTransfer
from .metrics.fid import inception_features
from .visualize import draw_pose, image_grid

PAPER_ROWS = [  # design doc §7.4 (CVPR 2018 table; GFLA's re-evaluation for LPIPS / FID); PATN SSIM / mask-SSIM
    # as quoted in issue #6 from the PATN paper (Zhu et al., CVPR 2019)
    ("Def-GAN (paper, 12,000 pairs)", {"ssim": 0.290, "mask_ssim": 0.805, "lpips": 0.2994, "fid": 25.364}),
    ("PATN (paper)", {"ssim": 0.311, "mask_ssim": 0.811, "lpips": 0.3196, "fid": 22.657}),
]
GRID_PAIRS = 8


def _to_uint8(batch_images: torch.Tensor) -> np.ndarray:
    return np.stack([tensor_to_image(t) for t in batch_images])


def generate_all(dataset, generator: PoseTransfer | None, batch_size: int, desc: str) -> np.ndarray:
    """uint8 [N, H, W, 3] outputs for every pair; ``generator=None`` copies the source (baseline)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    out = []
    for batch in tqdm(loader, desc=desc, unit="batch", mininterval=5):
        images = batch["source_image"] if generator is None else generator.run(batch).image.float().cpu()
        out.append(_to_uint8(images))
    return np.concatenate(out)


def evaluate(checkpoint, data_root, out_dir, pairs_csv=None, weights_dir="../shared/weights", limit=None,
             metric_names=None, ablation=None, batch_size: int = 32, device: str = "cpu", split: str = "test") -> dict:
    """Generate every pair of ``split`` (or ``pairs_csv``) with each method and score it; returns the report."""
    metric_names = metric_registry.check_metric_names(metric_names or metric_registry.list_metrics())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    methods = {"ours": PoseTransfer.from_checkpoint(checkpoint, device)} if checkpoint else {}
    methods["copy_source"] = None  # None = no generator: the output is the source image
    if ablation:
        methods["no_deform"] = PoseTransfer.from_checkpoint(ablation, device)
    cfg = next((m.cfg for m in methods.values() if m is not None), None)
    sigma = cfg.data.heatmap_sigma if cfg else 6.0
    dataset = MarketPoseDataset(data_root, split, pairs_csv=pairs_csv, limit=limit, sigma=sigma)
    n = len(dataset)
    names = dataset.pairs
    targets = np.stack([dataset.load_image(b) for _, b in names])
    target_poses = np.stack([dataset.poses[b] for _, b in names])

    real_features = None
    if "fid" in metric_names:
        with tqdm(total=n, desc="FID features real", mininterval=5) as bar:
            real_features = inception_features(targets, weights_dir, progress=bar)

    results, per_pair, outputs = {}, {}, {}
    for method, generator in methods.items():
        generated = generate_all(dataset, generator, batch_size, f"generate {method}")
        outputs[method] = generated
        results[method], per_pair[method] = {}, {}
        for name in metric_names:
            t0 = time.time()
            if name in metric_registry.PAIR_METRICS:
                values = metric_registry.PAIR_METRICS[name](generated, targets, target_poses, weights_dir=weights_dir)
                per_pair[method][name] = metric_registry.per_pair_values(values)
                results[method][name] = metric_registry.summarise(values)
            else:
                with tqdm(total=n, desc=f"FID features {method}", mininterval=5) as bar:
                    features = inception_features(generated, weights_dir, progress=bar)
                results[method][name] = metric_registry.SET_METRICS[name](features, real_features)
            print(f"{method:>12} {name:>10} = {results[method][name]:.4f}   ({time.time() - t0:.0f} s)", flush=True)

    report = {"command": " ".join(["python -m posegan"] + sys.argv[1:]), "checkpoint": str(checkpoint),
              "ablation": str(ablation) if ablation else None, "pairs": n,
              "pairs_csv": str(pairs_csv or Path(data_root) / "pairs-test.csv"), "metrics": metric_names,
              "seconds": round(time.time() - started, 1), "results": results}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    _write_per_pair(out_dir / "per_pair.csv", names, per_pair, metric_names)
    (out_dir / "table.md").write_text(results_table(results, metric_names, n))
    _write_grid(out_dir / "samples.png", dataset, outputs, targets)
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


def _write_grid(path, dataset, outputs, targets):
    rows = []
    for i in np.linspace(0, len(dataset) - 1, min(GRID_PAIRS, len(dataset))).astype(int):
        source_name, _ = dataset.pairs[i]
        row = [draw_pose(dataset.load_image(source_name), dataset.poses[source_name]),
               draw_pose(None, dataset.poses[dataset.pairs[i][1]])]
        row += [outputs[m][i] for m in outputs if m != "copy_source"] + [targets[i]]
        rows.append(row)
    image_grid(rows, scale=2).save(path)
