"""Speed benchmark: generator inference (batch 1 and 16) and full training steps (G + D + VGG losses).

    python -m posegan bench --out results/bench.json --threads 2   # market-small, its resize-conv recipe, market-paper

Prints a table and writes JSON {command, device, threads, torch, results: [...]}; times are medians over
``iterations`` runs after warm-up, the paths of one figure interleaved run by run (fair on a shared machine). For each
config: G forward in fp32 eager (the default path: one-call deformable skips, resize-conv as a transposed conv, issue
#14), under CPU bf16 autocast, and compiled with frozen weights (:mod:`posegan.compiled`, the app's fast path; one
compilation per batch size, its seconds reported), each with its max |difference| from fp32 eager; and the training
step with the VGG loss network in fp32 and in bf16 (``loss.vgg_bf16``); ``*_fastest`` names the fastest path. Inputs
are real sample pairs (geometry included), weights are random (speed does not depend on them).
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

from .compiled import CompiledGenerator
from .config import load_config
from .data import DEFAULT_ROOT, MODEL_INPUTS
from .train import Trainer
from .utils import native_bf16, set_cpu_threads

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = [REPO / "configs" / name for name in
                   ("market-small.yaml", "market-small-resizeconv-snhinge-style.yaml", "market-paper.yaml")]


def _interleaved_medians(fns: dict, iterations: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each callable, the callables alternated run by run (the order flipped every round), so that
    a load change on a shared machine hits every path alike and the ratios stay meaningful."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for i in range(iterations):
        for name in (list(fns) if i % 2 == 0 else list(fns)[::-1]):
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _bf16(fn):
    """``fn`` under CPU bf16 autocast: a win for wide networks on AMX / AVX-512 BF16 cores, a loss for small ones."""
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fn()
    return run


def _generator_paths(G, items, iterations: int) -> dict:
    """G forward at batch 1 and 16 in fp32 eager, under bf16 autocast and compiled (ms per image), the fastest path
    per batch size, the compilation seconds, and the largest |path - fp32| over the batch-16 images (outputs in
    [-1, 1]). A failed compilation is reported (``G_compile_error``) instead of the compiled figures."""
    result = {}
    for batch_size in (1, 16):
        batch = default_collate(items[:batch_size])
        inputs = [batch[k] for k in MODEL_INPUTS]
        paths = {"fp32": lambda: G(*inputs).image}
        paths["bf16"] = _bf16(paths["fp32"])
        compiled = CompiledGenerator(G, inputs, background=False)
        if compiled.ready:
            paths["compiled"] = lambda: compiled(*inputs).image
            result[f"G_compile_s_b{batch_size}"] = round(compiled.seconds, 1)
        else:
            result["G_compile_error"] = repr(compiled.error)
        with torch.inference_mode():
            seconds = _interleaved_medians(paths, iterations)
            fp32 = paths["fp32"]()
            for path in ("bf16", "compiled") if batch_size == 16 else ():
                if path in paths:
                    result[f"G_{path}_max_abs_diff"] = round((paths[path]().float() - fp32).abs().max().item(), 7)
        for path, s in seconds.items():
            result[f"G_forward_ms_per_image_b{batch_size}_{path}"] = round(1000 * s / batch_size, 2)
        result[f"G_forward_fastest_b{batch_size}"] = min(seconds, key=seconds.get)
    return result


def _training_paths(trainer, items, iterations: int) -> dict:
    """Training steps (G + D + losses) with the VGG loss network in fp32 and under bf16 autocast (``loss.vgg_bf16``),
    in images per second; the config's own setting is restored afterwards."""
    batch = default_collate(items[:trainer.cfg.train.batch_size])
    configured = trainer.cfg.loss.vgg_bf16

    def step(vgg_bf16: bool):
        def run():
            trainer.cfg.loss.vgg_bf16 = vgg_bf16
            trainer.train_step(batch)
        return run
    seconds = _interleaved_medians({"fp32": step(False), "vgg_bf16": step(True)}, max(3, iterations // 2))
    trainer.cfg.loss.vgg_bf16 = configured
    # without native bf16 the loss runs the "vgg_bf16" path in float32 too (posegan.losses): both figures are fp32
    result = {"train_batch_size": trainer.cfg.train.batch_size, "train_vgg_bf16_configured": configured,
              "native_bf16": native_bf16(trainer.device.type)}
    for path, s in seconds.items():
        result[f"train_images_per_s_{path}"] = round(trainer.cfg.train.batch_size / s, 2)
    result["train_fastest"] = min(seconds, key=seconds.get)
    return result


def benchmark_config(config_path, data_root=DEFAULT_ROOT, iterations: int = 10) -> dict:
    cfg = load_config(config_path, [f"train.threads={torch.get_num_threads()}"])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, data_root, split="samples", sample_split="samples", device="cpu")
    items = [trainer.dataset[i % len(trainer.dataset)] for i in range(16)]
    result = {"config": str(config_path), "G_params": sum(p.numel() for p in trainer.G.parameters()),
              "D_params": sum(p.numel() for p in trainer.D.parameters())}
    result.update(_generator_paths(trainer.G.eval(), items, iterations))
    result.update(_training_paths(trainer, items, iterations))
    return result


def run_benchmarks(configs=None, out="results/bench.json", threads: int = 2, iterations: int = 10,
                   data_root=DEFAULT_ROOT) -> dict:
    threads = set_cpu_threads(threads)
    results = [benchmark_config(c, data_root, iterations) for c in (configs or DEFAULT_CONFIGS)]
    report = {"command": " ".join(["python -m posegan"] + sys.argv[1:]) if sys.argv[0].endswith("__main__.py")
              else " ".join(sys.argv), "device": f"cpu ({platform.processor() or platform.machine()})",
              "threads": threads, "torch": torch.__version__, "iterations": iterations, "results": results}
    print(f"{'config':<44}{'fwd b1 ms fp32/bf16/compiled':>30}{'b16 ms/img fp32/bf16/compiled':>31}"
          f"{'diff bf16/compiled':>20}{'compile s':>13}{'train img/s fp32/vgg-bf16':>27}")
    for r in results:
        b1, b16 = ([r.get(f"G_forward_ms_per_image_b{b}_{path}", "-") for path in ("fp32", "bf16", "compiled")]
                   for b in (1, 16))
        diffs = [r.get(f"G_{path}_max_abs_diff", "-") for path in ("bf16", "compiled")]
        compile_s = [r.get(f"G_compile_s_b{b}", "-") for b in (1, 16)]
        print(f"{Path(r['config']).name:<44}{' / '.join(map(str, b1)):>30}{' / '.join(map(str, b16)):>31}"
              f"{' / '.join(f'{d:.3g}' if d != '-' else d for d in diffs):>20}{' / '.join(map(str, compile_s)):>13}"
              f"{r['train_images_per_s_fp32']:>16} / {r['train_images_per_s_vgg_bf16']:<7}")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return report
