"""Score the short runs of the realism recipe search (issue #13) against one of them, pair by pair.

    python benchmarks/score_recipes.py paper resize-conv sn-hinge-fm ... [--baseline paper] [--limit 1000]
        -> runs/recipes/NAME/eval/ (python -m posegan evaluate, cached), results/recipes/table.md and recipes.json

Each NAME is a run of ``benchmarks/recipe_run.sh``. Every run's exported generator is evaluated on the first
``--limit`` test pairs (SSIM, mask-SSIM, LPIPS, L1, FID against the test targets and against the training set), and
every run but the baseline is compared with the baseline on the same pairs (``compare_per_pair.py``: mean paired
difference with a 95 % bootstrap interval). The table lists each run's numbers, its step time (median of its
``log.csv``) and what it changed (the ``--set`` overrides recorded in its config against the baseline's).
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from compare_per_pair import compare, read_method  # noqa: E402

METRICS = ["ssim", "mask_ssim", "lpips", "l1", "fid", "fid_train"]
PAIRED = ["ssim", "mask_ssim", "lpips", "l1"]


def cell(metric: str, value: float) -> str:
    """FIDs with one decimal, the other metrics with four."""
    return f"{value:.1f}" if metric in ("fid", "fid_train") else f"{value:.4f}"


def config_changes(run: Path, baseline: Path) -> str:
    """The config values of ``run`` that differ from ``baseline``'s, as key=value."""
    def flat(path):
        cfg = yaml.safe_load((path / "config.yaml").read_text())
        return {f"{section}.{k}": v for section, values in cfg.items() for k, v in values.items()}
    a, b = flat(run), flat(baseline)
    return ", ".join(f"{k}={a[k]}" for k in sorted(a) if a[k] != b.get(k)) or "(baseline)"


def median_step_seconds(run: Path) -> float:
    with open(run / "log.csv", newline="") as f:
        return statistics.median(float(r["sec_per_step"]) for r in csv.DictReader(f))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run names under runs/recipes/")
    parser.add_argument("--baseline", default="paper")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--metrics", default=",".join(METRICS), help="subset of " + ",".join(METRICS))
    parser.add_argument("--out", default="results/recipes")
    args = parser.parse_args()
    metrics_wanted = args.metrics.split(",")
    names = [args.baseline] + [n for n in args.runs if n != args.baseline]
    root, out = REPO / "runs" / "recipes", REPO / args.out
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for name in names:
        run = root / name
        eval_dir = run / "eval"
        subprocess.run([sys.executable, "-m", "posegan", "evaluate", "--checkpoint", str(run / "generator.pt"),
                        "--metrics", ",".join(metrics_wanted), "--limit", str(args.limit), "--out", str(eval_dir)],
                       check=True, cwd=REPO)  # the evaluation cache makes a repeated call cheap
        metrics = json.loads((eval_dir / "metrics.json").read_text())
        report[name] = {"changes": config_changes(run, root / args.baseline), "results": metrics["results"]["ours"],
                        "copy_source": metrics["results"]["copy_source"], "pairs": metrics["pairs"],
                        "sec_per_step": median_step_seconds(run)}
        if name != args.baseline:
            paired = compare(read_method(f"{eval_dir}/per_pair.csv:ours"),
                             read_method(f"{root / args.baseline}/eval/per_pair.csv:ours"))
            report[name]["minus_baseline"] = {m: paired[m] for m in PAIRED if m in metrics_wanted}
    (out / "recipes.json").write_text(json.dumps(report, indent=2))
    rows = ["| run | change against the baseline | s/step | " + " | ".join(metrics_wanted) + " |",
            "|---|---|---|" + "---|" * len(metrics_wanted)]
    for name, r in report.items():
        cells = []
        for m in metrics_wanted:
            text = cell(m, r["results"][m])
            if m in r.get("minus_baseline", {}):
                d = r["minus_baseline"][m]
                text += f" ({d['a_minus_b']:+.4f} [{d['ci95'][0]:+.4f}, {d['ci95'][1]:+.4f}])"
            cells.append(text)
        rows.append(f"| {name} | {r['changes']} | {r['sec_per_step']:.2f} | " + " | ".join(cells) + " |")
    copy = report[args.baseline]["copy_source"]
    rows.append("| copy source | output = source image | – | " + " | ".join(
        cell(m, copy[m]) for m in metrics_wanted) + " |")
    table = "\n".join(rows) + f"\n\nFirst {report[args.baseline]['pairs']} test pairs; in brackets the paired " \
        f"difference from {args.baseline} with its 95 % bootstrap interval.\n"
    (out / "table.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
