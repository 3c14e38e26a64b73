"""Pair-by-pair comparison of two checkpoints on the pose-edit benchmark, from two ``pose_edit_fidelity.py`` JSONs.

    python benchmarks/compare_pose_edits.py A.json B.json [--out cmp.json]

Per edit, on the pairs both files scored (same ``--limit``, same edits): both shares of edited joints found, the
difference A - B with a 95 % bootstrap interval over pairs (the share is pooled over joints, so each resample
re-pools), and how many pairs A found more joints on, fewer, or as many. The two files must come from the same
test pairs and edits; the generators are the only difference.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def per_pair(report: dict, edit: str) -> dict[int, tuple[int, int]]:
    """{pair index: (found, edited)} of one edit, the pairs without a head box left out."""
    rows = report["edits"][edit].get("ours_per_pair")
    if rows is None:
        raise SystemExit(f"{report.get('command', 'a report')} has no per-pair results: rerun pose_edit_fidelity.py")
    return {pair: (found, edited) for pair, found, edited in zip(rows["pair"], rows["found"], rows["edited"])
            if found is not None}


def compare_edit(a: dict[int, tuple[int, int]], b: dict[int, tuple[int, int]], seed: int = 0,
                 resamples: int = 2000) -> dict:
    pairs = sorted(a.keys() & b.keys())
    if any(a[p][1] != b[p][1] for p in pairs):
        raise SystemExit("the two files edited different joints on the same pair: not the same benchmark")
    found_a, found_b, edited = (np.array([d[p][k] for p in pairs]) for d, k in ((a, 0), (b, 0), (a, 1)))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        pick = rng.integers(0, len(pairs), len(pairs))
        boot.append((found_a[pick].sum() - found_b[pick].sum()) / edited[pick].sum())
    return {"pairs": len(pairs), "a": float(found_a.sum() / edited.sum()), "b": float(found_b.sum() / edited.sum()),
            "a_minus_b": float((found_a.sum() - found_b.sum()) / edited.sum()),
            "ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))],
            "pairs_a_more": int((found_a > found_b).sum()), "pairs_a_fewer": int((found_a < found_b).sum())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="pose_edit_fidelity.py JSON of the checkpoint to judge")
    parser.add_argument("b", help="the JSON to compare it with")
    parser.add_argument("--out", help="JSON output")
    args = parser.parse_args()
    a, b = (json.loads(Path(path).read_text()) for path in (args.a, args.b))
    if a["pairs"] != b["pairs"]:
        raise SystemExit(f"the files scored the first {a['pairs']} and {b['pairs']} test pairs: use the same --limit")
    report = {"a": args.a, "b": args.b, "comparison": {}}
    for edit in [edit for edit in a["edits"] if edit in b["edits"]]:  # A's order, the same on every run
        result = compare_edit(per_pair(a, edit), per_pair(b, edit))
        report["comparison"][edit] = result
        low, high = result["ci95"]
        print(f"{edit:>12}: {result['a']:.3f} vs {result['b']:.3f}, A - B {result['a_minus_b']:+.3f} "
              f"(95 % CI {low:+.3f} to {high:+.3f}) on {result['pairs']} pairs; A found more on "
              f"{result['pairs_a_more']}, fewer on {result['pairs_a_fewer']}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
