"""Batch pose detection for image files and folders: ``python -m posegan detect`` and ``annotate``.

    python -m posegan detect photo.jpg other.png --out detections/   # per image: JSON, 128x64 crop, annotated PNG
    python -m posegan annotate --images my_crops/ --out poses.csv       # Market-style CSV for a folder

Both use the one detector of :mod:`posegan.pose_detect`; a bad file is reported and skipped, never fatal.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from PIL import Image

from .image_io import ImageLoadError, load_image
from .keypoints import format_market_row, is_present, missing_pose, save_pose_json
from .pose_detect import NoPersonError, detect_pose_128x64, get_detector
from .visualize import draw_people

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def detect_images(paths: list[str], out_dir: str, write_json: bool = True, weights: str | None = None) -> list[dict]:
    """For each image write ``<stem>.json`` (OpenPose JSON, 128x64 crop frame), ``<stem>_crop.png`` and
    ``<stem>_annotated.png``; print one progress line per image to stderr. Unreadable images and images without a person are
    reported (``"error"`` in their summary) and skipped."""
    detector = get_detector(weights)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries, stems = [], set()
    for number, path in enumerate(paths, 1):
        summary = {"path": str(path), "people": 0, "box": None, "score": None, "joints": 0, "outputs": [],
                   "error": None}
        try:
            rgb = load_image(path)
            crop, person, people = detect_pose_128x64(rgb, detector)
        except (ImageLoadError, NoPersonError) as exc:
            summary["error"] = str(exc)
            print(f"[{number}/{len(paths)}] {path}: skipped: {exc}", file=sys.stderr, flush=True)
            summaries.append(summary)
            continue
        stem = _unique_stem(Path(path), stems)
        outputs = [out / f"{stem}_crop.png", out / f"{stem}_annotated.png"]
        Image.fromarray(crop.image).save(outputs[0])
        Image.fromarray(draw_people(rgb, people)).save(outputs[1])
        if write_json:
            outputs.append(out / f"{stem}.json")
            save_pose_json(outputs[-1], crop.pose)
        summary.update(people=len(people), box=[round(v, 1) for v in person.box], score=round(person.score, 3),
                       joints=int(is_present(crop.pose).sum()), outputs=[str(p) for p in outputs])
        counted = f"{len(people)} {'person' if len(people) == 1 else 'people'}"
        print(f"[{number}/{len(paths)}] {path}: {counted}, chosen box {summary['box']} "
              f"(score {summary['score']}), {summary['joints']}/18 joints -> {out / stem}*", file=sys.stderr, flush=True)
        summaries.append(summary)
    failed = sum(s["error"] is not None for s in summaries)
    print(f"done: {len(summaries) - failed} of {len(summaries)} images written to {out}"
          + (f", {failed} skipped" if failed else ""), file=sys.stderr, flush=True)
    return summaries


def annotate_folder(images_dir: str, out_csv: str, weights: str | None = None) -> int:
    """Write a Market-style annotation CSV (``name:keypoints_y:keypoints_x``) for every image in ``images_dir``.

    Poses are in the 128x64 crop frame, which for Market crops is the image itself. An image without a person
    gets an all-missing row (as every Market image has a row); unreadable files get none. Returns rows written.
    """
    from tqdm import tqdm

    folder = Path(images_dir)
    if not folder.is_dir():
        raise NotADirectoryError(f"not a folder: {folder}")
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    detector = get_detector(weights)
    rows, skipped = ["name:keypoints_y:keypoints_x"], 0
    progress = tqdm(names, desc="annotate", unit="img")
    for name in progress:
        try:
            pose = detect_pose_128x64(folder / name, detector)[0].pose
        except NoPersonError:
            pose = missing_pose()
        except ImageLoadError as exc:
            skipped += 1
            progress.write(f"skipped: {exc}")
            continue
        rows.append(format_market_row(name, pose))
    target = Path(out_csv)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")  # write then rename: no half-written CSV on a kill
    temporary.write_text("\n".join(rows) + "\n")
    os.replace(temporary, target)
    print(f"wrote {len(rows) - 1} rows to {target}" + (f" ({skipped} unreadable files skipped)" if skipped else ""))
    return len(rows) - 1


def _unique_stem(path: Path, used: set[str]) -> str:
    """``path``'s stem, suffixed _2, _3... when an earlier image in the batch had the same stem."""
    stem, number = path.stem, 1
    while stem in used:
        number += 1
        stem = f"{path.stem}_{number}"
    used.add(stem)
    return stem
