"""Keep the photo's background, variants (issue #13): which part of the pasted output's FID is the person, which the
plate, and what other ways of pasting score.

    python benchmarks/paste_variants.py [--limit 2000] [--variants module,real_target_person,...] [--threads 1] \
        --out results/keep-background-variants/paste-variants-2000.json

For the first ``--limit`` test pairs, the shipped generator's outputs pasted over their source photos, scored by FID
against the training set (``fid_train``, the evaluation's Inception and cached statistics). Variants:

    module                  posegan.background.keep_background as it is (the app's paste)
    real_target_person      the real target photo's person (GrabCut, target pose) pasted on the same plate: the
                            score of a perfect generator with this paste
    generator_in_hole       the source person's hole filled by the generator's own frame, as it is
    opencv_seamless_clone   that hole filled by cv2.seamlessClone of the generator's frame (Poisson blending with
                            OpenCV's quirks: it erodes the mask by 3 px and keeps the photo's gradients outside the
                            eroded mask, so the old person is rebuilt from its own edges; a red person on a green
                            background comes back whole)
    sharpen                 the generated person unsharp-masked (amount 0.5, sigma 1 px) before the paste
    person_grow_N           the generated person's mask grown by N px before feathering, eroded if N < 0 (the
                            module: background.PERSON_GROW, 1 px until this benchmark measured 0 px better)
    feather_S               the person's edge softened by a Gaussian of S px (the module: FEATHER_SIGMA)

Each variant adds or replaces its entry in ``--out``. Only equal numbers of pairs compare (FID depends on it).
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from posegan import background  # noqa: E402
from posegan.config import DEFAULT_DATA_ROOT, DEFAULT_GENERATOR, DEFAULT_WEIGHTS_DIR  # noqa: E402
from posegan.data import MarketPoseDataset  # noqa: E402
from posegan.evaluate import generate_all, training_set_statistics  # noqa: E402
from posegan.inference import PoseTransfer  # noqa: E402
from posegan.metrics.cache import EvalCache  # noqa: E402
from posegan.metrics.fid import frechet_distance, inception_features  # noqa: E402

CLONE_PAD = 8  # px of reflected border: seamlessClone needs a margin around the patch


def seamless_clone(generated: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    pad = lambda image: cv2.copyMakeBorder(image, *(CLONE_PAD,) * 4, cv2.BORDER_REFLECT)  # noqa: E731
    padded = pad(mask * 255)
    ys, xs = np.nonzero(padded)
    if len(xs) == 0:
        return source
    centre = (int(xs.min() + xs.max() + 1) // 2, int(ys.min() + ys.max() + 1) // 2)  # the patch onto itself
    out = cv2.seamlessClone(pad(generated), pad(source), padded, centre, cv2.NORMAL_CLONE)
    return out[CLONE_PAD:-CLONE_PAD, CLONE_PAD:-CLONE_PAD]


def unsharp(image: np.ndarray, amount: float = 0.5, sigma: float = 1.0) -> np.ndarray:
    image = image.astype(np.float32)
    return np.clip(image + amount * (image - cv2.GaussianBlur(image, (0, 0), sigma)), 0, 255).astype(np.uint8)


def variant(name: str, generated, source, target, source_pose, target_pose) -> np.ndarray:
    """uint8 [H, W, 3]: one pair pasted the ``name`` way."""
    if name == "module":
        return background.keep_background(generated, source, source_pose, target_pose)
    person, alpha = generated, functools.partial(background.person_alpha, target_pose=target_pose)
    if name == "generator_in_hole":
        plate = np.where(background.source_hole(source, source_pose)[..., None] > 0, generated, source)
    elif name == "opencv_seamless_clone":
        plate = seamless_clone(generated, source, background.source_hole(source, source_pose))
    else:
        plate = background.background_plate(source, source_pose)
        if name == "real_target_person":
            person = target
        elif name == "sharpen":
            person = unsharp(generated)
        elif name.startswith("person_grow_"):
            alpha = functools.partial(alpha, grow=int(name.rsplit("_", 1)[1]))
        elif name.startswith("feather_"):
            alpha = functools.partial(alpha, feather=float(name.rsplit("_", 1)[1]))
        else:
            raise SystemExit(f"unknown variant {name!r}")
    return background.blend(person, plate, alpha(person))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_GENERATOR))
    parser.add_argument("--data", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--weights-dir", default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--variants", default="module,real_target_person,generator_in_hole,opencv_seamless_clone,"
                                              "sharpen,person_grow_1,person_grow_3")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", default="runs/eval-cache")
    parser.add_argument("--out", default="results/keep-background-variants/paste-variants-2000.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = MarketPoseDataset(args.data, "test", limit=args.limit)
    cache = EvalCache(args.cache_dir, args.data, args.weights_dir)
    train_stats, train_images = training_set_statistics(args.data, args.weights_dir, cache)
    generated = generate_all(dataset, PoseTransfer.from_checkpoint(args.checkpoint), 32, "generate ours")
    out = Path(args.out)
    for name in args.variants.split(","):
        start = time.time()
        images = np.stack([variant(name, generated[i], dataset.load_image(a), dataset.load_image(b),
                                   dataset.poses[a], dataset.poses[b]) for i, (a, b) in enumerate(dataset.pairs)])
        fid = frechet_distance(inception_features(images, args.weights_dir), train_stats)
        print(f"{name}: FID vs training set {fid:.2f} ({time.time() - start:.0f} s)", flush=True)
        # read again just before writing: runs with other variants may share the file
        report = json.loads(out.read_text()) if out.is_file() else {}
        report.update({"checkpoint": Path(args.checkpoint).name, "pairs": len(dataset.pairs),
                       "fid_reference_images": train_images})
        report.setdefault("fid_train", {})[name] = round(fid, 2)
        report.setdefault("commands", {})[name] = " ".join(["python"] + sys.argv)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
