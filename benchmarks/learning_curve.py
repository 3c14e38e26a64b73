"""Learning curve: test metrics of evaluated checkpoints against the CPU-hours of training that made them.

    python benchmarks/learning_curve.py results/train-market-small/log.csv \\
        results/eval-market-small-step19102:19102 results/eval-market-small:38677 ... --out results/learning-curve

Each ``EVAL_DIR:STEP`` is a ``python -m posegan evaluate`` output folder and the training step of its checkpoint;
the hours come from the run's ``log.csv`` (``train_seconds``: time in training steps, not evaluation or idle time).
A run fine-tuned from that one (``train.init_from``) is given as ``EVAL_DIR:STEP:ITS_LOG:BASE_STEP``: its own hours
at STEP plus the first run's hours at BASE_STEP, the step it started from. Chains go on in pairs, each run started
from the next one's step: ``EVAL_DIR:STEP:LOG_C:STEP_B:LOG_B:STEP_A`` is C (fine-tuned from B at STEP_B, itself
fine-tuned from the first run at STEP_A).
Writes ``learning-curve.json`` and ``learning-curve.png`` (one panel per metric). Points evaluated on different
numbers of pairs are marked with that number: FID in particular depends on it.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = [("ssim", "SSIM ↑"), ("mask_ssim", "mask-SSIM ↑"), ("lpips", "LPIPS ↓"), ("fid", "FID vs test targets ↓"),
          ("fid_train", "FID vs training set ↓"), ("pckh", "PCKh ↑")]


def hours_at(log_csv: Path, step: int) -> float:
    """Training hours at ``step``: train_seconds of the last log row at or before it."""
    with open(log_csv, newline="") as f:
        seconds = [float(r["train_seconds"]) for r in csv.DictReader(f) if int(r["step"]) <= step]
    if not seconds:
        raise SystemExit(f"{log_csv} has no row at or before step {step}")
    return seconds[-1] / 3600


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="log.csv of the training run")
    parser.add_argument("evals", nargs="+", help="EVAL_DIR:STEP[:LOG:BASE_STEP]...")
    parser.add_argument("--method", default="ours")
    parser.add_argument("--out", default="results/learning-curve")
    args = parser.parse_args()
    points = []
    for spec in args.evals:
        folder, step, *chain = spec.split(":")
        if len(chain) % 2:
            raise SystemExit(f"{spec}: after EVAL_DIR:STEP come LOG:BASE_STEP pairs")
        hours, at = 0.0, int(step)
        for log, base_step in zip(chain[0::2], chain[1::2]):  # each fine-tuned run's own hours, then its base's
            hours, at = hours + hours_at(Path(log), at), int(base_step)
        hours += hours_at(Path(args.log), at)
        report = json.loads((Path(folder) / "metrics.json").read_text())
        points.append({"eval": folder, "step": int(step), "hours": round(hours, 3), "pairs": report["pairs"],
                       **report["results"][args.method]})
    points.sort(key=lambda p: p["hours"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "learning-curve.json").write_text(json.dumps(points, indent=2))
    panels = [(k, label) for k, label in PANELS if any(k in p for p in points)]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        have = [p for p in points if key in p]
        ax.plot([p["hours"] for p in have], [p[key] for p in have], "o-")
        for p in have:
            ax.annotate(f"{p['pairs']}", (p["hours"], p[key]), fontsize=6, textcoords="offset points", xytext=(2, 3))
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("CPU-hours of training", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning-curve.png", dpi=120)
    print(json.dumps(points, indent=1))


if __name__ == "__main__":
    main()
