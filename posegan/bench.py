"""Speed benchmark: generator inference (batch 1 and 16) and full training steps (G + D + VGG losses).

    python -m posegan bench --config configs/market-small.yaml --config configs/market-paper.yaml \
        --out results/bench.json --threads 2

Prints a table and writes JSON {command, device, threads, torch, results: [...]}; times are medians over
``iterations`` runs after warm-up. Inputs are real sample pairs (geometry included), weights are random
(speed does not depend on them).
"""
from __future__ import annotations

import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import default_collate

from .config import load_config
from .data import DEFAULT_ROOT, MODEL_INPUTS
from .train import Trainer
from .utils import set_cpu_threads

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = [REPO / "configs" / "market-small.yaml", REPO / "configs" / "market-paper.yaml"]


def _median_seconds(fn, iterations: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def benchmark_config(config_path, data_root=DEFAULT_ROOT, iterations: int = 10) -> dict:
    cfg = load_config(config_path, [f"train.threads={torch.get_num_threads()}"])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, data_root, split="samples", sample_split="samples", device="cpu")
    items = [trainer.dataset[i % len(trainer.dataset)] for i in range(16)]
    G = trainer.G.eval()
    result = {"config": str(config_path), "G_params": sum(p.numel() for p in G.parameters()),
              "D_params": sum(p.numel() for p in trainer.D.parameters())}
    for batch_size in (1, 16):
        batch = default_collate(items[:batch_size])
        inputs = [batch[k] for k in MODEL_INPUTS]
        with torch.inference_mode():
            seconds = _median_seconds(lambda: G(*inputs), iterations)
        result[f"G_forward_ms_per_image_b{batch_size}"] = round(1000 * seconds / batch_size, 2)
    train_batch = default_collate(items[:cfg.train.batch_size])
    seconds = _median_seconds(lambda: trainer.train_step(train_batch), max(3, iterations // 2), warmup=1)
    result["train_batch_size"] = cfg.train.batch_size
    result["train_step_s"] = round(seconds, 3)
    result["train_images_per_s"] = round(cfg.train.batch_size / seconds, 2)
    return result


def run_benchmarks(configs=None, out="results/bench.json", threads: int = 2, iterations: int = 10,
                   data_root=DEFAULT_ROOT) -> dict:
    threads = set_cpu_threads(threads)
    results = [benchmark_config(c, data_root, iterations) for c in (configs or DEFAULT_CONFIGS)]
    report = {"command": " ".join(["python -m posegan"] + sys.argv[1:]) if sys.argv[0].endswith("__main__.py")
              else " ".join(sys.argv), "device": f"cpu ({platform.processor() or platform.machine()})",
              "threads": threads, "torch": torch.__version__, "iterations": iterations, "results": results}
    print(f"{'config':<28}{'G params':>11}{'fwd b1 ms':>11}{'fwd b16 ms/img':>16}{'train img/s':>13}")
    for r in results:
        print(f"{Path(r['config']).name:<28}{r['G_params']:>11,}{r['G_forward_ms_per_image_b1']:>11}"
              f"{r['G_forward_ms_per_image_b16']:>16}{r['train_images_per_s']:>13}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return report
