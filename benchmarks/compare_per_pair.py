"""Paired comparison of two evaluated methods on the pairs both were scored on, from ``per_pair.csv`` files.

    python benchmarks/compare_per_pair.py A.csv:ours B.csv:no_deform [--baseline B.csv:copy_source] --out cmp.json

Each argument is ``CSV:METHOD`` (a ``per_pair.csv`` written by ``python -m posegan evaluate`` and a method in it),
so checkpoints evaluated in different runs (e.g. an older checkpoint on ``--limit 2000``) can be compared on their
common pairs without re-generating anything. Prints, per metric, both means, the mean paired difference A - B with
a 95 % bootstrap interval, and how often A is better (higher for SSIM / mask-SSIM / PCKh, lower for LPIPS / L1).
PCKh here is the mean of per-pair ratios, not the pooled joint count of ``metrics.json``; FID is a set metric and
is not in the CSVs.
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

LOWER_IS_BETTER = {"lpips", "l1"}


def read_method(spec: str) -> dict[tuple[str, str], dict[str, float]]:
    path, _, method = spec.rpartition(":")
    if not path:
        raise SystemExit(f"expected CSV:METHOD, got {spec!r}")
    with open(path, newline="") as f:
        rows = {(r["from"], r["to"]): r for r in csv.DictReader(f) if r["method"] == method}
    if not rows:
        raise SystemExit(f"no rows for method {method!r} in {path}")
    metrics = [k for k in next(iter(rows.values())) if k not in ("from", "to", "method")]
    return {pair: {m: float(r[m]) for m in metrics} for pair, r in rows.items()}


def compare(a: dict, b: dict, seed: int = 0, resamples: int = 2000) -> dict:
    pairs = sorted(a.keys() & b.keys())
    rng = np.random.default_rng(seed)
    out = {"pairs": len(pairs)}
    for metric in sorted(a[pairs[0]].keys() & b[pairs[0]].keys()):
        va, vb = (np.array([d[p][metric] for p in pairs]) for d in (a, b))
        keep = np.isfinite(va) & np.isfinite(vb)  # PCKh is NaN where the target has < 2 head joints
        diff = va[keep] - vb[keep]
        boot = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(resamples)]
        better = diff < 0 if metric in LOWER_IS_BETTER else diff > 0
        out[metric] = {"a": float(va[keep].mean()), "b": float(vb[keep].mean()), "a_minus_b": float(diff.mean()),
                       "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
                       "a_better_share": float(better.mean()), "pairs": int(keep.sum())}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="CSV:METHOD, e.g. results/eval/per_pair.csv:ours")
    parser.add_argument("b", help="CSV:METHOD to compare against")
    parser.add_argument("--baseline", help="CSV:METHOD also reported on the same pairs (e.g. copy_source)")
    parser.add_argument("--out", help="JSON output")
    args = parser.parse_args()
    a, b = read_method(args.a), read_method(args.b)
    report = {"a": args.a, "b": args.b, "comparison": compare(a, b)}
    if args.baseline:
        base = read_method(args.baseline)
        common = a.keys() & b.keys() & base.keys()
        report["baseline"] = {"spec": args.baseline, "pairs": len(common),
                              "means": {m: float(np.nanmean([base[p][m] for p in common])) for m in next(iter(base.values()))}}
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
