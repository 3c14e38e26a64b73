"""Where a training step spends its time: torch.profiler over a few full steps, grouped by operator.

    python benchmarks/profile_train_step.py --config configs/market-small.yaml --steps 5 --out results/profile_train_step.json

Runs real steps of :class:`posegan.train.Trainer` (G forward, D step, VGG nearest-neighbour loss, G backward) on
Market sample pairs and prints the operators that take most CPU time, plus the share of the deformable-skip
sampling (grid_sample), the convolutions and the NN loss. Writes JSON.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.data import default_collate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from posegan.config import load_config  # noqa: E402
from posegan.data import DEFAULT_ROOT  # noqa: E402
from posegan.train import Trainer  # noqa: E402
from posegan.utils import set_cpu_threads  # noqa: E402

GROUPS = {  # operator name fragments -> what they are in the model
    "convolution": ("conv", "mkldnn"),
    "deformable skip sampling": ("grid_sampler", "affine_grid"),
    "nearest-neighbour loss (abs/sum/min)": ("aten::abs", "aten::sum", "aten::min", "aten::stack", "aten::sub"),
    "normalisation": ("group_norm", "native_group_norm"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/market-small.yaml")
    parser.add_argument("--data", default=str(DEFAULT_ROOT))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="results/profile_train_step.json")
    args = parser.parse_args()
    threads = set_cpu_threads(args.threads)
    cfg = load_config(args.config, [f"train.threads={threads}"])
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, tmp, args.data, split="samples", sample_split="samples", device="cpu")
    batch = default_collate([trainer.dataset[i] for i in range(cfg.train.batch_size)])
    trainer.train_step(batch)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            trainer.train_step(batch)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:15]
    groups = {name: sum(e.self_cpu_time_total for e in events if any(f in e.key for f in frags)) / total
              for name, frags in GROUPS.items()}
    report = {"command": " ".join(sys.argv), "config": args.config, "threads": threads, "steps": args.steps,
              "ms_per_step": round(total / 1000 / args.steps, 1),
              "share_by_group": {k: round(v, 3) for k, v in groups.items()},
              "top_ops": [{"op": e.key, "self_ms_per_step": round(e.self_cpu_time_total / 1000 / args.steps, 2),
                           "share": round(e.self_cpu_time_total / total, 3)} for e in top]}
    print(f"{report['ms_per_step']} ms of operator time per step ({threads} threads)")
    for name, share in report["share_by_group"].items():
        print(f"  {name:<40}{100 * share:5.1f} %")
    for op in report["top_ops"]:
        print(f"  {op['op']:<40}{op['self_ms_per_step']:>8} ms {100 * op['share']:5.1f} %")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
