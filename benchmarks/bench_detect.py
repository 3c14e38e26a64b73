"""Benchmark pose detection (posegan/pose_detect.py): agreement with the Market OpenPose annotations, and CPU latency.

    python benchmarks/bench_detect.py --data ../shared/data/market1501 --limit 1000 --out results/bench_detect.json

Images: the first ``--limit`` test images sorted by name, skipping person ids -1 (junk) and 0000 (distractors),
which are not whole-person crops. For each image the chosen (first) person of ``PoseDetector.detect`` is compared
with the annotation by PCKh@0.5 (design doc ``deformable-gan.md`` §7.3: head box from annotated joints 0, 1, 14-17,
images with < 2 of them skipped, a joint missing in the detection is wrong, pooled over joints) for:

  * native@640   the 64x128 crop as is: YOLO letterboxes it to 320x640, the person fills its input (its default);
  * native@320   the same at a 320 px input (person ~320 px tall);
  * upscale4@640 the crop upscaled x4 (bicubic) before detection;
  * context@320  the library default: the crop in a grey border (CONTEXT_PAD), 320 px input (person ~210 px);
  * photo@640    the crop pasted in a grey 320x320 "photo" and run through the photo path (640 px input);

each at several keypoint thresholds ("precision" = correct / detected joints, "f1" combines it with PCKh).
"recrop" checks the crop margin: the person found in the "photo" is cropped with ``crop_person`` as any photo
is, and its crop-frame pose is compared with the annotation; the right margin reproduces the Market framing
(PCKh highest; vertical keypoint extent ratio as in photo@640, where the frame is the Market one by construction).
The recrop poses use the detector's default keypoint threshold. Latency: ``detect_pose_128x64`` (detect + crop, on
a decoded array) for a Market crop and the two photos shipped with ultralytics, with the default torch threads
(the load average is recorded: other jobs on the machine slow it down).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from posegan.config import DEFAULT_DATA_ROOT  # noqa: E402
from posegan.image_io import load_image  # noqa: E402
from posegan.metrics.pckh import pckh_joint_hits  # noqa: E402
from posegan.keypoints import JOINT_NAMES, coco17_to_openpose18, is_present, read_market_csv  # noqa: E402
from posegan.pose_detect import (CROP_MARGIN, GREY, KEYPOINT_THRESHOLD, NoPersonError, Person,  # noqa: E402
                                 PoseDetector, crop_person, detect_pose_128x64)

PHOTO_PAD = (128, 96)  # x, y grey border around the 64x128 crop: a 320x320 "photo" (long side > SMALL_SIDE)


def agreement(poses: list[np.ndarray | None], targets: list[np.ndarray]) -> dict:
    """PCKh per joint and pooled, share of annotated joints detected, share of unannotated joints 'detected'."""
    correct, visible, evaluated, detected_scored = np.zeros(18), np.zeros(18), 0, 0
    hit = annotated = extra = unannotated = detected = 0
    ratios = [r for r in (extent_ratio(p, t) for p, t in zip(poses, targets) if p is not None) if r is not None]
    for pose, target in zip(poses, targets):
        pose = pose if pose is not None else np.full((18, 2), -1.0, np.float32)
        present, wanted = is_present(pose), is_present(target)
        hit, annotated = hit + (present & wanted).sum(), annotated + wanted.sum()
        extra, unannotated = extra + (present & ~wanted).sum(), unannotated + (~wanted).sum()
        detected += present.sum()
        scored = pckh_joint_hits(pose, target)
        if scored is not None:
            evaluated += 1
            correct, visible = correct + scored[0], visible + scored[1]
            detected_scored += present.sum()
    recall, precision = correct.sum() / visible.sum(), correct.sum() / max(detected_scored, 1)
    return {"pckh": float(recall), "precision": float(precision),
            "f1": float(2 * precision * recall / (precision + recall)), "images_scored": evaluated,
            "pckh_per_joint": {name: round(float(c / v), 4) for name, c, v in zip(JOINT_NAMES, correct, visible)},
            "extent_ratio_median": round(float(np.median(ratios)), 4),
            "detected_share": float(hit / annotated), "extra_share": float(extra / max(unannotated, 1)),
            "joints_per_image": float(detected / len(targets)),
            "annotated_joints_per_image": float(annotated / len(targets))}


def extent_ratio(pose: np.ndarray, target: np.ndarray) -> float | None:
    """Vertical extent of the joints present in both, ours / annotated: 1 when the crop scale matches Market."""
    both = is_present(pose) & is_present(target)
    if both.sum() < 4 or np.ptp(target[both, 1]) < 30:
        return None
    return float(np.ptp(pose[both, 1]) / np.ptp(target[both, 1]))


def first_person(detector: PoseDetector, image: np.ndarray, **kwargs) -> Person | None:
    try:
        return detector.detect(image, **kwargs)[0]
    except NoPersonError:
        return None


def market_keypoints(person: Person | None, scale: float = 1.0, pad=(0, 0)) -> np.ndarray | None:
    """COCO keypoints of ``person`` mapped back to the 64x128 frame from an input upscaled by ``scale``/padded."""
    if person is None:
        return None
    keypoints = person.keypoints_coco.copy()
    keypoints[:, :2] = (keypoints[:, :2] - pad + 0.5) / scale - 0.5
    return keypoints


def detect_settings(detector: PoseDetector, rgb: np.ndarray, photo_person: Person | None) -> dict:
    """Chosen person's COCO keypoints in the 64x128 frame for each input setting (see the module docstring)."""
    upscaled = cv2.resize(rgb, (4 * rgb.shape[1], 4 * rgb.shape[0]), interpolation=cv2.INTER_CUBIC)
    return {"native@640": market_keypoints(first_person(detector, rgb, crop_context=False)),
            "native@320": market_keypoints(first_person(detector, rgb, image_size=320, crop_context=False)),
            "upscale4@640": market_keypoints(first_person(detector, upscaled, crop_context=False), scale=4),
            "context@320": market_keypoints(first_person(detector, rgb)),
            "photo@640": market_keypoints(photo_person, pad=PHOTO_PAD)}


def time_call(fn, repeats: int) -> dict:
    fn(), fn()  # warm-up: first calls build ultralytics' predictor and allocate buffers
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return {"median_ms": round(float(np.median(times)), 1), "p90_ms": round(float(np.percentile(times, 90)), 1),
            "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA_ROOT, help="Market folder (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=1000, help="test images to score (default: %(default)s)")
    parser.add_argument("--thresholds", default="0.3,0.4,0.5,0.6,0.7",
                        help="keypoint thresholds (default: %(default)s)")
    parser.add_argument("--margins", default="0,0.025,0.05,0.075,0.1,0.15,0.2",
                        help="crop margins (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per latency input (default: %(default)s)")
    parser.add_argument("--weights", default=None, help="YOLO pose weights (default: checkpoints/yolo11n-pose.pt)")
    parser.add_argument("--out", default="results/bench_detect.json", help="JSON output (default: %(default)s)")
    args = parser.parse_args()
    thresholds = [float(v) for v in args.thresholds.split(",")]
    margins = [float(v) for v in args.margins.split(",")]
    root = Path(args.data)

    load_average_start = os.getloadavg()
    start = time.perf_counter()
    detector = PoseDetector.load(args.weights)
    load_ms = 1000 * (time.perf_counter() - start)

    default_threads = torch.get_num_threads()
    # Agreement does not depend on the thread count; one thread keeps this shared 2-core machine usable (two
    # threads next to a training job oversubscribe the cores). Latency below uses the default threads.
    torch.set_num_threads(1)
    annotations = read_market_csv(root / "annotations-test.csv")
    names = sorted(n for n in annotations if not n.startswith(("-1_", "0000_")))[:args.limit]
    targets = [annotations[n] for n in names]
    chosen = {}                                    # setting -> COCO keypoints (64x128 frame) per image
    recropped = {margin: [] for margin in margins}  # margin -> crop-frame pose per image
    start = time.perf_counter()
    for index, name in enumerate(names, 1):
        rgb = load_image(root / "test" / name)
        pad_x, pad_y = PHOTO_PAD
        photo = cv2.copyMakeBorder(rgb, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=GREY)
        person = first_person(detector, photo)
        for setting, keypoints in detect_settings(detector, rgb, person).items():
            chosen.setdefault(setting, []).append(keypoints)
        for margin, poses in recropped.items():
            poses.append(None if person is None else crop_person(photo, person, margin=margin).pose)
        if index % 100 == 0:
            print(f"  {index}/{len(names)} images, {time.perf_counter() - start:.0f} s", flush=True)

    results = {"agreement": {}, "recrop": {}}
    for setting, keypoints in chosen.items():
        for threshold in thresholds:
            poses = [None if k is None else coco17_to_openpose18(k, threshold) for k in keypoints]
            results["agreement"][f"{setting} t={threshold:g}"] = {
                "no_person": sum(k is None for k in keypoints), **agreement(poses, targets)}
    for margin, poses in recropped.items():
        results["recrop"][f"margin {margin:g}"] = agreement(poses, targets)

    torch.set_num_threads(default_threads)
    from ultralytics.utils import ASSETS  # the photos that ship with ultralytics
    photos = [load_image(root / "test" / names[0]), load_image(ASSETS / "zidane.jpg"), load_image(ASSETS / "bus.jpg")]
    photos = {f"{label} {rgb.shape[1]}x{rgb.shape[0]}": rgb for label, rgb in zip(("market", "zidane", "bus"), photos)}
    results["latency"] = {label: time_call(lambda rgb=rgb: detect_pose_128x64(rgb, detector), args.repeats)
                          for label, rgb in photos.items()}

    report = {"command": " ".join([Path(sys.executable).name] + sys.argv), "images": len(names),
              "library_defaults_at_run": {"keypoint_threshold": KEYPOINT_THRESHOLD, "crop_margin": CROP_MARGIN},
              "recrop_keypoint_threshold": detector.keypoint_threshold,
              "device": f"CPU ({platform.processor() or platform.machine()}), {os.cpu_count()} cores",
              "threads": torch.get_num_threads(), "model_load_ms": round(load_ms, 1),
              "load_average_start_end": [load_average_start, os.getloadavg()], **results}
    print_tables(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"saved {out}")


def print_tables(report: dict) -> None:
    print(f"\n{report['images']} Market test images; PCKh@0.5 vs OpenPose annotations (pooled over joints)")
    print(f"{'setting':<22}{'PCKh':>7}{'prec':>7}{'F1':>7}{'detected':>10}{'extra':>8}{'joints/img':>11}"
          f"{'no person':>10}{'extent':>8}")
    for key, row in {**report["agreement"], **{f"recrop {k}": v for k, v in report["recrop"].items()}}.items():
        print(f"{key:<22}{row['pckh']:>7.3f}{row['precision']:>7.3f}{row['f1']:>7.3f}"
              f"{row['detected_share']:>10.3f}{row['extra_share']:>8.3f}"
              f"{row['joints_per_image']:>11.2f}{row.get('no_person', ''):>10}{row['extent_ratio_median']:>8.3f}")
    annotated = next(iter(report["agreement"].values()))["annotated_joints_per_image"]
    print(f"(annotations: {annotated:.2f} joints/img; extra = share of unannotated joints that were detected; "
          "extent = median vertical keypoint extent, detected / annotated)")
    print(f"\nlatency, detect + crop, {report['threads']} torch threads, load average at start "
          f"{report['load_average_start_end'][0][0]:.2f}; model load {report['model_load_ms']:.0f} ms")
    for label, row in report["latency"].items():
        print(f"  {label:<22} median {row['median_ms']:7.1f} ms   p90 {row['p90_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
