"""Pose-edit fidelity: does the generator draw the pose a user drags, not just the poses Market is full of?

    python benchmarks/pose_edit_fidelity.py [--limit 500]
        [--checkpoint checkpoints/posegan-market-small-imageskip.pt]
        -> results/pose-edit-fidelity.json

For the first ``--limit`` test pairs, the target pose is edited the way app users do (:mod:`posegan.pose_edits`:
raise an arm above the shoulder, spread the legs, swing an arm forward, mirror the pose; arms alternate right / left
by pair), the source person is generated in the edited pose, and the shipped pose detector (YOLO11n-pose) runs on the
output. Per edit it reports the share of *edited* joints found within 0.5 x the head box of where they were dragged
(the PCKh rule, :func:`posegan.metrics.pckh.pckh_joint_hits`), per joint as well. ``copy_source`` scores the source
photo itself against the edited pose: how often a joint is "found" without any generation (the floor to beat).
Pairs whose pose lacks the joints of an edit, or whose edited limb would leave the frame, are counted and skipped.

For the raised arm it also reports ``real_photos``: the same count on every Market photo (train and test) whose
annotated wrist is above its nose, the detector run on the photo itself. That is how often the detector finds a real
raised arm, so it bounds what any generator can score on this edit.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posegan.config import DEFAULT_DATA_ROOT, DEFAULT_GENERATOR  # noqa: E402
from posegan.data import MarketPoseDataset, pair_tensors, tensor_to_image  # noqa: E402
from posegan.inference import PoseTransfer  # noqa: E402
from posegan.keypoints import JOINT_NAMES, J, is_present  # noqa: E402
from posegan.metrics.pckh import detect_poses, pckh_joint_hits  # noqa: E402
from posegan.pose_edits import ARMS, EDITS  # noqa: E402


def edit_cases(dataset: MarketPoseDataset):
    """{edit: [(pair index, edited pose, moved joints)]} and {edit: pairs skipped}."""
    cases, skipped = {name: [] for name in EDITS}, {name: 0 for name in EDITS}
    for index, (_, target_name) in enumerate(dataset.pairs):
        pose = dataset.poses[target_name]
        side = "right" if index % 2 == 0 else "left"
        for name, edit in EDITS.items():
            result = edit(pose, side) if name in ("raise_arm", "swing_arm") else edit(pose)
            if result is None:
                skipped[name] += 1
            else:
                cases[name].append((index, *result))
    return cases, skipped


def raised_arm_photos(root) -> tuple[np.ndarray, list]:
    """Every Market photo whose annotated wrist is above its nose: (images, [(index, pose, [elbow, wrist])])."""
    images, cases = [], []
    for split in ("train", "test"):
        dataset = MarketPoseDataset(root, split)
        for name, pose in dataset.poses.items():
            for _, elbow, wrist in ARMS.values():
                if is_present(pose)[[elbow, wrist, J["nose"]]].all() and pose[wrist, 1] < pose[J["nose"], 1]:
                    cases.append((len(images), pose, [elbow, wrist]))
                    images.append(dataset.load_image(name))
    return np.stack(images), cases


def found_share(detected: np.ndarray, cases) -> tuple[dict, dict, dict]:
    """(overall {found, edited, share}, per joint name {found, edited, share}, per pair {pair, found, edited}) of the
    edited joints; per pair, the pair's edited joints and how many were found (None: no head box, not scored), so two
    checkpoints can be compared pair by pair (``benchmarks/compare_pose_edits.py``)."""
    found, edited = np.zeros(len(JOINT_NAMES)), np.zeros(len(JOINT_NAMES))
    per_pair = {"pair": [], "found": [], "edited": []}
    for det, (index, pose, moved) in zip(detected, cases):
        hits = pckh_joint_hits(det, pose)
        per_pair["pair"].append(int(index))
        if hits is None:  # fewer than 2 head joints: no head box (the PCKh rule)
            per_pair["found"].append(None)
            per_pair["edited"].append(None)
            continue
        per_pair["found"].append(int(hits[0][moved].sum()))
        per_pair["edited"].append(len(moved))
        edited[moved] += 1
        found[moved] += hits[0][moved]

    def share(f, e):
        return {"found": int(f), "edited": int(e), "share": round(float(f / e), 4) if e else None}
    return (share(found.sum(), edited.sum()),
            {JOINT_NAMES[j]: share(found[j], edited[j]) for j in np.flatnonzero(edited)}, per_pair)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", default=str(DEFAULT_GENERATOR))
    parser.add_argument("--data", default=DEFAULT_DATA_ROOT, help="Market-1501 folder")
    parser.add_argument("--limit", type=int, default=500, help="first N test pairs")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", default="results/pose-edit-fidelity.json")
    args = parser.parse_args()

    started = time.time()
    generator = PoseTransfer.from_checkpoint(args.checkpoint)
    dataset = MarketPoseDataset(args.data, "test", limit=args.limit, sigma=generator.cfg.data.heatmap_sigma)
    sources = [dataset.load_image(a) for a, _ in dataset.pairs]
    source_detections = detect_poses(np.stack(sources))
    cases, skipped = edit_cases(dataset)
    report = {"command": " ".join(["python"] + sys.argv), "checkpoint": args.checkpoint, "pairs": len(dataset),
              "detector": "YOLO11n-pose (checkpoints/yolo11n-pose.pt)", "tolerance": "0.5 x target head box (PCKh)",
              "edits": {}}
    for name, edit_list in cases.items():
        images = []
        for start in range(0, len(edit_list), args.batch_size):
            items = [pair_tensors(sources[i], dataset.poses[dataset.pairs[i][0]], pose, generator.height,
                                  generator.width, generator.cfg.data.heatmap_sigma)
                     for i, pose, _ in edit_list[start:start + args.batch_size]]
            images += [tensor_to_image(t) for t in generator.batch(items)]
        ours, ours_joints, ours_pairs = found_share(detect_poses(np.stack(images)), edit_list)
        floor, _, _ = found_share(source_detections[[i for i, _, _ in edit_list]], edit_list)
        report["edits"][name] = {"pairs": len(edit_list), "skipped": skipped[name], "ours": ours,
                                 "copy_source": floor, "ours_per_joint": ours_joints, "ours_per_pair": ours_pairs}
        print(f"{name:>12}: {len(edit_list)} pairs, edited joints found {ours['share']:.3f} "
              f"(copy source {floor['share']:.3f}); " + ", ".join(
                  f"{j} {v['share']:.2f}" for j, v in ours_joints.items()), flush=True)
    photos, photo_cases = raised_arm_photos(args.data)
    report["edits"]["raise_arm"]["real_photos"], _, _ = found_share(detect_poses(photos), photo_cases)
    print(f"raise_arm on {len(photo_cases)} real photos with a wrist above the nose: found "
          f"{report['edits']['raise_arm']['real_photos']['share']:.3f} (the detector's ceiling)")
    report["seconds"] = round(time.time() - started, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
