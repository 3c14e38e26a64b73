"""FID anchors without a generator (issue #13): how real do the source pixels look once the part affines move them?

    python benchmarks/fid_warp_anchors.py [--limit 1000] [--checkpoint FILE] [--methods ours,ours_on_source] \
        --out results/fid-warp-anchors.json

For the first ``--limit`` test pairs it scores, against the training set (``fid_train``) and the pairs' real targets
(``fid``), with the evaluation's Inception features and cache:

    warp_source    the source photo moved part by part into the target pose: the torso's warp everywhere (it carries
                   the background), the head's and each limb's painted over it inside their target masks, in the part
                   order (the image an image skip would produce if it copied every pixel it can)
    ours           the checkpoint's outputs (cached by the evaluation when it ran on the same pairs)
    ours_in_body   ours with the limb and head masks filled from warp_source: copying only the person's parts
    ours_on_source ours inside the target person (mask-SSIM's body mask of the target pose, grown by 3 pixels),
                   the unmoved source photo elsewhere: what keeping the photo's own background would buy (the
                   source person shows where the target pose does not cover it; posegan.background removes it)

Copy source (the unmoved photo) is in every ``evaluate`` report. Only ``fid_train`` compares with the published
figures; FIDs compare only at equal image counts.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from posegan.config import DEFAULT_DATA_ROOT, DEFAULT_GENERATOR, DEFAULT_WEIGHTS_DIR  # noqa: E402
from posegan.data import MarketPoseDataset  # noqa: E402
from posegan.evaluate import generate_all, training_set_statistics  # noqa: E402
from posegan.geometry import NUM_PARTS, affines_to_theta  # noqa: E402
from posegan.inference import PoseTransfer  # noqa: E402
from posegan.metrics.cache import EvalCache  # noqa: E402
from posegan.metrics.fid import frechet_distance, inception_features  # noqa: E402
from posegan.metrics.ssim import pose_mask  # noqa: E402
from posegan.networks.deformable_skip import DeformableSkip  # noqa: E402


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """[B, 3, H, W] in 0..255 -> uint8 [B, H, W, 3]."""
    return images.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def warp_source(batch: dict, mode: str = "bilinear") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 [B, H, W, 3] the part-composited warp of the source photo, bool [B, H, W] where a limb or the head
    covers the target, bool [B, H, W] the target pose's body mask (mask-SSIM's) grown by 3 pixels,
    uint8 [B, H, W, 3] the source photo)."""
    image = (batch["source_image"] + 1) * 127.5  # [B, 3, H, W] in 0..255
    theta = affines_to_theta(batch["affines"], *image.shape[2:])
    with torch.no_grad():
        parts, masks, _ = DeformableSkip(0, mode).warp_parts(image, theta, batch["part_masks"])  # [B, 3, P, H, W]
    out = parts[:, :, 0]
    for k in range(1, NUM_PARTS):  # later parts painted over earlier ones, inside their own masks
        out = torch.where(masks[:, None, k] > 0, parts[:, :, k], out)
    body = (masks[:, 1:] > 0).any(dim=1)
    person = torch.from_numpy(np.stack([pose_mask(p.numpy(), *image.shape[2:]) for p in batch["target_pose"]]))
    person = F.max_pool2d(person[:, None].float(), 7, stride=1, padding=3)[:, 0] > 0  # Ma's mask grown by 3 px
    return _to_uint8(out), body.numpy(), person.numpy(), _to_uint8(image)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_GENERATOR))
    parser.add_argument("--data", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--weights-dir", default=DEFAULT_WEIGHTS_DIR)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--methods", default="warp_source,ours,ours_in_body,ours_on_source",
                        help="comma-separated subset of the methods above to score")
    parser.add_argument("--cache-dir", default="runs/eval-cache")
    parser.add_argument("--out", default="results/fid-warp-anchors.json")
    args = parser.parse_args()

    dataset = MarketPoseDataset(args.data, "test", limit=args.limit)
    cache = EvalCache(args.cache_dir, args.data, args.weights_dir)
    names = dataset.pairs
    batches = (warp_source(b) for b in DataLoader(dataset, batch_size=64))
    warped, body, person, source = map(np.concatenate, zip(*batches))
    ours = generate_all(dataset, PoseTransfer.from_checkpoint(args.checkpoint), 32, "generate ours")
    ours_in_body = np.where(body[..., None], warped, ours)
    ours_on_source = np.where(person[..., None], ours, source)

    train_stats, train_images = training_set_statistics(args.data, args.weights_dir, cache)
    targets = cache.real_features([b for _, b in names], lambda missing: inception_features(
        np.stack([dataset.load_image(x) for x in missing]), args.weights_dir))
    report = {"command": " ".join(["python"] + sys.argv), "checkpoint": args.checkpoint, "pairs": len(names),
              "fid_reference_images": {"fid": len(names), "fid_train": train_images},
              "body_share": float(body.mean()), "person_share": float(person.mean()), "results": {}}
    candidates = {"warp_source": warped, "ours": ours, "ours_in_body": ours_in_body, "ours_on_source": ours_on_source}
    for method in args.methods.split(","):
        images = candidates[method]
        with tqdm(total=len(images), desc=f"FID features {method}", mininterval=5) as bar:
            features = inception_features(images, args.weights_dir, progress=bar)
        report["results"][method] = {"fid": frechet_distance(features, targets),
                                     "fid_train": frechet_distance(features, train_stats)}
        print(method, {k: round(v, 1) for k, v in report["results"][method].items()}, flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
